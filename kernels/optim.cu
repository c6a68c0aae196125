// optim.cu: optimiser steps over a flat parameter buffer, as tensor.go and
// internal/cpu/optim.go define them. w, g, v, m have n elements.
#include "optim.cuh"

// sgd_update (torch.optim.SGD): g' = g + wd*w; v = mom*v + g';
// step = nesterov ? g' + mom*v : v; w -= lr*step.
extern "C" __global__ void sgd_update(float *w, const float *g, float *v, long long n, float lr, float momentum,
				      float weight_decay, int nesterov)
{
	grid_stride(i, n) sgd_element(i, w, g, v, lr, momentum, weight_decay, nesterov);
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
	grid_stride(i, n) adam_element(i, w, g, m, v, beta1, beta2, eps, weight_decay, decoupled, step_size, bc2_sqrt, decay);
}
