// storage.cuh: loads and stores of float32 or bfloat16 storage, for kernels
// written once as templates over their tensors' element types and
// instantiated for float32 (the plain kernels) and for mixed precision's
// bf16 tensors (internal/layers/precision.go says which are bf16).
//
// The semantics are internal/cpu/bf16.go's: load_f32 widens a bf16 element
// exactly, the kernel computes in float32, store_rn rounds to nearest, ties
// to even, as tensor.ToBF16 (bf16_round_bits, shared with cast.cu and
// tested on the host against ToBF16 by internal/kernelhost). The integer
// rounding is used rather than cvt.rn.bf16.f32 so that NaN payloads come
// out as the reference's and sm_70 builds. For float32 both are the plain
// access, so a float32 instantiation compiles to the kernel it replaced.
#ifndef CNNCTL_STORAGE_CUH
#define CNNCTL_STORAGE_CUH
#include "cast.cuh"

// bf16_t is a bfloat16 element as stored: its bits.
typedef unsigned short bf16_t;

// load_f32 reads element i as a float32.
__device__ __forceinline__ float load_f32(const float *p, long long i) { return p[i]; }
__device__ __forceinline__ float load_f32(const bf16_t *p, long long i)
{
	return __uint_as_float((unsigned int)p[i] << 16);
}

// store_rn writes v to element i, rounded to the storage's precision.
__device__ __forceinline__ void store_rn(float *p, long long i, float v) { p[i] = v; }
__device__ __forceinline__ void store_rn(bf16_t *p, long long i, float v)
{
	p[i] = bf16_round_bits(__float_as_uint(v));
}
#endif
