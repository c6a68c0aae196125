// linear.cu: fully connected layer as tiled SGEMM (see gemm_tile in common.cuh).
//
// x (N,I), w (O,I), b (O), y (N,O) = x·wᵀ + b.
#include "common.cuh"

struct RowMajor { // a[m][k] of a (M, ld) matrix
	static const bool k_fast = true;
	const float *p;
	int ld;
	__device__ float operator()(int m, int k) const { return p[(long long)m * ld + k]; }
};
struct RowMajorT { // b[k][n] = p[n][k]: the transpose of a (Nc, ld) matrix
	static const bool k_fast = true;
	const float *p;
	int ld;
	__device__ float operator()(int k, int n) const { return p[(long long)n * ld + k]; }
};
struct RowMajorB { // b[k][n] of a (Kd, ld) matrix
	static const bool k_fast = false;
	const float *p;
	int ld;
	__device__ float operator()(int k, int n) const { return p[(long long)k * ld + n]; }
};
struct ColMajorA { // a[m][k] = p[k][m]: the transpose of a (Kd, ld) matrix
	static const bool k_fast = false;
	const float *p;
	int ld;
	__device__ float operator()(int m, int k) const { return p[(long long)k * ld + m]; }
};
struct BiasStore { // y[m][n] = v + b[n]
	float *y;
	const float *b;
	int ld;
	__device__ void operator()(int m, int n, float v) const { y[(long long)m * ld + n] = b ? v + b[n] : v; }
};

// linear_forward: y (N,O) = x (N,I) · wᵀ + b. grid (ceil(O/64), ceil(N/64)), 256 threads. b may be NULL.
extern "C" __global__ void __launch_bounds__(GEMM_THREADS)
linear_forward(const float *x, const float *w, const float *b, float *y, int N, int I, int O)
{
	gemm_tile(RowMajor{x, I}, RowMajorT{w, I}, BiasStore{y, b, O}, N, O, 0, I);
}

// linear_backward_data: dx (N,I) = dy (N,O) · w (O,I). grid (ceil(I/64), ceil(N/64)), 256 threads.
extern "C" __global__ void __launch_bounds__(GEMM_THREADS)
linear_backward_data(const float *dy, const float *w, float *dx, int N, int I, int O)
{
	gemm_tile(RowMajor{dy, O}, RowMajorB{w, I}, BiasStore{dx, nullptr, I}, N, I, 0, O);
}

// linear_backward_filter: dw (O,I) = dyᵀ (O,N) · x (N,I), the reduction over N
// split over gridDim.z into ws (splits, O, I). grid (ceil(I/64), ceil(O/64), splits).
extern "C" __global__ void __launch_bounds__(GEMM_THREADS)
linear_backward_filter(const float *x, const float *dy, float *ws, int N, int I, int O)
{
	int begin, end;
	split_range(N, &begin, &end);
	gemm_tile(ColMajorA{dy, O}, RowMajorB{x, I}, StoreSlab{ws, I, (long long)O * I}, O, I, begin, end);
}

// linear_backward_bias: db[o] = Σ_n dy[n][o]. One thread per o.
extern "C" __global__ void linear_backward_bias(const float *dy, float *db, int N, int O)
{
	grid_stride(o, O)
	{
		float acc = 0.f;
		for (int n = 0; n < N; n++)
			acc += dy[(long long)n * O + o];
		db[o] = acc;
	}
}

// sum_splits: out[i] = Σ_z ws[z*count + i], the split-K reduction of the
// backward_filter kernels (in a fixed order: deterministic).
extern "C" __global__ void sum_splits(const float *ws, float *out, int splits, long long count)
{
	grid_stride(i, count)
	{
		float acc = 0.f;
		for (int z = 0; z < splits; z++)
			acc += ws[z * count + i];
		out[i] = acc;
	}
}
