// gemm_tc.cu: the 1x1 convolutions' own TF32 path (sm_80 and later):
// forward, data gradient and filter gradient of a 1x1 convolution of
// stride 1 and padding 0 as the batched plain GEMM it is (gemm_tc.cuh),
// on conv2d_tc.cu's GEMM core (tc_gemm: cp.async pipeline, mma.sync
// m16n8k8, fp32 accumulation), each in a 4-byte and a 16-byte cp.async
// form (g1_vec4 chooses; internal/gpu/shapeclass.go mirrors it).
//
// x (N,C,H,W), w (K,C,1,1), b (K), y (N,K,H,W):
//   y[n][k][pq] = b[k] + Σ_c w[k][c] · x[n][c][pq]
// with x and w rounded to TF32 (cvt.rna.tf32.f32) as the fragments are
// read, as in conv2d_tc.cu; the generic kernels there (conv2d_forward_tf32
// and its gradients), whose tap loop then has one tap, compute the same
// GEMM and are the reference these are tested against.
//
// Every index comes from gemm_tc.cuh and conv2d_tc.cuh, which
// internal/kernelhost runs on the host (tc_emu.c) against the CPU
// reference; this file holds the PTX and the loaders' loops, which the
// emulator mirrors copy for copy.
#ifndef TC_ARCH_OK // build-kernels.sh's single unit has included it already
#include "conv2d_tc.cu"
#endif
#include "gemm_tc.cuh"

#if TC_ARCH_OK
// g1_cp_async16 copies 16 bytes from global to shared memory
// asynchronously (both addresses 16-byte aligned), bypassing L1 (.cg: the
// activations are read once per block); with valid = 0 it reads nothing
// and writes zeros.
__device__ __forceinline__ void g1_cp_async16(float *dst, const float *src, int valid)
{
	unsigned s = (unsigned)__cvta_generic_to_shared(dst);
	asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(s), "l"(src), "r"(valid ? 16 : 0) : "memory");
}

// g1_a_row is the tile row (pixel) whose A copies thread tid issues in the
// forward's and data gradient's loaders: tc_a_slot's (4-byte) or
// g1_a_slot4's (16-byte, the first of its four pixels), the same for
// every copy, so that the pixel is decoded once per block.
template <bool V4> __device__ __forceinline__ int g1_a_row()
{
	int m, kk;
	if constexpr (V4)
		g1_a_slot4(threadIdx.x, 0, &m, &kk);
	else
		tc_a_slot(threadIdx.x, 0, &m, &kk);
	return m;
}

// g1_load_a copies the A tile of the step whose first channel is c0 from
// a (N, ch, PQ) into As (k-major padded layout), the thread's pixel pix.
template <bool V4>
__device__ __forceinline__ void g1_load_a(const TcConv &g, const G1Pix &pix, const float *a, int ch, int c0, float *As)
{
	if constexpr (V4) {
#pragma unroll
		for (int l = 0; l < G1_A_VLOADS; l++) {
			int m, kk, off = 0;
			g1_a_slot4(threadIdx.x, l, &m, &kk);
			int ok = g1_at(&g, &pix, ch, c0 + kk, &off);
			g1_cp_async16(As + tc_a_smem(m, kk), a + off, ok);
		}
	} else {
#pragma unroll
		for (int l = 0; l < TC_A_LOADS; l++) {
			int m, kk, off = 0;
			tc_a_slot(threadIdx.x, l, &m, &kk);
			int ok = g1_at(&g, &pix, ch, c0 + kk, &off);
			tc_cp_async4(As + tc_a_smem(m, kk), a + off, ok);
		}
	}
}

