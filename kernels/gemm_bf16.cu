// gemm_bf16.cu: the linears on bf16 tensor cores (sm_80 and later), through
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
// builds: x (N,I,1,1), w (O,I,1,1), y (N,O,1,1), whose im2col, output and
// filter addressing are the row-major ones. So each kernel here runs the
// bf16 convolution op (BfFwd, BfData, BfFilter) on that geometry: the index
// math is the convolutions', which internal/kernelhost emulates on the host
// (bf16_emu.c) on exactly this geometry against the CPU linear
// (TestLinearBF16).
#ifndef BF_ARCH_OK // build-kernels.sh's single unit has included it already
#include "conv2d_bf16.cu"
#endif

#if BF_ARCH_OK
// bf_linear_fwd: one block of y = x·wᵀ + b (b may be NULL) as conv2d_forward_bf16 on tc_linear.
__device__ __forceinline__ void bf_linear_fwd(const float *x, const float *w, const float *b, float *y, int N, int I, int O)
{
	BfFwd op;
	op.g = tc_linear(N, I, O);
	op.a = x;
	op.b = w;
	op.bias = b;
	op.res = nullptr;
	op.y = y;
	op.relu = 0;
	op.n0 = blockIdx.y * BF_BN;
	op.tap = BfTap{0, 0, 0};
	bf_pixels<TcPixel, tc_pixel>(&op.g, op.pix);
	bf_gemm(op);
}

// bf_linear_data: one block of dx = dy·w as conv2d_backward_data_bf16 on tc_linear.
__device__ __forceinline__ void bf_linear_data(const float *dy, const float *w, float *dx, int N, int I, int O)
{
	BfData op;
	op.g = tc_linear(N, I, O);
	op.a = dy;
	op.b = w;
	op.dx = dx;
	op.n0 = blockIdx.y * BF_BN;
	op.tap = BfTap{0, 0, 0};
	bf_pixels<TcDataPixel, tc_data_pixel>(&op.g, op.pix);
	bf_gemm(op);
}

// bf_linear_filter: split blockIdx.z's slab of dw = dyᵀ·x as
// conv2d_backward_filter_bf16 on tc_linear (the reduction over the batch).
__device__ __forceinline__ void bf_linear_filter(const float *x, const float *dy, float *ws, int N, int I, int O)
{
	BfFilter op;
	op.g = tc_linear(N, I, O);
	op.x = x;
	op.dy = dy;
	op.slab = ws + (long long)blockIdx.z * O * I;
	op.m0 = blockIdx.x * BF_BM;
	op.next = 0;
	tc_split(bf_filter_steps(&op.g), gridDim.z, blockIdx.z, &op.begin, &op.end);
#pragma unroll
	for (int l = 0; l < BF_B_LOADS; l++) {
		int n, kp;
		bf_slot_k(threadIdx.x, l, &n, &kp);
		op.taps[l] = tc_tap(&op.g, blockIdx.y * BF_BN + n);
	}
	bf_gemm(op);
}
#endif

// The kernels: BF_THREADS threads, the TF32 linears' grids. Compiled for
// sm_70 too (one fatbin), where they only trap: the backend never selects
// them below sm_80 (internal/gpu/registry.go).

// linear_forward_bf16: y = x·wᵀ + b (b may be NULL); grid (ceil(N/BF_BM), ceil(O/BF_BN)).
extern "C" __global__ void __launch_bounds__(BF_THREADS)
linear_forward_bf16(const float *x, const float *w, const float *b, float *y, int N, int I, int O)
{
#if BF_ARCH_OK
	bf_linear_fwd(x, w, b, y, N, I, O);
#else
	__trap();
#endif
}

// linear_backward_data_bf16: dx = dy·w; grid (ceil(N/BF_BM), ceil(I/BF_BN)).
extern "C" __global__ void __launch_bounds__(BF_THREADS)
linear_backward_data_bf16(const float *dy, const float *w, float *dx, int N, int I, int O)
{
#if BF_ARCH_OK
	bf_linear_data(dy, w, dx, N, I, O);
#else
	__trap();
#endif
}

// linear_backward_filter_bf16: x, dy -> ws (splits, O, I), the reduction
// over N split over gridDim.z (summed by sum_splits in a fixed order; with
// one split ws may be dw); grid (ceil(O/BF_BM), ceil(I/BF_BN), splits).
extern "C" __global__ void __launch_bounds__(BF_THREADS)
linear_backward_filter_bf16(const float *x, const float *dy, float *ws, int N, int I, int O)
{
#if BF_ARCH_OK
	bf_linear_filter(x, dy, ws, N, I, O);
#else
	__trap();
#endif
}
