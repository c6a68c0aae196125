// conv2d_tc.cuh: the index math of the TF32 tensor-core convolution
// (conv2d_tc.cu), written once as CNNCTL_HD functions that the kernel calls
// on the GPU and internal/kernelhost calls on the host, where it emulates a
// whole thread block (every thread's tile loads, every lane's fragments, the
// mma as the PTX ISA defines it) against the CPU reference. Plain C, so that
// cgo's gcc compiles it too.
//
// Forward as an implicit GEMM, im2col gathered on the fly:
//   Y (M, K) = A (M, CRS) · B (CRS, K), with
//   M = N*OH*OW output pixels, row m = (n, oh, ow);
//   CRS = C*R*S filter taps, taken in the order (r, s, c): pipeline step kt
//   covers one tap (r, s) and TC_BK channels c0 .. c0+TC_BK-1, so the
//   division of a column into (c, r, s) happens once per step, not per
//   element, and a pixel's padding test once per step too;
//   A[m][(r,s,c)] = x[n][c][oh*sh-ph+r][ow*sw-pw+s] (0 in the padding),
//   B[(r,s,c)][k] = w[k][c][r][s],
//   y[n][k][oh][ow] = Y[m][k] + b[k].
// Channels past C (C not a multiple of TC_BK) are zero columns.
//
// Block tile TC_BM x TC_BN of Y at (blockIdx.x*TC_BM, blockIdx.y*TC_BN).
// TC_THREADS threads = 8 warps in a 4 (along M) x 2 (along K) grid, each
// warp owning a 32x32 sub-tile: 2 x 4 mma tiles of 16x8, one
// mma.sync.m16n8k8 each per 8 columns of the step.
#ifndef CNNCTL_CONV2D_TC_CUH
#define CNNCTL_CONV2D_TC_CUH

#include "hd.cuh"

enum {
	TC_BM = 128,	 // block tile rows (output pixels)
	TC_BN = 64,	 // block tile columns (output channels)
	TC_BK = 16,	 // CRS per pipeline stage
	TC_STAGES = 3,	 // cp.async pipeline depth
	TC_THREADS = 256,
	TC_WARPS_M = 4,	 // warps along M; TC_THREADS/32/TC_WARPS_M along K
	TC_WM = 32,	 // warp tile rows
	TC_WN = 32,	 // warp tile columns
	TC_MT = TC_WM / 16, // mma tiles (16 rows) per warp along M
	TC_NT = TC_WN / 8,  // mma tiles (8 columns) per warp along K
	// Shared-memory layout, padded so that both the loaders' stores and
	// the fragments' loads are free of bank conflicts (see tc_a_smem).
	TC_A_LD = TC_BM + 8,	       // A stage: TC_BK rows of TC_BM pixels (k-major)
	TC_B_LD = TC_BK + 4,	       // B stage: TC_BN rows of TC_BK taps (n-major)
	TC_A_STAGE = TC_BK * TC_A_LD, // floats per A stage
	TC_B_STAGE = TC_BN * TC_B_LD, // floats per B stage
	TC_A_SW_STAGE = TC_BM * TC_BK, // floats per A stage, swizzled layout (tc_sw_smem)
	TC_B_SW_STAGE = TC_BN * TC_BK, // floats per B stage, swizzled layout
	TC_A_LOADS = TC_BM * TC_BK / TC_THREADS, // A elements each thread copies per stage
	TC_B_LOADS = TC_BN * TC_BK / TC_THREADS, // B elements each thread copies per stage
	// cp.async groups still allowed in flight when a stage is consumed.
	TC_WAIT_PENDING = TC_STAGES - 2,
};

// TcConv is one convolution: x (N,C,H,W), w (K,C,R,S), y (N,K,OH,OW),
// stride sh sw, padding ph pw. Offsets are ints: every tensor has fewer
// than 2^31 elements (gpu.Backend.New refuses larger ones), and offsets are
// formed only from the decoded coordinates of rows inside the GEMM.
typedef struct {
	int N, C, H, W, K, R, S, OH, OW, sh, sw, ph, pw;
} TcConv;

