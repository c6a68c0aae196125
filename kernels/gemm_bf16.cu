// gemm_bf16.cu: the linears and the 1x1 convolutions' own path on bf16
// tensor cores (sm_80 and later). The linears run through
// the bf16 convolutions' GEMM core (conv2d_bf16.cu's bf_gemm, its loaders,
// swizzled layout, ldmatrix and mma.sync.m16n8k16).
//
// x (N,I), w (O,I), b (O), y (N,O), dy (N,O), dx (N,I), dw (O,I):
//   y = x·wᵀ + b,   dx = dy·w,   dw = dyᵀ·x,
// with the operands rounded to bf16 as they are staged (cvt.rn.bf16x2.f32:
// 8 significant bits, nearest, ties to even) and products summed in fp32;
// storage fp32.
//
// A linear is the 1x1 convolution on 1x1 images tc_linear (conv2d_tc.cuh)
// builds: x (N,I,1,1), w (O,I,1,1), y (N,O,1,1), of stride 1 and padding
// 0, whose batched-GEMM addressing (gemm_tc.cuh: g1_pix, g1_at with PQ =
// 1) is the row-major one. So each linear kernel here runs the 1x1
// kernels' op (Bf1, Bf1Filter, below) on that geometry, which
// internal/kernelhost emulates on the host (bf16_emu.c) on exactly this
// geometry against the CPU linear (TestLinearBF16).
//
// The 1x1 convolutions of stride 1 and padding 0 (the 1x1 shape class,
// internal/gpu/shapeclass.go) run bf_gemm on gemm_tc.cuh's batched-GEMM
// addressing (g1_pix, g1_at: no im2col, no tap cursor, no padding test),
// with the generic bf16 kernels' loader slots, swizzled layout and
// fragments, so that they stage the same bf16 values into the same places
// and compute the same sums bit for bit (TestConv2D1x1BF16 on the host).
// Their loads stay 4-byte (the register-staged pipeline converts each
// float as it goes).
#ifndef BF_ARCH_OK // build-kernels.sh's single unit has included it already
#include "conv2d_bf16.cu"
#endif
#include "gemm_tc.cuh"

#if BF_ARCH_OK
// Bf1: the 1x1 forward (DATA false: Y (N*PQ, K) = X · wᵀ, then the
// epilogue as BfFwd's) or data gradient (DATA true: DX (N*PQ, C) = DY ·
// w): A rows are pixels (bf_slot_m: a thread's two pixels decoded once per
// block), B rows output (input) channels; step kt covers reduction
// channels kt*BF_BK .. +BF_BK-1.
template <bool DATA> struct Bf1 {
	TcConv g;
	const float *a, *b, *bias, *res; // x or dy; w; b or NULL, the residual or NULL (forward)
	float *out;			 // y or dx
	int relu;
	G1Pix pix[2];
	int next, n0; // the next step to fetch, from 0; the block's first column
	__device__ int ch() const { return DATA ? g.K : g.C; }
	__device__ int rows() const { return DATA ? tc_data_m(&g) : tc_gemm_m(&g); }
	__device__ int cols() const { return DATA ? g.C : g.K; }
	__device__ int steps() const { return (ch() + BF_BK - 1) / BF_BK; }
	__device__ void fetch(BfRegs &regs)
	{
		const int tid = threadIdx.x, c0 = next++ * BF_BK;
#pragma unroll
		for (int l = 0; l < BF_A_LOADS; l++) {
			int m, kp;
			bf_slot_m(tid, l, &m, &kp);
#pragma unroll
			for (int e = 0; e < 2; e++) {
				int off = 0, ok = g1_at(&g, &pix[l >> 2], ch(), c0 + 2 * kp + e, &off);
				regs.a[l][e] = bf_get(a, ok, off);
			}
		}
#pragma unroll
		for (int l = 0; l < BF_B_LOADS; l++) {
			int n, kp;
			bf_slot_m(tid, l, &n, &kp);
#pragma unroll
			for (int e = 0; e < 2; e++) {
				int off = 0, c = c0 + 2 * kp + e;
				int ok = DATA ? tc_wt_at(&g, n0 + n, 0, 0, c, &off) : tc_w_at(&g, n0 + n, 0, 0, c, &off);
				regs.b[l][e] = bf_get(b, ok, off);
			}
		}
	}
	__device__ void stage(const BfRegs &regs, unsigned *As, unsigned *Bs) const { bf_stage<bf_slot_m>(regs, As, Bs); }
	// row is row m of DX (tc_dx_offset's) or Y (tc_y_offset's), decoded
	// once for the row's stores (tc_store_tile).
	__device__ TcRowOff row(int m) const { return DATA ? tc_dx_row(&g, m) : tc_y_row(&g, m); }
	// store writes the output element and returns the value stored.
	__device__ float store(const TcRowOff &r, int n, float v) const
	{
		int off = tc_row_at(&r, n);
		if (DATA)
			return out[off] = v;
		return out[off] = conv_epilogue(v, bias, n, res, off, relu);
	}
};

