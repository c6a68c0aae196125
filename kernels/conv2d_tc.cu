// conv2d_tc.cu: 2-D convolution on TF32 tensor cores (sm_80 and later), the
// TF32 variant of conv2d.cu's fp32 implicit GEMM (which stays the default).
//
// x (N,C,H,W), w (K,C,R,S), b (K), y (N,K,OH,OW); stride sh sw, padding ph pw.
//   y[n][k][oh][ow] = b[k] + Σ_{c,r,s} w[k][c][r][s] · x[n][c][oh*sh-ph+r][ow*sw-pw+s]
// with x and w rounded to TF32 (cvt.rna.tf32.f32: 10 mantissa bits, nearest,
// ties away from zero) and products summed in fp32 by mma.sync.m16n8k8.
//
// Every index (tile loads, im2col, shared-memory layout, fragment ownership,
// output addressing) comes from conv2d_tc.cuh, which internal/kernelhost
// runs on the host against the CPU reference. This file holds only what
// the host cannot run: the PTX (cp.async, cvt, mma) and the loop around it,
// which internal/kernelhost's emulator mirrors step for step.
#include "hd.cuh"
#include "conv2d_tc.cuh"
#include "epilogue.cuh"
#include "conv_bnstats.cuh"

#if !defined(__CUDA_ARCH__) || __CUDA_ARCH__ >= 800
#define TC_ARCH_OK 1
#else
#define TC_ARCH_OK 0
#endif

#if TC_ARCH_OK
// tc_cp_async4 copies one float from global to shared memory asynchronously;
// with valid = 0 it reads nothing and writes 0 (the src-size 0 zero fill).
__device__ __forceinline__ void tc_cp_async4(float *dst, const float *src, int valid)
{
	unsigned s = (unsigned)__cvta_generic_to_shared(dst);
	asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(s), "l"(src), "r"(valid ? 4 : 0) : "memory");
}

// The "memory" clobbers keep the compiler from moving shared-memory reads
// and writes across the copies, the commit and the wait.
__device__ __forceinline__ void tc_cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }

// tc_cp_async_wait<P> waits until at most P groups of this thread are in flight.
template <int P> __device__ __forceinline__ void tc_cp_async_wait()
{
	asm volatile("cp.async.wait_group %0;\n" ::"n"(P) : "memory");
}

__device__ __forceinline__ unsigned tc_tf32(float f)
{
	unsigned r;
	asm("cvt.rna.tf32.f32 %0, %1;\n" : "=r"(r) : "f"(f));
	return r;
}

// tc_mma: d (16x8) += a (16x8) · b (8x8), fragments as in conv2d_tc.cuh.
__device__ __forceinline__ void tc_mma(float d[4], const unsigned a[4], const unsigned b[2])
{
	asm volatile("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 "
		     "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
		     : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
		     : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}

// tc_ldsm_x4 is ldmatrix.sync.aligned.m8n8.x4.shared.b16 from the shared
// address of p (this lane's row of 16 bytes): d[j] is row lane/4, 32-bit
// element lane%4 of matrix j (conv2d_tc.cuh, tc_ldsm_a and tc_ldsm_b).
__device__ __forceinline__ void tc_ldsm_x4(unsigned d[4], const float *p)
{
	unsigned s = (unsigned)__cvta_generic_to_shared(p);
	asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
		     : "=r"(d[0]), "=r"(d[1]), "=r"(d[2]), "=r"(d[3])
		     : "r"(s)
		     : "memory");
}

// tc_load_sw issues this thread's cp.async copies of pipeline step kt
// into one stage of As and Bs in the swizzled layout (tc_sw_smem); ch is
// the reduction's channel count. A elements from a in tc_a_slot_sw's
// order through op.a_row (once per step: the thread's row op.pix, decoded
// once per block, at the step's tap) and op.a_at; B elements from b in
// tc_b_slot's order through op.b_at.
template <class Op>
__device__ __forceinline__ void tc_load_sw(const Op &op, int ch, int kt, const float *a, const float *b, float *As,
					   float *Bs)
{
	int tid = threadIdx.x, r, s, c0;
	tc_step(&op.g, ch, kt, &r, &s, &c0);
	const TcRow row = op.a_row(r, s);
#pragma unroll
	for (int l = 0; l < TC_A_LOADS; l++) {
		int m, kk;
		int off = 0;
		tc_a_slot_sw(tid, l, &m, &kk);
		int ok = op.a_at(&row, c0 + kk, &off);
		tc_cp_async4(As + tc_sw_smem(m, kk), a + off, ok);
	}
#pragma unroll
	for (int l = 0; l < TC_B_LOADS; l++) {
		int n, kk;
		int off = 0;
		tc_b_slot(tid, l, &n, &kk);
		int ok = op.b_at(op.n0 + n, r, s, c0 + kk, &off);
		tc_cp_async4(Bs + tc_sw_smem(n, kk), b + off, ok);
	}
}

