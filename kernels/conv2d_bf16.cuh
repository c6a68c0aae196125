// conv2d_bf16.cuh: the index math of the bf16 tensor-core convolutions
// (conv2d_bf16.cu), written once as CNNCTL_HD functions that the kernels
// call on the GPU and internal/kernelhost calls on the host, where it
// emulates whole thread blocks (every thread's loads and shared-memory
// stores, every ldmatrix, every mma as the PTX ISA defines them) against
// the CPU reference. Plain C, so that cgo's gcc compiles it too.
//
// The GEMMs are conv2d_tc.cuh's (forward, data gradient, filter gradient;
// its im2col, pixel, tap and output addressing are reused as they are),
// with a step of BF_BK = 32 reduction columns instead of 16 (one
// mma.sync.m16n8k16 covers 16) and operands rounded to bf16 (8 significant
// bits, cvt.rn: nearest, ties to even) as they are staged into shared
// memory; products are summed in fp32.
//
// Block tile BF_BM x BF_BN (TC_BM x TC_BN: the launch geometry is the TF32
// kernels'), 256 threads = 8 warps in a 4 (along M) x 2 (along N) grid,
// each warp owning a 32x32 sub-tile (tc_warp_origin): 2 x 4 mma tiles of
// 16x8, per 16 reduction columns 2 ldmatrix.x4 of A, 2 of B, 8 mma.
//
// Shared memory: both tiles stored reduction-contiguous, A as BF_BM rows
// (GEMM rows m) and B as BF_BN rows (GEMM columns n) of BF_BK bf16 = 64
// bytes = four 16-byte chunks; ldmatrix reads 8x8 b16 matrices whose rows
// are such chunks. Chunk c of row r is stored at chunk bf_swizzle(r, c) =
// c ^ ((r >> 1) & 3) of its row: the 8 rows of an ldmatrix phase (rows
// r0..r0+7, r0 a multiple of 8, one logical chunk) land in 8 distinct
// 16-byte bank groups of the 128-byte bank line, and so do a loader warp's
// 32 four-byte stores (8 rows x 4 pairs of one chunk). Without the swizzle
// rows r and r+2 share banks (4-way conflicts).
//
// Staging: the kernels load fp32 from global memory into registers, round
// pairs to bf16x2 (cvt.rn.bf16x2.f32) and store them to shared memory; the
// next step's loads are issued before the current step's mma (two shared
// stages, one __syncthreads per step). cp.async cannot be used: it copies
// bytes unchanged, and the operands are fp32 in memory (bf16 storage is
// issue 16's) but bf16 in the tiles; staging fp32 through cp.async and
// converting in a second shared-memory pass would double the tiles' shared
// memory and traffic and add a barrier per step.
#ifndef CNNCTL_CONV2D_BF16_CUH
#define CNNCTL_CONV2D_BF16_CUH

#include "hd.cuh"
#include "conv2d_tc.cuh"

enum {
	BF_BM = TC_BM,		// block tile rows
	BF_BN = TC_BN,		// block tile columns
	BF_BK = 32,		// reduction columns (bf16) per step
	BF_KP = BF_BK / 2,	// bf16 pairs (32-bit words) per tile row
	BF_CHUNKS = BF_BK / 8,	// 16-byte chunks per tile row
	BF_STAGES = 2,		// shared-memory stages (register-staged pipeline)
	BF_THREADS = TC_THREADS,
	BF_A_STAGE = BF_BM * BF_KP, // 32-bit words per A stage
	BF_B_STAGE = BF_BN * BF_KP, // 32-bit words per B stage
	BF_A_LOADS = BF_BM * BF_KP / BF_THREADS, // A pairs each thread stages per step (8)
	BF_B_LOADS = BF_BN * BF_KP / BF_THREADS, // B pairs each thread stages per step (4)
};

// bf_k_steps is the number of steps of the forward (ch = C) or data
// gradient (ch = K): R*S taps x ceil(ch/BF_BK) channel blocks.
CNNCTL_HD int bf_k_steps(const TcConv *g, int ch) { return g->R * g->S * ((ch + BF_BK - 1) / BF_BK); }

// bf_step: step kt covers tap (*r, *s) and channels *c0 .. *c0+BF_BK-1:
// the definition of the steps' order, which the kernels walk with BfTap.
CNNCTL_HD void bf_step(const TcConv *g, int ch, int kt, int *r, int *s, int *c0)
{
	int cb = (ch + BF_BK - 1) / BF_BK, rs = kt / cb;
	*c0 = (kt - rs * cb) * BF_BK;
	*r = rs / g->S;
	*s = rs - *r * g->S;
}

// BfTap is a cursor over the steps of the forward or data gradient: step
// kt's tap (r, s) and first channel c0, as bf_step(kt) gives them; it starts
// at {0, 0, 0} (step 0) and bf_tap_next moves it to the next step without
// bf_step's divisions (about a tenth of a step's instructions).
typedef struct {
	int r, s, c0;
} BfTap;

CNNCTL_HD void bf_tap_next(const TcConv *g, int ch, BfTap *t)
{
	t->c0 += BF_BK;
	if (t->c0 >= ch) {
		t->c0 = 0;
		if (++t->s == g->S) {
			t->s = 0;
			t->r++;
		}
	}
}

