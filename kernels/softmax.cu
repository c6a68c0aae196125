// softmax.cu: numerically stable softmax with cross-entropy and label smoothing.
//
// logits (N,K), labels (N) class indices stored as float32, loss (N),
// dlogits (N,K) or NULL. target = (1-eps)*onehot(label) + eps/K;
//   loss[n] = -Σ_k target_k * log_softmax(logits[n])_k
//   dlogits[n][k] = (softmax_k - target_k) / N   (gradient of the batch mean)
// One warp per row; a label outside [0, K) gives a NaN loss.
#include "common.cuh"

extern "C" __global__ void softmax_cross_entropy(const float *logits, const float *labels, float *loss,
						 float *dlogits, int N, int K, float eps)
{
	int lane = threadIdx.x & 31;
	int n = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
	if (n >= N)
		return;
	const float *row = logits + (long long)n * K;
	float m = -INFINITY;
	for (int k = lane; k < K; k += 32)
		m = fmaxf(m, row[k]);
	m = warp_max(m);
	float se = 0.f, sx = 0.f;
	for (int k = lane; k < K; k += 32) {
		se += expf(row[k] - m);
		sx += row[k];
	}
	se = warp_sum(se);
	sx = warp_sum(sx);
	float lse = m + logf(se); // log Σ exp
	float fl = labels[n];
	int label = (int)fl;
	bool valid = fl >= 0.f && label < K && (float)label == fl;
	if (lane == 0) {
		float lp_label = valid ? row[label] - lse : NAN;
		float lp_sum = sx - (float)K * lse; // Σ_k log_softmax_k
		loss[n] = -((1.f - eps) * lp_label + eps / (float)K * lp_sum);
	}
	if (dlogits) {
		float inv_n = 1.f / (float)N, off = eps / (float)K;
		float *drow = dlogits + (long long)n * K;
		for (int k = lane; k < K; k += 32) {
			float t = off + (k == label ? 1.f - eps : 0.f);
			drow[k] = valid ? (expf(row[k] - lse) - t) * inv_n : NAN;
		}
	}
}