// tc_gemm_m is M = N*OH*OW, the GEMM rows (output pixels).
CNNCTL_HD int tc_gemm_m(const TcConv *g) { return g->N * g->OH * g->OW; }

// Pipeline steps: the reduction (r, s, ch) runs over R*S filter taps and,
// per tap, over ch channels in blocks of TC_BK (ch = C forward, K for the
// data gradient).

// tc_k_steps is the number of pipeline steps: R*S taps x ceil(ch/TC_BK).
CNNCTL_HD int tc_k_steps(const TcConv *g, int ch) { return g->R * g->S * ((ch + TC_BK - 1) / TC_BK); }

// tc_step: pipeline step kt covers tap (*r, *s) and channels *c0 .. *c0+TC_BK-1.
CNNCTL_HD void tc_step(const TcConv *g, int ch, int kt, int *r, int *s, int *c0)
{
	int cb = (ch + TC_BK - 1) / TC_BK, rs = kt / cb;
	*c0 = (kt - rs * cb) * TC_BK;
	*r = rs / g->S;
	*s = rs - *r * g->S;
}

// tc_stage is the shared-memory stage (ring slot) of pipeline step kt.
CNNCTL_HD int tc_stage(int kt) { return kt % TC_STAGES; }

// tc_a_slot: the l-th A element (0 <= l < TC_A_LOADS) thread tid copies
// per step is tile row m, tile column kk (channel c0+kk). m does not depend
// on l, so a thread decodes its pixel once (tc_pixel); consecutive threads
// take consecutive pixels, so a warp reads consecutive ow (coalesced).
CNNCTL_HD void tc_a_slot(int tid, int l, int *m, int *kk)
{
	*m = tid % TC_BM;
	*kk = tid / TC_BM + l * (TC_THREADS / TC_BM);
}

// tc_b_slot: the l-th B element (0 <= l < TC_B_LOADS) thread tid copies
// per step is tile column n (output channel n0+n), tile row kk (channel
// c0+kk). kk does not depend on l.
CNNCTL_HD void tc_b_slot(int tid, int l, int *n, int *kk)
{
	*kk = tid % TC_BK;
	*n = tid / TC_BK + l * (TC_THREADS / TC_BK);
}

// TcPixel is one GEMM row decoded: output pixel m = (n, oh, ow), whose
// window starts at input row ih0, column iw0; base is the offset in x of
// (n, c 0, ih0, iw0) (it may point before the image: only in-image
// elements are read). ok is 0 for rows past M.
typedef struct {
	int ok, ih0, iw0;
	int base;
} TcPixel;

CNNCTL_HD TcPixel tc_pixel(const TcConv *g, int m)
{
	TcPixel p;
	int ow = m % g->OW, t = m / g->OW;
	int oh = t % g->OH, n = t / g->OH;
	p.ok = m < tc_gemm_m(g);
	p.ih0 = oh * g->sh - g->ph;
	p.iw0 = ow * g->sw - g->pw;
	p.base = p.ok ? (n * g->C * g->H + p.ih0) * g->W + p.iw0 : 0;
	return p;
}

// TcRow is a thread's A row at one filter tap, decoded once per pipeline
// step (the tap is the step's): ok says whether the row reads the input
// there at all (0: padding, stride gap or no row), off is the offset of its
// channel-0 element; channel c adds c times the channel stride.
typedef struct {
	int ok;
	int off;
} TcRow;

// tc_im2col_row: pixel p's row of A at tap (r, s): x[n][.][ih0+r][iw0+s].
CNNCTL_HD TcRow tc_im2col_row(const TcConv *g, const TcPixel *p, int r, int s)
{
	TcRow row;
	int ih = p->ih0 + r, iw = p->iw0 + s;
	row.ok = p->ok && ih >= 0 && ih < g->H && iw >= 0 && iw < g->W;
	row.off = p->base + r * g->W + s;
	return row;
}

