// conv2d_bf16.cu: 2-D convolution on bf16 tensor cores (sm_80 and later):
// forward, data gradient and filter gradient, the bf16 variants of
// conv2d.cu's fp32 implicit GEMMs.
//
// x (N,C,H,W), w (K,C,R,S), b (K), y (N,K,OH,OW); stride sh sw, padding ph pw.
//   y[n][k][oh][ow] = b[k] + Σ_{c,r,s} w[k][c][r][s] · x[n][c][oh*sh-ph+r][ow*sw-pw+s]
// with x and w rounded to bf16 (cvt.rn.bf16x2.f32: 8 significant bits,
// nearest, ties to even) and products summed in fp32 by
// mma.sync.m16n8k16; storage stays fp32 (bf16 operands, fp32 accumulation
// and storage).
//
// Every index (the GEMMs' addressing, the loaders' slots, the swizzled
// shared layout, ldmatrix's lane addresses, the fragments' ownership, the
// output addressing) comes from conv2d_bf16.cuh and conv2d_tc.cuh, which
// internal/kernelhost runs on the host against the CPU reference. This
// file holds what the host cannot run: the PTX (cvt, ldmatrix, mma) and
// the loop around it, which internal/kernelhost's emulator (bf16_emu.c)
// mirrors step for step.
#include "hd.cuh"
#include "conv2d_bf16.cuh"
#include "epilogue.cuh"
#include "conv_bnstats.cuh"

#if !defined(__CUDA_ARCH__) || __CUDA_ARCH__ >= 800
#define BF_ARCH_OK 1
#else
#define BF_ARCH_OK 0
#endif

#if BF_ARCH_OK
// bf_pack rounds lo and hi to bf16 and packs them, lo in the low half (the
// lower reduction column, as ldmatrix and mma read a b16 pair).
__device__ __forceinline__ unsigned bf_pack(float lo, float hi)
{
	unsigned r;
	asm("cvt.rn.bf16x2.f32 %0, %1, %2;\n" : "=r"(r) : "f"(hi), "f"(lo));
	return r;
}

// bf_ldsm_x4 is ldmatrix.x4 from the shared address of p (this lane's row).
__device__ __forceinline__ void bf_ldsm_x4(unsigned d[4], const unsigned *p)
{
	unsigned s = (unsigned)__cvta_generic_to_shared(p);
	asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
		     : "=r"(d[0]), "=r"(d[1]), "=r"(d[2]), "=r"(d[3])
		     : "r"(s));
}

// bf_mma: d (16x8) += a (16x16) · b (16x8), fragments as in conv2d_bf16.cuh.
__device__ __forceinline__ void bf_mma(float d[4], const unsigned a[4], const unsigned b[2])
{
	asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 "
		     "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
		     : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
		     : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}

// bf_get reads v[off] where ok, else 0 (padding and outside the GEMM).
__device__ __forceinline__ float bf_get(const float *v, int ok, int off) { return ok ? __ldg(v + off) : 0.f; }

// BfRegs is one thread's staged step: fp32 pairs (the two reduction
// columns of each of its slots) between the global loads and the stores.
struct BfRegs {
	float a[BF_A_LOADS][2], b[BF_B_LOADS][2];
};

