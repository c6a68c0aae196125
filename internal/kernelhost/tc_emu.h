// tc_emu.h: the host emulator of conv2d_forward_tf32 (kernels/conv2d_tc.cu).
#ifndef CNNCTL_TC_EMU_H
#define CNNCTL_TC_EMU_H

#include <stdint.h>

// conv2d_tc.h and hd.h are symbolic links to kernels/conv2d_tc.cuh and
// kernels/hd.cuh: go's build cache hashes the .h files of a package's own
// folder only, so through the links an edit of the kernel's index math
// rebuilds this package (and reruns its tests).
#include "conv2d_tc.h"

// Pipeline models of cp.async: EMU_LAZY lands a group's copies only when a
// wait_group lets it complete (the latest a GPU may deliver them), EMU_EAGER
// as soon as they are issued (the earliest). A correct pipeline gives the
// same result under both.
enum { EMU_LAZY = 0, EMU_EAGER = 1 };

// Deliberate faults, for tests that prove a wrong kernel fails the checks.
enum {
	EMU_MUT_NONE = 0,
	EMU_MUT_A_REGS = 1,	  // registers a1 and a2 swapped
	EMU_MUT_B_REGS = 2,	  // registers b0 and b1 swapped
	EMU_MUT_C_OWNER = 3,	  // accumulators c1 and c2 stored at each other's place
	EMU_MUT_WAIT = 4,	  // wait_group allows one more group in flight
	EMU_MUT_PREFETCH = 5,	  // the prefetch overwrites the stage being read
};

// tc_emu_forward runs conv2d_forward_tf32 over its whole grid on the host:
// x (N,C,H,W), w (K,C,R,S), b (K) or NULL -> y (N,K,OH,OW); written[i]
// counts the stores to y[i]. Returns 0, or -1 when memory ran out.
int tc_emu_forward(const TcConv *g, const float *x, const float *w, const float *b, float *y, int32_t *written,
		   int pipeline, int mutation);

// tc_emu_tf32 is cvt.rna.tf32.f32: f rounded to 10 mantissa bits, to
// nearest, ties away from zero, as the 32-bit pattern the mma reads.
uint32_t tc_emu_tf32(float f);

#endif
