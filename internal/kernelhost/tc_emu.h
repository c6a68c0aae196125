// tc_emu.h: the host emulator of the TF32 tensor-core convolutions (kernels/conv2d_tc.cu).
#ifndef CNNCTL_TC_EMU_H
#define CNNCTL_TC_EMU_H

#include <stdint.h>

// conv2d_tc.h and hd.h are symbolic links to kernels/conv2d_tc.cuh and
// kernels/hd.cuh: go's build cache hashes the .h files of a package's own
// folder only, so through the links an edit of the kernel's index math
// rebuilds this package (and reruns its tests).
#include "conv2d_tc.h"
#include "gemm_tc.h"
#include "tc_dep_epilogue_cuh.h"
#include "smem_emu.h"

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
	// Of the kernels with the swizzled layout (EMU_FORWARD, EMU_DATA, EMU_FILTER):
	EMU_MUT_SWIZZLE_LOAD = 6, // ldmatrix addresses unswizzled (the stores swizzled)
	EMU_MUT_NO_SWIZZLE = 7,	  // no swizzle anywhere: right values, bank conflicts
	EMU_MUT_LDSM_LANE = 8,	  // A's ldmatrix lanes point at matrices 1 and 2 swapped
	EMU_MUT_SWIZZLE_BITS = 9, // the swizzle XORs row bits 0-1 instead of 1-2, stores and loads
	// Of the 1x1 kernels' loaders (EMU_1X1_*):
	EMU_MUT_VEC_ORDER = 10,	  // an A 16-byte copy's four floats land in reverse order
	EMU_MUT_PIX_STRIDE = 11,  // the channel stride taken as W instead of H*W
	EMU_MUT_VEC_CHUNK = 12,	  // the filter's A 16-byte copies land at logical chunk q+1
	// Of the forwards' and data gradients' stores:
	EMU_MUT_ROW_STEP = 13,	  // a lane's second row (c2, c3) addressed as its first's plus 8 pixels
};

// TcBanks counts the shared-memory phases (smem_emu.h) of the kernels with
// the swizzled layout (EMU_FORWARD, EMU_DATA, EMU_FILTER): their ldmatrix phases and
// their warp-wide cp.async stores (one copy l of the warp's 32 threads).
typedef EmuBanks TcBanks;

// The kernels the emulator runs.
enum {
	EMU_FORWARD = 0, // conv2d_forward_tf32: a x (N,C,H,W), b w (K,C,R,S), bias (K) or NULL -> out y (N,K,OH,OW)
	EMU_DATA = 1,	 // conv2d_backward_data_tf32: a dy (N,K,OH,OW), b w (K,C,R,S) -> out dx (N,C,H,W)
	EMU_FILTER = 2,	 // conv2d_backward_filter_tf32: a x (N,C,H,W), b dy (N,K,OH,OW) -> out ws (splits,K,C*R*S)
	EMU_FLAT = 3,	 // conv2d_forward_flat_tf32: as EMU_FORWARD
	// The linears, g = tc_linear(N, I, O), operands as the convolution
	// kernel's they mirror:
	EMU_LIN_FWD = 4,    // linear_forward_tf32: as EMU_FORWARD
	EMU_LIN_DATA = 5,   // linear_backward_data_tf32: as EMU_DATA
	EMU_LIN_FILTER = 6, // linear_backward_filter_tf32: as EMU_FILTER
	// The 1x1 convolutions' own path (gemm_tc.cu), operands as the
	// generic kernel's, in their 4-byte and 16-byte (_V4) forms:
	EMU_1X1_FWD = 7,	// conv2d_forward_1x1_tf32
	EMU_1X1_DATA = 8,	// conv2d_backward_data_1x1_tf32
	EMU_1X1_FILTER = 9,	// conv2d_backward_filter_1x1_tf32
	EMU_1X1_FWD_V4 = 10,	// conv2d_forward_1x1_v4_tf32
	EMU_1X1_DATA_V4 = 11,	// conv2d_backward_data_1x1_v4_tf32
	EMU_1X1_FILTER_V4 = 12, // conv2d_backward_filter_1x1_v4_tf32
};

// tc_emu_run runs a kernel over its whole grid (splits slabs along z for
// EMU_FILTER, else 1) on the host; written[i] counts the stores to out[i].
// The forward kernels apply the epilogue (conv_epilogue: bias, residual
// res of y's shape or NULL, ReLU when relu). Returns 0; -1 when memory ran
// out; -2 when a copy the kernel marks valid reads outside its tensor; -3
// when a store falls outside out; -4 when a 16-byte copy is misaligned in
// global or shared memory. banks (not NULL) receives the bank counts (of
// the 1x1 kernels: their loaders' 4- and 16-byte stores, and the filter
// gradient's ldmatrix phases).
int tc_emu_run(const TcConv *g, int kind, const float *a, const float *b, const float *bias, const float *res,
	       int relu, float *out, int32_t *written, int splits, int pipeline, int mutation, TcBanks *banks);

// tc_emu_tf32 is cvt.rna.tf32.f32: f rounded to 10 mantissa bits, to
// nearest, ties away from zero, as the 32-bit pattern the mma reads.
uint32_t tc_emu_tf32(float f);

// The outputs whose rows the store loop decodes once (tc_emu_store_row).
enum { TC_EMU_ROW_NONE = 0, TC_EMU_ROW_Y = 1, TC_EMU_ROW_DX = 2 };

// tc_emu_store_row is row h (c_{2h}, c_{2h+1}) of lane's mma tile i in the
// store loop (tc_store_tile) at block row m0, warp row wm: 0 when it lies
// outside the rows of the GEMM, else 1 with the row in *m and, for out
// TC_EMU_ROW_Y (a forward's y) or TC_EMU_ROW_DX (a data gradient's dx), its
// handle in *r (tc_y_row, tc_dx_row); r0 keeps the lane's row h = 0 for
// EMU_MUT_ROW_STEP (the row h = 1 as r0's plus 8 pixels). Shared by the
// TF32 and bf16 emulators.
int tc_emu_store_row(const TcConv *g, int out, int m0, int wm, int lane, int i, int h, int rows, int mutation,
		     TcRowOff *r0, TcRowOff *r, int *m);

// tc_emu_store_col is the column of accumulator c_e of lane's mma tile j in
// the store loop, at block column n0, warp column wn.
int tc_emu_store_col(int n0, int wn, int lane, int j, int e);

// tc_emu_store_rows walks the rows of the forward's store loop
// (tc_store_tile) over g's whole forward grid, or with data the data
// gradient's (rows N*H*W, columns C), one handle per row a lane owns
// (tc_y_row, tc_dx_row), and compares every element's
// tc_row_at with the plain division formula (tc_y_offset, tc_dx_offset);
// written[off] (outlen of them) counts the elements it puts at off.
// Returns the number of mismatches. mutation: EMU_MUT_NONE or
// EMU_MUT_ROW_STEP, as tc_emu_run's forwards.
long long tc_emu_store_rows(const TcConv *g, int data, int mutation, int32_t *written, long long outlen);

#endif
