// bn_emu.h: the host emulation of kernels/batchnorm.cu (bn_emu.c).
#ifndef CNNCTL_BN_EMU_H
#define CNNCTL_BN_EMU_H
#include "batchnorm.cuh"

// bn_emu_partials is the scratch the kernels need, in doubles.
long long bn_emu_partials(const bn_plan *p);
// relu: the fused BN+ReLU forward, y = relu(bn(x)).
void bn_emu_forward_train(const bn_plan *p, const float *x, const float *gamma, const float *beta, float *run_mean,
			  float *run_var, float *y, float *save_mean, float *save_invstd, float momentum, float eps,
			  int relu, double *part);
// bn_emu_forward_partials is batchnorm_partials_combine then
// batchnorm_forward_coef: the training forward from a convolution
// epilogue's partials (bnstats.cuh's layout, nparts per channel of
// tile_rows rows each); coef is their 2*C floats of scratch.
void bn_emu_forward_partials(const bn_plan *p, const float *x, const float *gamma, const float *beta, float *run_mean,
			     float *run_var, float *y, float *save_mean, float *save_invstd, float momentum, float eps,
			     int relu, const double *part, int nparts, int tile_rows, float *coef);
void bn_emu_forward_infer(const bn_plan *p, const float *x, const float *gamma, const float *beta,
			  const float *run_mean, const float *run_var, float *y, float eps, int relu);
// yr: the fused BN+ReLU forward's output, or NULL for plain batch norm.
void bn_emu_backward(const bn_plan *p, const float *x, const float *dy, const float *yr, const float *gamma,
		     const float *save_mean, const float *save_invstd, float *dx, float *dgamma, float *dbeta, double *part);
// bn_emu_cover runs batchnorm_stats's walk, counting the visits of each
// element in count and returning how many visits fell outside the visiting
// lane's channel.
int bn_emu_cover(const bn_plan *p, const float *x, int *count, double *part);
#endif