// tc_im2col: A[m][(r,s,c)] from the row at (r, s). Returns 1 and sets *off
// to the element's offset in x when it lies inside the image; 0 when it is
// padding or outside the GEMM (no pixel, c >= C), which the loader fills
// with zero.
CNNCTL_HD int tc_im2col(const TcConv *g, const TcRow *row, int c, int *off)
{
	if (!row->ok || c >= g->C)
		return 0;
	*off = row->off + c * g->H * g->W;
	return 1;
}

// tc_w_at: B[(r,s,c)][k] = w[k][c][r][s]. Returns 1 and sets *off inside
// the GEMM, 0 outside it (k >= K or c >= C; filled with zero).
CNNCTL_HD int tc_w_at(const TcConv *g, int k, int r, int s, int c, int *off)
{
	if (k >= g->K || c >= g->C)
		return 0;
	*off = ((k * g->C + c) * g->R + r) * g->S + s;
	return 1;
}

// The data gradient as an implicit GEMM (a gather: no atomics):
//   DX (M', C) = D̂Y (M', R*S*K) · W' (R*S*K, C), with
//   M' = N*H*W input pixels, row m = (n, h, w);
//   D̂Y[m][(r,s,k)] = dy[n][k][oh][ow] where h = oh*sh-ph+r, w = ow*sw-pw+s
//   for an output pixel (oh, ow) inside the output, else 0;
//   W'[(r,s,k)][c] = w[k][c][r][s];
//   dx[n][c][h][w] = DX[m][c].
// The tiles, loader slots, layouts and fragments are the forward's, with
// K in the place of C (the reduction's channels) and C in the place of K.

// tc_data_m is M' = N*H*W, the data gradient's GEMM rows.
CNNCTL_HD int tc_data_m(const TcConv *g) { return g->N * g->H * g->W; }

// TcDataPixel is one row of D̂Y decoded: input pixel m = (n, h, w); base is
// the offset in dy of (n, k 0, oh 0, ow 0). ok is 0 for rows past M'.
typedef struct {
	int ok, h, w;
	int base;
} TcDataPixel;

CNNCTL_HD TcDataPixel tc_data_pixel(const TcConv *g, int m)
{
	TcDataPixel p;
	int t = m / g->W;
	p.ok = m < tc_data_m(g);
	p.w = m - t * g->W;
	p.h = t % g->H;
	p.base = p.ok ? t / g->H * g->K * g->OH * g->OW : 0;
	return p;
}

// tc_dy_row: pixel p's row of D̂Y at tap (r, s): dy[n][.][oh][ow] when
// input pixel (h, w) is tap (r, s) of output pixel (oh, ow), else not ok
// (stride skips it, it lies outside the output, or no pixel).
CNNCTL_HD TcRow tc_dy_row(const TcConv *g, const TcDataPixel *p, int r, int s)
{
	TcRow row;
	int ohs = p->h + g->ph - r, ows = p->w + g->pw - s;
	row.ok = p->ok && ohs >= 0 && ows >= 0 && ohs % g->sh == 0 && ows % g->sw == 0 && ohs / g->sh < g->OH &&
		 ows / g->sw < g->OW;
	row.off = p->base + (ohs / g->sh) * g->OW + ows / g->sw;
	return row;
}

// tc_dy_at: D̂Y[m][(r,s,k)] from the row at (r, s). Returns 1 and sets *off
// to the element's offset in dy; 0 when the row is not ok or k >= K (the
// loader fills zero).
CNNCTL_HD int tc_dy_at(const TcConv *g, const TcRow *row, int k, int *off)
{
	if (!row->ok || k >= g->K)
		return 0;
	*off = row->off + k * g->OH * g->OW;
	return 1;
}

// tc_wt_at: W'[(r,s,k)][c] = w[k][c][r][s]. Returns 1 and sets *off inside
// the GEMM, 0 outside it (c >= C or k >= K; filled with zero).
CNNCTL_HD int tc_wt_at(const TcConv *g, int c, int r, int s, int k, int *off)
{
	if (c >= g->C || k >= g->K)
		return 0;
	*off = ((k * g->C + c) * g->R + r) * g->S + s;
	return 1;
}

