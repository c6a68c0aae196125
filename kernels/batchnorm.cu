// batchnorm.cu: batch normalisation over dimension 1.
//
// x, y, dx, dy (N,C,L) with L the product of the dimensions after C (1 for
// (N,C)); gamma, beta, mean, invstd, running mean and variance (C).
// batchnorm.cuh says how blocks split x (tiles over channels × samples ×
// positions, grid (B, tiles_c), 256 threads) and how the statistics are
// reduced: per-block partials in double at part[q*C*B + c*B + b], combined
// in a fixed order, so reruns give the same bits. internal/kernelhost runs
// the same functions on the host and checks them against the CPU reference.
//
// Training forward: batchnorm_stats (partials of the shifted moments) then
// batchnorm_forward_train (combine, normalise; block 0 of each channel tile
// saves mean and invstd and updates the running statistics); or, after a
// convolution that gathered the statistics in its epilogue (bnstats.cuh),
// batchnorm_partials_combine then batchnorm_forward_coef. Backward:
// batchnorm_backward_stats then batchnorm_backward. Inference:
// batchnorm_forward_infer, elementwise on the same tiles.
//
// Launch bounds: 8 blocks of 256 threads per SM (at most 32 registers, a
// full SM on sm_80/sm_90) where that costs no spills; the backward kernels,
// which spill at 32, get 6 (40 registers, 75% of the SM), and so does
// batchnorm_forward_train on sm_70, where 32 registers spill.
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 800
#define BN_FWD_BLOCKS 6
#else
#define BN_FWD_BLOCKS 8
#endif
//
// Fused ReLU: the forward kernels take relu = 1 for y = relu(bn(x)); the
// backward kernels take yr, that fused output (null for plain batch norm),
// and use dy·(yr > 0) in place of dy: BN+ReLU forward and backward in one
// pass each, with the same partition and order as plain batch norm.
//
// Each kernel takes vec = 1 when G = 4 and every tensor it streams is
// 16-byte aligned: float4 loads and stores, same order of arithmetic.
#include "common.cuh"
#include "batchnorm.cuh"
#include "bnstats.cuh"

// The plan's fields as kernel parameters (internal/gpu passes them in this order).
#define BN_PLAN_PARAMS int N, int C, int L, int g, int cb, int lw, int nb, int tiles_c, int chunks_n, int chunks_l, int B
#define BN_PLAN_INIT {N, C, L, g, cb, lw, nb, tiles_c, chunks_n, chunks_l, B}

template <int G, bool VEC> __device__ __forceinline__ void bn_load(const float *x, long long o, float *a)
{
	if (VEC) {
		float4 v = *reinterpret_cast<const float4 *>(x + o);
		a[0] = v.x;
		a[1] = v.y;
		a[2] = v.z;
		a[3] = v.w;
	} else {
#pragma unroll
		for (int i = 0; i < G; i++)
			a[i] = x[o + i];
	}
}

template <int G, bool VEC> __device__ __forceinline__ void bn_store(float *y, long long o, const float *a)
{
	if (VEC) {
		*reinterpret_cast<float4 *>(y + o) = make_float4(a[0], a[1], a[2], a[3]);
	} else {
#pragma unroll
		for (int i = 0; i < G; i++)
			y[o + i] = a[i];
	}
}

// bn_each calls f(offset) for each group of G floats this thread owns in tile t.
template <class F> __device__ __forceinline__ void bn_each(const bn_plan &p, const bn_tile &t, F f)
{
	int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
	for (bn_walk w = bn_walk_start(&t, warp); w.r < t.rows; bn_walk_next(&w, &t)) {
		int pos = bn_lane_pos(&p, w.k, lane);
		if (pos < t.R)
			f(bn_offset(&p, &t, w.r, pos));
	}
}

// bn_normalise writes y = (x-m)·s + b, then ReLU when relu, over this
// thread's share of tile t.
template <int G, bool VEC>
__device__ __forceinline__ void bn_normalise(const bn_plan &p, const bn_tile &t, const float *x, float *y, float m, float s, float b,
					     bool relu)
{
	bn_each(p, t, [&](long long o) {
		float a[G];
		bn_load<G, VEC>(x, o, a);
#pragma unroll
		for (int i = 0; i < G; i++) {
			a[i] = bn_forward_y(a[i], m, s, b);
			if (relu)
				a[i] = bn_relu(a[i]);
		}
		bn_store<G, VEC>(y, o, a);
	});
}

