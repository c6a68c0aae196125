// cast.cuh: bfloat16 rounding, compiled for the GPU (cast.cu) and for the
// host tests (internal/kernelhost/cast.go, against tensor.ToBF16).
#ifndef CNNCTL_CAST_CUH
#define CNNCTL_CAST_CUH
#include "hd.cuh"

// bf16_round_bits rounds the float32 with bits u to the nearest bfloat16,
// ties to even, and returns its bits; a NaN keeps its sign and the top of
// its payload and is made quiet (so that cutting the payload cannot turn
// it into an infinity); too large becomes infinite.
CNNCTL_HD unsigned short bf16_round_bits(unsigned int u)
{
	if ((u & 0x7fffffffu) > 0x7f800000u)
		return (unsigned short)((u >> 16) | 0x0040u);
	u += 0x7fffu + ((u >> 16) & 1u);
	return (unsigned short)(u >> 16);
}
#endif
