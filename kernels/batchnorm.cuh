// batchnorm.cuh: how the batch-norm kernels split x (N,C,L) into blocks, and
// the per-element and per-channel arithmetic, written once for the GPU
// (kernels/batchnorm.cu) and for the host emulation that tests it
// (internal/kernelhost). Plain C apart from CNNCTL_HD.
//
// x (N,C,L), L the product of the dimensions after C (H*W, or 1 for (N,C)):
// channel c of sample n is the contiguous run x[(n*C+c)*L .. +L).
//
// Partition. A block covers a tile: cb channels [c0, c0+cb) × nb samples
// [n0, n0+nb) × lw positions [l0, l0+lw) of L, with cb == 1 or lw == L, so
// that each sample's part of the tile is one contiguous row of R = cb*lw
// floats. The grid is (B, tiles_c): blockIdx.y picks the channel tile,
// blockIdx.x = bn*chunks_l + bl the sample chunk bn and the L chunk bl.
// A row is cut into segments of 32*G floats, G = 4 when L % 4 == 0 (a lane
// then owns 4 consecutive floats: one float4 load where x is 16-byte
// aligned, four scalar loads where not, in the same order), else 1. The
// block's rows × segments are tasks; warp w takes tasks w, w+8, w+16, …
// (stepped without division). Small L puts several channels in one segment
// (cb = 32*G/L), large L one channel per tile, so every lane's floats belong
// to one channel for the whole kernel: lane_ch below, computed once.
//
// Reduction, deterministic (no atomics; fixed order everywhere):
//   1. each lane accumulates its floats in double, in task order;
//   2. block: lane column s sums its 8 warps in order (bn_colsum), then
//      channel cl sums its lane columns in order (bn_chansum): one partial
//      per (channel, block), stored at part[q*C*B + c*B + b];
//   3. combine: lane j of a warp sums partials b = j, j+32, … in order
//      (bn_lane_partial), then a shuffle-down tree over the 32 lanes
//      (lane 0's result; bn_tree32 is the same tree on an array).
// The partition depends only on (N, C, L, SM count), so reruns on one
// device are bit-identical, and float4 and scalar loads give the same bits.
//
// Precision. Statistics accumulate in double, as the CPU reference does:
// forward, the shifted moments S1 = Σ(x-K), S2 = Σ(x-K)² with K = x[0,c,0]
// in one pass (one read of x fewer than two passes). Any order of these
// double sums errs by at most (M+2)·2⁻⁵³ of the sum of the terms'
// magnitudes, and by Samuelson's inequality |mean-K| <= sqrt(M-1)·std, so
// the variance S2/M - (S1/M)² errs by at most about 3·M²·2⁻⁵³ relative in
// the worst case: under 2⁻²⁴ (one float rounding) for M <= 2¹³; beyond that
// the worst case needs x[0,c,0] to be an outlier of order sqrt(M) standard
// deviations, and then the sums' actual rounding errors (about sqrt(M)·2⁻⁵³
// of the terms, not M·2⁻⁵³) still keep it near 2⁻²⁴: internal/kernelhost's
// TestBNFloat64 checks every output against float64 within its derived
// bound and measures the outlier case ("spike"). Backward: Σdy and Σdy·xhat with xhat and the
// product in float, as before. Per element that is one float->double
// conversion and two or three fp64 operations: on sm_90 (16 conversions and
// 64 fp64 operations per SM per clock) at 4.8 TB/s, under a third of either.
#ifndef CNNCTL_BATCHNORM_CUH
#define CNNCTL_BATCHNORM_CUH

#include "hd.cuh"
#ifndef __CUDACC__
#include <math.h>
#endif

#define BN_THREADS 256
#define BN_WARPS 8
// A block gets at least BN_MIN_ELEMS floats (8 per thread) before the grid
// grows further, and the grid stops at BN_BLOCKS_PER_SM blocks per SM (8 of
// 256 threads: 2048 threads, a full SM on sm_80 and sm_90).
#define BN_MIN_ELEMS 2048
#define BN_BLOCKS_PER_SM 8
// BN_MAX_CB bounds cb (32*G/L with G = 1 for L < 4, or L >= 4): per-channel
// constants of a tile fit in shared arrays of this size.
#define BN_MAX_CB 32

typedef struct {
	int N, C, L;
	int G;        // floats per lane group: 4 when L % 4 == 0, else 1
	int cb;       // channels per tile
	int lw;       // positions of L per tile (a multiple of 32*G, or L)
	int nb;       // samples per tile
	int tiles_c;  // ⌈C/cb⌉: grid y
	int chunks_n; // ⌈N/nb⌉
	int chunks_l; // ⌈L/lw⌉
	int B;        // chunks_n*chunks_l: grid x, and the partials per channel
} bn_plan;