// tc_dx_offset is the offset of DX[m][c] in dx (N,C,H,W).
CNNCTL_HD int tc_dx_offset(const TcConv *g, int m, int c)
{
	int hw = g->H * g->W;
	int n = m / hw, p = m - n * hw;
	return (n * g->C + c) * hw + p;
}

// The filter gradient as an implicit GEMM over the pixels:
//   DW (K, CRS) = DY (K, P) · X̂ (P, CRS), with
//   P = N*OH*OW output pixels, column p = (n, oh, ow) of DY (dy[n][k][oh][ow]);
//   X̂[p][(c,r,s)] = x[n][c][oh*sh-ph+r][ow*sw-pw+s] (0 in the padding);
//   dw[k][(c,r,s)] = DW[k][(c,r,s)].
// Pipeline step kt covers pixels kt*TC_BK .. +TC_BK-1; the long reduction is
// split over gridDim.z (tc_split), each split writing its partial sums to
// its own slab, which sum_splits adds in a fixed order (deterministic).
// Both tiles are loaded in tc_b_slot's order (a thread's tile row kk, one
// pixel, is fixed; its columns vary), so each thread decodes one pixel per
// step and, once per block, the TC_B_LOADS filter taps of its B columns.

// tc_filter_steps is the number of pipeline steps over the N*OH*OW pixels.
CNNCTL_HD int tc_filter_steps(const TcConv *g) { return (tc_gemm_m(g) + TC_BK - 1) / TC_BK; }

// tc_split: split z of splits covers steps [*begin, *end) of steps.
CNNCTL_HD void tc_split(int steps, int splits, int z, int *begin, int *end)
{
	int per = (steps + splits - 1) / splits;
	*begin = z * per < steps ? z * per : steps;
	*end = *begin + per < steps ? *begin + per : steps;
}

// TcFilterPixel is one reduction row decoded: output pixel p = (n, oh, ow)
// with window origin (ih0, iw0); xbase is the offset in x of (n, c 0, ih0,
// iw0), dybase that of dy[n][k 0][oh][ow]. ok is 0 for rows past P.
typedef struct {
	int ok, ih0, iw0;
	int xbase, dybase;
} TcFilterPixel;

CNNCTL_HD TcFilterPixel tc_filter_pixel(const TcConv *g, int p)
{
	TcFilterPixel f;
	int ohw = g->OH * g->OW, n = p / ohw, pq = p - n * ohw;
	int oh = pq / g->OW, ow = pq - oh * g->OW;
	f.ok = p < tc_gemm_m(g);
	f.ih0 = oh * g->sh - g->ph;
	f.iw0 = ow * g->sw - g->pw;
	f.xbase = f.ok ? (n * g->C * g->H + f.ih0) * g->W + f.iw0 : 0;
	f.dybase = f.ok ? n * g->K * ohw + pq : 0;
	return f;
}

// TcTap is one GEMM column (c, r, s) decoded: xoff is the offset of
// (c, r, s) from a window's origin in x. ok is 0 for columns past CRS.
typedef struct {
	int ok, r, s;
	int xoff;
} TcTap;

CNNCTL_HD TcTap tc_tap(const TcConv *g, int crs)
{
	TcTap t;
	int rs = g->R * g->S, c = crs / rs, q = crs - c * rs;
	t.ok = crs < g->C * rs;
	t.r = q / g->S;
	t.s = q - t.r * g->S;
	t.xoff = (c * g->H + t.r) * g->W + t.s;
	return t;
}

// tc_fdy_at: DY[k][p] = dy[n][k][oh][ow]. Returns 1 and sets *off inside
// the GEMM, 0 outside it (k >= K or no pixel; filled with zero).
CNNCTL_HD int tc_fdy_at(const TcConv *g, const TcFilterPixel *f, int k, int *off)
{
	if (!f->ok || k >= g->K)
		return 0;
	*off = f->dybase + k * g->OH * g->OW;
	return 1;
}