// bf_fetch_m loads the next step of a forward or data-gradient op (its
// cursor op.tap, then moved on) into regs: the thread's A slots
// (bf_slot_m: two pixels, decoded once per block into pix, their rows once
// per step) through op.a_row and op.a_at, its B slots through op.b_at; ch
// is the reduction's channel count.
template <class Op> __device__ __forceinline__ void bf_fetch_m(Op &op, int ch, BfRegs &regs)
{
	const int tid = threadIdx.x, r = op.tap.r, s = op.tap.s, c0 = op.tap.c0;
	bf_tap_next(&op.g, ch, &op.tap);
	const TcRow rows[2] = {op.a_row(0, r, s), op.a_row(1, r, s)};
#pragma unroll
	for (int l = 0; l < BF_A_LOADS; l++) {
		int m, kp, off0 = 0, off1 = 0;
		bf_slot_m(tid, l, &m, &kp);
		int ok0 = op.a_at(&rows[l >> 2], c0 + 2 * kp, &off0), ok1 = op.a_at(&rows[l >> 2], c0 + 2 * kp + 1, &off1);
		regs.a[l][0] = bf_get(op.a, ok0, off0);
		regs.a[l][1] = bf_get(op.a, ok1, off1);
	}
#pragma unroll
	for (int l = 0; l < BF_B_LOADS; l++) {
		int n, kp, off0 = 0, off1 = 0;
		bf_slot_m(tid, l, &n, &kp);
		int ok0 = op.b_at(op.n0 + n, r, s, c0 + 2 * kp, &off0), ok1 = op.b_at(op.n0 + n, r, s, c0 + 2 * kp + 1, &off1);
		regs.b[l][0] = bf_get(op.b, ok0, off0);
		regs.b[l][1] = bf_get(op.b, ok1, off1);
	}
}

// bf_stage rounds a thread's staged pairs to bf16x2 and stores them at
// their swizzled places in one stage of As and Bs, in the op's loader
// order slot (bf_slot_m or bf_slot_k).
template <void (*slot)(int, int, int *, int *)>
__device__ __forceinline__ void bf_stage(const BfRegs &regs, unsigned *As, unsigned *Bs)
{
	int tid = threadIdx.x;
#pragma unroll
	for (int l = 0; l < BF_A_LOADS; l++) {
		int m, kp;
		slot(tid, l, &m, &kp);
		As[bf_smem_pair(m, kp)] = bf_pack(regs.a[l][0], regs.a[l][1]);
	}
#pragma unroll
	for (int l = 0; l < BF_B_LOADS; l++) {
		int n, kp;
		slot(tid, l, &n, &kp);
		Bs[bf_smem_pair(n, kp)] = bf_pack(regs.b[l][0], regs.b[l][1]);
	}
}

// BfFwd: Y (N*OH*OW, K) = im2col(x) · wᵀ, then the epilogue: + b, + res,
// ReLU (conv_epilogue, as the TF32 forward; bias and res may be NULL).
struct BfFwd {
	TcConv g;
	const float *a, *b, *bias, *res; // x, w, b or NULL, the residual or NULL
	float *y;
	int relu;
	TcPixel pix[2];
	BfTap tap; // the next step to fetch
	int n0;
	__device__ int rows() const { return tc_gemm_m(&g); }
	__device__ int cols() const { return g.K; }
	__device__ int steps() const { return bf_k_steps(&g, g.C); }
	__device__ TcRow a_row(int i, int r, int s) const { return tc_im2col_row(&g, &pix[i], r, s); }
	__device__ int a_at(const TcRow *row, int c, int *off) const { return tc_im2col(&g, row, c, off); }
	__device__ int b_at(int k, int r, int s, int c, int *off) const { return tc_w_at(&g, k, r, s, c, off); }
	__device__ void fetch(BfRegs &regs) { bf_fetch_m(*this, g.C, regs); }
	__device__ void stage(const BfRegs &regs, unsigned *As, unsigned *Bs) const { bf_stage<bf_slot_m>(regs, As, Bs); }
	// row is row m of Y, decoded once for the row's stores (tc_store_tile);
	// store writes Y[m][k] through the epilogue and returns the value stored.
	__device__ TcRowOff row(int m) const { return tc_y_row(&g, m); }
	__device__ float store(const TcRowOff &r, int k, float v) const
	{
		int off = tc_row_at(&r, k);
		return y[off] = conv_epilogue(v, bias, k, res, off, relu);
	}
};

