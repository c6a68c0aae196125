// elementwise.cu: add, mul, fill, copy over n elements (any shape).
// y may alias a or b.
#include "common.cuh"

extern "C" __global__ void add(const float *a, const float *b, float *y, long long n)
{
	grid_stride(i, n) y[i] = a[i] + b[i];
}

extern "C" __global__ void mul(const float *a, const float *b, float *y, long long n)
{
	grid_stride(i, n) y[i] = a[i] * b[i];
}

extern "C" __global__ void fill(float *y, float v, long long n)
{
	grid_stride(i, n) y[i] = v;
}

extern "C" __global__ void copy(float *dst, const float *src, long long n)
{
	grid_stride(i, n) dst[i] = src[i];
}
