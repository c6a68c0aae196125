// smem_emu.c: see smem_emu.h; written from the PTX ISA ("Warp-level matrix
// load instruction: ldmatrix"), independently of the kernels' headers.
#include <string.h>

#include "smem_emu.h"

void emu_ldsm_x4(const void *smem, const int addr[32], uint32_t d[32][4], EmuBanks *bk)
{
	const unsigned char *s = smem;
	for (int j = 0; j < 4; j++) {
		int used[32] = {0}, conflict = 0;
		for (int r = 0; r < 8; r++) {
			int a = addr[8 * j + r];
			if (a % 4)
				bk->misaligned++;
			for (int w = 0; w < 4; w++)
				if (used[(a + w) % 32]++)
					conflict = 1;
		}
		bk->ldsm_phases++;
		bk->ldsm_conflicts += conflict;
	}
	for (int l = 0; l < 32; l++)
		for (int j = 0; j < 4; j++)
			memcpy(&d[l][j], s + 4 * (size_t)(addr[8 * j + (l >> 2)] + (l & 3)), 4);
}

void emu_store_phase(const int words[32], EmuBanks *bk)
{
	int used[32] = {0}, conflict = 0;
	for (int lane = 0; lane < 32; lane++)
		if (used[words[lane] % 32]++)
			conflict = 1;
	bk->store_phases++;
	bk->store_conflicts += conflict;
}

void emu_store16_phases(const int words[32], EmuBanks *bk)
{
	for (int p = 0; p < 4; p++) {
		int used[32] = {0}, conflict = 0;
		for (int lane = 8 * p; lane < 8 * p + 8; lane++) {
			if (words[lane] % 4)
				bk->misaligned++;
			for (int w = 0; w < 4; w++)
				if (used[(words[lane] + w) % 32]++)
					conflict = 1;
		}
		bk->store_phases++;
		bk->store_conflicts += conflict;
	}
}
