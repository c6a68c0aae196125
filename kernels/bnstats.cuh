// bnstats.cuh: the batch-norm statistics of a convolution's output,
// gathered in the convolution's epilogue (conv2d_tc.cu, conv2d_bf16.cu:
// the *_bnstats kernels) and combined by batchnorm_partials_combine
// (batchnorm.cu), where a training-mode batch norm follows the convolution:
// the batch norm then reads y once (to normalise it), not twice. Written
// once as CNNCTL_HD functions for the GPU and for the host emulation that
// tests them (internal/kernelhost, bnstats_emu.c). Plain C apart from
// CNNCTL_HD.
//
// y (N,K,OH,OW) is the GEMM Y (rows = N*OH*OW, K): channel c's M = rows
// values are column c. The tensor-core forwards tile Y in blocks of TC_BM
// rows × TC_BN columns (conv2d_tc.cuh); block row b (blockIdx.x) covers
// rows [b*TC_BM, min((b+1)*TC_BM, rows)), bns_tile_count(b) of them.
//
// Partial layout. One partial per (row tile b, channel c), B = ⌈rows/TC_BM⌉
// of them per channel: the tile's mean at part[c*B + b] and its M2 = Σ(y -
// mean)² at part[(K + c)*B + b], in double (2*K*B doubles). The count is
// bns_tile_count(b), known from the shape, so it is not stored.
//
// Statistics are (n, mean, M2) triples (BnsAcc), merged by Chan's formula
// (Chan, Golub and LeVeque, 1979):
//   n = na + nb, d = mb - ma, mean = ma + d·nb/n, M2 = M2a + M2b + d²·na·nb/n.
// A shift is not known in the epilogue (a block does not see the channel's
// first value), so no shifted sums: every merge is of centred moments.
//
// Order, fixed (no atomics; bits depend only on the shapes):
//   1. leaf: a lane's values of one column, rows wm+16i+g+8h (g = lane/4)
//      for i = 0..TC_MT-1, h = 0..1 in that order (tc_frag_c's rows, a
//      prefix of them inside the GEMM), two passes in double: mean =
//      Σy/n, then M2 = Σ(y-mean)² (bns_leaf);
//   2. the warp's 8 lane groups (lanes with one lane%4): shuffle-down
//      merges at offsets 16, 8, 4 (bns_tree_groups on an array);
//   3. the TC_WARPS_M warps along M: merged in warp order by the column's
//      thread (bns_chain), stored as the block's partial;
//   4. batchnorm_partials_combine, one block of BNS_COMBINE_THREADS per
//      channel: thread t merges partials b = t, t+256, … in order
//      (bns_thread_partial), each warp's 32 lanes merge by a shuffle-down
//      tree (bns_tree32 on an array), and thread 0 merges the 8 warps'
//      results in warp order (bns_chain): mean = mean, var = M2/M.
//
// Error bound. u = 2⁻⁵³; A = max|y| over the channel, σ² its variance;
// D the longest chain of merges from a value to the result (1 leaf + 3
// groups + TC_WARPS_M warps + ⌈B/256⌉ partials + 5 lanes + 8 warps:
// 21 + ⌈B/256⌉).
// The leaf's sum of l <= 2·TC_MT = 4 values errs by at most l·u·A, so its
// mean by (l+1)·u·A; each merge adds at most 3u·|mean| + u·|d| <= 5u·A,
// so every computed mean is within E = (l+1+5D)·u·A of its exact value.
// M2 = Σ leaf M2 + Σ over merges d²·na·nb/n exactly (with exact means).
// A leaf's M2 from a mean off by e gains l·e² (≤ l·E², of order u²) and
// rounds by (l+2)·u of itself; a merge's term with d off by up to 2E is
// off by na·nb/n·(4|d|E + 4E²) and rounds by 4u of itself. By Cauchy-
// Schwarz, Σ na·nb/n·|d| <= sqrt(Σ na·nb/n · Σ na·nb/n·d²) <=
// sqrt(M·D · M·σ²) (each level of merges has Σ na·nb/n <= M, and the
// d² terms sum to at most M2 = M·σ²). So, to first order in u,
//   |var' - var| / var <= (l+2+4D+...)·u + 4·E·sqrt(D)/σ
//                       = (6+4D)·u + 4·(5+5D)·sqrt(D)·u·A/σ,
// and the mean errs by E = (5+5D)·u·A. For the largest layer of the zoo
// at batch 128 (112x112 outputs: rows 1.6M, B = 12544, D = 70) that is
// about 2⁻⁴⁴ + 2⁻³⁹·A/σ relative: below one float rounding (2⁻²⁴) while
// the channel's largest magnitude is under 2¹⁵ standard deviations, i.e.
// any plausible activation; BN's float output then errs by its own float
// rounding. (batchnorm.cuh's shifted sums, whose shift is one element,
// have the worst case 3·M²·u instead, 2⁻¹⁰ at that M.) internal/kernelhost
// (TestBNStatsFloat64) checks the emulated partials and combine against
// float64 within this bound, with a large mean (|mean| = 10⁴·σ) and an
// outlier among them.
//
// Per element the epilogue adds one float->double conversion and about
// four fp64 operations (two passes), and per lane column 3 shuffle merges
// of three doubles: small beside the GEMM's C·R·S multiply-adds per
// element.
#ifndef CNNCTL_BNSTATS_CUH
#define CNNCTL_BNSTATS_CUH

