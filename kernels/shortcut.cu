// shortcut.cu: ResNet's parameter-free "option A" shortcut.
// x (N,C,H,W) -> y (N,K,OH,OW), OH = ceil(H/stride), OW = ceil(W/stride):
//   y[n][k][oh][ow] = x[n][k-pad][oh*stride][ow*stride] for pad <= k < pad+C,
//   else 0, with pad = (K-C)/2.
// Both directions are templates over the storage (storage.cuh), with _bf16
// instantiations for bf16 tensors.
#include "common.cuh"
#include "storage.cuh"

template <typename T>
__device__ __forceinline__ void shortcut_pad_forward_t(const T *x, T *y, int N, int C, int H, int W, int K, int OH,
							int OW, int stride)
{
	int pad = (K - C) / 2;
	grid_stride(i, (long long)N * K * OH * OW)
	{
		int ow = i % OW, oh = (i / OW) % OH;
		int k = (i / ((long long)OH * OW)) % K;
		long long n = i / ((long long)K * OH * OW);
		int c = k - pad;
		store_rn(y, i, (c >= 0 && c < C) ? load_f32(x, ((n * C + c) * H + oh * stride) * W + ow * stride) : 0.f);
	}
}

extern "C" __global__ void shortcut_pad_forward(const float *x, float *y, int N, int C, int H, int W, int K, int OH,
						int OW, int stride)
{
	shortcut_pad_forward_t(x, y, N, C, H, W, K, OH, OW, stride);
}

extern "C" __global__ void shortcut_pad_forward_bf16(const bf16_t *x, bf16_t *y, int N, int C, int H, int W, int K,
						     int OH, int OW, int stride)
{
	shortcut_pad_forward_t(x, y, N, C, H, W, K, OH, OW, stride);
}

// shortcut_pad_backward: dx[n][c][h][w] = dy[n][c+pad][h/stride][w/stride]
// where h and w are multiples of stride, else 0.
template <typename T>
__device__ __forceinline__ void shortcut_pad_backward_t(const T *dy, T *dx, int N, int C, int H, int W, int K, int OH,
							 int OW, int stride)
{
	int pad = (K - C) / 2;
	grid_stride(i, (long long)N * C * H * W)
	{
		int w = i % W, h = (i / W) % H;
		int c = (i / ((long long)H * W)) % C;
		long long n = i / ((long long)C * H * W);
		store_rn(dx, i,
			 (h % stride == 0 && w % stride == 0)
				 ? load_f32(dy, ((n * K + c + pad) * OH + h / stride) * OW + w / stride)
				 : 0.f);
	}
}

extern "C" __global__ void shortcut_pad_backward(const float *dy, float *dx, int N, int C, int H, int W, int K, int OH,
						 int OW, int stride)
{
	shortcut_pad_backward_t(dy, dx, N, C, H, W, K, OH, OW, stride);
}

extern "C" __global__ void shortcut_pad_backward_bf16(const bf16_t *dy, bf16_t *dx, int N, int C, int H, int W, int K,
						      int OH, int OW, int stride)
{
	shortcut_pad_backward_t(dy, dx, N, C, H, W, K, OH, OW, stride);
}
