// elementwise.cu: add, mul, fill, copy over n elements (any shape).
// y may alias a or b.
// add, mul and add_relu are templates over the storage (storage.cuh),
// instantiated for float32 and for mixed precision's bf16 tensors (_bf16:
// all bf16; mul_bf16_f32: a and y bf16, b float32, dropout's backward,
// dy times its float32 mask).
#include "common.cuh"
#include "epilogue.cuh"
#include "storage.cuh"

template <typename TA, typename TB, typename TY>
__device__ __forceinline__ void add_t(const TA *a, const TB *b, TY *y, long long n)
{
	grid_stride(i, n) store_rn(y, i, load_f32(a, i) + load_f32(b, i));
}

template <typename TA, typename TB, typename TY>
__device__ __forceinline__ void mul_t(const TA *a, const TB *b, TY *y, long long n)
{
	grid_stride(i, n) store_rn(y, i, load_f32(a, i) * load_f32(b, i));
}

extern "C" __global__ void add(const float *a, const float *b, float *y, long long n) { add_t(a, b, y, n); }

// a, b, y (n) bf16
extern "C" __global__ void add_bf16(const bf16_t *a, const bf16_t *b, bf16_t *y, long long n) { add_t(a, b, y, n); }

extern "C" __global__ void mul(const float *a, const float *b, float *y, long long n) { mul_t(a, b, y, n); }

// a, y (n) bf16, b (n) float32
extern "C" __global__ void mul_bf16_f32(const bf16_t *a, const float *b, bf16_t *y, long long n) { mul_t(a, b, y, n); }

extern "C" __global__ void fill(float *y, float v, long long n)
{
	grid_stride(i, n) y[i] = v;
}

extern "C" __global__ void copy(float *dst, const float *src, long long n)
{
	grid_stride(i, n) dst[i] = src[i];
}

// add_relu: y = max(0, a + b) elementwise (ReLU as relu_value: NaN passes),
// the residual sum and its ReLU in one pass; y may alias a or b. Where a,
// b and y are all 16-byte aligned it moves float4s (vec4_count of them),
// then the tail one by one (epilogue.cuh).
extern "C" __global__ void add_relu(const float *a, const float *b, float *y, long long n)
{
	int aligned = (((unsigned long long)a | (unsigned long long)b | (unsigned long long)y) & 15) == 0;
	long long nv = vec4_count(n, aligned);
	const float4 *a4 = (const float4 *)a, *b4 = (const float4 *)b;
	float4 *y4 = (float4 *)y;
	grid_stride(i, nv)
	{
		float4 u = a4[i], v = b4[i];
		y4[i] = make_float4(relu_value(u.x + v.x), relu_value(u.y + v.y), relu_value(u.z + v.z),
				    relu_value(u.w + v.w));
	}
	long long t = vec4_tail(n, aligned);
	grid_stride(i, n - t) y[t + i] = relu_value(a[t + i] + b[t + i]);
}

// add_relu_bf16: add_relu on a, b, y (n) bf16, one element at a time: the
// sum and the ReLU in float32, rounded once.
extern "C" __global__ void add_relu_bf16(const bf16_t *a, const bf16_t *b, bf16_t *y, long long n)
{
	grid_stride(i, n) store_rn(y, i, relu_value(load_f32(a, i) + load_f32(b, i)));
}