// bn_load_grad loads G values of dy, each through ReLU's backward where yr
// (the fused forward's output) is given.
template <int G, bool VEC> __device__ __forceinline__ void bn_load_grad(const float *dy, const float *yr, long long o, float *d)
{
	bn_load<G, VEC>(dy, o, d);
	if (yr) {
		float r[G];
		bn_load<G, VEC>(yr, o, r);
#pragma unroll
		for (int i = 0; i < G; i++)
			d[i] = bn_relu_grad(r[i], d[i]);
	}
}

// bn_block_partials stores the block's two sums per tile channel: lane
// values a, b -> part[c*B + blockIdx.x] and part[(C+c)*B + blockIdx.x].
// sh holds 2*BN_THREADS + 64 doubles.
__device__ __forceinline__ void bn_block_partials(const bn_plan &p, const bn_tile &t, double a, double b, double *part, double *sh)
{
	double *la = sh, *lb = sh + BN_THREADS, *ca = sh + 2 * BN_THREADS, *cb = ca + 32;
	la[threadIdx.x] = a;
	lb[threadIdx.x] = b;
	__syncthreads();
	if (threadIdx.x < 32) {
		ca[threadIdx.x] = bn_colsum(la, threadIdx.x);
		cb[threadIdx.x] = bn_colsum(lb, threadIdx.x);
	}
	__syncthreads();
	if ((int)threadIdx.x < t.cbt) {
		int n = bn_lanes_per_ch(&p);
		long long c = t.c0 + threadIdx.x;
		part[c * p.B + blockIdx.x] = bn_chansum(ca, threadIdx.x, n);
		part[(p.C + c) * p.B + blockIdx.x] = bn_chansum(cb, threadIdx.x, n);
	}
}

// bn_combine is channel c's two totals in lane 0 of the calling warp.
__device__ __forceinline__ void bn_combine(const bn_plan &p, const double *part, int c, double *a, double *b)
{
	int lane = threadIdx.x & 31;
	double va = bn_lane_partial(part + (long long)c * p.B, p.B, lane);
	double vb = bn_lane_partial(part + (long long)(p.C + c) * p.B, p.B, lane);
	for (int o = 16; o > 0; o >>= 1) {
		va += __shfl_down_sync(0xffffffffu, va, o);
		vb += __shfl_down_sync(0xffffffffu, vb, o);
	}
	*a = va;
	*b = vb;
}

template <int G, bool VEC>
__device__ __forceinline__ void bn_stats(const bn_plan &p, const float *x, double *part, double *sh)
{
	bn_tile t = bn_tile_of(&p, blockIdx.x, blockIdx.y);
	int cl = bn_lane_ch(&p, threadIdx.x & 31);
	double K = cl < t.cbt ? (double)x[(long long)(t.c0 + cl) * p.L] : 0.0;
	double s1 = 0.0, s2 = 0.0;
	bn_each(p, t, [&](long long o) {
		float a[G];
		bn_load<G, VEC>(x, o, a);
#pragma unroll
		for (int i = 0; i < G; i++)
			bn_acc_moments(a[i], K, &s1, &s2);
	});
	bn_block_partials(p, t, s1, s2, part, sh);
	// The shifts, for batchnorm_forward_train (x may be overwritten by then: y = x in place).
	if (blockIdx.x == 0 && (int)threadIdx.x < t.cbt) {
		long long c = t.c0 + threadIdx.x;
		part[2LL * p.C * p.B + c] = (double)x[c * p.L];
	}
}

// batchnorm_stats: part (2*C*B + C doubles) <- per-block sums of (x-K) and
// (x-K)², K = x[0,c,0], and the shifts K. grid (B, tiles_c), block 256.
extern "C" __global__ void __launch_bounds__(BN_THREADS, 8) batchnorm_stats(const float *x, double *part, BN_PLAN_PARAMS, int vec)
{
	__shared__ double sh[2 * BN_THREADS + 64];
	bn_plan p = BN_PLAN_INIT;
	if (p.G == 4 && vec)
		bn_stats<4, true>(p, x, part, sh);
	else if (p.G == 4)
		bn_stats<4, false>(p, x, part, sh);
	else
		bn_stats<1, false>(p, x, part, sh);
}

