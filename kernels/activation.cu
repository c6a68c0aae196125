// activation.cu: elementwise non-linearities, any shape.
// mode follows tensor.Activation: 0 relu, 1 sigmoid, 2 tanh.
// The backward is written in terms of y = f(x): relu dy*(y>0), sigmoid
// dy*y*(1-y), tanh dy*(1-y*y). y may be x; dx may be dy.
// Each is a template over the storage (storage.cuh), instantiated for
// float32 and for bf16 tensors (_bf16: widen, compute in float32, round).
#include "common.cuh"
#include "storage.cuh"

template <typename T> __device__ __forceinline__ void activation_forward_t(const T *x, T *y, long long n, int mode)
{
	grid_stride(i, n)
	{
		float v = load_f32(x, i);
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
		store_rn(y, i, v);
	}
}

extern "C" __global__ void activation_forward(const float *x, float *y, long long n, int mode)
{
	activation_forward_t(x, y, n, mode);
}

// x, y (n) bf16
extern "C" __global__ void activation_forward_bf16(const bf16_t *x, bf16_t *y, long long n, int mode)
{
	activation_forward_t(x, y, n, mode);
}

template <typename T>
__device__ __forceinline__ void activation_backward_t(const T *y, const T *dy, T *dx, long long n, int mode)
{
	grid_stride(i, n)
	{
		float v = load_f32(y, i), d = load_f32(dy, i);
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
		store_rn(dx, i, d);
	}
}

extern "C" __global__ void activation_backward(const float *y, const float *dy, float *dx, long long n, int mode)
{
	activation_backward_t(y, dy, dx, n, mode);
}

// y, dy, dx (n) bf16
extern "C" __global__ void activation_backward_bf16(const bf16_t *y, const bf16_t *dy, bf16_t *dx, long long n, int mode)
{
	activation_backward_t(y, dy, dx, n, mode);
}