// G1Fwd: Y (N*PQ, K) = X · wᵀ, then the epilogue: + b, + res, ReLU
// (conv_epilogue, as conv2d_forward_tf32; b and res may be NULL).
template <bool V4> struct G1Fwd {
	TcConv g;
	const float *x, *w, *b, *res;
	float *y;
	int relu;
	G1Pix pix;
	int n0;
	static constexpr bool ldsm = false; // padded layouts, 4-byte fragment loads
	__device__ int rows() const { return tc_gemm_m(&g); }
	__device__ int cols() const { return g.K; }
	__device__ int steps() const { return tc_linear_steps(g.C); }
	__device__ void load(int kt, float *As, float *Bs) const
	{
		int c0 = kt * TC_BK;
		g1_load_a<V4>(g, pix, x, g.C, c0, As);
		if constexpr (V4) {
			int n, kk, off = 0;
			g1_b_slot4(threadIdx.x, &n, &kk);
			int ok = tc_w_at(&g, n0 + n, 0, 0, c0 + kk, &off);
			g1_cp_async16(Bs + tc_b_smem(n, kk), w + off, ok);
		} else {
#pragma unroll
			for (int l = 0; l < TC_B_LOADS; l++) {
				int n, kk, off = 0;
				g1_b_slot(threadIdx.x, l, &n, &kk);
				int ok = tc_w_at(&g, n0 + n, 0, 0, c0 + kk, &off);
				tc_cp_async4(Bs + tc_b_smem(n, kk), w + off, ok);
			}
		}
	}
	// row is row m of Y, decoded once for the row's stores (tc_store_tile).
	__device__ TcRowOff row(int m) const { return tc_y_row(&g, m); }
	// store writes Y[m][k] through the epilogue and returns the value stored.
	__device__ float store(const TcRowOff &r, int k, float v) const
	{
		int off = tc_row_at(&r, k);
		return y[off] = conv_epilogue(v, b, k, res, off, relu);
	}
};

// G1Data: DX (N*PQ, C) = DY · w; w's rows (contiguous along C, the GEMM's
// columns) always copied 4 bytes at a time.
template <bool V4> struct G1Data {
	TcConv g;
	const float *dy, *w;
	float *dx;
	G1Pix pix;
	int n0;
	static constexpr bool ldsm = false;
	__device__ int rows() const { return tc_data_m(&g); }
	__device__ int cols() const { return g.C; }
	__device__ int steps() const { return tc_linear_steps(g.K); }
	__device__ void load(int kt, float *As, float *Bs) const
	{
		int k0 = kt * TC_BK;
		g1_load_a<V4>(g, pix, dy, g.K, k0, As);
#pragma unroll
		for (int l = 0; l < TC_B_LOADS; l++) {
			int n, kk, off = 0;
			g1_b_slot(threadIdx.x, l, &n, &kk);
			int ok = tc_wt_at(&g, n0 + n, 0, 0, k0 + kk, &off);
			tc_cp_async4(Bs + tc_b_smem(n, kk), w + off, ok);
		}
	}
	// row is row m of DX, decoded once for the row's stores (tc_store_tile).
	__device__ TcRowOff row(int m) const { return tc_dx_row(&g, m); }
	__device__ void store(const TcRowOff &r, int c, float v) const { dx[tc_row_at(&r, c)] = v; }
};