template <int G, bool VEC>
__device__ __forceinline__ void bn_forward(const bn_plan &p, const float *x, const float *gamma, const float *beta,
					   float *run_mean, float *run_var, float *y, float *save_mean, float *save_invstd,
					   const double *part, float momentum, float eps, bool relu, float *sh)
{
	bn_tile t = bn_tile_of(&p, blockIdx.x, blockIdx.y);
	int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, M = p.N * p.L;
	for (int cl = warp; cl < t.cbt; cl += BN_WARPS) {
		int c = t.c0 + cl;
		double s1, s2;
		bn_combine(p, part, c, &s1, &s2);
		if (lane == 0) {
			double mean, var;
			bn_moments(s1, s2, M, (float)part[2LL * p.C * p.B + c], &mean, &var);
			double invstd = bn_invstd(var, eps);
			sh[cl] = (float)mean;
			sh[BN_MAX_CB + cl] = bn_scale(gamma[c], invstd);
			sh[2 * BN_MAX_CB + cl] = beta[c];
			if (blockIdx.x == 0) {
				save_mean[c] = (float)mean;
				save_invstd[c] = (float)invstd;
				run_mean[c] = bn_running(run_mean[c], mean, momentum);
				run_var[c] = bn_running(run_var[c], bn_unbiased(var, M), momentum);
			}
		}
	}
	__syncthreads();
	int cl = bn_lane_ch(&p, lane);
	if (cl >= t.cbt)
		return;
	bn_normalise<G, VEC>(p, t, x, y, sh[cl], sh[BN_MAX_CB + cl], sh[2 * BN_MAX_CB + cl], relu);
}

// batchnorm_forward_train: y = (x-mean)·gamma·invstd + beta from
// batchnorm_stats's partials; block 0 of each channel tile saves mean and
// invstd = 1/sqrt(var+eps) (biased var) and updates the running statistics
// (momentum; the unbiased var for the running variance). M = N*L >= 2: the
// launcher checks. grid (B, tiles_c), block 256.
extern "C" __global__ void __launch_bounds__(BN_THREADS, BN_FWD_BLOCKS)
	batchnorm_forward_train(const float *x, const float *gamma, const float *beta, float *run_mean, float *run_var,
				float *y, float *save_mean, float *save_invstd, const double *part, float momentum,
				float eps, int relu, BN_PLAN_PARAMS, int vec)
{
	__shared__ float sh[3 * BN_MAX_CB];
	bn_plan p = BN_PLAN_INIT;
	if (p.G == 4 && vec)
		bn_forward<4, true>(p, x, gamma, beta, run_mean, run_var, y, save_mean, save_invstd, part, momentum, eps, relu, sh);
	else if (p.G == 4)
		bn_forward<4, false>(p, x, gamma, beta, run_mean, run_var, y, save_mean, save_invstd, part, momentum, eps, relu, sh);
	else
		bn_forward<1, false>(p, x, gamma, beta, run_mean, run_var, y, save_mean, save_invstd, part, momentum, eps, relu, sh);
}

template <int G, bool VEC>
__device__ __forceinline__ void bn_infer(const bn_plan &p, const float *x, const float *gamma, const float *beta,
					 const float *run_mean, const float *run_var, float *y, float eps, bool relu)
{
	bn_tile t = bn_tile_of(&p, blockIdx.x, blockIdx.y);
	int cl = bn_lane_ch(&p, threadIdx.x & 31);
	if (cl >= t.cbt)
		return;
	int c = t.c0 + cl;
	bn_normalise<G, VEC>(p, t, x, y, run_mean[c], bn_infer_scale(gamma[c], run_var[c], eps), beta[c], relu);
}

// batchnorm_forward_infer: y = (x-runMean)·gamma/sqrt(runVar+eps) + beta.
// grid (B, tiles_c), block 256.
extern "C" __global__ void __launch_bounds__(BN_THREADS, 8)
	batchnorm_forward_infer(const float *x, const float *gamma, const float *beta, const float *run_mean,
				const float *run_var, float *y, float eps, int relu, BN_PLAN_PARAMS, int vec)
{
	bn_plan p = BN_PLAN_INIT;
	if (p.G == 4 && vec)
		bn_infer<4, true>(p, x, gamma, beta, run_mean, run_var, y, eps, relu);
	else if (p.G == 4)
		bn_infer<4, false>(p, x, gamma, beta, run_mean, run_var, y, eps, relu);
	else
		bn_infer<1, false>(p, x, gamma, beta, run_mean, run_var, y, eps, relu);
}