// bf_filter_steps is the number of steps of the filter gradient over its
// N*OH*OW pixels (BF_BK pixels each).
CNNCTL_HD int bf_filter_steps(const TcConv *g) { return (tc_gemm_m(g) + BF_BK - 1) / BF_BK; }

// bf_slot_m: the l-th pair (0 <= l < loads) thread tid stages per step, for
// tiles whose rows are contiguous in global memory (forward and data
// gradient: rows are pixels): tile row *row, pair *kp (reduction columns
// 2*kp, 2*kp+1). A warp stages 8 consecutive rows x 4 pairs per copy: each
// fp32 load reads 8 consecutive pixels of 4 channels (full 32-byte
// sectors). A thread's rows are (tid&7) + 8*warp + 64*(l/4): two pixels
// for A (l < 8), one for B (l < 4), decoded once per step.
CNNCTL_HD void bf_slot_m(int tid, int l, int *row, int *kp)
{
	*row = (tid & 7) + 8 * (tid >> 5) + 64 * (l >> 2);
	*kp = ((tid >> 3) & 3) + 4 * (l & 3);
}

// bf_slot_k: the l-th pair thread tid stages per step, for tiles whose
// reduction is contiguous in global memory (filter gradient: the reduction
// runs over pixels): tile row *row, pair *kp. A warp stages 8 rows x 4
// pairs (8 consecutive pixels) per copy; a thread's pair kp, and so its two
// pixels, is the same for all its copies.
CNNCTL_HD void bf_slot_k(int tid, int l, int *row, int *kp)
{
	*kp = (tid & 3) + 4 * ((tid >> 5) & 3);
	*row = ((tid >> 2) & 7) + 8 * (tid >> 7) + 16 * l;
}

// bf_swizzle is the physical 16-byte chunk of logical chunk c in tile row
// row (see the layout above).
CNNCTL_HD int bf_swizzle(int row, int c) { return c ^ ((row >> 1) & (BF_CHUNKS - 1)); }

// bf_smem_chunk is the offset, in 32-bit words from the stage's start, of
// logical chunk c of tile row row: what an ldmatrix lane points at.
CNNCTL_HD int bf_smem_chunk(int row, int c) { return (row * BF_CHUNKS + bf_swizzle(row, c)) * 4; }

// bf_smem_pair is the offset, in 32-bit words, of pair kp (reduction
// columns 2kp, 2kp+1) of tile row row: where the loader stores it.
CNNCTL_HD int bf_smem_pair(int row, int kp) { return bf_smem_chunk(row, kp >> 2) + (kp & 3); }

// ldmatrix.sync.aligned.m8n8.x4.shared.b16: lane l supplies the address of
// row l%8 of matrix l/8; lane l receives in register j the b16 pair at row
// l/4, columns 2(l%4), 2(l%4)+1 of matrix j (PTX ISA, "Warp-level matrix
// load instruction: ldmatrix").

// bf_ldsm_a: for the A fragments of the 16x16 mma tile whose rows start at
// tile row m0, lane supplies tile row m0 + *row, logical chunk c0 + *chunk
// (c0 = the k16 step's first chunk): matrices 0..3 = rows 0-7 / 8-15 of
// columns 0-7, then of columns 8-15, which ldmatrix hands over as a0..a3.
CNNCTL_HD void bf_ldsm_a(int lane, int *row, int *chunk)
{
	int j = lane >> 3;
	*row = (lane & 7) + 8 * (j & 1);
	*chunk = j >> 1;
}

// bf_ldsm_b: for the B fragments of two 8-column mma tiles n0, n0+8, lane
// supplies tile row (GEMM column) n0 + *row, logical chunk c0 + *chunk:
// matrices 0..3 = b0, b1 of tile n0, then b0, b1 of tile n0+8.
CNNCTL_HD void bf_ldsm_b(int lane, int *row, int *chunk)
{
	int j = lane >> 3;
	*row = (lane & 7) + 8 * (j >> 1);
	*chunk = j & 1;
}

// Fragment ownership of mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32
// (PTX ISA, "Matrix Fragments for mma.m16n8k16 with floating point type"),
// groupID = lane >> 2, threadID_in_group = lane % 4; each register holds
// two bf16, the lower column (A) or row (B) in its low half. The
// accumulators are tc_frag_c's (the same for every m16n8 f32 shape).

// bf_frag_a: register a_i (i = 0..3) of lane holds A (16x16) elements
// (*row, *col) and (*row, *col + 1): row groupID (a0, a2) or groupID+8
// (a1, a3); column 2*threadID_in_group (a0, a1), +8 for a2, a3.
CNNCTL_HD void bf_frag_a(int lane, int i, int *row, int *col)
{
	*row = (lane >> 2) + 8 * (i & 1);
	*col = (lane & 3) * 2 + 8 * (i >> 1);
}

// bf_frag_b: register b_i (i = 0..1) of lane holds B (16x8) elements
// (*row, *col) and (*row + 1, *col): row 2*threadID_in_group (+8 for b1),
// column groupID.
CNNCTL_HD void bf_frag_b(int lane, int i, int *row, int *col)
{
	*row = (lane & 3) * 2 + 8 * i;
	*col = lane >> 2;
}

#endif
