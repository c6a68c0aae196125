// gemm_tc.cuh: the index math of the 1x1 convolutions' own TF32 path
// (gemm_tc.cu), written once as CNNCTL_HD functions that the kernels call
// on the GPU and internal/kernelhost calls on the host, where tc_emu.c
// runs whole thread blocks through them against the CPU reference. Plain
// C, so that cgo's gcc compiles it too.
//
// A 1x1 convolution of stride 1 and padding 0 (GoogLeNet's reductions,
// NiN's mlpconv layers) is, in NCHW, a batched plain GEMM: per image n,
//   y[n] (K, PQ) = w (K, C) · x[n] (C, PQ),   PQ = H*W = OH*OW,
// with no im2col: no taps, no padding tests, no division of a reduction
// column. The kernels take the batch flat, M = N*PQ rows m = n*PQ + pq, so
// that the small images of late layers (7x7) fill whole tiles; their GEMMs
// are conv2d_tc.cuh's with R = S = 1:
//   forward         Y (M, K)  = A (M, C) · B (C, K):  A[m][c] = x[n][c][pq],  B[c][k] = w[k][c];
//   data gradient   DX (M, C) = A (M, K) · B (K, C):  A[m][k] = dy[n][k][pq], B[k][c] = w[k][c];
//   filter gradient DW (K, C) = A (K, P) · B (P, C):  A[k][p] = dy[n][k][pq], B[p][c] = x[n][c][pq],
//     P = M, the reduction over the pixels split over gridDim.z as the
//     convolutions' (tc_split), each split into its own slab, summed in a
//     fixed order by sum_splits (deterministic).
// Tiles, warps, fragments, the pipeline and the output addressing are
// conv2d_tc.cu's tc_gemm's. The forward and data gradient keep A in the
// padded k-major layout (tc_a_smem: a row of TC_BM pixels per reduction
// column, so that consecutive pixels, contiguous in x and dy, are
// contiguous in shared memory) and B in the padded n-major one
// (tc_b_smem), their fragments read with 4-byte loads; the filter gradient,
// whose two operands are both contiguous along the reduction (pixels),
// keeps both in the swizzled layout (tc_sw_smem) and reads them with
// ldmatrix.
//
// Each kernel comes in two forms, chosen per shape (g1_vec4): the 4-byte
// form copies one float per cp.async and serves every shape; the 16-byte
// form copies four consecutive floats per cp.async where they are
// contiguous and aligned in both memories: PQ a multiple of 4 (four
// consecutive pixels never straddle two images, and every offset n*ch*PQ +
// c*PQ + pq with pq a multiple of 4 is one), for the forward's B also C a
// multiple of 4, and the pointers 16-byte aligned (the launcher's test).
#ifndef CNNCTL_GEMM_TC_CUH
#define CNNCTL_GEMM_TC_CUH

#include "hd.cuh"
#include "conv2d_tc.cuh"

enum {
	G1_A_VLOADS = TC_BM * TC_BK / 4 / TC_THREADS, // 16-byte A copies per thread per step (2)
	G1_B_VLOADS = TC_BN * TC_BK / 4 / TC_THREADS, // 16-byte B copies per thread per step (1)
};

// The slots of the 1x1 kernels.
enum { G1_FORWARD = 0, G1_DATA = 1, G1_FILTER = 2 };

// g1_plain: convolution g is a 1x1 of stride 1 and padding 0, the GEMM the
// kernels here compute (any C; the shape class prefers the flat kernel for
// C <= TC_SMALL_C, see tc_forward_class).
CNNCTL_HD int g1_plain(const TcConv *g)
{
	return g->R == 1 && g->S == 1 && g->sh == 1 && g->sw == 1 && g->ph == 0 && g->pw == 0;
}

// g1_vec4: slot's kernel for g may take its 16-byte form: g1_plain, PQ a
// multiple of 4, for the forward C too (its B rows, w[k][.], copied 4
// channels at a time), and aligned (every pointer the kernel reads
// 16-byte aligned: the launcher's part).
CNNCTL_HD int g1_vec4(const TcConv *g, int slot, int aligned)
{
	if (!g1_plain(g) || !aligned || (g->H * g->W) % 4 != 0)
		return 0;
	return slot != G1_FORWARD || g->C % 4 == 0;
}

