// channels.cu: channel slices, for concatenation (Inception, DenseNet-style).
// L = H*W. Both are templates over the storage (storage.cuh), with _bf16
// instantiations for bf16 tensors.
#include "common.cuh"
#include "storage.cuh"

// copy_channels: src (N,Cs,L) -> channels [off, off+Cs) of dst (N,Cd,L).
template <typename T>
__device__ __forceinline__ void copy_channels_t(T *dst, const T *src, int N, int Cs, int Cd, int L, int off)
{
	grid_stride(i, (long long)N * Cs * L)
	{
		long long l = i % L, c = (i / L) % Cs, n = i / ((long long)Cs * L);
		store_rn(dst, (n * Cd + off + c) * L + l, load_f32(src, i));
	}
}

extern "C" __global__ void copy_channels(float *dst, const float *src, int N, int Cs, int Cd, int L, int off)
{
	copy_channels_t(dst, src, N, Cs, Cd, L, off);
}

extern "C" __global__ void copy_channels_bf16(bf16_t *dst, const bf16_t *src, int N, int Cs, int Cd, int L, int off)
{
	copy_channels_t(dst, src, N, Cs, Cd, L, off);
}

// extract_channels: channels [off, off+Cd) of src (N,Cs,L) -> dst (N,Cd,L).
template <typename T>
__device__ __forceinline__ void extract_channels_t(T *dst, const T *src, int N, int Cs, int Cd, int L, int off)
{
	grid_stride(i, (long long)N * Cd * L)
	{
		long long l = i % L, c = (i / L) % Cd, n = i / ((long long)Cd * L);
		store_rn(dst, i, load_f32(src, (n * Cs + off + c) * L + l));
	}
}

extern "C" __global__ void extract_channels(float *dst, const float *src, int N, int Cs, int Cd, int L, int off)
{
	extract_channels_t(dst, src, N, Cs, Cd, L, off);
}

extern "C" __global__ void extract_channels_bf16(bf16_t *dst, const bf16_t *src, int N, int Cs, int Cd, int L, int off)
{
	extract_channels_t(dst, src, N, Cs, Cd, L, off);
}