template <int G, bool VEC>
__device__ __forceinline__ void bn_backward_stats(const bn_plan &p, const float *x, const float *dy, const float *yr,
						  const float *save_mean, const float *save_invstd, double *part, double *sh)
{
	bn_tile t = bn_tile_of(&p, blockIdx.x, blockIdx.y);
	int cl = bn_lane_ch(&p, threadIdx.x & 31);
	float mean = 0.f, invstd = 0.f;
	if (cl < t.cbt) {
		mean = save_mean[t.c0 + cl];
		invstd = save_invstd[t.c0 + cl];
	}
	double sb = 0.0, sg = 0.0;
	bn_each(p, t, [&](long long o) {
		float a[G], d[G];
		bn_load<G, VEC>(x, o, a);
		bn_load_grad<G, VEC>(dy, yr, o, d);
#pragma unroll
		for (int i = 0; i < G; i++)
			bn_acc_backward(a[i], d[i], mean, invstd, &sb, &sg);
	});
	bn_block_partials(p, t, sb, sg, part, sh);
}

// batchnorm_backward_stats: part (2*C*B doubles) <- per-block Σdy and
// Σdy·xhat, xhat = (x-mean)·invstd. grid (B, tiles_c), block 256.
extern "C" __global__ void __launch_bounds__(BN_THREADS, 6)
	batchnorm_backward_stats(const float *x, const float *dy, const float *yr, const float *save_mean,
				 const float *save_invstd, double *part, BN_PLAN_PARAMS, int vec)
{
	__shared__ double sh[2 * BN_THREADS + 64];
	bn_plan p = BN_PLAN_INIT;
	if (p.G == 4 && vec)
		bn_backward_stats<4, true>(p, x, dy, yr, save_mean, save_invstd, part, sh);
	else if (p.G == 4)
		bn_backward_stats<4, false>(p, x, dy, yr, save_mean, save_invstd, part, sh);
	else
		bn_backward_stats<1, false>(p, x, dy, yr, save_mean, save_invstd, part, sh);
}

template <int G, bool VEC>
__device__ __forceinline__ void bn_backward(const bn_plan &p, const float *x, const float *dy, const float *yr, const float *gamma,
					    const float *save_mean, const float *save_invstd, float *dx, float *dgamma,
					    float *dbeta, const double *part, float *sh)
{
	bn_tile t = bn_tile_of(&p, blockIdx.x, blockIdx.y);
	int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, M = p.N * p.L;
	for (int cl = warp; cl < t.cbt; cl += BN_WARPS) {
		int c = t.c0 + cl;
		double sb, sg;
		bn_combine(p, part, c, &sb, &sg);
		if (lane == 0) {
			sh[cl] = (float)sb;
			sh[BN_MAX_CB + cl] = (float)sg;
			if (blockIdx.x == 0) {
				dbeta[c] = (float)sb;
				dgamma[c] = (float)sg;
			}
		}
	}
	__syncthreads();
	int cl = bn_lane_ch(&p, lane);
	if (cl >= t.cbt)
		return;
	int c = t.c0 + cl;
	float mean = save_mean[c], invstd = save_invstd[c], fm = (float)M;
	float k = bn_backward_k(gamma[c], invstd, M), sb = sh[cl], sg = sh[BN_MAX_CB + cl];
	bn_each(p, t, [&](long long o) {
		float a[G], d[G];
		bn_load<G, VEC>(x, o, a);
		bn_load_grad<G, VEC>(dy, yr, o, d);
#pragma unroll
		for (int i = 0; i < G; i++)
			a[i] = bn_backward_dx(a[i], d[i], mean, invstd, k, fm, sb, sg);
		bn_store<G, VEC>(dx, o, a);
	});
}

// batchnorm_backward: with xhat = (x-mean)·invstd and M = N*L, from
// batchnorm_backward_stats's partials dbeta = Σdy, dgamma = Σdy·xhat (block
// 0 of each channel tile writes them) and
// dx = gamma·invstd/M · (M·dy - dbeta - xhat·dgamma). grid (B, tiles_c), block 256.
extern "C" __global__ void __launch_bounds__(BN_THREADS, 6)
	batchnorm_backward(const float *x, const float *dy, const float *yr, const float *gamma, const float *save_mean,
			   const float *save_invstd, float *dx, float *dgamma, float *dbeta, const double *part,
			   BN_PLAN_PARAMS, int vec)
{
	__shared__ float sh[2 * BN_MAX_CB];
	bn_plan p = BN_PLAN_INIT;
	if (p.G == 4 && vec)
		bn_backward<4, true>(p, x, dy, yr, gamma, save_mean, save_invstd, dx, dgamma, dbeta, part, sh);
	else if (p.G == 4)
		bn_backward<4, false>(p, x, dy, yr, gamma, save_mean, save_invstd, dx, dgamma, dbeta, part, sh);
	else
		bn_backward<1, false>(p, x, dy, yr, gamma, save_mean, save_invstd, dx, dgamma, dbeta, part, sh);
}

