// cast.cu: cast_f32_bf16, cast_bf16_f32 and copy_bf16 over n elements (any
// shape). bfloat16 is stored as its bits (unsigned short), the top half of
// a float32; internal/cpu/cast.go is the reference (tensor.ToBF16).
#include "common.cuh"
#include "cast.cuh"

// src (n) float32 -> dst (n) bfloat16
extern "C" __global__ void cast_f32_bf16(unsigned short *dst, const float *src, long long n)
{
	grid_stride(i, n) dst[i] = bf16_round_bits(__float_as_uint(src[i]));
}

// src (n) bfloat16 -> dst (n) float32, exact
extern "C" __global__ void cast_bf16_f32(float *dst, const unsigned short *src, long long n)
{
	grid_stride(i, n) dst[i] = __uint_as_float((unsigned int)src[i] << 16);
}

extern "C" __global__ void copy_bf16(unsigned short *dst, const unsigned short *src, long long n)
{
	grid_stride(i, n) dst[i] = src[i];
}
