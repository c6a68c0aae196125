// augment.cu: training-time augmentation of a batch of uint8 images, as
// torchvision's RandomCrop(padding) + RandomHorizontalFlip + ToTensor +
// Normalize. The host draws the randomness: params holds, per sample,
// (oy, ox, flip) with 0 <= oy, ox <= 2*pad.
//
// src (N,C,H,W) uint8, dst (N,C,OH,OW) float32, norm (2*C): mean then std.
//   j' = flip ? OW-1-j : j
//   v = src[n][c][i+oy-pad][j'+ox-pad], 0 outside the image (zero padding)
//   dst[n][c][i][j] = (v/255 - mean[c]) / std[c]
#include "common.cuh"

extern "C" __global__ void augment(const unsigned char *src, float *dst, const int *params, const float *norm, int N,
				   int C, int H, int W, int OH, int OW, int pad)
{
	grid_stride(i, (long long)N * C * OH * OW)
	{
		int j = i % OW, row = (i / OW) % OH;
		int c = (i / ((long long)OH * OW)) % C;
		long long n = i / ((long long)C * OH * OW);
		const int *pp = params + 3 * n;
		int jj = pp[2] ? OW - 1 - j : j;
		int ih = row + pp[0] - pad, iw = jj + pp[1] - pad;
		float v = 0.f;
		if (ih >= 0 && ih < H && iw >= 0 && iw < W)
			v = (float)src[((n * C + c) * H + ih) * W + iw];
		dst[i] = (v / 255.f - norm[c]) / norm[C + c];
	}
}