#include "hd.cuh"
#ifndef __CUDACC__
#include <math.h>
#endif

// BnsAcc is the statistics of n values: their mean and M2 = Σ(y-mean)².
typedef struct {
	double n, mean, m2;
} BnsAcc;

// bns_chan merges the statistics of two disjoint sets (Chan's formula);
// an empty side gives the other unchanged. Every multiply-add is an
// explicit fma, so that the host computes the GPU's bits.
CNNCTL_HD BnsAcc bns_chan(BnsAcc a, BnsAcc b)
{
	if (b.n == 0.0)
		return a;
	if (a.n == 0.0)
		return b;
	BnsAcc r;
	double n = a.n + b.n, d = b.mean - a.mean, f = b.n / n;
	r.n = n;
	r.mean = fma(d, f, a.mean);
	r.m2 = fma(d * d, a.n * f, a.m2 + b.m2);
	return r;
}

// bns_leaf is the statistics of v[0 .. cnt), cnt <= 4: the mean, then M2
// about it, each in double, in index order.
CNNCTL_HD BnsAcc bns_leaf(const float v[4], int cnt)
{
	BnsAcc r = {0.0, 0.0, 0.0};
	if (cnt <= 0)
		return r;
	double s = 0.0;
	for (int q = 0; q < 4; q++)
		if (q < cnt)
			s += (double)v[q];
	r.n = (double)cnt;
	r.mean = s / r.n;
	for (int q = 0; q < 4; q++)
		if (q < cnt) {
			double t = (double)v[q] - r.mean;
			r.m2 = fma(t, t, r.m2);
		}
	return r;
}

// bns_leaf_row is the block-tile row of leaf value q (q = 2i + h) of lane
// in the warp tile at row wm: tc_frag_c's row of accumulator 2h + p in
// mma tile i. Rows grow with q, so the values inside the GEMM are a prefix.
CNNCTL_HD int bns_leaf_row(int wm, int lane, int q) { return wm + 16 * (q >> 1) + (lane >> 2) + 8 * (q & 1); }

// bns_leaf_col is the block-tile column of lane's column slot (j, p):
// mma tile j, accumulator parity p (tc_frag_c's column).
CNNCTL_HD int bns_leaf_col(int wn, int lane, int j, int p) { return wn + 8 * j + 2 * (lane & 3) + p; }

// bns_tree_groups is the warp's shuffle-down merges at offsets 16, 8, 4
// on an array of its 32 lanes: v[t] ends as lane t's result for t < 4
// (the merge of lanes t, t+4, …, t+28).
CNNCTL_HD BnsAcc bns_tree_groups(BnsAcc *v, int t)
{
	for (int o = 16; o >= 4; o >>= 1)
		for (int i = 0; i < o; i++)
			v[i] = bns_chan(v[i], v[i + o]);
	return v[t];
}

// bns_chain merges a[0], a[stride], … a[(n-1)*stride] in that order.
CNNCTL_HD BnsAcc bns_chain(const BnsAcc *a, int n, int stride)
{
	BnsAcc r = a[0];
	for (int i = 1; i < n; i++)
		r = bns_chan(r, a[i * stride]);
	return r;
}

// bns_tile_count is the number of rows of row tile b (tiles of tm rows
// over rows).
CNNCTL_HD int bns_tile_count(int b, int tm, int rows)
{
	int r = rows - b * tm;
	return r < tm ? r : tm;
}

// BNS_COMBINE_THREADS is batchnorm_partials_combine's block: 8 warps.
#define BNS_COMBINE_THREADS 256

// bns_thread_partial is thread t's share of a channel's B partials (means
// mean[b], M2s m2[b]): b = t, t+BNS_COMBINE_THREADS, … merged in order.
CNNCTL_HD BnsAcc bns_thread_partial(const double *mean, const double *m2, int B, int tm, int rows, int t)
{
	BnsAcc r = {0.0, 0.0, 0.0};
	for (int b = t; b < B; b += BNS_COMBINE_THREADS) {
		BnsAcc t;
		t.n = (double)bns_tile_count(b, tm, rows);
		t.mean = mean[b];
		t.m2 = m2[b];
		r = bns_chan(r, t);
	}
	return r;
}

// bns_tree32 is the combine's shuffle-down tree of a warp on an array:
// v[0] ends as lane 0's result.
CNNCTL_HD BnsAcc bns_tree32(BnsAcc *v)
{
	for (int o = 16; o > 0; o >>= 1)
		for (int i = 0; i < o; i++)
			v[i] = bns_chan(v[i], v[i + o]);
	return v[0];
}

// bns_moments: the mean and the biased variance M2/n (NaN stays NaN).
CNNCTL_HD void bns_moments(BnsAcc a, double *mean, double *var)
{
	*mean = a.mean;
	*var = a.m2 / a.n;
}

#endif
