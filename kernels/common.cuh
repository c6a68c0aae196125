// common.cuh: helpers shared by cnnctl's kernels (float32, NCHW).
//
// Dimension letters as in package tensor: N batch, C input channels, H W
// input size, K output channels, OH OW output size, R S kernel size,
// I linear inputs, O linear outputs.
#ifndef CNNCTL_COMMON_CUH
#define CNNCTL_COMMON_CUH

// grid_stride visits [0, n) with every thread of the grid.
#define grid_stride(i, n) \
	for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (long long)blockDim.x * gridDim.x)

// warp_sum returns the sum of v over the 32 lanes of a warp, in every lane.
__device__ __forceinline__ float warp_sum(float v)
{
	for (int o = 16; o > 0; o >>= 1)
		v += __shfl_xor_sync(0xffffffffu, v, o);
	return v;
}

// warp_max returns the maximum of v over the lanes of a warp, in every lane.
__device__ __forceinline__ float warp_max(float v)
{
	for (int o = 16; o > 0; o >>= 1)
		v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
	return v;
}

// block_sum returns the sum of v over the block, in every thread. blockDim.x
// must be a multiple of 32 (at most 1024); scratch holds 32 floats. It
// synchronises the block, so every thread must call it.
__device__ __forceinline__ float block_sum(float v, float *scratch)
{
	int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
	v = warp_sum(v);
	__syncthreads(); // scratch may still be read by a previous call
	if (lane == 0)
		scratch[warp] = v;
	__syncthreads();
	int warps = blockDim.x >> 5;
	v = lane < warps ? scratch[lane] : 0.f;
	return warp_sum(v);
}

// Tiled SGEMM core: C (M,Nc) = A (M,Kd) · B (Kd,Nc) over kd in [k_begin,
// k_end), for the 64x64 tile of C at (blockIdx.y, blockIdx.x). 256 threads,
// each owns a 4x4 micro-tile strided by 16 rows and 16 columns, so that loads
// from shared memory are conflict-free and stores are coalesced.
//
// The operands are functors so that convolutions can gather im2col columns
// on the fly (implicit GEMM): a(m, kd) and b(kd, n) are only called inside
// the bounds. A::k_fast (B::k_fast) says that consecutive kd are adjacent in
// memory, which decides how threads map onto the tile for coalesced loads.
// store(m, n, v) writes one finished element.
#define GEMM_BM 64
#define GEMM_BN 64
#define GEMM_BK 16
#define GEMM_THREADS 256

template <class A, class B, class Store>
__device__ __forceinline__ void gemm_tile(const A &a, const B &b, const Store &store, int M, int Nc, int k_begin, int k_end)
{
	__shared__ float As[GEMM_BK][GEMM_BM + 4];
	__shared__ float Bs[GEMM_BK][GEMM_BN + 4];
	const int tid = threadIdx.x;
	const int tx = tid & 15, ty = tid >> 4;
	const int m0 = blockIdx.y * GEMM_BM, n0 = blockIdx.x * GEMM_BN;
	float acc[4][4];
#pragma unroll
	for (int i = 0; i < 4; i++)
#pragma unroll
		for (int j = 0; j < 4; j++)
			acc[i][j] = 0.f;

	for (int k0 = k_begin; k0 < k_end; k0 += GEMM_BK) {
#pragma unroll
		for (int l = 0; l < GEMM_BM * GEMM_BK / GEMM_THREADS; l++) {
			int idx = tid + l * GEMM_THREADS, m, kk;
			if (A::k_fast) {
				kk = idx % GEMM_BK;
				m = idx / GEMM_BK;
			} else {
				m = idx % GEMM_BM;
				kk = idx / GEMM_BM;
			}
			int gm = m0 + m, gk = k0 + kk;
			As[kk][m] = (gm < M && gk < k_end) ? a(gm, gk) : 0.f;
		}
#pragma unroll
		for (int l = 0; l < GEMM_BN * GEMM_BK / GEMM_THREADS; l++) {
			int idx = tid + l * GEMM_THREADS, n, kk;
			if (B::k_fast) {
				kk = idx % GEMM_BK;
				n = idx / GEMM_BK;
			} else {
				n = idx % GEMM_BN;
				kk = idx / GEMM_BN;
			}
			int gn = n0 + n, gk = k0 + kk;
			Bs[kk][n] = (gn < Nc && gk < k_end) ? b(gk, gn) : 0.f;
		}
		__syncthreads();
#pragma unroll
		for (int kk = 0; kk < GEMM_BK; kk++) {
			float av[4], bv[4];
#pragma unroll
			for (int i = 0; i < 4; i++)
				av[i] = As[kk][ty + 16 * i];
#pragma unroll
			for (int j = 0; j < 4; j++)
				bv[j] = Bs[kk][tx + 16 * j];
#pragma unroll
			for (int i = 0; i < 4; i++)
#pragma unroll
				for (int j = 0; j < 4; j++)
					acc[i][j] = fmaf(av[i], bv[j], acc[i][j]);
		}
		__syncthreads();
	}
#pragma unroll
	for (int i = 0; i < 4; i++)
#pragma unroll
		for (int j = 0; j < 4; j++) {
			int gm = m0 + ty + 16 * i, gn = n0 + tx + 16 * j;
			if (gm < M && gn < Nc)
				store(gm, gn, acc[i][j]);
		}
}

// split_range gives blockIdx.z its share [*begin, *end) of [0, kd), in
// whole GEMM_BK steps.
__device__ __forceinline__ void split_range(int kd, int *begin, int *end)
{
	int steps = (kd + GEMM_BK - 1) / GEMM_BK;
	int per = (steps + gridDim.z - 1) / gridDim.z;
	*begin = min(kd, (int)blockIdx.z * per * GEMM_BK);
	*end = min(kd, *begin + per * GEMM_BK);
}

// Row-major store into out (M,Nc), one slab of M*Nc per blockIdx.z (split-K
// partial sums; reduced by sum_splits).
struct StoreSlab {
	float *out;
	int Nc;
	long long slab;
	__device__ void operator()(int m, int n, float v) const { out[blockIdx.z * slab + (long long)m * Nc + n] = v; }
};

#endif