// BfData: DX (N*H*W, C) = D̂Y · W' (see conv2d_tc.cuh).
struct BfData {
	TcConv g;
	const float *a, *b; // dy, w
	float *dx;
	TcDataPixel pix[2];
	BfTap tap; // the next step to fetch
	int n0;
	__device__ int rows() const { return tc_data_m(&g); }
	__device__ int cols() const { return g.C; }
	__device__ int steps() const { return bf_k_steps(&g, g.K); }
	__device__ TcRow a_row(int i, int r, int s) const { return tc_dy_row(&g, &pix[i], r, s); }
	__device__ int a_at(const TcRow *row, int k, int *off) const { return tc_dy_at(&g, row, k, off); }
	__device__ int b_at(int c, int r, int s, int k, int *off) const { return tc_wt_at(&g, c, r, s, k, off); }
	__device__ void fetch(BfRegs &regs) { bf_fetch_m(*this, g.K, regs); }
	__device__ void stage(const BfRegs &regs, unsigned *As, unsigned *Bs) const { bf_stage<bf_slot_m>(regs, As, Bs); }
	// row is row m of DX, decoded once for the row's stores (tc_store_tile).
	__device__ TcRowOff row(int m) const { return tc_dx_row(&g, m); }
	__device__ void store(const TcRowOff &r, int c, float v) const { dx[tc_row_at(&r, c)] = v; }
};

// BfFilter: split blockIdx.z's slab of DW (K, CRS) = DY · X̂ over its
// pixels (see conv2d_tc.cuh), both tiles in bf_slot_k's order: a thread's
// two pixels are decoded once per step, the taps of its B rows once per
// block (taps).
struct BfFilter {
	TcConv g;
	const float *x, *dy;
	float *slab;
	TcTap taps[BF_B_LOADS];
	int begin, end, m0;
	int next; // the next step to fetch, from 0
	__device__ int rows() const { return g.K; }
	__device__ int cols() const { return g.C * g.R * g.S; }
	__device__ int steps() const { return end - begin; }
	__device__ void fetch(BfRegs &regs)
	{
		int tid = threadIdx.x, row, kp, kt = next++;
		bf_slot_k(tid, 0, &row, &kp);
		const TcFilterPixel f[2] = {tc_filter_pixel(&g, (begin + kt) * BF_BK + 2 * kp),
					    tc_filter_pixel(&g, (begin + kt) * BF_BK + 2 * kp + 1)};
#pragma unroll
		for (int l = 0; l < BF_A_LOADS; l++) {
			bf_slot_k(tid, l, &row, &kp);
#pragma unroll
			for (int e = 0; e < 2; e++) {
				int off = 0, ok = tc_fdy_at(&g, &f[e], m0 + row, &off);
				regs.a[l][e] = bf_get(dy, ok, off);
			}
		}
#pragma unroll
		for (int l = 0; l < BF_B_LOADS; l++)
#pragma unroll
			for (int e = 0; e < 2; e++) {
				int off = 0, ok = tc_fx_at(&g, &f[e], &taps[l], &off);
				regs.b[l][e] = bf_get(x, ok, off);
			}
	}
	__device__ void stage(const BfRegs &regs, unsigned *As, unsigned *Bs) const { bf_stage<bf_slot_k>(regs, As, Bs); }
	__device__ void store(int k, int crs, float v) const { slab[(long long)k * cols() + crs] = v; }
};

