// conv2d.cu: 2-D convolution as implicit GEMM (im2col gathered on the fly
// into shared-memory tiles, never materialised).
//
// x (N,C,H,W), w (K,C,R,S), b (K), y (N,K,OH,OW); stride sh sw, padding ph pw.
//   y[n][k][oh][ow] = b[k] + Σ_{c,r,s} w[k][c][r][s] · x[n][c][oh*sh-ph+r][ow*sw-pw+s]
#include "common.cuh"
#include "epilogue.cuh"

struct ConvGeom {
	int N, C, H, W, K, R, S, OH, OW, sh, sw, ph, pw;
};

// Kernel parameters are passed one scalar each (the launcher copies 8-byte slots).
#define CONV_PARAMS int N, int C, int H, int W, int K, int R, int S, int OH, int OW, int sh, int sw, int ph, int pw
#define CONV_GEOM ConvGeom{N, C, H, W, K, R, S, OH, OW, sh, sw, ph, pw}

// Forward: Y (K, N*OH*OW) = W (K, C*R*S) · X̂ (C*R*S, N*OH*OW).
struct FwdA { // w (K, C*R*S), row-major
	static const bool k_fast = true;
	const float *w;
	int CRS;
	__device__ float operator()(int k, int crs) const { return w[(long long)k * CRS + crs]; }
};
struct FwdB { // im2col(x)[crs][(n,oh,ow)]
	static const bool k_fast = false;
	const float *x;
	ConvGeom g;
	__device__ float operator()(int crs, int col) const
	{
		int s = crs % g.S, t = crs / g.S, r = t % g.R, c = t / g.R;
		int ow = col % g.OW;
		t = col / g.OW;
		int oh = t % g.OH, n = t / g.OH;
		int ih = oh * g.sh - g.ph + r, iw = ow * g.sw - g.pw + s;
		if (ih < 0 || ih >= g.H || iw < 0 || iw >= g.W)
			return 0.f;
		return x[(((long long)n * g.C + c) * g.H + ih) * g.W + iw];
	}
};
struct FwdStore { // y[n][k][oh][ow] = epilogue(v): + b[k], + res[n][k][oh][ow], ReLU
	float *y;
	const float *b, *res;
	int relu;
	int K, OHW;
	__device__ void operator()(int k, int col, float v) const
	{
		int n = col / OHW, p = col % OHW;
		long long off = ((long long)n * K + k) * OHW + p;
		y[off] = conv_epilogue(v, b, k, res, off, relu);
	}
};

// conv2d_forward: grid (ceil(N*OH*OW/64), ceil(K/64)), 256 threads. b may
// be NULL; the epilogue adds res (y's shape, or NULL) and applies ReLU
// when relu != 0 (epilogue.cuh).
extern "C" __global__ void __launch_bounds__(GEMM_THREADS)
conv2d_forward(const float *x, const float *w, const float *b, const float *res, float *y, int relu, CONV_PARAMS)
{
	ConvGeom g = CONV_GEOM;
	int crs = g.C * g.R * g.S;
	gemm_tile(FwdA{w, crs}, FwdB{x, g}, FwdStore{y, b, res, relu, g.K, g.OH * g.OW}, g.K, g.N * g.OH * g.OW, 0,
		  crs);
}

