// gather.cu: a training batch made on the GPU from the set it holds
// (tensor.DataSet.Gather): the epoch's shuffle, RandomCrop with zero
// padding, RandomHorizontalFlip and normalisation, with the batch index
// read from at[0] on the device, so that a captured step replays with the
// batch counter's current value. The index math is gather.cuh's;
// internal/cpu/devdata.go is the reference.
//
// images (N,C,H,W) uint8, labels (N), order (N), crops (N,3), norm (2*C),
// at (1) -> x (rows,C,H,W), y (rows). Nothing is written when batch at[0]
// is not a whole number or reaches past the n positions (internal/train
// keeps it in range).
#include "common.cuh"
#include "gather.cuh"

extern "C" __global__ void gather_batch(const unsigned char *images, const int *labels, const int *order,
					const int *crops, const float *norm, const float *at, float *x, float *y,
					int batch, int rows, int n, int C, int H, int W, int pad)
{
	long long first = gather_first(at[0], batch, rows, n);
	if (first < 0)
		return;
	grid_stride(i, (long long)rows * C * H * W) x[i] = gather_element((int)i, first, images, order, crops, norm, C, H, W, pad);
	grid_stride(s, (long long)rows) y[s] = gather_label((int)s, first, labels, order);
}