// bf_gemm runs one block tile of op: the register-staged pipeline (step
// kt+1's loads in flight during step kt's mma), the warps' ldmatrix and
// mma.sync over each stage, and the epilogue's stores. op.fetch loads the
// steps in order, one per call (op keeps the cursor).
// With STATS (BfFwd), the epilogue then writes the block's batch-norm
// partials of its output to part, as tc_gemm does (conv_bnstats.cuh).
template <class Op, bool STATS = false> __device__ __forceinline__ void bf_gemm(Op &op, double *part = nullptr)
{
	__shared__ __align__(128) unsigned As[BF_STAGES * BF_A_STAGE];
	__shared__ __align__(128) unsigned Bs[BF_STAGES * BF_B_STAGE];
	const int M = op.rows(), Nc = op.cols(), steps = op.steps();
	const int m0 = blockIdx.x * BF_BM, n0 = blockIdx.y * BF_BN;
	const int lane = threadIdx.x & 31;
	int wm, wn, arow, achunk, brow, bchunk;
	tc_warp_origin(threadIdx.x >> 5, &wm, &wn);
	bf_ldsm_a(lane, &arow, &achunk);
	bf_ldsm_b(lane, &brow, &bchunk);

	float acc[TC_MT][TC_NT][4];
#pragma unroll
	for (int i = 0; i < TC_MT; i++)
#pragma unroll
		for (int j = 0; j < TC_NT; j++)
#pragma unroll
			for (int e = 0; e < 4; e++)
				acc[i][j][e] = 0.f;

	BfRegs regs;
	if (steps > 0) {
		op.fetch(regs);
		op.stage(regs, As, Bs);
	}
	__syncthreads();
	for (int kt = 0; kt < steps; kt++) {
		// Step kt is in stage kt%2; step kt+1's loads go out now and land
		// in the other stage after the mma, which every warp finished
		// reading at the barrier that ended step kt-1.
		const bool more = kt + 1 < steps;
		if (more)
			op.fetch(regs);
		const unsigned *as = As + (kt % BF_STAGES) * BF_A_STAGE, *bs = Bs + (kt % BF_STAGES) * BF_B_STAGE;
#pragma unroll
		for (int k16 = 0; k16 < BF_CHUNKS; k16 += 2) {
			unsigned a[TC_MT][4], b[TC_NT][2];
#pragma unroll
			for (int i = 0; i < TC_MT; i++)
				bf_ldsm_x4(a[i], as + bf_smem_chunk(wm + 16 * i + arow, k16 + achunk));
#pragma unroll
			for (int j = 0; j < TC_NT; j += 2) {
				unsigned d[4];
				bf_ldsm_x4(d, bs + bf_smem_chunk(wn + 8 * j + brow, k16 + bchunk));
				b[j][0] = d[0];
				b[j][1] = d[1];
				b[j + 1][0] = d[2];
				b[j + 1][1] = d[3];
			}
#pragma unroll
			for (int i = 0; i < TC_MT; i++)
#pragma unroll
				for (int j = 0; j < TC_NT; j++)
					bf_mma(acc[i][j], a[i], b[j]);
		}
		if (more)
			op.stage(regs, As + ((kt + 1) % BF_STAGES) * BF_A_STAGE, Bs + ((kt + 1) % BF_STAGES) * BF_B_STAGE);
		__syncthreads();
	}

	// Epilogue: each lane stores the accumulators it owns (then, with
	// STATS, the block's batch-norm partials in the stages' memory: the
	// main loop's last barrier passed, no warp reads them any more).
	static_assert(!STATS || sizeof(As) >= BNS_SMEM_BYTES, "the statistics reuse the pipeline's shared memory");
	tc_store_tile<STATS>(op, acc, m0, n0, wm, wn, M, Nc, part, As);
}


// bf_pixels decodes the thread's two A rows (bf_slot_m's copies 0 and 4)
// with decode (tc_pixel or tc_data_pixel).
template <class P, P (*decode)(const TcConv *, int)> __device__ __forceinline__ void bf_pixels(const TcConv *g, P pix[2])
{
#pragma unroll
	for (int i = 0; i < 2; i++) {
		int m, kp;
		bf_slot_m(threadIdx.x, 4 * i, &m, &kp);
		pix[i] = decode(g, blockIdx.x * BF_BM + m);
	}
}

// bf_fwd is block (blockIdx.x, blockIdx.y)'s forward op of convolution g.
__device__ __forceinline__ BfFwd bf_fwd(const TcConv &g, const float *x, const float *w, const float *b, const float *res,
					 float *y, int relu)
{
	BfFwd op;
	op.g = g;
	op.a = x;
	op.b = w;
	op.bias = b;
	op.res = res;
	op.y = y;
	op.relu = relu;
	op.n0 = blockIdx.y * BF_BN;
	op.tap = BfTap{0, 0, 0};
	bf_pixels<TcPixel, tc_pixel>(&op.g, op.pix);
	return op;
}
#endif