typedef struct {
	int c0, cbt;  // channels [c0, c0+cbt)
	int n0, rows; // samples [n0, n0+rows)
	int l0, lwt;  // positions [l0, l0+lwt) of L
	int R;        // floats per row: cbt*lwt
	int kc;       // segments per row: ⌈R/(32*G)⌉
} bn_tile;

// bn_walk steps warp w through its tasks (r, k) = row r, segment k:
// t = w, w+8, … with r = t/kc, k = t%kc, without a division per step.
typedef struct {
	int r, k, dr, dk;
} bn_walk;

CNNCTL_HD int bn_cdiv(int a, int b) { return (a + b - 1) / b; }
CNNCTL_HD int bn_imin(int a, int b) { return a < b ? a : b; }

// bn_make_plan chooses the partition for x (N,C,L) on a device with sms
// multiprocessors.
CNNCTL_HD bn_plan bn_make_plan(int N, int C, int L, int sms)
{
	bn_plan p;
	p.N = N;
	p.C = C;
	p.L = L;
	p.G = L % 4 == 0 ? 4 : 1;
	int seg = 32 * p.G;
	p.cb = L <= seg ? bn_imin(C, seg / L) : 1;
	p.lw = L;
	p.tiles_c = bn_cdiv(C, p.cb);
	long long total = (long long)N * C * L;
	long long want = (total + BN_MIN_ELEMS - 1) / BN_MIN_ELEMS;
	long long most = (long long)BN_BLOCKS_PER_SM * (sms > 0 ? sms : 1);
	if (want > most)
		want = most;
	if (want < 1)
		want = 1;
	int per_tile = (int)((want + p.tiles_c - 1) / p.tiles_c);
	p.chunks_n = bn_imin(N, per_tile);
	p.nb = bn_cdiv(N, p.chunks_n);
	p.chunks_n = bn_cdiv(N, p.nb);
	p.chunks_l = 1;
	if (p.cb == 1 && L > seg && 2 * p.chunks_n <= per_tile) {
		int segs = bn_cdiv(L, seg);
		int parts = bn_imin(segs, per_tile / p.chunks_n);
		p.lw = bn_cdiv(segs, parts) * seg;
		p.chunks_l = bn_cdiv(L, p.lw);
	}
	p.B = p.chunks_n * p.chunks_l;
	return p;
}

// bn_tile_of is the tile of block (b, ct) = (blockIdx.x, blockIdx.y).
CNNCTL_HD bn_tile bn_tile_of(const bn_plan *p, int b, int ct)
{
	bn_tile t;
	int bn = b / p->chunks_l, bl = b - bn * p->chunks_l;
	t.c0 = ct * p->cb;
	t.cbt = bn_imin(p->cb, p->C - t.c0);
	t.n0 = bn * p->nb;
	t.rows = bn_imin(p->nb, p->N - t.n0);
	t.l0 = bl * p->lw;
	t.lwt = bn_imin(p->lw, p->L - t.l0);
	t.R = t.cbt * t.lwt;
	t.kc = bn_cdiv(t.R, 32 * p->G);
	return t;
}

// bn_lane_pos is where lane's group starts in a row of segment k.
CNNCTL_HD int bn_lane_pos(const bn_plan *p, int k, int lane) { return (k * 32 + lane) * p->G; }

// bn_lane_ch is the tile channel of every float lane touches.
CNNCTL_HD int bn_lane_ch(const bn_plan *p, int lane) { return p->cb == 1 ? 0 : lane * p->G / p->L; }

// bn_lanes_per_ch is how many lane columns each tile channel owns (the
// channel's columns are [cl*n, cl*n+n) ∩ [0, 32)).
CNNCTL_HD int bn_lanes_per_ch(const bn_plan *p) { return p->cb == 1 ? 32 : p->L / p->G; }

// bn_offset is the index in x of position pos of row r of tile t.
CNNCTL_HD long long bn_offset(const bn_plan *p, const bn_tile *t, int r, int pos)
{
	return ((long long)(t->n0 + r) * p->C + t->c0) * p->L + t->l0 + pos;
}

CNNCTL_HD bn_walk bn_walk_start(const bn_tile *t, int warp)
{
	bn_walk w;
	w.r = warp / t->kc;
	w.k = warp - w.r * t->kc;
	w.dr = BN_WARPS / t->kc;
	w.dk = BN_WARPS - w.dr * t->kc;
	return w;
}

CNNCTL_HD void bn_walk_next(bn_walk *w, const bn_tile *t)
{
	w->k += w->dk;
	w->r += w->dr;
	if (w->k >= t->kc) {
		w->k -= t->kc;
		w->r++;
	}
}