// tc_fx_at: X̂[p][(c,r,s)]. Returns 1 and sets *off when the element lies
// inside the image; 0 for padding and outside the GEMM (zero).
CNNCTL_HD int tc_fx_at(const TcConv *g, const TcFilterPixel *f, const TcTap *t, int *off)
{
	int ih = f->ih0 + t->r, iw = f->iw0 + t->s;
	if (!f->ok || !t->ok || ih < 0 || ih >= g->H || iw < 0 || iw >= g->W)
		return 0;
	*off = f->xbase + t->xoff;
	return 1;
}

// The padded layout of the flat forward and the linears, whose fragments
// are read with 4-byte loads:

// tc_a_smem is the offset of A tile element (row m, column kk) in its stage:
// k-major rows of TC_A_LD = TC_BM+8 floats. Loader stores: a warp writes 32
// consecutive m of one kk (32 banks). Fragment loads: lane (g, t) reads
// row m0+g, column k0+t -> bank (8t + g) mod 32, distinct for the 32 lanes.
CNNCTL_HD int tc_a_smem(int m, int kk) { return kk * TC_A_LD + m; }

// tc_b_smem is the offset of B tile element (column n, row kk) in its
// stage: n-major rows of TC_B_LD = TC_BK+4 floats. Fragment loads: lane
// (g, t) reads n0+g, k0+t -> bank (20g + t) mod 32, distinct for 32 lanes.
CNNCTL_HD int tc_b_smem(int n, int kk) { return n * TC_B_LD + kk; }

// The swizzled layout of conv2d_forward_tf32, conv2d_backward_data_tf32
// and conv2d_backward_filter_tf32 (tc_gemm with Op::ldsm), whose fragments
// ldmatrix loads. (linear_forward_tf32, whose tiles are both in tc_b_slot's
// order, would store conflict-free into it too, but it then needs more than
// its 64 registers: 20 bytes of spills, so it keeps the padded layout.) ldmatrix.x4
// (b16 matrices) moves 32-bit elements as four 8x4 b32 matrices: lane l
// receives row l/4, element l%4 of each, which are exactly m16n8k8's a_i
// and b_i (tc_frag_a, tc_frag_b) when a matrix's rows are 8 rows of A
// (pixels) or 8 columns of B (output channels) and its 4 elements 4
// consecutive reduction columns. So both tiles are stored row-major along
// the reduction: rows of TC_BK = 16 floats, 4 chunks of 16 bytes, chunk q
// of row t stored at chunk q ^ ((t >> 1) & 3). Then
//   - an ldmatrix phase (8 consecutive rows t0..t0+7, t0 a multiple of 8,
//     one logical chunk) reads the 8 distinct (t & 1, physical chunk)
//     16-byte pieces of 128 bytes: all 32 banks once;
//   - a warp's 4-byte cp.async stores in tc_a_slot_sw's order (16
//     consecutive rows x 2 columns of one chunk each, see there: the
//     forward's and the data gradient's A) and in tc_b_slot's (2 rows, an even one
//     and the next, x 16 columns: every B, and the filter gradient's A)
//     hit 32 distinct banks. (tc_a_slot's and
//     tc_bn_slot's orders, 32 rows of one column, would not: 8 banks.)
// Its stages are TC_A_SW_STAGE and TC_B_SW_STAGE floats, no padding: 36,864 B
// for the 3 stages instead of the padded layout's 41,472 B.

// tc_sw_smem is the offset of tile element (row t, reduction column kk) in
// its stage of the swizzled layout (t a pixel of A or a column of B).
CNNCTL_HD int tc_sw_smem(int t, int kk) { return t * TC_BK + ((((kk >> 2) ^ (t >> 1)) & 3) << 2) + (kk & 3); }

