// epilogue.cuh: the elementwise work fused into a kernel's stores (a
// convolution's bias, residual add and ReLU; the residual sum's ReLU),
// written once as CNNCTL_HD functions that the kernels call on the GPU and
// internal/kernelhost calls on the host. Plain C, so that cgo's gcc
// compiles it too.
#ifndef CNNCTL_EPILOGUE_CUH
#define CNNCTL_EPILOGUE_CUH

#include "hd.cuh"

// relu_value is activation_forward's ReLU (kernels/activation.cu): v when
// v > 0 or v is NaN (NaN passes through, as in PyTorch), else +0.
CNNCTL_HD float relu_value(float v) { return (v > 0.f || v != v) ? v : 0.f; }

// conv_epilogue is a fused convolution's output from its sum v at output
// channel k, element off of y: + b[k] (b NULL: none), + res[off] (res
// NULL: none), then ReLU when relu. The steps are the plain ops' (the
// convolution's store, Add, ActivationForward), in their order, each
// rounded to float32 as they are, so the result is theirs bit for bit.
CNNCTL_HD float conv_epilogue(float v, const float *b, int k, const float *res, long long off, int relu)
{
	if (b)
		v = v + b[k];
	if (res)
		v = v + res[off];
	return relu ? relu_value(v) : v;
}

// The vectorised elementwise kernels (add_relu) read and write float4s
// where all their pointers are 16-byte aligned: vector i covers elements
// 4i .. 4i+3 of the first vec4_count(n, aligned) vectors, and the tail
// elements from vec4_tail(n, aligned) on are done one by one (all n of
// them when a pointer is not aligned).

// vec4_count is the number of whole float4s of n elements (0 unaligned).
CNNCTL_HD long long vec4_count(long long n, int aligned) { return aligned ? n / 4 : 0; }

// vec4_tail is the first element not covered by a float4.
CNNCTL_HD long long vec4_tail(long long n, int aligned) { return 4 * vec4_count(n, aligned); }

#endif