// TcFwd: Y (N*OH*OW, K) = im2col(x) · wᵀ, then the epilogue: + b, + res,
// ReLU (conv_epilogue; b and res may be NULL).
struct TcFwd {
	TcConv g;
	const float *x, *w, *b, *res;
	float *y;
	int relu;
	TcPixel pix;
	int n0;
	static constexpr bool ldsm = true; // swizzled layout, ldmatrix fragments
	__device__ int rows() const { return tc_gemm_m(&g); }
	__device__ int cols() const { return g.K; }
	__device__ int steps() const { return tc_k_steps(&g, g.C); }
	__device__ TcRow a_row(int r, int s) const { return tc_im2col_row(&g, &pix, r, s); }
	__device__ int a_at(const TcRow *row, int c, int *off) const { return tc_im2col(&g, row, c, off); }
	__device__ int b_at(int k, int r, int s, int c, int *off) const { return tc_w_at(&g, k, r, s, c, off); }
	__device__ void load(int kt, float *As, float *Bs) const { tc_load_sw(*this, g.C, kt, x, w, As, Bs); }
	// row is row m of Y, decoded once for the row's stores (tc_store_tile);
	// store writes Y[m][k] through the epilogue and returns the value stored.
	__device__ TcRowOff row(int m) const { return tc_y_row(&g, m); }
	__device__ float store(const TcRowOff &r, int k, float v) const
	{
		int off = tc_row_at(&r, k);
		return y[off] = conv_epilogue(v, b, k, res, off, relu);
	}
};

// TcFwdFlat: TcFwd's GEMM with the reduction taken flat over (c, r, s)
// (the small-channel path, see conv2d_tc.cuh): a thread's pixel is decoded
// once per block (pix), each of its columns per element (tc_tap).
struct TcFwdFlat {
	TcConv g;
	const float *x, *w, *b, *res;
	float *y;
	int relu;
	TcFilterPixel pix;
	int n0;
	static constexpr bool ldsm = false;
	__device__ int rows() const { return tc_gemm_m(&g); }
	__device__ int cols() const { return g.K; }
	__device__ int steps() const { return tc_flat_steps(&g); }
	__device__ void load(int kt, float *As, float *Bs) const
	{
		int tid = threadIdx.x;
#pragma unroll
		for (int l = 0; l < TC_A_LOADS; l++) {
			int m, kk;
			int off = 0;
			tc_a_slot(tid, l, &m, &kk);
			const TcTap t = tc_tap(&g, kt * TC_BK + kk);
			int ok = tc_fx_at(&g, &pix, &t, &off);
			tc_cp_async4(As + tc_a_smem(m, kk), x + off, ok);
		}
#pragma unroll
		for (int l = 0; l < TC_B_LOADS; l++) {
			int n, kk;
			int off = 0;
			tc_b_slot(tid, l, &n, &kk);
			int ok = tc_wflat_at(&g, n0 + n, kt * TC_BK + kk, &off);
			tc_cp_async4(Bs + tc_b_smem(n, kk), w + off, ok);
		}
	}
	// row is row m of Y, decoded once for the row's stores (tc_store_tile);
	// store writes Y[m][k] through the epilogue and returns the value stored.
	__device__ TcRowOff row(int m) const { return tc_y_row(&g, m); }
	__device__ float store(const TcRowOff &r, int k, float v) const
	{
		int off = tc_row_at(&r, k);
		return y[off] = conv_epilogue(v, b, k, res, off, relu);
	}
};

