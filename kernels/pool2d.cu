// pool2d.cu: max and average pooling, PyTorch semantics (floor mode).
//
// x (N,C,H,W), y (N,C,OH,OW); window R x S, stride sh sw, padding ph pw.
// Max pooling pads with -inf and sends the gradient to the first maximum of
// each window (row-major scan); average pooling divides by R*S
// (count_include_pad). The backward kernels gather, one thread per input
// element, over the windows that cover it: no atomics, deterministic.
#include "common.cuh"

#define POOL_PARAMS int NC, int H, int W, int OH, int OW, int R, int S, int sh, int sw, int ph, int pw

// window_argmax returns the index (ih*W+iw) of the first maximum of window
// (oh, ow) in plane x (H,W), or -1 when the window lies in the padding. A NaN
// counts as the maximum (the last NaN wins), as in PyTorch and internal/cpu.
__device__ __forceinline__ int window_argmax(const float *x, int H, int W, int oh, int ow, int R, int S, int sh,
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
			float v = x[ih * W + iw];
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
extern "C" __global__ void maxpool2d_forward(const float *x, float *y, POOL_PARAMS)
{
	grid_stride(i, (long long)NC * OH * OW)
	{
		int ow = i % OW, oh = (i / OW) % OH;
		long long plane = i / ((long long)OH * OW);
		float best;
		window_argmax(x + plane * H * W, H, W, oh, ow, R, S, sh, sw, ph, pw, &best);
		y[i] = best;
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
extern "C" __global__ void maxpool2d_backward(const float *x, const float *dy, float *dx, POOL_PARAMS)
{
	grid_stride(i, (long long)NC * H * W)
	{
		int iw = i % W, ih = (i / W) % H;
		long long plane = i / ((long long)H * W);
		const float *xp = x + plane * H * W;
		const float *dyp = dy + plane * OH * OW;
		int ohlo, ohhi, owlo, owhi;
		covering(ih, R, sh, ph, OH, &ohlo, &ohhi);
		covering(iw, S, sw, pw, OW, &owlo, &owhi);
		float acc = 0.f;
		for (int oh = ohlo; oh <= ohhi; oh++)
			for (int ow = owlo; ow <= owhi; ow++) {
				float best;
				if (window_argmax(xp, H, W, oh, ow, R, S, sh, sw, ph, pw, &best) == ih * W + iw)
					acc += dyp[oh * OW + ow];
			}
		dx[i] = acc;
	}
}

// avgpool2d_forward: y = Σ window / (R*S), padding counted as zeros.
extern "C" __global__ void avgpool2d_forward(const float *x, float *y, POOL_PARAMS)
{
	grid_stride(i, (long long)NC * OH * OW)
	{
		int ow = i % OW, oh = (i / OW) % OH;
		const float *xp = x + i / ((long long)OH * OW) * H * W;
		int h0 = oh * sh - ph, w0 = ow * sw - pw;
		float acc = 0.f;
		for (int r = 0; r < R; r++) {
			int ih = h0 + r;
			if (ih < 0 || ih >= H)
				continue;
			for (int s = 0; s < S; s++) {
				int iw = w0 + s;
				if (iw >= 0 && iw < W)
					acc += xp[ih * W + iw];
			}
		}
		y[i] = acc / (float)(R * S);
	}
}

// avgpool2d_backward: dx[ih][iw] = Σ dy over covering windows / (R*S).
extern "C" __global__ void avgpool2d_backward(const float *dy, float *dx, POOL_PARAMS)
{
	grid_stride(i, (long long)NC * H * W)
	{
		int iw = i % W, ih = (i / W) % H;
		const float *dyp = dy + i / ((long long)H * W) * OH * OW;
		int ohlo, ohhi, owlo, owhi;
		covering(ih, R, sh, ph, OH, &ohlo, &ohhi);
		covering(iw, S, sw, pw, OW, &owlo, &owhi);
		float acc = 0.f;
		for (int oh = ohlo; oh <= ohhi; oh++)
			for (int ow = owlo; ow <= owhi; ow++)
				acc += dyp[oh * OW + ow];
		dx[i] = acc / (float)(R * S);
	}
}