// G1Pix is one GEMM row (forward, data gradient) or reduction row (filter
// gradient) decoded: pixel m = n*PQ + pq; base is the offset of channel 0
// of the pixel in a tensor of ch channels (N, ch, PQ). ok is 0 past M.
typedef struct {
	int ok, base;
} G1Pix;

// g1_pix decodes pixel m of a tensor with ch channels.
CNNCTL_HD G1Pix g1_pix(const TcConv *g, int ch, int m)
{
	G1Pix p;
	int pq = g->H * g->W, n = m / pq;
	p.ok = m < tc_gemm_m(g);
	p.base = p.ok ? n * ch * pq + (m - n * pq) : 0;
	return p;
}

// g1_at: channel c of pixel p in a tensor of ch channels. Returns 1 and
// sets *off to its offset; 0 outside the GEMM (no pixel or c >= ch: the
// loader fills zero).
CNNCTL_HD int g1_at(const TcConv *g, const G1Pix *p, int ch, int c, int *off)
{
	if (!p->ok || c >= ch)
		return 0;
	*off = p->base + c * g->H * g->W;
	return 1;
}

// The loaders' slots: the l-th copy of thread tid per step and the tile
// element it fills (row or column t, reduction column kk).
//
// The forward's and data gradient's A, 4-byte: tc_a_slot (32 consecutive
// pixels of one channel per warp: 128 contiguous bytes of x or dy, 32
// banks of the k-major layout); a thread's pixel is fixed, decoded once per
// block.
//
// Their A, 16-byte: g1_a_slot4: copy l (l < G1_A_VLOADS) of thread tid is
// pixels *m .. *m+3 of column *kk; a warp copies 128 consecutive pixels of
// one channel (512 contiguous bytes) into one k-major row (each 8-thread
// phase 128 contiguous bytes: every bank once); *m does not depend on l.
CNNCTL_HD void g1_a_slot4(int tid, int l, int *m, int *kk)
{
	int v = tid + TC_THREADS * l;
	*kk = v / (TC_BM / 4);
	*m = 4 * (v % (TC_BM / 4));
}

// Their B, 4-byte: g1_b_slot: copy l (l < TC_B_LOADS) of thread tid is
// column *n, row *kk: a warp stores 8 columns x 4 rows per copy, at words
// 20n + kk of the n-major padded layout, 32 distinct banks (20n mod 32 is
// a distinct multiple of 4 for 8 consecutive n); in memory the forward
// reads 8 runs of 4 floats (w[k][c0..], the reduction contiguous), the
// data gradient 4 runs of 8 (w[k][c..], the columns contiguous).
CNNCTL_HD void g1_b_slot(int tid, int l, int *n, int *kk)
{
	int lane = tid & 31;
	*n = (lane & 7) + 8 * (tid >> 5);
	*kk = (lane >> 3) + 4 * l;
}

// The forward's B, 16-byte: g1_b_slot4: the single copy of thread tid is
// column *n, rows *kk .. *kk+3 (4 consecutive channels of w[k]); an
// 8-thread phase stores 8 consecutive columns' 16 bytes at words 20n + kk,
// 8 distinct groups of 4 banks.
CNNCTL_HD void g1_b_slot4(int tid, int *n, int *kk)
{
	int lane = tid & 31;
	*n = (lane & 7) + 8 * (tid >> 5);
	*kk = 4 * (lane >> 3);
}

// The filter gradient, 4-byte: both tiles in tc_b_slot's order, as
// conv2d_backward_filter_tf32 (a thread's reduction row kk, one pixel,
// fixed: decoded once per step).
//
// The filter gradient, 16-byte: g1_sw_slot4: copy l of thread tid is tile
// row *t (an output channel k of A, an input channel c of B), logical
// chunk *q (reduction columns 4q .. 4q+3, four consecutive pixels): an
// 8-thread phase stores rows t, t+1 (t even) whole, 128 contiguous bytes
// of the swizzled layout (the swizzle permutes chunks within a row): every
// bank once; in memory each row's 4 chunks are 64 contiguous bytes. *q
// does not depend on l, so a thread decodes one pixel per step. A takes
// TC_BM*4/TC_THREADS = 2 copies per thread, B one.
CNNCTL_HD void g1_sw_slot4(int tid, int l, int *t, int *q)
{
	int v = tid + TC_THREADS * l;
	*t = v >> 2;
	*q = v & 3;
}

#endif