// TcData: DX (N*H*W, C) = D̂Y · W' (see conv2d_tc.cuh).
struct TcData {
	TcConv g;
	const float *dy, *w;
	float *dx;
	TcDataPixel pix;
	int n0;
	static constexpr bool ldsm = true; // swizzled layout, ldmatrix fragments
	__device__ int rows() const { return tc_data_m(&g); }
	__device__ int cols() const { return g.C; }
	__device__ int steps() const { return tc_k_steps(&g, g.K); }
	__device__ TcRow a_row(int r, int s) const { return tc_dy_row(&g, &pix, r, s); }
	__device__ int a_at(const TcRow *row, int k, int *off) const { return tc_dy_at(&g, row, k, off); }
	__device__ int b_at(int c, int r, int s, int k, int *off) const { return tc_wt_at(&g, c, r, s, k, off); }
	__device__ void load(int kt, float *As, float *Bs) const { tc_load_sw(*this, g.K, kt, dy, w, As, Bs); }
	// row is row m of DX, decoded once for the row's stores (tc_store_tile).
	__device__ TcRowOff row(int m) const { return tc_dx_row(&g, m); }
	__device__ void store(const TcRowOff &r, int c, float v) const { dx[tc_row_at(&r, c)] = v; }
};

// TcFilter: split blockIdx.z's slab of DW (K, CRS) = DY · X̂ over its
// pixels (see conv2d_tc.cuh). Both tiles are loaded in tc_b_slot's order:
// a thread's pixel (tile row kk) is decoded once per step, the taps of its
// B columns once per block (taps).
struct TcFilter {
	TcConv g;
	const float *x, *dy;
	float *slab;
	TcTap taps[TC_B_LOADS];
	int begin, end, m0;
	static constexpr bool ldsm = true; // swizzled layout: both tiles in tc_b_slot's order store conflict-free
	__device__ int rows() const { return g.K; }
	__device__ int cols() const { return g.C * g.R * g.S; }
	__device__ int steps() const { return end - begin; }
	__device__ void load(int kt, float *As, float *Bs) const
	{
		int tid = threadIdx.x, n, kk;
		tc_b_slot(tid, 0, &n, &kk);
		const TcFilterPixel f = tc_filter_pixel(&g, (begin + kt) * TC_BK + kk);
#pragma unroll
		for (int l = 0; l < TC_A_LOADS; l++) {
			int m;
			int off = 0;
			tc_b_slot(tid, l, &m, &kk);
			int ok = tc_fdy_at(&g, &f, m0 + m, &off);
			tc_cp_async4(As + tc_sw_smem(m, kk), dy + off, ok);
		}
#pragma unroll
		for (int l = 0; l < TC_B_LOADS; l++) {
			int off = 0;
			tc_b_slot(tid, l, &n, &kk);
			int ok = tc_fx_at(&g, &f, &taps[l], &off);
			tc_cp_async4(Bs + tc_sw_smem(n, kk), x + off, ok);
		}
	}
	__device__ void store(int k, int crs, float v) const { slab[(long long)k * cols() + crs] = v; }
};

// TcLinFwd, TcLinData, TcLinFilter: the linears as plain row-major GEMMs
// (see conv2d_tc.cuh), g = tc_linear(N, I, O): N = g.N, I = g.C, O = g.K.

// tc_load_rm issues this thread's copies of one stage of a tile from the
// row-major (rows, cols) matrix p: the thread's l-th copy (LOADS of them)
// is tile element (t, kk) by Slot (t a row of A or a column of B), stored
// at Smem(t, kk), read from element (t0+t, k0+kk) of p, or (k0+kk, t0+t)
// when kmajor (the reduction runs along p's rows).
template <int LOADS, void (*Slot)(int, int, int *, int *), int (*Smem)(int, int)>
__device__ __forceinline__ void tc_load_rm(const float *p, int rows, int cols, bool kmajor, int t0, int k0, float *S)
{
#pragma unroll
	for (int l = 0; l < LOADS; l++) {
		int t, kk, off = 0;
		Slot(threadIdx.x, l, &t, &kk);
		int ok = kmajor ? tc_rm_at(rows, cols, k0 + kk, t0 + t, &off) : tc_rm_at(rows, cols, t0 + t, k0 + kk, &off);
		tc_cp_async4(S + Smem(t, kk), p + off, ok);
	}
}

