// gather.cuh: the index math of gather.cu, compiled for the GPU and for the
// host tests (internal/kernelhost/gather.go, against internal/cpu's held
// set, which is bit for bit internal/data's loader).
//
// A held training set: images (N,C,H,W) uint8, labels (N); the epoch's
// tables: order (N) the image at each position, crops (N,3) each
// position's (oy, ox, flip); norm (2*C) mean then std. Batch b = at[0] of
// batch size B covers positions [b*B, b*B + rows); x (rows,C,H,W), y (rows).
#ifndef CNNCTL_GATHER_CUH
#define CNNCTL_GATHER_CUH
#include "hd.cuh"

// gather_first is the first position of batch at (a float32 holding a
// whole number), or -1 when at is not a whole number in [0, 2^24) or the
// batch's rows reach past the n positions.
CNNCTL_HD long long gather_first(float at, int batch, int rows, int n)
{
	if (!(at >= 0.f && at < 16777216.f))
		return -1;
	int b = (int)at;
	if ((float)b != at)
		return -1;
	long long first = (long long)b * batch;
	return first + rows > n ? -1 : first;
}

// gather_element is element i of x (rows,C,H,W) of the batch starting at
// position first (i < 2^31: a tensor holds at most that many elements):
// sample s = i/(C*H*W) is image order[first+s], cropped at (oy, ox) of the
// image padded by pad zeros, mirrored when flip, and normalised, as
// tensor.Augmenter writes it:
//   j' = flip ? W-1-j : j
//   v  = image[c][row+oy-pad][j'+ox-pad], 0 outside the image
//   x  = (v/255 - mean[c]) / std[c], each operation rounded to float
CNNCTL_HD float gather_element(int i, long long first, const unsigned char *images, const int *order,
			       const int *crops, const float *norm, int C, int H, int W, int pad)
{
	int j = i % W, row = (i / W) % H;
	int c = (i / (H * W)) % C;
	long long q = first + i / (C * H * W);
	const int *cr = crops + 3 * q;
	int jj = cr[2] ? W - 1 - j : j;
	int ih = row + cr[0] - pad, iw = jj + cr[1] - pad;
	float v = 0.f;
	if (ih >= 0 && ih < H && iw >= 0 && iw < W)
		v = (float)images[(((long long)order[q] * C + c) * H + ih) * W + iw];
	return (v / 255.f - norm[c]) / norm[C + c];
}

// gather_label is y[s]: the label of the image at position first+s, as float.
CNNCTL_HD float gather_label(int s, long long first, const int *labels, const int *order)
{
	return (float)labels[order[first + s]];
}
#endif