// tc_a_row_sw is the A row (pixel) thread tid copies in tc_a_slot_sw's
// order, the same for all its copies, so that it decodes its pixel once:
// warp w's lanes take rows 16w .. 16w+15, two lanes (an even one and the
// next) per row.
CNNCTL_HD int tc_a_row_sw(int tid) { return ((tid & 31) >> 1) + 16 * (tid >> 5); }

// tc_a_slot_sw: the l-th A element (0 <= l < TC_A_LOADS) thread tid copies
// per step in the swizzled layout's order is row m = tc_a_row_sw(tid),
// column kk in chunk l/2 at position (h + 2*b + 2*(l%2)) % 4, h = tid%2
// and b = bit 3 of m: the two threads of a row cover its 16 columns, and a
// warp's copy l (16 consecutive rows, one chunk) stores to 32 distinct
// banks: rows m and m+8, whose 16-byte pieces the swizzle puts in the same
// banks, take positions {0,1} and {2,3} of the piece (shifted by 2 for odd
// l), the two threads of a row one each. A channel's 8 rows with the same
// b are one 32-byte run of x when the pixels are consecutive ow.
CNNCTL_HD void tc_a_slot_sw(int tid, int l, int *m, int *kk)
{
	*m = tc_a_row_sw(tid);
	*kk = 4 * (l >> 1) + (((tid & 1) + 2 * ((*m >> 3) & 1) + 2 * (l & 1)) & 3);
}

// tc_ldsm_a: for ldmatrix.x4 of an mma tile's A (16 rows x 8 columns from
// row 0, column 0 of it), lane supplies the address of row *row, column
// *col: lanes 8j .. 8j+7 the rows of matrix j, which lands in register
// a_j: rows 0..7 (a0, a2) or 8..15 (a1, a3), columns 0..3 (a0, a1) or
// 4..7 (a2, a3).
CNNCTL_HD void tc_ldsm_a(int lane, int *row, int *col)
{
	*row = (lane & 7) + 8 * ((lane >> 3) & 1);
	*col = 4 * (lane >> 4);
}

// tc_ldsm_b: for ldmatrix.x4 of two adjacent mma tiles' B (16 columns n x
// 8 rows kk), lane supplies the address of column *n, row *kk: matrix j
// is b_{j%2} of the tile j/2: columns 8(j/2) .. +7, rows 4(j%2) .. +3.
CNNCTL_HD void tc_ldsm_b(int lane, int *n, int *kk)
{
	*n = (lane & 7) + 8 * (lane >> 4);
	*kk = 4 * ((lane >> 3) & 1);
}

// tc_warp_origin: warp's sub-tile starts at row *wm, column *wn of the block tile.
CNNCTL_HD void tc_warp_origin(int warp, int *wm, int *wn)
{
	*wm = (warp % TC_WARPS_M) * TC_WM;
	*wn = (warp / TC_WARPS_M) * TC_WN;
}

// Fragment ownership of mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32
// (PTX ISA, "Matrix Fragments for mma.m16n8k8", .tf32), with
// groupID = lane >> 2 and threadID_in_group = lane % 4:

// tc_frag_a: register a_i (i = 0..3) of lane holds A (16x8) element
// (*row, *col): row groupID for a0, a2 and groupID+8 for a1, a3; column
// threadID_in_group for a0, a1 and threadID_in_group+4 for a2, a3.
CNNCTL_HD void tc_frag_a(int lane, int i, int *row, int *col)
{
	*row = (lane >> 2) + 8 * (i & 1);
	*col = (lane & 3) + 4 * (i >> 1);
}

// tc_frag_b: register b_i (i = 0..1) of lane holds B (8x8) element
// (*row, *col): row threadID_in_group (+4 for b1), column groupID.
CNNCTL_HD void tc_frag_b(int lane, int i, int *row, int *col)
{
	*row = (lane & 3) + 4 * i;
	*col = lane >> 2;
}