// TcLinFwd: Y (N, O) = X · Wᵀ + b; both tiles loaded reduction-contiguous.
struct TcLinFwd {
	TcConv g;
	const float *x, *w, *b;
	float *y;
	static constexpr bool ldsm = false; // the swizzled layout spills at 64 registers (kernels/conv2d_tc.cuh)
	__device__ int rows() const { return g.N; }
	__device__ int cols() const { return g.K; }
	__device__ int steps() const { return tc_linear_steps(g.C); }
	__device__ void load(int kt, float *As, float *Bs) const
	{
		int c0 = kt * TC_BK;
		tc_load_rm<TC_A_LOADS, tc_b_slot, tc_a_smem>(x, g.N, g.C, false, blockIdx.x * TC_BM, c0, As);
		tc_load_rm<TC_B_LOADS, tc_b_slot, tc_b_smem>(w, g.K, g.C, false, blockIdx.y * TC_BN, c0, Bs);
	}
	__device__ void store(int m, int n, float v) const
	{
		int off = tc_y_offset(&g, m, n);
		y[off] = conv_epilogue(v, b, n, nullptr, off, 0);
	}
};

// TcLinData: DX (N, I) = DY · W; dy loaded reduction-contiguous, w
// column-contiguous.
struct TcLinData {
	TcConv g;
	const float *dy, *w;
	float *dx;
	static constexpr bool ldsm = false;
	__device__ int rows() const { return g.N; }
	__device__ int cols() const { return g.C; }
	__device__ int steps() const { return tc_linear_steps(g.K); }
	__device__ void load(int kt, float *As, float *Bs) const
	{
		int k0 = kt * TC_BK;
		tc_load_rm<TC_A_LOADS, tc_b_slot, tc_a_smem>(dy, g.N, g.K, false, blockIdx.x * TC_BM, k0, As);
		tc_load_rm<TC_B_LOADS, tc_bn_slot, tc_b_smem>(w, g.K, g.C, true, blockIdx.y * TC_BN, k0, Bs);
	}
	__device__ void store(int m, int c, float v) const { dx[tc_dx_offset(&g, m, c)] = v; }
};

// TcLinFilter: split blockIdx.z's slab of DW (O, I) = DYᵀ · X over its
// samples; dy and x loaded row- and column-contiguous.
struct TcLinFilter {
	TcConv g;
	const float *x, *dy;
	float *slab;
	int begin, end;
	static constexpr bool ldsm = false;
	__device__ int rows() const { return g.K; }
	__device__ int cols() const { return g.C; }
	__device__ int steps() const { return end - begin; }
	__device__ void load(int kt, float *As, float *Bs) const
	{
		int p0 = (begin + kt) * TC_BK;
		tc_load_rm<TC_A_LOADS, tc_a_slot, tc_a_smem>(dy, g.N, g.K, true, blockIdx.x * TC_BM, p0, As);
		tc_load_rm<TC_B_LOADS, tc_bn_slot, tc_b_smem>(x, g.N, g.C, true, blockIdx.y * TC_BN, p0, Bs);
	}
	__device__ void store(int o, int i, float v) const { slab[(long long)o * cols() + i] = v; }
};