// All three kernels: TC_THREADS threads, 24 KB of static shared memory,
// the TF32 kernels' grids. Compiled for sm_70 too (one fatbin), where they
// only trap: the backend never selects them below sm_80
// (internal/gpu/registry.go).

// conv2d_forward_bf16: x, w, b (or NULL) -> y, with the epilogue's
// residual res (or NULL) and ReLU (relu != 0), the arguments of
// conv2d_forward_tf32; grid (ceil(N*OH*OW/BF_BM), ceil(K/BF_BN)).
extern "C" __global__ void __launch_bounds__(BF_THREADS)
conv2d_forward_bf16(const float *x, const float *w, const float *b, const float *res, float *y, int relu, int N, int C,
		    int H, int W, int K, int R, int S, int OH, int OW, int sh, int sw, int ph, int pw)
{
#if BF_ARCH_OK
	BfFwd op = bf_fwd(TcConv{N, C, H, W, K, R, S, OH, OW, sh, sw, ph, pw}, x, w, b, res, y, relu);
	bf_gemm(op);
#else
	__trap();
#endif
}

// conv2d_forward_bnstats_bf16: conv2d_forward_bf16 with no residual or
// ReLU (a batch norm follows) that also writes the batch-norm partials of
// y to part (2*K*gridDim.x doubles, bnstats.cuh). Same grid.
extern "C" __global__ void __launch_bounds__(BF_THREADS)
conv2d_forward_bnstats_bf16(const float *x, const float *w, const float *b, float *y, double *part, int N, int C,
			    int H, int W, int K, int R, int S, int OH, int OW, int sh, int sw, int ph, int pw)
{
#if BF_ARCH_OK
	BfFwd op = bf_fwd(TcConv{N, C, H, W, K, R, S, OH, OW, sh, sw, ph, pw}, x, w, b, nullptr, y, 0);
	bf_gemm<BfFwd, true>(op, part);
#else
	__trap();
#endif
}

// conv2d_backward_data_bf16: dy, w -> dx; grid (ceil(N*H*W/BF_BM), ceil(C/BF_BN)).
extern "C" __global__ void __launch_bounds__(BF_THREADS)
conv2d_backward_data_bf16(const float *dy, const float *w, float *dx, int N, int C, int H, int W, int K, int R, int S,
			  int OH, int OW, int sh, int sw, int ph, int pw)
{
#if BF_ARCH_OK
	BfData op;
	op.g = TcConv{N, C, H, W, K, R, S, OH, OW, sh, sw, ph, pw};
	op.a = dy;
	op.b = w;
	op.dx = dx;
	op.n0 = blockIdx.y * BF_BN;
	op.tap = BfTap{0, 0, 0};
	bf_pixels<TcDataPixel, tc_data_pixel>(&op.g, op.pix);
	bf_gemm(op);
#else
	__trap();
#endif
}

// conv2d_backward_filter_bf16: x, dy -> ws (splits, K, C*R*S), one slab per
// blockIdx.z of gridDim.z splits (with one split ws may be dw itself);
// grid (ceil(K/BF_BM), ceil(C*R*S/BF_BN), splits).
extern "C" __global__ void __launch_bounds__(BF_THREADS)
conv2d_backward_filter_bf16(const float *x, const float *dy, float *ws, int N, int C, int H, int W, int K, int R,
			    int S, int OH, int OW, int sh, int sw, int ph, int pw)
{
#if BF_ARCH_OK
	BfFilter op;
	op.g = TcConv{N, C, H, W, K, R, S, OH, OW, sh, sw, ph, pw};
	op.x = x;
	op.dy = dy;
	op.slab = ws + (long long)blockIdx.z * K * (C * R * S);
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
#else
	__trap();
#endif
}