// tc_frag_c: accumulator c_i (i = 0..3) of lane holds C/D (16x8) element
// (*row, *col): row groupID for c0, c1 and groupID+8 for c2, c3; column
// threadID_in_group*2 + (i & 1).
CNNCTL_HD void tc_frag_c(int lane, int i, int *row, int *col)
{
	*row = (lane >> 2) + 8 * (i >> 1);
	*col = (lane & 3) * 2 + (i & 1);
}

// tc_y_offset is the offset of Y[m][k] in y (N,K,OH,OW).
CNNCTL_HD int tc_y_offset(const TcConv *g, int m, int k)
{
	int ohw = g->OH * g->OW;
	int n = m / ohw, p = m % ohw;
	return (n * g->K + k) * ohw + p;
}

// The store loop (tc_store_tile) of the forwards and data gradients decodes
// each GEMM row once, not each element: a lane's accumulators cover 2*TC_MT
// rows (tc_frag_c: c0, c1 and c2, c3 share one), 2*TC_NT columns each.
// TcRowOff is row m of a GEMM whose rows are the pixels (n, p) of an
// (N, X, plane) tensor and whose columns are its channels x (the forward's
// Y in y (N,K,OH,OW), the data gradient's DX in dx (N,C,H,W)): element
// (m, x) lies at off + x*plane, one multiply-add from the row.
typedef struct {
	int off, plane;
} TcRowOff;

// tc_row_off is row m (inside the GEMM: m < N*plane) of such a GEMM over
// chans channels: n*chans*plane + p with n = m / plane, p = m - n*plane,
// written as n*(chans-1)*plane + m (no term exceeds the tensor's size).
CNNCTL_HD TcRowOff tc_row_off(int m, int chans, int plane)
{
	int n = m / plane;
	TcRowOff r = {n * (chans - 1) * plane + m, plane};
	return r;
}

// tc_row_at is the offset of element (m, x) of row r = tc_row_off(m, ...).
CNNCTL_HD int tc_row_at(const TcRowOff *r, int x) { return r->off + x * r->plane; }

// tc_y_row is row m of the forward's Y (N*OH*OW, K) in y (N,K,OH,OW):
// tc_row_at(&r, k) == tc_y_offset(g, m, k).
CNNCTL_HD TcRowOff tc_y_row(const TcConv *g, int m) { return tc_row_off(m, g->K, g->OH * g->OW); }

// tc_dx_row is row m of the data gradient's DX (N*H*W, C) in dx (N,C,H,W):
// tc_row_at(&r, c) == tc_dx_offset(g, m, c).
CNNCTL_HD TcRowOff tc_dx_row(const TcConv *g, int m) { return tc_row_off(m, g->C, g->H * g->W); }

// The small-channel forward (TC_CLASS_SMALL_C): with C < TC_BK most of each
// of tc_step's steps is zero channels (C 3: 13 of 16 columns), so this path
// takes the reduction flat instead: step kt covers columns kt*TC_BK ..
// +TC_BK-1 of (c, r, s) in w's own order, CRS = C*R*S (27 for a 3x3 layer
// on RGB: 2 steps instead of 9). A column is decoded per element (tc_tap);
// a thread's pixel once per block (tc_filter_pixel), as the filter
// gradient does:
//   A[m][j] = X̂[m][j] (tc_fx_at), B[j][k] = w[k][j] (tc_wflat_at).

// tc_flat_steps is the number of the flat forward's pipeline steps.
CNNCTL_HD int tc_flat_steps(const TcConv *g) { return (g->C * g->R * g->S + TC_BK - 1) / TC_BK; }

// tc_wflat_at: B[j][k] = w[k][j], j = (c, r, s). Returns 1 and sets *off
// inside the GEMM, 0 outside it (k >= K or j >= CRS; filled with zero).
CNNCTL_HD int tc_wflat_at(const TcConv *g, int k, int j, int *off)
{
	int crs = g->C * g->R * g->S;
	if (k >= g->K || j >= crs)
		return 0;
	*off = k * crs + j;
	return 1;
}