// tc_gemm runs one block tile of op: the cp.async pipeline, the warps'
// mma.sync over each stage, and the epilogue's stores. With STATS (the
// forwards whose store returns the stored value), the epilogue then
// writes the block's batch-norm partials of its output to part
// (conv_bnstats.cuh, bnstats.cuh).
template <class Op, bool STATS = false> __device__ __forceinline__ void tc_gemm(const Op &op, double *part = nullptr)
{
	// Stage sizes of the op's layout: swizzled (Op::ldsm) or padded.
	constexpr int A_STAGE = Op::ldsm ? TC_A_SW_STAGE : TC_A_STAGE, B_STAGE = Op::ldsm ? TC_B_SW_STAGE : TC_B_STAGE;
	__shared__ __align__(16) float As[TC_STAGES * A_STAGE];
	__shared__ __align__(16) float Bs[TC_STAGES * B_STAGE];
	const int M = op.rows(), Nc = op.cols(), steps = op.steps();
	const int m0 = blockIdx.x * TC_BM, n0 = blockIdx.y * TC_BN;
	const int lane = threadIdx.x & 31;
	int wm, wn;
	tc_warp_origin(threadIdx.x >> 5, &wm, &wn);

	float acc[TC_MT][TC_NT][4];
#pragma unroll
	for (int i = 0; i < TC_MT; i++)
#pragma unroll
		for (int j = 0; j < TC_NT; j++)
#pragma unroll
			for (int e = 0; e < 4; e++)
				acc[i][j][e] = 0.f;

	// Prologue: steps 0 .. TC_STAGES-2 in flight, one group each (empty
	// groups past the end keep the count that tc_cp_async_wait relies on).
#pragma unroll
	for (int kt = 0; kt < TC_STAGES - 1; kt++) {
		if (kt < steps)
			op.load(kt, As + tc_stage(kt) * A_STAGE, Bs + tc_stage(kt) * B_STAGE);
		tc_cp_async_commit();
	}
	for (int kt = 0; kt < steps; kt++) {
		// Step kt's group has landed (at most TC_WAIT_PENDING younger ones
		// in flight), and every warp is done with step kt-1's stage, which
		// the prefetch below overwrites.
		tc_cp_async_wait<TC_WAIT_PENDING>();
		__syncthreads();
		int next = kt + TC_STAGES - 1;
		if (next < steps)
			op.load(next, As + tc_stage(next) * A_STAGE, Bs + tc_stage(next) * B_STAGE);
		tc_cp_async_commit();

		const float *as = As + tc_stage(kt) * A_STAGE, *bs = Bs + tc_stage(kt) * B_STAGE;
#pragma unroll
		for (int k8 = 0; k8 < TC_BK; k8 += 8) {
			unsigned a[TC_MT][4], bf[TC_NT][2];
			if constexpr (Op::ldsm) {
				// ldmatrix.x4: one per mma tile of A, one per two of B.
				int ar, ac, bn, bk;
				tc_ldsm_a(lane, &ar, &ac);
				tc_ldsm_b(lane, &bn, &bk);
#pragma unroll
				for (int i = 0; i < TC_MT; i++) {
					tc_ldsm_x4(a[i], as + tc_sw_smem(wm + 16 * i + ar, k8 + ac));
#pragma unroll
					for (int e = 0; e < 4; e++)
						a[i][e] = tc_tf32(__uint_as_float(a[i][e]));
				}
#pragma unroll
				for (int j = 0; j < TC_NT; j += 2) {
					unsigned d[4];
					tc_ldsm_x4(d, bs + tc_sw_smem(wn + 8 * j + bn, k8 + bk));
#pragma unroll
					for (int e = 0; e < 4; e++)
						bf[j + e / 2][e % 2] = tc_tf32(__uint_as_float(d[e]));
				}
			} else {
#pragma unroll
			for (int i = 0; i < TC_MT; i++)
#pragma unroll
				for (int e = 0; e < 4; e++) {
					int row, col;
					tc_frag_a(lane, e, &row, &col);
					a[i][e] = tc_tf32(as[tc_a_smem(wm + 16 * i + row, k8 + col)]);
				}
#pragma unroll
			for (int j = 0; j < TC_NT; j++)
#pragma unroll
				for (int e = 0; e < 2; e++) {
					int row, col;
					tc_frag_b(lane, e, &row, &col);
					bf[j][e] = tc_tf32(bs[tc_b_smem(wn + 8 * j + col, k8 + row)]);
				}
			}
#pragma unroll
			for (int i = 0; i < TC_MT; i++)
#pragma unroll
				for (int j = 0; j < TC_NT; j++)
					tc_mma(acc[i][j], a[i], bf[j]);
		}
	}

	// Epilogue: each lane stores the accumulators it owns (then, with
	// STATS, the block's batch-norm partials in the stages' memory, once
	// no copy is in flight).
	if constexpr (STATS) {
		static_assert(sizeof(As) >= BNS_SMEM_BYTES, "the statistics reuse the pipeline's shared memory");
		tc_cp_async_wait<0>();
	}
	tc_store_tile<STATS>(op, acc, m0, n0, wm, wn, M, Nc, part, As);
}
// tc_row is the GEMM row whose A elements this thread copies (tc_a_slot's
// row, the same for all its copies), so that it decodes its pixel once per
// block; tc_col0 is the block's first GEMM column.
__device__ __forceinline__ int tc_row()
{
	int m, kk;
	tc_a_slot(threadIdx.x, 0, &m, &kk);
	return blockIdx.x * TC_BM + m;
}

// tc_row_sw is the GEMM row this thread copies in tc_a_slot_sw's order
// (the forward and the data gradient).
__device__ __forceinline__ int tc_row_sw() { return blockIdx.x * TC_BM + tc_a_row_sw(threadIdx.x); }

__device__ __forceinline__ int tc_col0() { return blockIdx.y * TC_BN; }

