// channels.cu: channel slices, for concatenation (Inception, DenseNet-style).
// L = H*W.
#include "common.cuh"

// copy_channels: src (N,Cs,L) -> channels [off, off+Cs) of dst (N,Cd,L).
extern "C" __global__ void copy_channels(float *dst, const float *src, int N, int Cs, int Cd, int L, int off)
{
	grid_stride(i, (long long)N * Cs * L)
	{
		long long l = i % L, c = (i / L) % Cs, n = i / ((long long)Cs * L);
		dst[(n * Cd + off + c) * L + l] = src[i];
	}
}

// extract_channels: channels [off, off+Cd) of src (N,Cs,L) -> dst (N,Cd,L).
extern "C" __global__ void extract_channels(float *dst, const float *src, int N, int Cs, int Cd, int L, int off)
{
	grid_stride(i, (long long)N * Cd * L)
	{
		long long l = i % L, c = (i / L) % Cd, n = i / ((long long)Cd * L);
		dst[i] = src[(n * Cs + off + c) * L + l];
	}
}
