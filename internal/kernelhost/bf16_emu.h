// bf16_emu.h: the host emulator of the bf16 tensor-core convolutions (kernels/conv2d_bf16.cu).
#ifndef CNNCTL_BF16_EMU_H
#define CNNCTL_BF16_EMU_H

#include <stdint.h>

// conv2d_bf16.h is a symbolic link to kernels/conv2d_bf16.cuh (see tc_emu.h:
// through it an edit of the kernels' index math reruns this package's tests).
#include "conv2d_bf16.h"
#include "gemm_tc.h"
#include "tc_dep_epilogue_cuh.h"
#include "smem_emu.h"

// Models of the register-staged pipeline: the stores of step kt+1 land in
// shared memory after every warp's mma of step kt (BF_EMU_LATE, program
// order) or before any warp's (BF_EMU_EARLY: a fast warp's stores against
// a slow warp's reads). A correct pipeline gives the same result under both.
enum { BF_EMU_LATE = 0, BF_EMU_EARLY = 1 };

// Deliberate faults, for tests that prove a wrong kernel fails the checks.
enum {
	BF_MUT_NONE = 0,
	BF_MUT_SWIZZLE_LOAD = 1, // ldmatrix addresses unswizzled (the stores swizzled)
	BF_MUT_NO_SWIZZLE = 2,	 // no swizzle anywhere: right values, bank conflicts
	BF_MUT_LDSM_LANE = 3,	 // A's ldmatrix lanes point at matrices 1 and 2 swapped
	BF_MUT_B_REGS = 4,	 // fragments b0 and b1 swapped
	BF_MUT_C_OWNER = 5,	 // accumulators c1 and c2 stored at each other's place
	BF_MUT_STAGE = 6,	 // step kt+1 staged into the stage being read
	BF_MUT_ROUND = 7,	 // operands truncated to bf16 instead of rounded to nearest even
	BF_MUT_PIX_STRIDE = 8,	 // the 1x1 loaders take the channel stride as W instead of H*W
};

// The kernels the emulator runs (as tc_emu.h's EMU_FORWARD, EMU_DATA, EMU_FILTER).
enum {
	BF_EMU_FORWARD = 0, // conv2d_forward_bf16: a x, b w, bias or NULL, res or NULL, relu -> out y
	BF_EMU_DATA = 1,    // conv2d_backward_data_bf16: a dy, b w -> out dx
	BF_EMU_FILTER = 2,  // conv2d_backward_filter_bf16: a x, b dy -> out ws (splits,K,C*R*S)
	// The 1x1 class's kernels (kernels/gemm_bf16.cu), operands as their base kind's:
	BF_EMU_1X1_FORWARD = 3, // conv2d_forward_1x1_bf16
	BF_EMU_1X1_DATA = 4,	// conv2d_backward_data_1x1_bf16
	BF_EMU_1X1_FILTER = 5,	// conv2d_backward_filter_1x1_bf16
};

// BfBanks counts the kernels' shared-memory phases (smem_emu.h).
typedef EmuBanks BfBanks;

// bf_emu_run runs a kernel over its whole grid (splits slabs along z for
// BF_EMU_FILTER, else 1) on the host; written[i] counts the stores to out[i];
// banks (not NULL) receives the bank counts. A forward stores y through
// the epilogue (conv_epilogue: + bias, + res when not NULL, ReLU when
// relu); the gradients ignore res and relu. Returns 0; -1 when memory ran
// out; -2 when a load the kernel marks valid reads outside its tensor; -3
// when a store falls outside out.
int bf_emu_run(const TcConv *g, int kind, const float *a, const float *b, const float *bias, const float *res, int relu,
	       float *out, int32_t *written, int splits, int order, int mutation, BfBanks *banks);

// bf_emu_round is cvt.rn.bf16x2.f32's rounding of one value (nearest, ties
// to even; kernels/cast.cuh's bf16_round_bits), as bf16 bits.
uint16_t bf_emu_round(float f);

#endif