// tc_filter runs one block of the filter gradient of g: x, dy -> split
// blockIdx.z's slab of ws (see conv2d_backward_filter_tf32).
__device__ __forceinline__ void tc_filter(const TcConv &g, const float *x, const float *dy, float *ws)
{
	TcFilter op;
	op.g = g;
	op.x = x;
	op.dy = dy;
	op.slab = ws + (long long)blockIdx.z * g.K * (g.C * g.R * g.S);
	op.m0 = blockIdx.x * TC_BM; // the block's first row: K here, not pixels
	tc_split(tc_filter_steps(&op.g), gridDim.z, blockIdx.z, &op.begin, &op.end);
#pragma unroll
	for (int l = 0; l < TC_B_LOADS; l++) {
		int n, kk;
		tc_b_slot(threadIdx.x, l, &n, &kk);
		op.taps[l] = tc_tap(&op.g, blockIdx.y * TC_BN + n);
	}
	tc_gemm(op);
}
#endif

// Every kernel: grid (ceil(rows/TC_BM), ceil(cols/TC_BN)), TC_THREADS
// threads, 41,472 B of static shared memory (36,864 B for the forward and the
// data gradient's swizzled layout). __launch_bounds__(TC_THREADS, 4) holds
// the flat forward and the linears (70-73 registers unbounded) to 64
// registers, without spills (scripts/check-tc-sass.sh): 4 blocks per SM on
// sm_90 instead of 3. The forward and the data gradient on the swizzled
// layout and ldmatrix need about 100 registers unbounded (sm_90) and spill
// 4-24 bytes at 64: (TC_THREADS, 3) holds them to 80 without spills, 3
// blocks per SM instead of 2. Compiled for sm_70 too (one fatbin), where they
// only trap: the backend never selects them below sm_80
// (internal/gpu/math_cuda.go).

// conv2d_forward_tf32: x, w, b (or NULL) -> y, with the epilogue's
// residual res (y's shape, or NULL) and ReLU (relu != 0); rows N*OH*OW,
// cols K.
extern "C" __global__ void __launch_bounds__(TC_THREADS, 3)
conv2d_forward_tf32(const float *x, const float *w, const float *b, const float *res, float *y, int relu, int N,
		    int C, int H, int W, int K, int R, int S, int OH, int OW, int sh, int sw, int ph, int pw)
{
#if TC_ARCH_OK
	const TcConv g = {N, C, H, W, K, R, S, OH, OW, sh, sw, ph, pw};
	tc_gemm(TcFwd{g, x, w, b, res, y, relu, tc_pixel(&g, tc_row_sw()), tc_col0()});
#else
	__trap();
#endif
}

// conv2d_forward_flat_tf32: conv2d_forward_tf32 for the small-channel
// class (C <= TC_SMALL_C; any C is computed right), the reduction flat
// over (c, r, s). Same arguments and grid.
extern "C" __global__ void __launch_bounds__(TC_THREADS, 4)
conv2d_forward_flat_tf32(const float *x, const float *w, const float *b, const float *res, float *y, int relu, int N,
			 int C, int H, int W, int K, int R, int S, int OH, int OW, int sh, int sw, int ph, int pw)
{
#if TC_ARCH_OK
	const TcConv g = {N, C, H, W, K, R, S, OH, OW, sh, sw, ph, pw};
	tc_gemm(TcFwdFlat{g, x, w, b, res, y, relu, tc_filter_pixel(&g, tc_row()), tc_col0()});
#else
	__trap();
#endif
}

// The epilogue-statistics forwards (bnstats.cuh): conv2d_forward_tf32 and
// conv2d_forward_flat_tf32 with b (or NULL) and no residual or ReLU (a
// batch norm follows), which also write part (2*K*gridDim.x doubles): each
// block's mean and M2 of every output channel over its rows of y. Same
// grid; the launch bounds of the kernels they extend.

// conv2d_forward_bnstats_tf32: x, w, b (or NULL) -> y and the partials.
extern "C" __global__ void __launch_bounds__(TC_THREADS, 3)
conv2d_forward_bnstats_tf32(const float *x, const float *w, const float *b, float *y, double *part, int N, int C,
			    int H, int W, int K, int R, int S, int OH, int OW, int sh, int sw, int ph, int pw)
{
#if TC_ARCH_OK
	const TcConv g = {N, C, H, W, K, R, S, OH, OW, sh, sw, ph, pw};
	tc_gemm<TcFwd, true>(TcFwd{g, x, w, b, nullptr, y, 0, tc_pixel(&g, tc_row_sw()), tc_col0()}, part);
#else
	__trap();
#endif
}