// Bf1Filter: split blockIdx.z's slab of DW (K, C) = DY · Xᵀ over its
// pixels, both tiles in bf_slot_k's order (a thread's two pixels decoded
// once per step).
struct Bf1Filter {
	TcConv g;
	const float *x, *dy;
	float *slab;
	int begin, end, m0, n0;
	int next; // the next step to fetch, from 0
	__device__ int rows() const { return g.K; }
	__device__ int cols() const { return g.C; }
	__device__ int steps() const { return end - begin; }
	__device__ void fetch(BfRegs &regs)
	{
		int tid = threadIdx.x, row, kp, p;
		bf_slot_k(tid, 0, &row, &kp);
		p = (begin + next++) * BF_BK + 2 * kp;
		const G1Pix pd[2] = {g1_pix(&g, g.K, p), g1_pix(&g, g.K, p + 1)};
		const G1Pix px[2] = {g1_pix(&g, g.C, p), g1_pix(&g, g.C, p + 1)};
#pragma unroll
		for (int l = 0; l < BF_A_LOADS; l++) {
			bf_slot_k(tid, l, &row, &kp);
#pragma unroll
			for (int e = 0; e < 2; e++) {
				int off = 0, ok = g1_at(&g, &pd[e], g.K, m0 + row, &off);
				regs.a[l][e] = bf_get(dy, ok, off);
			}
		}
#pragma unroll
		for (int l = 0; l < BF_B_LOADS; l++) {
			bf_slot_k(tid, l, &row, &kp);
#pragma unroll
			for (int e = 0; e < 2; e++) {
				int off = 0, ok = g1_at(&g, &px[e], g.C, n0 + row, &off);
				regs.b[l][e] = bf_get(x, ok, off);
			}
		}
	}
	__device__ void stage(const BfRegs &regs, unsigned *As, unsigned *Bs) const { bf_stage<bf_slot_k>(regs, As, Bs); }
	__device__ void store(int k, int c, float v) const { slab[(long long)k * g.C + c] = v; }
};

// bf1_mn runs one block of the 1x1 forward (DATA false) or data gradient;
// with STATS (a forward), also its batch-norm partials to part
// (conv_bnstats.cuh's tc_store_tile).
template <bool DATA, bool STATS = false>
__device__ __forceinline__ void bf1_mn(const TcConv &g, const float *a, const float *b, const float *bias,
				       const float *res, float *out, int relu, double *part = nullptr)
{
	static_assert(!(DATA && STATS), "the statistics are of a forward's output");
	Bf1<DATA> op{g, a, b, bias, res, out, relu, {}, 0, (int)blockIdx.y * BF_BN};
#pragma unroll
	for (int i = 0; i < 2; i++) {
		int m, kp;
		bf_slot_m(threadIdx.x, 4 * i, &m, &kp);
		op.pix[i] = g1_pix(&g, op.ch(), blockIdx.x * BF_BM + m);
	}
	bf_gemm<Bf1<DATA>, STATS>(op, part);
}

// bf1_filter runs one block of the 1x1 filter gradient: split
// blockIdx.z's slab of ws (splits, K, C).
__device__ __forceinline__ void bf1_filter(const TcConv &g, const float *x, const float *dy, float *ws)
{
	Bf1Filter op{g, x, dy, ws + (long long)blockIdx.z * g.K * g.C, 0, 0, (int)blockIdx.x * BF_BM, (int)blockIdx.y * BF_BN, 0};
	tc_split(bf_filter_steps(&g), gridDim.z, blockIdx.z, &op.begin, &op.end);
	bf_gemm(op);
}
#endif

// BF_BODY is a kernel's body on sm_80 and later; below, where the kernels
// are compiled but never selected, a trap.
#if BF_ARCH_OK
#define BF_BODY(call) call
#else
#define BF_BODY(call) __trap()
#endif

