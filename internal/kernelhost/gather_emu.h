// gather_emu.h: the host emulation of kernels/gather.cu (gather_emu.c).
#ifndef CNNCTL_GATHER_EMU_H
#define CNNCTL_GATHER_EMU_H

// gather_emu runs gather_batch's grid of grid blocks of block threads,
// each thread's grid-stride loops in turn; count (rows*C*H*W ints, or
// NULL) counts the writes of each element of x.
void gather_emu(const unsigned char *images, const int *labels, const int *order, const int *crops, const float *norm,
		const float *at, float *x, float *y, int batch, int rows, int n, int C, int H, int W, int pad, int grid,
		int block, int *count);
#endif