// Per element, forward statistics: the shifted moments.
CNNCTL_HD void bn_acc_moments(float x, double K, double *s1, double *s2)
{
	double d = (double)x - K;
	*s1 += d;
	*s2 = fma(d, d, *s2);
}

// Per element, backward statistics: Σdy and Σdy·xhat (xhat and the product in float).
CNNCTL_HD void bn_acc_backward(float x, float dy, float mean, float invstd, double *sb, double *sg)
{
	float xhat = (x - mean) * invstd;
	*sb += (double)dy;
	*sg += (double)(dy * xhat);
}

// bn_colsum: lane column s of the block's per-lane partials part[warp*32+lane], warps in order.
CNNCTL_HD double bn_colsum(const double *part, int s)
{
	double v = part[s];
	for (int w = 1; w < BN_WARPS; w++)
		v += part[w * 32 + s];
	return v;
}

// bn_chansum: tile channel cl's block partial from the 32 column sums, columns in order.
CNNCTL_HD double bn_chansum(const double *col, int cl, int lanes_per_ch)
{
	int lo = cl * lanes_per_ch, hi = bn_imin(32, lo + lanes_per_ch);
	double v = 0.0;
	for (int s = lo; s < hi; s++)
		v += col[s];
	return v;
}

// bn_lane_partial: lane j's share of a channel's B block partials, in order.
CNNCTL_HD double bn_lane_partial(const double *part, int B, int lane)
{
	double v = 0.0;
	for (int b = lane; b < B; b += 32)
		v += part[b];
	return v;
}

// bn_tree32 is the shuffle-down tree of the combine on an array: v[0] ends
// as lane 0's result (lanes past the middle are never read by lane 0).
CNNCTL_HD double bn_tree32(double *v)
{
	for (int o = 16; o > 0; o >>= 1)
		for (int i = 0; i < o; i++)
			v[i] += v[i + o];
	return v[0];
}

// bn_moments: the mean and the biased variance of M values from the
// shifted moments (a variance rounded below 0 is 0; NaN stays NaN).
CNNCTL_HD void bn_moments(double s1, double s2, int M, float K, double *mean, double *var)
{
	double m1 = s1 / (double)M;
	double v = fma(-m1, m1, s2 / (double)M);
	*var = v < 0.0 ? 0.0 : v;
	*mean = (double)K + m1;
}

CNNCTL_HD double bn_invstd(double var, float eps) { return 1.0 / sqrt(var + (double)eps); }

// bn_scale: gamma·invstd as the forward's float scale.
CNNCTL_HD float bn_scale(float gamma, double invstd) { return (float)((double)gamma * invstd); }

// bn_running: (1-momentum)·r + momentum·stat, in double.
CNNCTL_HD float bn_running(float r, double stat, float momentum)
{
	double m = momentum;
	return (float)fma(m, stat, (1.0 - m) * (double)r);
}

// bn_unbiased is the running variance's sample: var·M/(M-1).
CNNCTL_HD double bn_unbiased(double var, int M) { return var * (double)M / (double)(M - 1); }

// bn_forward_y: y = (x - mean)·scale + beta (the mean subtracted first, so
// that a large mean does not cancel against a folded shift in float).
CNNCTL_HD float bn_forward_y(float x, float mean, float scale, float beta) { return fmaf(x - mean, scale, beta); }

// bn_backward_k: gamma·invstd/M in float.
CNNCTL_HD float bn_backward_k(float gamma, float invstd, int M) { return gamma * invstd / (float)M; }

// bn_backward_dx: dx = k·(M·dy - Σdy - xhat·Σdy·xhat), k = gamma·invstd/M.
CNNCTL_HD float bn_backward_dx(float x, float dy, float mean, float invstd, float k, float m, float sb, float sg)
{
	float xhat = (x - mean) * invstd;
	return k * fmaf(-xhat, sg, fmaf(m, dy, -sb));
}

// bn_relu is the fused ReLU: max(v, 0) with NaN passed through (as
// activation.cu and internal/cpu).
CNNCTL_HD float bn_relu(float v) { return (v > 0.f || v != v) ? v : 0.f; }

// bn_relu_grad is ReLU's backward from its output y: dy where y > 0 or y is NaN, else 0.
CNNCTL_HD float bn_relu_grad(float y, float dy) { return y <= 0.f ? 0.f : dy; }

// bn_infer_scale: gamma/sqrt(runVar+eps) in float.
CNNCTL_HD float bn_infer_scale(float gamma, float run_var, float eps) { return gamma / sqrtf(run_var + eps); }

#endif
