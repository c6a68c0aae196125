// optim.cuh: the per-element optimiser updates, shared by optim.cu (scalars
// as kernel arguments) and step.cu (scalars read on the device).
#ifndef CNNCTL_OPTIM_CUH
#define CNNCTL_OPTIM_CUH
#include "common.cuh"

// sgd_element (torch.optim.SGD): g' = g + wd*w; v = mom*v + g';
// step = nesterov ? g' + mom*v : v; w -= lr*step; for element i.
__device__ __forceinline__ void sgd_element(long long i, float *w, const float *g, float *v, float lr, float momentum,
					    float weight_decay, int nesterov)
{
	float grad = g[i] + weight_decay * w[i];
	float vel = momentum * v[i] + grad;
	v[i] = vel;
	float step = nesterov ? grad + momentum * vel : vel;
	w[i] -= lr * step;
}

// adam_element (torch.optim.Adam / AdamW) for element i, with step_size =
// lr/(1-beta1^t), bc2_sqrt = sqrt(1-beta2^t) and decay = 1 - lr*wd:
//   decoupled: w *= decay   else: g += wd*w
//   m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g*g
//   w -= step_size * m / (sqrt(v)/bc2_sqrt + eps)
__device__ __forceinline__ void adam_element(long long i, float *w, const float *g, float *m, float *v, float beta1,
					     float beta2, float eps, float weight_decay, int decoupled,
					     float step_size, float bc2_sqrt, float decay)
{
	float wi = w[i], grad = g[i];
	if (decoupled)
		wi *= decay;
	else
		grad += weight_decay * wi;
	float mi = beta1 * m[i] + (1.f - beta1) * grad;
	float vi = beta2 * v[i] + (1.f - beta2) * grad * grad;
	m[i] = mi;
	v[i] = vi;
	w[i] = wi - step_size * mi / (sqrtf(vi) / bc2_sqrt + eps);
}
#endif
