// batchnorm.cu: batch normalisation over dimension 1.
//
// x, y, dx, dy (N,C,L) with L the product of the dimensions after C (1 for
// (N,C)); gamma, beta, mean, invstd, running mean and variance (C).
// One block per channel: the per-channel sums accumulate in double and are
// reduced in a fixed order (deterministic); two passes for the variance.
#include "common.cuh"

#define BN_AT(x, j) x[((long long)((j) / L) * C + c) * L + (j) % L]

// batchnorm_forward_train: saves mean and invstd = 1/sqrt(var+eps) with the
// biased var, updates the running stats (momentum m; the unbiased var for
// the running variance), writes y. grid C, block 256.
extern "C" __global__ void batchnorm_forward_train(const float *x, const float *gamma, const float *beta,
						   float *run_mean, float *run_var, float *y, float *save_mean,
						   float *save_invstd, int N, int C, int L, float momentum, float eps)
{
	__shared__ double scratch[32];
	int c = blockIdx.x;
	long long count = (long long)N * L;
	double acc = 0.0;
	for (long long j = threadIdx.x; j < count; j += blockDim.x)
		acc += BN_AT(x, j);
	double mean = block_sum_d(acc, scratch) / (double)count;
	acc = 0.0;
	for (long long j = threadIdx.x; j < count; j += blockDim.x) {
		double d = BN_AT(x, j) - mean;
		acc += d * d;
	}
	double var = block_sum_d(acc, scratch) / (double)count;
	double invstd = 1.0 / sqrt(var + (double)eps);
	// y = (x - mean)*scale + beta: subtracting the mean first keeps a large
	// mean from cancelling against a folded shift (beta - mean*scale) in float.
	float fmean = (float)mean, scale = (float)(gamma[c] * invstd), b = beta[c];
	for (long long j = threadIdx.x; j < count; j += blockDim.x)
		BN_AT(y, j) = fmaf(BN_AT(x, j) - fmean, scale, b);
	if (threadIdx.x == 0) {
		double m = momentum;
		double unbiased = var * (double)count / (double)(count - 1); // count >= 2: the launcher checks
		save_mean[c] = (float)mean;
		save_invstd[c] = (float)invstd;
		run_mean[c] = (float)((1.0 - m) * run_mean[c] + m * mean);
		run_var[c] = (float)((1.0 - m) * run_var[c] + m * unbiased);
	}
}

// batchnorm_forward_infer: y = gamma*(x-rm)/sqrt(rv+eps) + beta, one thread per element.
extern "C" __global__ void batchnorm_forward_infer(const float *x, const float *gamma, const float *beta,
						   const float *run_mean, const float *run_var, float *y, int N, int C,
						   int L, float eps)
{
	grid_stride(i, (long long)N * C * L)
	{
		int c = (i / L) % C;
		float scale = gamma[c] / sqrtf(run_var[c] + eps);
		y[i] = fmaf(x[i] - run_mean[c], scale, beta[c]);
	}
}

// batchnorm_backward: with xhat = (x-mean)*invstd and M = N*L,
//   dbeta = Σ dy, dgamma = Σ dy*xhat,
//   dx = gamma*invstd/M * (M*dy - dbeta - xhat*dgamma). grid C, block 256.
extern "C" __global__ void batchnorm_backward(const float *x, const float *dy, const float *gamma,
					      const float *save_mean, const float *save_invstd, float *dx,
					      float *dgamma, float *dbeta, int N, int C, int L)
{
	__shared__ double scratch[32];
	int c = blockIdx.x;
	long long count = (long long)N * L;
	float mean = save_mean[c], invstd = save_invstd[c];
	double sb = 0.0, sg = 0.0;
	for (long long j = threadIdx.x; j < count; j += blockDim.x) {
		float d = BN_AT(dy, j);
		sb += d;
		sg += d * ((BN_AT(x, j) - mean) * invstd);
	}
	sb = block_sum_d(sb, scratch);
	sg = block_sum_d(sg, scratch);
	float k = gamma[c] * invstd / (float)count;
	float fsb = (float)sb, fsg = (float)sg, fm = (float)count;
	for (long long j = threadIdx.x; j < count; j += blockDim.x) {
		float xhat = (BN_AT(x, j) - mean) * invstd;
		BN_AT(dx, j) = k * (fm * BN_AT(dy, j) - fsb - xhat * fsg);
	}
	if (threadIdx.x == 0) {
		dgamma[c] = fsg;
		dbeta[c] = fsb;
	}
}