// Shape classes of the forward convolution, each with its path
// (internal/gpu/shapeclass.go chooses; the tests hold it to this):
//   TC_CLASS_SMALL_C: C <= TC_SMALL_C (first layers on RGB or grey
//     images): the flat reduction above, conv2d_forward_flat_tf32;
//   TC_CLASS_1X1: R = S = 1, stride 1, padding 0 (GoogLeNet's and NiN's
//     1x1 layers): the batched plain GEMM of gemm_tc.cuh, no im2col, for
//     the forward and both gradients (conv2d_*_1x1_tf32 and their 16-byte
//     _v4 forms); the generic kernels compute the same sums bit for bit
//     and are their reference (a tile narrower than TC_BN for their small
//     K is not built);
//   TC_CLASS_WIDE: everything else (the 3x3 layers of 16 channels and
//     more, strided or padded 1x1): conv2d_forward_tf32.
enum { TC_CLASS_WIDE = 0, TC_CLASS_SMALL_C = 1, TC_CLASS_1X1 = 2, TC_SMALL_C = 4 };

// tc_forward_class is the shape class of convolution g's forward.
CNNCTL_HD int tc_forward_class(const TcConv *g)
{
	if (g->C <= TC_SMALL_C)
		return TC_CLASS_SMALL_C;
	if (g->R == 1 && g->S == 1 && g->sh == 1 && g->sw == 1 && g->ph == 0 && g->pw == 0)
		return TC_CLASS_1X1;
	return TC_CLASS_WIDE;
}

// The linears, x (N,I), w (O,I), y (N,O), as plain GEMMs over row-major
// matrices on the same tiles, fragments and pipeline (no im2col):
//   forward         Y (N, O)  = X · Wᵀ:  A[m][kk] = x[m][i],  B[kk][n] = w[n][i];
//   data gradient   DX (N, I) = DY · W:  A[m][kk] = dy[m][o], B[kk][n] = w[o][n];
//   filter gradient DW (O, I) = DYᵀ · X: A[m][kk] = dy[p][m], B[kk][n] = x[p][n],
//     the reduction over the batch split over gridDim.z as the convolution's.
// Each operand is loaded in the order that makes a warp's copies contiguous
// in memory: where the reduction index is the contiguous one (x and w
// forward, dy backward data) in tc_b_slot's order, 16 consecutive columns
// of 2 rows per warp; where the tile's row or column index is (dy and x in
// the filter gradient, w in the data gradient) in tc_a_slot's (A) or
// tc_bn_slot's (B) order, 32 consecutive elements per warp. Their shapes
// are those of tc_linear's 1x1 convolution on 1x1 images, whose output
// offsets (tc_y_offset, tc_dx_offset) are the row-major ones.

// tc_linear is the linear x (N,I), w (O,I) -> y (N,O) as the 1x1
// convolution on 1x1 images that it is: x (N,I,1,1), w (O,I,1,1), y
// (N,O,1,1).
CNNCTL_HD TcConv tc_linear(int N, int I, int O)
{
	TcConv g = {N, I, 1, 1, O, 1, 1, 1, 1, 1, 1, 0, 0};
	return g;
}

// tc_rm_at: element (r, c) of a row-major (rows, cols) matrix. Returns 1
// and sets *off inside it, 0 outside (filled with zero).
CNNCTL_HD int tc_rm_at(int rows, int cols, int r, int c, int *off)
{
	if (r >= rows || c >= cols)
		return 0;
	*off = r * cols + c;
	return 1;
}

// tc_bn_slot: the l-th B element (0 <= l < TC_B_LOADS) thread tid copies
// when consecutive threads take consecutive tile columns n (B stored
// n-contiguous in memory): column n, row kk; n does not depend on l.
CNNCTL_HD void tc_bn_slot(int tid, int l, int *n, int *kk)
{
	*n = tid % TC_BN;
	*kk = tid / TC_BN + l * (TC_THREADS / TC_BN);
}

// tc_linear_steps: the pipeline steps over a reduction of length kd.
CNNCTL_HD int tc_linear_steps(int kd) { return (kd + TC_BK - 1) / TC_BK; }

#endif
