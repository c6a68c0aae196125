// gather_emu.c: kernels/gather.cu run on the host, thread by thread, with
// the functions of kernels/gather.cuh; only the loops over blocks and
// threads stand in for the GPU. The GPU rounds each operation of
// gather_element separately, so the host must not fuse either.
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif
#include "gather.cuh"
#include "gather_emu.h"

void gather_emu(const unsigned char *images, const int *labels, const int *order, const int *crops, const float *norm,
		const float *at, float *x, float *y, int batch, int rows, int n, int C, int H, int W, int pad, int grid,
		int block, int *count)
{
	long long first = gather_first(at[0], batch, rows, n);
	if (first < 0)
		return;
	long long total = (long long)rows * C * H * W, stride = (long long)grid * block;
	for (int b = 0; b < grid; b++) {
		for (int t = 0; t < block; t++) {
			for (long long i = (long long)b * block + t; i < total; i += stride) {
				x[i] = gather_element((int)i, first, images, order, crops, norm, C, H, W, pad);
				if (count)
					count[i]++;
			}
			for (long long s = (long long)b * block + t; s < rows; s += stride)
				y[s] = gather_label((int)s, first, labels, order);
		}
	}
}