// conv2d_forward_flat_bnstats_tf32: the small-channel class's
// conv2d_forward_bnstats_tf32. At 64 registers (conv2d_forward_flat_tf32's
// bound) the statistics need a stack frame, so 3 blocks per SM (80).
extern "C" __global__ void __launch_bounds__(TC_THREADS, 3)
conv2d_forward_flat_bnstats_tf32(const float *x, const float *w, const float *b, float *y, double *part, int N,
				 int C, int H, int W, int K, int R, int S, int OH, int OW, int sh, int sw, int ph,
				 int pw)
{
#if TC_ARCH_OK
	const TcConv g = {N, C, H, W, K, R, S, OH, OW, sh, sw, ph, pw};
	tc_gemm<TcFwdFlat, true>(TcFwdFlat{g, x, w, b, nullptr, y, 0, tc_filter_pixel(&g, tc_row()), tc_col0()}, part);
#else
	__trap();
#endif
}

// conv2d_backward_data_tf32: dy, w -> dx; rows N*H*W, cols C.
extern "C" __global__ void __launch_bounds__(TC_THREADS, 3)
conv2d_backward_data_tf32(const float *dy, const float *w, float *dx, int N, int C, int H, int W, int K, int R, int S,
			  int OH, int OW, int sh, int sw, int ph, int pw)
{
#if TC_ARCH_OK
	const TcConv g = {N, C, H, W, K, R, S, OH, OW, sh, sw, ph, pw};
	tc_gemm(TcData{g, dy, w, dx, tc_data_pixel(&g, tc_row_sw()), tc_col0()});
#else
	__trap();
#endif
}

// conv2d_backward_filter_tf32: x, dy -> ws (splits, K, C*R*S), one slab per
// blockIdx.z of gridDim.z splits (with one split ws may be dw itself);
// grid (ceil(K/TC_BM), ceil(C*R*S/TC_BN), splits).
extern "C" __global__ void __launch_bounds__(TC_THREADS, 3)
conv2d_backward_filter_tf32(const float *x, const float *dy, float *ws, int N, int C, int H, int W, int K, int R,
			    int S, int OH, int OW, int sh, int sw, int ph, int pw)
{
#if TC_ARCH_OK
	tc_filter(TcConv{N, C, H, W, K, R, S, OH, OW, sh, sw, ph, pw}, x, dy, ws);
#else
	__trap();
#endif
}

// The linears (conv2d_tc.cuh: plain row-major GEMMs on the same tiles),
// x (N,I), w (O,I), b (O), y (N,O), dy (N,O), dx (N,I), dw (O,I).

// linear_forward_tf32: y = x·wᵀ + b (b may be NULL); grid (ceil(N/TC_BM),
// ceil(O/TC_BN)).
extern "C" __global__ void __launch_bounds__(TC_THREADS, 4)
linear_forward_tf32(const float *x, const float *w, const float *b, float *y, int N, int I, int O)
{
#if TC_ARCH_OK
	tc_gemm(TcLinFwd{tc_linear(N, I, O), x, w, b, y});
#else
	__trap();
#endif
}

// linear_backward_data_tf32: dx = dy·w; grid (ceil(N/TC_BM), ceil(I/TC_BN)).
extern "C" __global__ void __launch_bounds__(TC_THREADS, 4)
linear_backward_data_tf32(const float *dy, const float *w, float *dx, int N, int I, int O)
{
#if TC_ARCH_OK
	tc_gemm(TcLinData{tc_linear(N, I, O), dy, w, dx});
#else
	__trap();
#endif
}

// linear_backward_filter_tf32: x, dy -> ws (splits, O, I), the reduction
// over N split over gridDim.z (summed by sum_splits; with one split ws may
// be dw); grid (ceil(O/TC_BM), ceil(I/TC_BN), splits).
extern "C" __global__ void __launch_bounds__(TC_THREADS, 4)
linear_backward_filter_tf32(const float *x, const float *dy, float *ws, int N, int I, int O)
{
#if TC_ARCH_OK
	TcLinFilter op{tc_linear(N, I, O), x, dy, ws + (long long)blockIdx.z * O * I, 0, 0};
	tc_split(tc_linear_steps(N), gridDim.z, blockIdx.z, &op.begin, &op.end);
	tc_gemm(op);
#else
	__trap();
#endif
}