// Backward data, as a gather (no atomics, deterministic):
// DX (C, N*H*W) = Wᵀ (C, K*R*S) · D̂Y (K*R*S, N*H*W), where
// D̂Y[(k,r,s)][(n,h,w)] = dy[n][k][oh][ow] when h = oh*sh-ph+r and w = ow*sw-pw+s
// for an output pixel (oh, ow) inside the output, else 0.
struct DataA { // wᵀ[c][(k,r,s)] = w[k][c][r][s]
	static const bool k_fast = true;
	const float *w;
	int C, RS;
	__device__ float operator()(int c, int krs) const
	{
		int k = krs / RS, rs = krs % RS;
		return w[((long long)k * C + c) * RS + rs];
	}
};
struct DataB {
	static const bool k_fast = false;
	const float *dy;
	ConvGeom g;
	__device__ float operator()(int krs, int col) const
	{
		int s = krs % g.S, t = krs / g.S, r = t % g.R, k = t / g.R;
		int iw = col % g.W;
		t = col / g.W;
		int ih = t % g.H, n = t / g.H;
		int oh_s = ih + g.ph - r, ow_s = iw + g.pw - s;
		if (oh_s < 0 || ow_s < 0 || oh_s % g.sh != 0 || ow_s % g.sw != 0)
			return 0.f;
		int oh = oh_s / g.sh, ow = ow_s / g.sw;
		if (oh >= g.OH || ow >= g.OW)
			return 0.f;
		return dy[(((long long)n * g.K + k) * g.OH + oh) * g.OW + ow];
	}
};
struct DataStore { // dx[n][c][h][w]
	float *dx;
	int C, HW;
	__device__ void operator()(int c, int col, float v) const
	{
		int n = col / HW, p = col % HW;
		dx[((long long)n * C + c) * HW + p] = v;
	}
};

// conv2d_backward_data: grid (ceil(N*H*W/64), ceil(C/64)), 256 threads.
extern "C" __global__ void __launch_bounds__(GEMM_THREADS)
conv2d_backward_data(const float *dy, const float *w, float *dx, CONV_PARAMS)
{
	ConvGeom g = CONV_GEOM;
	gemm_tile(DataA{w, g.C, g.R * g.S}, DataB{dy, g}, DataStore{dx, g.C, g.H * g.W}, g.C, g.N * g.H * g.W, 0,
		  g.K * g.R * g.S);
}

// Backward filter: DW (K, C*R*S) = DY (K, N*OH*OW) · X̂ᵀ (N*OH*OW, C*R*S).
// The reduction (N*OH*OW) is long and the output small, so it is split over
// gridDim.z: each split writes its partial sums to its own slab of ws
// (splits, K, C*R*S), and sum_splits adds the slabs into dw.
struct FiltA { // dy as (K, N*OH*OW)
	static const bool k_fast = true;
	const float *dy;
	int K, OHW;
	__device__ float operator()(int k, int col) const
	{
		int n = col / OHW, p = col % OHW;
		return dy[((long long)n * K + k) * OHW + p];
	}
};
struct FiltB { // im2col(x)ᵀ[(n,oh,ow)][crs]
	static const bool k_fast = true;
	FwdB im;
	__device__ float operator()(int col, int crs) const { return im(crs, col); }
};

// conv2d_backward_filter: grid (ceil(C*R*S/64), ceil(K/64), splits), 256
// threads -> ws (splits, K, C*R*S); with one split ws may be dw itself.
extern "C" __global__ void __launch_bounds__(GEMM_THREADS)
conv2d_backward_filter(const float *x, const float *dy, float *ws, CONV_PARAMS)
{
	ConvGeom g = CONV_GEOM;
	int crs = g.C * g.R * g.S, kd = g.N * g.OH * g.OW, begin, end;
	split_range(kd, &begin, &end);
	gemm_tile(FiltA{dy, g.K, g.OH * g.OW}, FiltB{FwdB{x, g}}, StoreSlab{ws, crs, (long long)g.K * crs}, g.K, crs,
		  begin, end);
}

// conv2d_backward_bias: db[k] = Σ_{n,oh,ow} dy[n][k][oh][ow]. One block per k.
extern "C" __global__ void conv2d_backward_bias(const float *dy, float *db, int N, int K, int OHW)
{
	__shared__ float scratch[32];
	int k = blockIdx.x;
	float acc = 0.f;
	for (long long i = threadIdx.x; i < (long long)N * OHW; i += blockDim.x) {
		long long n = i / OHW, p = i % OHW;
		acc += dy[(n * K + k) * OHW + p];
	}
	acc = block_sum(acc, scratch);
	if (threadIdx.x == 0)
		db[k] = acc;
}
