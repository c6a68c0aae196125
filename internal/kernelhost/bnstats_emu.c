// bnstats_emu.c: the epilogue statistics of the tensor-core forwards
// (kernels/conv_bnstats.cuh's conv_bn_partials) and their combine
// (batchnorm_partials_combine in kernels/batchnorm.cu) run on the host with
// the functions of kernels/bnstats.cuh: the same leaves, the same merges
// in the same order, the same layout. Only the loops over blocks, warps and
// lanes and the shuffles (bns_tree_groups, bns_tree32) stand in for the GPU.
// The GPU rounds every operation the .cuh writes separately (it spells each
// fused multiply-add out), so the host must not fuse either.
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif
#include "conv2d_tc.cuh"
#include "bnstats.cuh"
#include "bnstats_emu.h"

int bns_emu_tile_rows(void) { return TC_BM; }

// block is conv_bn_partials of block (bx, by): every warp's lanes, each
// with its TC_MT x TC_NT x 4 accumulators as tc_frag_c places them.
static void block(const float *y, int K, int ohw, int rows, int B, int bx, int by, double *part)
{
	const TcConv g = {rows / ohw, 0, 0, 0, K, 0, 0, 1, ohw, 1, 1, 0, 0};
	const int m0 = bx * TC_BM, n0 = by * TC_BN;
	BnsAcc sh[TC_WARPS_M * TC_BN];
	for (int i = 0; i < TC_WARPS_M * TC_BN; i++)
		sh[i].n = sh[i].mean = sh[i].m2 = -1.0; // every slot is written below, or the test sees it
	for (int warp = 0; warp < TC_THREADS / 32; warp++) {
		int wm, wn, wi = warp % TC_WARPS_M;
		tc_warp_origin(warp, &wm, &wn);
		for (int j = 0; j < TC_NT; j++)
			for (int p = 0; p < 2; p++) {
				BnsAcc lanes[32];
				for (int lane = 0; lane < 32; lane++) {
					float v[4];
					int cnt = 0;
					for (int q = 0; q < 2 * TC_MT; q++) {
						int m = m0 + bns_leaf_row(wm, lane, q), n = n0 + bns_leaf_col(wn, lane, j, p);
						cnt += m < rows;
						// The stored value where the block stored one; the accumulator
						// (never read: past the prefix, or a column past K) elsewhere.
						v[q] = m < rows && n < K ? y[tc_y_offset(&g, m, n)] : 0.f;
					}
					lanes[lane] = bns_leaf(v, cnt);
				}
				for (int t = 0; t < 4; t++) {
					BnsAcc l[32];
					for (int i = 0; i < 32; i++)
						l[i] = lanes[i];
					sh[wi * TC_BN + bns_leaf_col(wn, t, j, p)] = bns_tree_groups(l, t);
				}
			}
	}
	for (int col = 0; col < TC_BN; col++) {
		long long c = n0 + col;
		if (c >= K)
			continue;
		BnsAcc t = bns_chain(sh + col, TC_WARPS_M, TC_BN);
		part[c * B + bx] = t.mean;
		part[(K + c) * B + bx] = t.m2;
	}
}

void bns_emu_conv_partials(const float *y, int N, int K, int ohw, double *part)
{
	int rows = N * ohw, B = (rows + TC_BM - 1) / TC_BM;
	for (int by = 0; by < (K + TC_BN - 1) / TC_BN; by++)
		for (int bx = 0; bx < B; bx++)
			block(y, K, ohw, rows, B, bx, by, part);
}

void bns_emu_combine(const double *part, int C, int nparts, int tile_rows, int rows, int c, double *mean, double *var)
{
	BnsAcc v[BNS_COMBINE_THREADS], warps[BNS_COMBINE_THREADS / 32];
	for (int t = 0; t < BNS_COMBINE_THREADS; t++)
		v[t] = bns_thread_partial(part + (long long)c * nparts, part + (long long)(C + c) * nparts, nparts,
					  tile_rows, rows, t);
	for (int w = 0; w < BNS_COMBINE_THREADS / 32; w++)
		warps[w] = bns_tree32(v + 32 * w);
	bns_moments(bns_chain(warps, BNS_COMBINE_THREADS / 32, 1), mean, var);
}

int bns_emu_frag_mismatches(void)
{
	int bad = 0;
	for (int warp = 0; warp < TC_THREADS / 32; warp++) {
		int wm, wn;
		tc_warp_origin(warp, &wm, &wn);
		for (int lane = 0; lane < 32; lane++)
			for (int i = 0; i < TC_MT; i++)
				for (int j = 0; j < TC_NT; j++)
					for (int e = 0; e < 4; e++) {
						// conv_bn_partials reads acc[i][j][e] as leaf value q = 2i + e/2 of
						// column slot (j, e%2).
						int row, col, q = 2 * i + (e >> 1), p = e & 1;
						tc_frag_c(lane, e, &row, &col);
						bad += bns_leaf_row(wm, lane, q) != wm + 16 * i + row ||
						       bns_leaf_col(wn, lane, j, p) != wn + 8 * j + col;
					}
	}
	return bad;
}
