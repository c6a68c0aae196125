// pool2d.cu: max and average pooling, PyTorch semantics (floor mode).
//
// x (N,C,H,W), y (N,C,OH,OW); window R x S, stride sh sw, padding ph pw.
// Max pooling pads with -inf and sends the gradient to the first maximum of
// each window (row-major scan); average pooling divides by R*S
// (count_include_pad). The backward kernels gather, one thread per input
// element, over the windows that cover it: no atomics, deterministic.
// Each kernel is a template over the storage (storage.cuh), with _bf16
// instantiations for bf16 tensors (widen, compute in float32, round).
#include "common.cuh"
#include "storage.cuh"

#define POOL_PARAMS int NC, int H, int W, int OH, int OW, int R, int S, int sh, int sw, int ph, int pw

// window_argmax returns the index (ih*W+iw) of the first maximum of window
// (oh, ow) in plane x (H,W), or -1 when the window lies in the padding. A NaN
// counts as the maximum (the last NaN wins), as in PyTorch and internal/cpu.
template <typename T>
__device__ __forceinline__ int window_argmax(const T *x, int H, int W, int oh, int ow, int R, int S, int sh,
					     int sw, int ph, int pw, float *best_out)
{
	int h0 = oh * sh - ph, w0 = ow * sw - pw;
	float best = -INFINITY;
	int arg = -1;
	for (int r = 0; r < R; r++) {
		int ih = h0 + r;
		if (ih < 0 || ih >= H)
			continue;
		for (int s = 0; s < S; s++) {
			int iw = w0 + s;
			if (iw < 0 || iw >= W)
				continue;
			float v = load_f32(x, ih * W + iw);
			if (arg < 0 || v > best || isnan(v)) {
				best = v;
				arg = ih * W + iw;
			}
		}
	}
	*best_out = best;
	return arg;
}

// maxpool2d_forward: one thread per output element.
template <typename T> __device__ __forceinline__ void maxpool2d_forward_t(const T *x, T *y, POOL_PARAMS)
{
	grid_stride(i, (long long)NC * OH * OW)
	{
		int ow = i % OW, oh = (i / OW) % OH;
		long long plane = i / ((long long)OH * OW);
		float best;
		window_argmax(x + plane * H * W, H, W, oh, ow, R, S, sh, sw, ph, pw, &best);
		store_rn(y, i, best);
	}
}

// covering sets [*lo, *hi] to the output rows (or columns) whose window
// covers input row ih: o*stride - pad <= ih <= o*stride - pad + R - 1.
__device__ __forceinline__ void covering(int ih, int R, int stride, int pad, int O, int *lo, int *hi)
{
	int a = ih + pad - R + 1; // o*stride >= a
	*lo = a <= 0 ? 0 : (a + stride - 1) / stride;
	*hi = min(O - 1, (ih + pad) / stride);
}

// maxpool2d_backward: one thread per input element: dx[ih][iw] = Σ dy over
// the windows whose first maximum is (ih, iw).
template <typename T> __device__ __forceinline__ void maxpool2d_backward_t(const T *x, const T *dy, T *dx, POOL_PARAMS)
{
	grid_stride(i, (long long)NC * H * W)
	{
		int iw = i % W, ih = (i / W) % H;
		long long plane = i / ((long long)H * W);
		const T *xp = x + plane * H * W;
		const T *dyp = dy + plane * OH * OW;
		int ohlo, ohhi, owlo, owhi;
		covering(ih, R, sh, ph, OH, &ohlo, &ohhi);
		covering(iw, S, sw, pw, OW, &owlo, &owhi);
		float acc = 0.f;
		for (int oh = ohlo; oh <= ohhi; oh++)
			for (int ow = owlo; ow <= owhi; ow++) {
				float best;
				if (window_argmax(xp, H, W, oh, ow, R, S, sh, sw, ph, pw, &best) == ih * W + iw)
					acc += load_f32(dyp, oh * OW + ow);
			}
		store_rn(dx, i, acc);
	}
}

// avgpool2d_forward: y = Σ window / (R*S), padding counted as zeros.
template <typename T> __device__ __forceinline__ void avgpool2d_forward_t(const T *x, T *y, POOL_PARAMS)
{
	grid_stride(i, (long long)NC * OH * OW)
	{
		int ow = i % OW, oh = (i / OW) % OH;
		const T *xp = x + i / ((long long)OH * OW) * H * W;
		int h0 = oh * sh - ph, w0 = ow * sw - pw;
		float acc = 0.f;
		for (int r = 0; r < R; r++) {
			int ih = h0 + r;
			if (ih < 0 || ih >= H)
				continue;
			for (int s = 0; s < S; s++) {
				int iw = w0 + s;
				if (iw >= 0 && iw < W)
					acc += load_f32(xp, ih * W + iw);
			}
		}
		store_rn(y, i, acc / (float)(R * S));
	}
}

// avgpool2d_backward: dx[ih][iw] = Σ dy over covering windows / (R*S).
template <typename T> __device__ __forceinline__ void avgpool2d_backward_t(const T *dy, T *dx, POOL_PARAMS)
{
	grid_stride(i, (long long)NC * H * W)
	{
		int iw = i % W, ih = (i / W) % H;
		const T *dyp = dy + i / ((long long)H * W) * OH * OW;
		int ohlo, ohhi, owlo, owhi;
		covering(ih, R, sh, ph, OH, &ohlo, &ohhi);
		covering(iw, S, sw, pw, OW, &owlo, &owhi);
		float acc = 0.f;
		for (int oh = ohlo; oh <= ohhi; oh++)
			for (int ow = owlo; ow <= owhi; ow++)
				acc += load_f32(dyp, oh * OW + ow);
		store_rn(dx, i, acc / (float)(R * S));
	}
}

// The kernels: float32, and bf16 storage (_bf16).
#define POOL_ARGS NC, H, W, OH, OW, R, S, sh, sw, ph, pw
extern "C" __global__ void maxpool2d_forward(const float *x, float *y, POOL_PARAMS) { maxpool2d_forward_t(x, y, POOL_ARGS); }
extern "C" __global__ void maxpool2d_forward_bf16(const bf16_t *x, bf16_t *y, POOL_PARAMS)
{
	maxpool2d_forward_t(x, y, POOL_ARGS);
}
extern "C" __global__ void maxpool2d_backward(const float *x, const float *dy, float *dx, POOL_PARAMS)
{
	maxpool2d_backward_t(x, dy, dx, POOL_ARGS);
}
extern "C" __global__ void maxpool2d_backward_bf16(const bf16_t *x, const bf16_t *dy, bf16_t *dx, POOL_PARAMS)
{
	maxpool2d_backward_t(x, dy, dx, POOL_ARGS);
}
extern "C" __global__ void avgpool2d_forward(const float *x, float *y, POOL_PARAMS) { avgpool2d_forward_t(x, y, POOL_ARGS); }
extern "C" __global__ void avgpool2d_forward_bf16(const bf16_t *x, bf16_t *y, POOL_PARAMS)
{
	avgpool2d_forward_t(x, y, POOL_ARGS);
}
extern "C" __global__ void avgpool2d_backward(const float *dy, float *dx, POOL_PARAMS) { avgpool2d_backward_t(dy, dx, POOL_ARGS); }
extern "C" __global__ void avgpool2d_backward_bf16(const bf16_t *dy, bf16_t *dx, POOL_PARAMS)
{
	avgpool2d_backward_t(dy, dx, POOL_ARGS);
}