// G1Filter: split blockIdx.z's slab of DW (K, C) = DY · Xᵀ over its pixels,
// both tiles in the swizzled layout (ldmatrix fragments).
template <bool V4> struct G1Filter {
	TcConv g;
	const float *x, *dy;
	float *slab;
	int begin, end, m0, n0;
	static constexpr bool ldsm = true;
	__device__ int rows() const { return g.K; }
	__device__ int cols() const { return g.C; }
	__device__ int steps() const { return end - begin; }
	__device__ void load(int kt, float *As, float *Bs) const
	{
		int p0 = (begin + kt) * TC_BK, tid = threadIdx.x;
		if constexpr (V4) {
			int t, q;
			g1_sw_slot4(tid, 0, &t, &q);
			const G1Pix pd = g1_pix(&g, g.K, p0 + 4 * q), px = g1_pix(&g, g.C, p0 + 4 * q);
#pragma unroll
			for (int l = 0; l < TC_BM * 4 / TC_THREADS; l++) {
				int off = 0;
				g1_sw_slot4(tid, l, &t, &q);
				int ok = g1_at(&g, &pd, g.K, m0 + t, &off);
				g1_cp_async16(As + tc_sw_smem(t, 4 * q), dy + off, ok);
			}
			int off = 0;
			g1_sw_slot4(tid, 0, &t, &q);
			int ok = g1_at(&g, &px, g.C, n0 + t, &off);
			g1_cp_async16(Bs + tc_sw_smem(t, 4 * q), x + off, ok);
		} else {
			int t, kk;
			tc_b_slot(tid, 0, &t, &kk);
			const G1Pix pd = g1_pix(&g, g.K, p0 + kk), px = g1_pix(&g, g.C, p0 + kk);
#pragma unroll
			for (int l = 0; l < TC_A_LOADS; l++) {
				int off = 0;
				tc_b_slot(tid, l, &t, &kk);
				int ok = g1_at(&g, &pd, g.K, m0 + t, &off);
				tc_cp_async4(As + tc_sw_smem(t, kk), dy + off, ok);
			}
#pragma unroll
			for (int l = 0; l < TC_B_LOADS; l++) {
				int off = 0;
				tc_b_slot(tid, l, &t, &kk);
				int ok = g1_at(&g, &px, g.C, n0 + t, &off);
				tc_cp_async4(Bs + tc_sw_smem(t, kk), x + off, ok);
			}
		}
	}
	__device__ void store(int k, int c, float v) const { slab[(long long)k * g.C + c] = v; }
};

// g1_forward runs one block of the 1x1 forward; with STATS, also its
// batch-norm partials to part (conv_bnstats.cuh's tc_store_tile).
template <bool V4, bool STATS = false>
__device__ __forceinline__ void g1_forward(const TcConv &g, const float *x, const float *w, const float *b,
					   const float *res, float *y, int relu, double *part = nullptr)
{
	tc_gemm<G1Fwd<V4>, STATS>(
		G1Fwd<V4>{g, x, w, b, res, y, relu, g1_pix(&g, g.C, blockIdx.x * TC_BM + g1_a_row<V4>()), tc_col0()}, part);
}

template <bool V4> __device__ __forceinline__ void g1_data(const TcConv &g, const float *dy, const float *w, float *dx)
{
	tc_gemm(G1Data<V4>{g, dy, w, dx, g1_pix(&g, g.K, blockIdx.x * TC_BM + g1_a_row<V4>()), tc_col0()});
}

template <bool V4> __device__ __forceinline__ void g1_filter(const TcConv &g, const float *x, const float *dy, float *ws)
{
	G1Filter<V4> op{g, x, dy, ws + (long long)blockIdx.z * g.K * g.C, 0, 0, (int)blockIdx.x * TC_BM, tc_col0()};
	tc_split(tc_filter_steps(&g), gridDim.z, blockIdx.z, &op.begin, &op.end);
	tc_gemm(op);
}
#endif

// The kernels take the arguments of their generic counterparts in
// conv2d_tc.cu (R = S = 1, stride 1, padding 0 assumed: the launcher picks
// them only for such shapes, g1_plain) and their grids: forward
// (ceil(N*H*W/TC_BM), ceil(K/TC_BN)), data gradient (ceil(N*H*W/TC_BM),
// ceil(C/TC_BN)), filter gradient (ceil(K/TC_BM), ceil(C/TC_BN), splits);
// TC_THREADS threads. The _v4 forms need g1_vec4. Compiled for sm_70 too
// (one fatbin), where they only trap: the backend never selects them below
// sm_80.
#if TC_ARCH_OK
#define G1_BODY(call) call
#else
#define G1_BODY(call) __trap()
#endif
#define G1_FWD_ARGS                                                                                                    \
	const float *x, const float *w, const float *b, const float *res, float *y, int relu, int N, int C, int H, int W, \
		int K, int R, int S, int OH, int OW, int sh, int sw, int ph, int pw
