// bnstats_emu.h: the host emulation of the epilogue batch-norm statistics
// (kernels/bnstats.cuh, kernels/conv_bnstats.cuh; bnstats_emu.c).
#ifndef CNNCTL_BNSTATS_EMU_H
#define CNNCTL_BNSTATS_EMU_H
#include "bnstats.cuh"

// bns_emu_conv_partials is conv_bn_partials of every block of a
// tensor-core forward whose stored output is y (N,K,OH,OW), ohw = OH*OW:
// part (2*K*B doubles, B = ceil(N*ohw/TC_BM)) in bnstats.cuh's layout.
void bns_emu_conv_partials(const float *y, int N, int K, int ohw, double *part);
// bns_emu_combine is batchnorm_partials_combine's merge of channel c's
// partials: thread chains, warp trees, the warps in order.
void bns_emu_combine(const double *part, int C, int nparts, int tile_rows, int rows, int c, double *mean, double *var);
// bns_emu_frag_mismatches counts the accumulators whose block-tile row or
// column by bnstats.cuh's leaf order differs from tc_frag_c's (0: the
// statistics read every stored element at its place).
int bns_emu_frag_mismatches(void);
// bns_emu_tile_rows is TC_BM, the rows of a partial's tile.
int bns_emu_tile_rows(void);
#endif