// The training forward from a convolution epilogue's partials
// (bnstats.cuh): x (N,C,L) is the convolution's output y, whose partials
// part holds, per channel c, nparts (count, mean, M2) triples of tiles of
// tile_rows values (the count from the shape): means at part[c*nparts +
// b], M2s at part[(C+c)*nparts + b]. Every block of batchnorm_forward_train
// combines its channels' partials itself, which is cheap for
// batchnorm_stats's few partials per channel but not for the epilogue's
// (one per 128 values: 1024 per channel for a 32x32 layer at batch 128),
// so here one block per channel combines them once and the normalisation
// reads the result.

// batchnorm_partials_combine: channel c = blockIdx.x, merged by Chan's
// formula in bnstats.cuh's order (thread chains, warp trees, the warps in
// order), then, as batchnorm_forward_train's block 0, save_mean,
// save_invstd and the running statistics, and coef[c] = (float)mean,
// coef[C+c] = gamma·invstd (the normalisation's float scale). rows = N*L
// >= 2 (the launcher checks). grid C, block BNS_COMBINE_THREADS.
extern "C" __global__ void __launch_bounds__(BNS_COMBINE_THREADS)
	batchnorm_partials_combine(const double *part, int nparts, int tile_rows, int rows, int C, const float *gamma,
				   float *run_mean, float *run_var, float *save_mean, float *save_invstd, float *coef,
				   float momentum, float eps)
{
	__shared__ BnsAcc warps[BNS_COMBINE_THREADS / 32];
	int lane = threadIdx.x & 31, c = blockIdx.x;
	BnsAcc a = bns_thread_partial(part + (long long)c * nparts, part + (long long)(C + c) * nparts, nparts,
				      tile_rows, rows, threadIdx.x);
	for (int o = 16; o > 0; o >>= 1) {
		BnsAcc b;
		b.n = __shfl_down_sync(0xffffffffu, a.n, o);
		b.mean = __shfl_down_sync(0xffffffffu, a.mean, o);
		b.m2 = __shfl_down_sync(0xffffffffu, a.m2, o);
		a = bns_chan(a, b);
	}
	if (lane == 0)
		warps[threadIdx.x >> 5] = a;
	__syncthreads();
	if (threadIdx.x == 0) {
		double mean, var;
		bns_moments(bns_chain(warps, BNS_COMBINE_THREADS / 32, 1), &mean, &var);
		double invstd = bn_invstd(var, eps);
		coef[c] = (float)mean;
		coef[C + c] = bn_scale(gamma[c], invstd);
		save_mean[c] = (float)mean;
		save_invstd[c] = (float)invstd;
		run_mean[c] = bn_running(run_mean[c], mean, momentum);
		run_var[c] = bn_running(run_var[c], bn_unbiased(var, rows), momentum);
	}
}

template <int G, bool VEC>
__device__ __forceinline__ void bn_coef(const bn_plan &p, const float *x, const float *coef, const float *beta, float *y,
					bool relu)
{
	bn_tile t = bn_tile_of(&p, blockIdx.x, blockIdx.y);
	int cl = bn_lane_ch(&p, threadIdx.x & 31);
	if (cl >= t.cbt)
		return;
	int c = t.c0 + cl;
	bn_normalise<G, VEC>(p, t, x, y, coef[c], coef[p.C + c], beta[c], relu);
}

// batchnorm_forward_coef: y = (x - coef[c])·coef[C+c] + beta[c] (then
// ReLU when relu): batchnorm_forward_train's normalisation, its float
// mean and scale from batchnorm_partials_combine. grid (B, tiles_c),
// block 256.
extern "C" __global__ void __launch_bounds__(BN_THREADS, 8)
	batchnorm_forward_coef(const float *x, const float *coef, const float *beta, float *y, int relu, BN_PLAN_PARAMS,
			       int vec)
{
	bn_plan p = BN_PLAN_INIT;
	if (p.G == 4 && vec)
		bn_coef<4, true>(p, x, coef, beta, y, relu);
	else if (p.G == 4)
		bn_coef<4, false>(p, x, coef, beta, y, relu);
	else
		bn_coef<1, false>(p, x, coef, beta, y, relu);
}