#define G1_DATA_ARGS                                                                                                   \
	const float *dy, const float *w, float *dx, int N, int C, int H, int W, int K, int R, int S, int OH, int OW,     \
		int sh, int sw, int ph, int pw
#define G1_FILTER_ARGS                                                                                                 \
	const float *x, const float *dy, float *ws, int N, int C, int H, int W, int K, int R, int S, int OH, int OW,     \
		int sh, int sw, int ph, int pw
#define G1_CONV TcConv{N, C, H, W, K, R, S, OH, OW, sh, sw, ph, pw}

extern "C" __global__ void __launch_bounds__(TC_THREADS, 4) conv2d_forward_1x1_tf32(G1_FWD_ARGS)
{
	G1_BODY(g1_forward<false>(G1_CONV, x, w, b, res, y, relu));
}

extern "C" __global__ void __launch_bounds__(TC_THREADS, 4) conv2d_forward_1x1_v4_tf32(G1_FWD_ARGS)
{
	G1_BODY(g1_forward<true>(G1_CONV, x, w, b, res, y, relu));
}

// The epilogue-statistics forms of the two forwards (bnstats.cuh): b (or
// NULL), no residual or ReLU (a batch norm follows), and part (2*K*gridDim.x
// doubles) as conv2d_forward_bnstats_tf32's: the grid's rows are the same
// TC_BM flat rows of N*OH*OW, so batchnorm_partials_combine reads them
// unchanged. Same grid as the plain forms. At 64 registers (the plain
// forms' bound) the statistics need a stack frame, so 3 blocks per SM (80
// registers), as conv2d_forward_flat_bnstats_tf32.
#define G1_BNS_ARGS                                                                                                    \
	const float *x, const float *w, const float *b, float *y, double *part, int N, int C, int H, int W, int K,     \
		int R, int S, int OH, int OW, int sh, int sw, int ph, int pw

extern "C" __global__ void __launch_bounds__(TC_THREADS, 3) conv2d_forward_1x1_bnstats_tf32(G1_BNS_ARGS)
{
	G1_BODY((g1_forward<false, true>(G1_CONV, x, w, b, nullptr, y, 0, part)));
}

extern "C" __global__ void __launch_bounds__(TC_THREADS, 3) conv2d_forward_1x1_v4_bnstats_tf32(G1_BNS_ARGS)
{
	G1_BODY((g1_forward<true, true>(G1_CONV, x, w, b, nullptr, y, 0, part)));
}

extern "C" __global__ void __launch_bounds__(TC_THREADS, 4) conv2d_backward_data_1x1_tf32(G1_DATA_ARGS)
{
	G1_BODY(g1_data<false>(G1_CONV, dy, w, dx));
}

extern "C" __global__ void __launch_bounds__(TC_THREADS, 4) conv2d_backward_data_1x1_v4_tf32(G1_DATA_ARGS)
{
	G1_BODY(g1_data<true>(G1_CONV, dy, w, dx));
}

extern "C" __global__ void __launch_bounds__(TC_THREADS, 3) conv2d_backward_filter_1x1_tf32(G1_FILTER_ARGS)
{
	G1_BODY(g1_filter<false>(G1_CONV, x, dy, ws));
}

extern "C" __global__ void __launch_bounds__(TC_THREADS, 3) conv2d_backward_filter_1x1_v4_tf32(G1_FILTER_ARGS)
{
	G1_BODY(g1_filter<true>(G1_CONV, x, dy, ws));
}

#undef G1_BODY
#undef G1_FWD_ARGS
#undef G1_BNS_ARGS
#undef G1_DATA_ARGS
#undef G1_FILTER_ARGS
#undef G1_CONV
