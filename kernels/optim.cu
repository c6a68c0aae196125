// optim.cu: optimiser steps over a flat parameter buffer, as tensor.go and
// internal/cpu/optim.go define them. w, g, v, m have n elements.
#include "common.cuh"

// sgd_update (torch.optim.SGD): g' = g + wd*w; v = mom*v + g';
// step = nesterov ? g' + mom*v : v; w -= lr*step.
extern "C" __global__ void sgd_update(float *w, const float *g, float *v, long long n, float lr, float momentum,
				      float weight_decay, int nesterov)
{
	grid_stride(i, n)
	{
		float grad = g[i] + weight_decay * w[i];
		float vel = momentum * v[i] + grad;
		v[i] = vel;
		float step = nesterov ? grad + momentum * vel : vel;
		w[i] -= lr * step;
	}
}

// adam_update (torch.optim.Adam / AdamW). The host computes, for step t,
// step_size = lr/(1-beta1^t), bc2_sqrt = sqrt(1-beta2^t) and, for AdamW
// (decoupled != 0), decay = 1 - lr*wd.
//   decoupled: w *= decay   else: g += wd*w
//   m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g*g
//   w -= step_size * m / (sqrt(v)/bc2_sqrt + eps)
extern "C" __global__ void adam_update(float *w, const float *g, float *m, float *v, long long n, float beta1,
				       float beta2, float eps, float weight_decay, int decoupled, float step_size,
				       float bc2_sqrt, float decay)
{
	grid_stride(i, n)
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
}