// The 1x1 kernels take their generic counterparts' arguments (R = S = 1,
// stride 1, padding 0: the launcher picks them only for such shapes) and
// grids; BF_THREADS threads.

// conv2d_forward_1x1_bf16: conv2d_forward_bf16 for the 1x1 class.
extern "C" __global__ void __launch_bounds__(BF_THREADS)
conv2d_forward_1x1_bf16(const float *x, const float *w, const float *b, const float *res, float *y, int relu, int N,
			int C, int H, int W, int K, int R, int S, int OH, int OW, int sh, int sw, int ph, int pw)
{
	BF_BODY(bf1_mn<false>(TcConv{N, C, H, W, K, R, S, OH, OW, sh, sw, ph, pw}, x, w, b, res, y, relu));
}

// conv2d_forward_1x1_bnstats_bf16: conv2d_forward_bnstats_bf16 for the 1x1
// class: b (or NULL), no residual or ReLU (a batch norm follows), and the
// batch-norm partials of y to part (2*K*gridDim.x doubles, bnstats.cuh),
// over the same BF_BM flat rows of N*OH*OW. Same grid.
extern "C" __global__ void __launch_bounds__(BF_THREADS)
conv2d_forward_1x1_bnstats_bf16(const float *x, const float *w, const float *b, float *y, double *part, int N, int C,
				int H, int W, int K, int R, int S, int OH, int OW, int sh, int sw, int ph, int pw)
{
	BF_BODY((bf1_mn<false, true>(TcConv{N, C, H, W, K, R, S, OH, OW, sh, sw, ph, pw}, x, w, b, nullptr, y, 0, part)));
}

// conv2d_backward_data_1x1_bf16: conv2d_backward_data_bf16 for the 1x1 class.
extern "C" __global__ void __launch_bounds__(BF_THREADS)
conv2d_backward_data_1x1_bf16(const float *dy, const float *w, float *dx, int N, int C, int H, int W, int K, int R,
			      int S, int OH, int OW, int sh, int sw, int ph, int pw)
{
	BF_BODY(bf1_mn<true>(TcConv{N, C, H, W, K, R, S, OH, OW, sh, sw, ph, pw}, dy, w, nullptr, nullptr, dx, 0));
}

// conv2d_backward_filter_1x1_bf16: conv2d_backward_filter_bf16 for the 1x1
// class: x, dy -> ws (splits, K, C), grid (ceil(K/BF_BM), ceil(C/BF_BN), splits).
extern "C" __global__ void __launch_bounds__(BF_THREADS)
conv2d_backward_filter_1x1_bf16(const float *x, const float *dy, float *ws, int N, int C, int H, int W, int K, int R,
				int S, int OH, int OW, int sh, int sw, int ph, int pw)
{
	BF_BODY(bf1_filter(TcConv{N, C, H, W, K, R, S, OH, OW, sh, sw, ph, pw}, x, dy, ws));
}

// The linear kernels: BF_THREADS threads, the TF32 linears' grids. Compiled for
// sm_70 too (one fatbin), where they only trap: the backend never selects
// them below sm_80 (internal/gpu/registry.go).

// linear_forward_bf16: y = x·wᵀ + b (b may be NULL); grid (ceil(N/BF_BM), ceil(O/BF_BN)).
extern "C" __global__ void __launch_bounds__(BF_THREADS)
linear_forward_bf16(const float *x, const float *w, const float *b, float *y, int N, int I, int O)
{
	BF_BODY(bf1_mn<false>(tc_linear(N, I, O), x, w, b, nullptr, y, 0));
}

// linear_backward_data_bf16: dx = dy·w; grid (ceil(N/BF_BM), ceil(I/BF_BN)).
extern "C" __global__ void __launch_bounds__(BF_THREADS)
linear_backward_data_bf16(const float *dy, const float *w, float *dx, int N, int I, int O)
{
	BF_BODY(bf1_mn<true>(tc_linear(N, I, O), dy, w, nullptr, nullptr, dx, 0));
}

// linear_backward_filter_bf16: x, dy -> ws (splits, O, I), the reduction
// over N split over gridDim.z (summed by sum_splits in a fixed order; with
// one split ws may be dw); grid (ceil(O/BF_BM), ceil(I/BF_BN), splits).
extern "C" __global__ void __launch_bounds__(BF_THREADS)
linear_backward_filter_bf16(const float *x, const float *dy, float *ws, int N, int I, int O)
{
	BF_BODY(bf1_filter(tc_linear(N, I, O), x, dy, ws));
}

#undef BF_BODY
