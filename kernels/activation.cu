// activation.cu: elementwise non-linearities, any shape.
// mode follows tensor.Activation: 0 relu, 1 sigmoid, 2 tanh.
// The backward is written in terms of y = f(x): relu dy*(y>0), sigmoid
// dy*y*(1-y), tanh dy*(1-y*y). y may be x; dx may be dy.
#include "common.cuh"

extern "C" __global__ void activation_forward(const float *x, float *y, long long n, int mode)
{
	grid_stride(i, n)
	{
		float v = x[i];
		switch (mode) {
		case 0:
			v = (v > 0.f || isnan(v)) ? v : 0.f; // NaN passes through, as in PyTorch
			break;
		case 1:
			v = 1.f / (1.f + expf(-v));
			break;
		default:
			v = tanhf(v);
		}
		y[i] = v;
	}
}

extern "C" __global__ void activation_backward(const float *y, const float *dy, float *dx, long long n, int mode)
{
	grid_stride(i, n)
	{
		float v = y[i], d = dy[i];
		switch (mode) {
		case 0:
			d = v <= 0.f ? 0.f : d; // a NaN y passes dy through, as in PyTorch and internal/cpu
			break;
		case 1:
			d = d * v * (1.f - v);
			break;
		default:
			d = d * (1.f - v * v);
		}
		dx[i] = d;
	}
}
