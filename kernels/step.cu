// step.cu: the ops of a training step that read their scalars on the device
// (tensor.StepOps), so a captured step replays with the current learning
// rate, Adam step and counters. internal/cpu/step.go is the reference.
// w, g, v, m have n elements; lrs has nlr; at, step, skip, flag have one.
#include "optim.cuh"

// lr_index is at[0] as an index into a table of nlr entries; an index
// outside it gives -1 (no update: internal/train keeps it in range).
__device__ __forceinline__ int lr_index(const float *at, int nlr)
{
	int i = (int)at[0];
	return (i >= 0 && i < nlr && (float)i == at[0]) ? i : -1;
}

// sgd_update_at is sgd_update with lr = lrs[at[0]], and nothing updated
// while skip[0] != 0 (the step's non-finite flag).
extern "C" __global__ void sgd_update_at(float *w, const float *g, float *v, long long n, const float *lrs, int nlr,
					 const float *at, const float *skip, float momentum, float weight_decay,
					 int nesterov)
{
	int li = lr_index(at, nlr);
	if (skip[0] != 0.f || li < 0)
		return;
	float lr = lrs[li];
	grid_stride(i, n) sgd_element(i, w, g, v, lr, momentum, weight_decay, nesterov);
}

// adam_update_at is adam_update with lr = lrs[at[0]] and t = step[0]: each
// block's thread 0 computes step_size = lr/(1-beta1^t) and bc2_sqrt =
// sqrt(1-beta2^t) in double, rounded to float as internal/cpu does, and
// decay = 1 - lr*wd in float.
extern "C" __global__ void adam_update_at(float *w, const float *g, float *m, float *v, long long n,
					  const float *lrs, int nlr, const float *at, const float *step,
					  const float *skip, float beta1, float beta2, float eps, float weight_decay,
					  int decoupled)
{
	__shared__ float s[3];
	int li = lr_index(at, nlr);
	if (skip[0] != 0.f || li < 0 || !(step[0] >= 1.f))
		return;
	if (threadIdx.x == 0) {
		float lr = lrs[li];
		double t = (double)step[0];
		s[0] = (float)((double)lr / (1.0 - pow((double)beta1, t)));
		s[1] = (float)sqrt(1.0 - pow((double)beta2, t));
		s[2] = decoupled ? 1.f - lr * weight_decay : 1.f;
	}
	__syncthreads();
	float step_size = s[0], bc2_sqrt = s[1], decay = s[2];
	grid_stride(i, n) adam_element(i, w, g, m, v, beta1, beta2, eps, weight_decay, decoupled, step_size, bc2_sqrt, decay);
}

// step_metrics, one block: loss (N), logits (N,K), labels (N) -> acc[2i] =
// float(sum of loss in double, in sample order, / N), acc[2i+1] = the
// samples whose label is the first maximum of a finite logits row, with
// i = at[0] < nslots; flag[0] = 1 when acc[2i] is not finite.
extern "C" __global__ void step_metrics(const float *loss, const float *logits, const float *labels, float *acc,
					const float *at, float *flag, int n, int k, int nslots)
{
	__shared__ int hits;
	int slot = lr_index(at, nslots);
	if (slot < 0)
		return;
	if (threadIdx.x == 0)
		hits = 0;
	__syncthreads();
	for (int s = threadIdx.x; s < n; s += blockDim.x) {
		const float *row = logits + (long long)s * k;
		int best = 0;
		for (int j = 0; j < k; j++) {
			float z = row[j];
			if (isnan(z) || isinf(z)) {
				best = -1;
				break;
			}
			if (z > row[best])
				best = j;
		}
		if (best >= 0 && best == (int)labels[s])
			atomicAdd(&hits, 1);
	}
	__syncthreads();
	if (threadIdx.x == 0) {
		double sum = 0;
		for (int s = 0; s < n; s++)
			sum += (double)loss[s];
		float mean = (float)(sum / n);
		acc[2 * slot] = mean;
		acc[2 * slot + 1] = (float)hits;
		if (isnan(mean) || isinf(mean))
			flag[0] = 1.f;
	}
}

// add_scalar: t[i] += v.
extern "C" __global__ void add_scalar(float *t, long long n, float v)
{
	grid_stride(i, n) t[i] += v;
}
