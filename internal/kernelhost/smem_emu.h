// smem_emu.h: shared-memory instructions of the tensor-core kernels as the
// PTX ISA defines them, with their bank phases counted, for the TF32 and
// bf16 emulators (tc_emu.c, bf16_emu.c).
#ifndef CNNCTL_SMEM_EMU_H
#define CNNCTL_SMEM_EMU_H

#include <stdint.h>

// EmuBanks counts shared-memory phases: for ldmatrix, each 8-lane phase (8
// rows of 16 bytes, which must cover the 32 banks once); for the loaders'
// stores, each warp-wide 4-byte store (32 distinct banks). A conflict is a
// phase that misses that; misaligned counts ldmatrix rows not 16-byte aligned.
typedef struct {
	long long ldsm_phases, ldsm_conflicts, misaligned;
	long long store_phases, store_conflicts;
} EmuBanks;

// emu_ldsm_x4 is ldmatrix.sync.aligned.m8n8.x4.shared.b16 over smem, seen
// as 32-bit words: lane l supplies in addr[l] the word offset of row l%8 of
// matrix l/8 (8 b16 = 4 words); lane l receives in d[l][j] the b16 pair at
// row l/4, columns 2(l%4), 2(l%4)+1 of matrix j, that is word l%4 of that
// row. Each matrix is one phase, counted in bk.
void emu_ldsm_x4(const void *smem, const int addr[32], uint32_t d[32][4], EmuBanks *bk);

// emu_store_phase counts one warp-wide 4-byte store to the 32 word offsets
// words[] in bk.
void emu_store_phase(const int words[32], EmuBanks *bk);

// emu_store16_phases counts one warp-wide 16-byte store (cp.async of 16
// bytes) to the word offsets words[] in bk: four phases of 8 lanes, each
// of whose 128 bytes must cover the 32 banks once; a word offset not a
// multiple of 4 (16 bytes) counts as misaligned.
void emu_store16_phases(const int words[32], EmuBanks *bk);

#endif
