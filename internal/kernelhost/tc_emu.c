// tc_emu.c: the TF32 convolutions of kernels/conv2d_tc.cu emulated on the host,
// one thread block at a time: every thread's cp.async copies through the
// kernel's loader math, every lane's fragments through its fragment math,
// and mma.sync.m16n8k8 as the PTX ISA defines it. The loop below mirrors
// the kernel's, step for step; the index math is the kernel's own
// (conv2d_tc.cuh), so a wrong index there gives a wrong result here.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tc_emu.h"

uint32_t tc_emu_tf32(float f)
{
	uint32_t u;
	memcpy(&u, &f, 4);
	if ((u & 0x7f800000u) == 0x7f800000u)
		return u; // infinity and NaN pass unchanged
	// Add half a unit of the 10-bit mantissa to the magnitude (the sign bit
	// is untouched: the largest finite magnitude carries into infinity),
	// then drop the 13 low bits: nearest, ties away from zero.
	return (u + 0x1000u) & 0xffffe000u;
}

static float tf32_value(uint32_t r)
{
	float f;
	r &= 0xffffe000u; // the mma reads 19 bits: sign, exponent, 10 mantissa bits
	memcpy(&f, &r, 4);
	return f;
}

// mma_m16n8k8_tf32 is the PTX ISA's mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32
// D = A·B + C for one warp, written from the ISA's fragment tables
// independently of conv2d_tc.cuh: with gid = lane>>2, tig = lane%4, lane
// holds A[gid][tig], A[gid+8][tig], A[gid][tig+4], A[gid+8][tig+4] in a0..a3;
// B[tig][gid], B[tig+4][gid] in b0, b1; C[gid][2tig], C[gid][2tig+1],
// C[gid+8][2tig], C[gid+8][2tig+1] in c0..c3. The products of TF32 values
// are exact in fp32; the sums are rounded to fp32 in order of k.
static void mma_m16n8k8_tf32(const uint32_t a[32][4], const uint32_t b[32][2], float c[32][4])
{
	float A[16][8], B[8][8], D[16][8];
	for (int lane = 0; lane < 32; lane++) {
		int gid = lane >> 2, tig = lane & 3;
		A[gid][tig] = tf32_value(a[lane][0]);
		A[gid + 8][tig] = tf32_value(a[lane][1]);
		A[gid][tig + 4] = tf32_value(a[lane][2]);
		A[gid + 8][tig + 4] = tf32_value(a[lane][3]);
		B[tig][gid] = tf32_value(b[lane][0]);
		B[tig + 4][gid] = tf32_value(b[lane][1]);
		D[gid][2 * tig] = c[lane][0];
		D[gid][2 * tig + 1] = c[lane][1];
		D[gid + 8][2 * tig] = c[lane][2];
		D[gid + 8][2 * tig + 1] = c[lane][3];
	}
	for (int i = 0; i < 16; i++)
		for (int j = 0; j < 8; j++) {
			float s = D[i][j];
			for (int k = 0; k < 8; k++)
				s += A[i][k] * B[k][j];
			D[i][j] = s;
		}
	for (int lane = 0; lane < 32; lane++) {
		int gid = lane >> 2, tig = lane & 3;
		c[lane][0] = D[gid][2 * tig];
		c[lane][1] = D[gid][2 * tig + 1];
		c[lane][2] = D[gid + 8][2 * tig];
		c[lane][3] = D[gid + 8][2 * tig + 1];
	}
}

// sw_at is the offset of element (row t, column kk) in a stage of the
// swizzled layout: tc_sw_smem, or as a mutation has it for the ldmatrix
// addresses (load) or the stores.
static int sw_at(int t, int kk, int mutation, int load)
{
	if (mutation == EMU_MUT_NO_SWIZZLE || (mutation == EMU_MUT_SWIZZLE_LOAD && load))
		return t * TC_BK + kk;
	if (mutation == EMU_MUT_SWIZZLE_BITS)
		return t * TC_BK + ((((kk >> 2) ^ t) & 3) << 2) + (kk & 3);
	return tc_sw_smem(t, kk);
}

// store_phases counts the bank phases of one stage's stores: offs[tid][l]
// (loads copies per thread) is where thread tid's copy l went; each warp's
// copy l is one phase, whose 32 words must fall in 32 distinct banks.
static void store_phases(const int *offs, int loads, TcBanks *bk)
{
	for (int warp = 0; warp < TC_THREADS / 32; warp++)
		for (int l = 0; l < loads; l++) {
			int words[32];
			for (int lane = 0; lane < 32; lane++)
				words[lane] = offs[(warp * 32 + lane) * loads + l];
			emu_store_phase(words, bk);
		}
}

// copies is the block's cp.async traffic: each copy belongs to a group;
// groups complete in order.
typedef struct {
	float *dst;
	float v;
	int group;
} emu_copy;

typedef struct {
	emu_copy *ops;
	int n, cap;
	int done;      // ops[0:done] have landed
	int committed; // groups committed so far; the open group is number committed
	int eager;
} emu_copies;

static int issue(emu_copies *q, float *dst, float v)
{
	if (q->eager) {
		*dst = v;
		return 0;
	}
	if (q->n == q->cap) {
		int cap = q->cap ? 2 * q->cap : 4096;
		emu_copy *ops = realloc(q->ops, (size_t)cap * sizeof *ops);
		if (!ops)
			return -1;
		q->ops = ops;
		q->cap = cap;
	}
	q->ops[q->n++] = (emu_copy){dst, v, q->committed};
	return 0;
}

// wait_group(pending): every group but the newest pending ones lands.
static void wait_group(emu_copies *q, int pending)
{
	while (q->done < q->n && q->ops[q->done].group < q->committed - pending) {
		*q->ops[q->done].dst = q->ops[q->done].v;
		q->done++;
	}
}

// emu_op is one kernel's operands: EMU_FORWARD and EMU_FLAT x, w, b,
// res -> y; EMU_DATA dy, w -> dx; EMU_FILTER x, dy -> ws.
typedef struct {
	const TcConv *g;
	int kind;
	const float *a, *b, *bias; // x or dy; w; b or NULL
	const float *res;	   // the forward epilogue's residual, or NULL
	int relu;		   // the forward epilogue's ReLU
	float *out;
	int32_t *written;
	int rows, cols, steps;
	int begin;	      // EMU_FILTER: the split's first step
	long long alen, blen; // elements of a and b
	long long outlen;     // elements of out (of one slab for EMU_FILTER)
	int bad_store;	      // set when the epilogue stores outside out
	int ldsm;	      // the swizzled layout and ldmatrix (EMU_FORWARD, EMU_DATA, EMU_FILTER)
	int astage, bstage;   // floats per stage of A and of B in the op's layout
	int mutation;
	TcBanks banks;
	// Where each thread's copies of the stage being loaded went: A copy l
	// of thread tid at aoffs[tid*TC_A_LOADS + l], B's likewise.
	int aoffs[TC_THREADS * TC_A_LOADS], boffs[TC_THREADS * TC_B_LOADS];
} emu_op;

// stage_at is where tile element (t, kk), copy l of thread tid, of A (b 0)
// or B (b 1) goes in a stage of op's layout: the swizzled one (sw_at,
// recorded for the bank count) or the padded one (tc_a_smem, tc_b_smem).
static int stage_at(emu_op *op, int b, int tid, int l, int t, int kk)
{
	if (!op->ldsm)
		return b ? tc_b_smem(t, kk) : tc_a_smem(t, kk);
	int o = sw_at(t, kk, op->mutation, 0);
	if (b)
		op->boffs[tid * TC_B_LOADS + l] = o;
	else
		op->aoffs[tid * TC_A_LOADS + l] = o;
	return o;
}

// src reads element off of v (n elements) for a copy the kernel marked
// valid; an offset outside v is an out-of-bounds read on the GPU, which
// the emulator reports (-2) instead of making.
static int src(const float *v, long long n, int off, float *out)
{
	if (off < 0 || off >= n)
		return -2;
	*out = v[off];
	return 0;
}

// copy4 is one tc_cp_async4: element off of v (n elements) into dst when
// ok, else zero; its return is src's or issue's failure, else 0.
static int copy4(emu_copies *q, float *dst, const float *v, long long n, int ok, int off)
{
	float x = 0.f;
	if (ok && src(v, n, off, &x))
		return -2;
	return issue(q, dst, x) ? -1 : 0;
}

// emu_base is the convolution kernel whose operands, output and grid a
// kernel has: EMU_FORWARD, EMU_DATA or EMU_FILTER.
static int emu_base(int kind)
{
	switch (kind) {
	case EMU_FLAT:
	case EMU_LIN_FWD:
		return EMU_FORWARD;
	case EMU_LIN_DATA:
		return EMU_DATA;
	case EMU_LIN_FILTER:
		return EMU_FILTER;
	case EMU_1X1_FWD:
	case EMU_1X1_FWD_V4:
		return EMU_FORWARD;
	case EMU_1X1_DATA:
	case EMU_1X1_DATA_V4:
		return EMU_DATA;
	case EMU_1X1_FILTER:
	case EMU_1X1_FILTER_V4:
		return EMU_FILTER;
	}
	return kind;
}

// load_filter is every thread's TcFilter::load: both tiles in tc_b_slot's
// order, the thread's pixel decoded per step, its B columns' taps per block
// (recomputed here per step: the same values).
static int load_filter(emu_op *op, float *As, float *Bs, int m0, int n0, int kt, emu_copies *q)
{
	const TcConv *g = op->g;
	for (int tid = 0; tid < TC_THREADS; tid++) {
		int n, kk;
		tc_b_slot(tid, 0, &n, &kk);
		TcFilterPixel f = tc_filter_pixel(g, (op->begin + kt) * TC_BK + kk);
		for (int l = 0; l < TC_A_LOADS; l++) {
			int m;
			int off = 0;
			tc_b_slot(tid, l, &m, &kk);
			int ok = tc_fdy_at(g, &f, m0 + m, &off);
			int rc = copy4(q, As + stage_at(op, 0, tid, l, m, kk), op->b, op->blen, ok, off);
			if (rc)
				return rc;
		}
		for (int l = 0; l < TC_B_LOADS; l++) {
			int off = 0;
			tc_b_slot(tid, l, &n, &kk);
			TcTap t = tc_tap(g, n0 + n);
			int ok = tc_fx_at(g, &f, &t, &off);
			int rc = copy4(q, Bs + stage_at(op, 1, tid, l, n, kk), op->a, op->alen, ok, off);
			if (rc)
				return rc;
		}
	}
	return 0;
}

// load_flat is every thread's TcFwdFlat::load: its pixel decoded once per
// block (here per step: the same values), each column per element.
static int load_flat(const emu_op *op, float *As, float *Bs, int m0, int n0, int kt, emu_copies *q)
{
	const TcConv *g = op->g;
	for (int tid = 0; tid < TC_THREADS; tid++) {
		int m, kk;
		tc_a_slot(tid, 0, &m, &kk);
		TcFilterPixel pix = tc_filter_pixel(g, m0 + m);
		for (int l = 0; l < TC_A_LOADS; l++) {
			int off = 0;
			tc_a_slot(tid, l, &m, &kk);
			TcTap t = tc_tap(g, kt * TC_BK + kk);
			int ok = tc_fx_at(g, &pix, &t, &off);
			int rc = copy4(q, As + tc_a_smem(m, kk), op->a, op->alen, ok, off);
			if (rc)
				return rc;
		}
		for (int l = 0; l < TC_B_LOADS; l++) {
			int n, off = 0;
			tc_b_slot(tid, l, &n, &kk);
			int ok = tc_wflat_at(g, n0 + n, kt * TC_BK + kk, &off);
			int rc = copy4(q, Bs + tc_b_smem(n, kk), op->b, op->blen, ok, off);
			if (rc)
				return rc;
		}
	}
	return 0;
}

// load_rm is thread tid's tc_load_rm (conv2d_tc.cu): loads copies of one
// stage of tile b (0 A, 1 B) from the row-major (rows, cols) matrix p
// (plen elements), copy l to tile element (t, kk) by slot, stored at
// stage_at, read from element (t0+t, k0+kk) of p, or (k0+kk, t0+t) when
// kmajor.
static int load_rm(emu_op *op, emu_copies *q, int tid, int b, void (*slot)(int, int, int *, int *), const float *p,
		   long long plen, int rows, int cols, int kmajor, int t0, int k0, float *S)
{
	int loads = b ? TC_B_LOADS : TC_A_LOADS;
	for (int l = 0; l < loads; l++) {
		int t, kk, off = 0;
		slot(tid, l, &t, &kk);
		int ok = kmajor ? tc_rm_at(rows, cols, k0 + kk, t0 + t, &off) : tc_rm_at(rows, cols, t0 + t, k0 + kk, &off);
		int rc = copy4(q, S + stage_at(op, b, tid, l, t, kk), p, plen, ok, off);
		if (rc)
			return rc;
	}
	return 0;
}

// load_linear is every thread's TcLinFwd, TcLinData or TcLinFilter::load
// (op->kind EMU_LIN_*): N = g->N, I = g->C, O = g->K; op->a and op->b are
// x and w, dy and w, x and dy.
static int load_linear(emu_op *op, float *As, float *Bs, int m0, int n0, int kt, emu_copies *q)
{
	const TcConv *g = op->g;
	int k0 = (op->begin + kt) * TC_BK; // begin: 0 but in the filter gradient's splits
	for (int tid = 0; tid < TC_THREADS; tid++) {
		int rc;
		if (op->kind == EMU_LIN_FWD) {
			rc = load_rm(op, q, tid, 0, tc_b_slot, op->a, op->alen, g->N, g->C, 0, m0, k0, As);
			if (!rc)
				rc = load_rm(op, q, tid, 1, tc_b_slot, op->b, op->blen, g->K, g->C, 0, n0, k0, Bs);
		} else if (op->kind == EMU_LIN_DATA) {
			rc = load_rm(op, q, tid, 0, tc_b_slot, op->a, op->alen, g->N, g->K, 0, m0, k0, As);
			if (!rc)
				rc = load_rm(op, q, tid, 1, tc_bn_slot, op->b, op->blen, g->K, g->C, 1, n0, k0, Bs);
		} else {
			rc = load_rm(op, q, tid, 0, tc_a_slot, op->b, op->blen, g->N, g->K, 1, m0, k0, As);
			if (!rc)
				rc = load_rm(op, q, tid, 1, tc_bn_slot, op->a, op->alen, g->N, g->C, 1, n0, k0, Bs);
		}
		if (rc)
			return rc;
	}
	return 0;
}

// copy16 is one g1_cp_async16: elements off .. off+3 of v (n elements)
// into dst .. dst+3 when ok, else zeros; -4 when dst (from the stage's
// start, which the kernel aligns to 16 bytes) or a valid off is not a
// multiple of 4 floats. EMU_MUT_VEC_ORDER lands the four in reverse.
static int copy16(emu_copies *q, const float *stage, float *dst, const float *v, long long n, int ok, int off,
		  int mutation)
{
	if ((dst - stage) % 4 || (ok && off % 4))
		return -4;
	for (int j = 0; j < 4; j++) {
		float x = 0.f;
		if (ok && src(v, n, off + j, &x))
			return -2;
		if (issue(q, dst + (mutation == EMU_MUT_VEC_ORDER ? 3 - j : j), x))
			return -1;
	}
	return 0;
}

// load_1x1 is every thread's G1Fwd, G1Data or G1Filter::load (gemm_tc.cu)
// of op->kind EMU_1X1_*: the 4-byte or 16-byte (_V4) copies through
// gemm_tc.cuh's slots and addressing, each thread's pixel decoded once
// per block (forward, data gradient) or step (filter gradient) as the
// kernels do. It counts the bank phases of its stores: per warp and copy,
// one 4-byte phase or four 16-byte ones.
static int load_1x1(emu_op *op, float *As, float *Bs, int m0, int n0, int kt, emu_copies *q)
{
	const TcConv *g = op->g;
	TcConv gm = *g; // the geometry g1_pix and g1_at see
	if (op->mutation == EMU_MUT_PIX_STRIDE)
		gm.H = 1;
	int v4 = op->kind >= EMU_1X1_FWD_V4, kind = emu_base(op->kind), mut = op->mutation, rc = 0;
	int al = 0, bl = 0; // copies per thread of A and B
	for (int tid = 0; tid < TC_THREADS && rc == 0; tid++) {
		int m, n, t, kk, qq, off;
		if (kind != EMU_FILTER) {
			int ch = kind == EMU_FORWARD ? g->C : g->K, c0 = kt * TC_BK;
			if (v4)
				g1_a_slot4(tid, 0, &m, &kk);
			else
				tc_a_slot(tid, 0, &m, &kk);
			G1Pix pix = g1_pix(&gm, ch, m0 + m);
			al = v4 ? G1_A_VLOADS : TC_A_LOADS;
			for (int l = 0; l < al && rc == 0; l++) {
				off = 0;
				if (v4)
					g1_a_slot4(tid, l, &m, &kk);
				else
					tc_a_slot(tid, l, &m, &kk);
				int ok = g1_at(&gm, &pix, ch, c0 + kk, &off);
				op->aoffs[tid * TC_A_LOADS + l] = tc_a_smem(m, kk);
				rc = v4 ? copy16(q, As, As + op->aoffs[tid * TC_A_LOADS + l], op->a, op->alen, ok, off, mut)
					: copy4(q, As + op->aoffs[tid * TC_A_LOADS + l], op->a, op->alen, ok, off);
			}
			int b4 = v4 && kind == EMU_FORWARD;
			bl = b4 ? G1_B_VLOADS : TC_B_LOADS;
			for (int l = 0; l < bl && rc == 0; l++) {
				off = 0;
				if (b4)
					g1_b_slot4(tid, &n, &kk);
				else
					g1_b_slot(tid, l, &n, &kk);
				int ok = kind == EMU_FORWARD ? tc_w_at(g, n0 + n, 0, 0, c0 + kk, &off)
							     : tc_wt_at(g, n0 + n, 0, 0, c0 + kk, &off);
				op->boffs[tid * TC_B_LOADS + l] = tc_b_smem(n, kk);
				rc = b4 ? copy16(q, Bs, Bs + op->boffs[tid * TC_B_LOADS + l], op->b, op->blen, ok, off, EMU_MUT_NONE)
					: copy4(q, Bs + op->boffs[tid * TC_B_LOADS + l], op->b, op->blen, ok, off);
			}
			continue;
		}
		// The filter gradient: op->a is x, op->b is dy (as EMU_FILTER).
		int p0 = (op->begin + kt) * TC_BK;
		if (v4) {
			g1_sw_slot4(tid, 0, &t, &qq);
			G1Pix pd = g1_pix(&gm, g->K, p0 + 4 * qq), px = g1_pix(&gm, g->C, p0 + 4 * qq);
			al = TC_BM * 4 / TC_THREADS;
			bl = 1;
			for (int l = 0; l < al + bl && rc == 0; l++) {
				int b = l >= al;
				off = 0;
				g1_sw_slot4(tid, b ? 0 : l, &t, &qq);
				int ok = b ? g1_at(&gm, &px, g->C, n0 + t, &off) : g1_at(&gm, &pd, g->K, m0 + t, &off);
				// The loader faults hit A only: the same permutation of the
				// reduction in both operands would leave the sums right.
				int ch = mut == EMU_MUT_VEC_CHUNK && !b ? (qq + 1) & 3 : qq;
				int w = sw_at(t, 4 * ch, mut, 0);
				if (b)
					op->boffs[tid * TC_B_LOADS + 0] = w;
				else
					op->aoffs[tid * TC_A_LOADS + l] = w;
				rc = b ? copy16(q, Bs, Bs + w, op->a, op->alen, ok, off, EMU_MUT_NONE)
				       : copy16(q, As, As + w, op->b, op->blen, ok, off, mut);
			}
		} else {
			tc_b_slot(tid, 0, &t, &kk);
			G1Pix pd = g1_pix(&gm, g->K, p0 + kk), px = g1_pix(&gm, g->C, p0 + kk);
			al = TC_A_LOADS;
			bl = TC_B_LOADS;
			for (int l = 0; l < al + bl && rc == 0; l++) {
				int b = l >= al, lb = b ? l - al : l;
				off = 0;
				tc_b_slot(tid, lb, &t, &kk);
				int ok = b ? g1_at(&gm, &px, g->C, n0 + t, &off) : g1_at(&gm, &pd, g->K, m0 + t, &off);
				int w = sw_at(t, kk, mut, 0);
				if (b)
					op->boffs[tid * TC_B_LOADS + lb] = w;
				else
					op->aoffs[tid * TC_A_LOADS + lb] = w;
				rc = b ? copy4(q, Bs + w, op->a, op->alen, ok, off) : copy4(q, As + w, op->b, op->blen, ok, off);
			}
		}
	}
	if (rc)
		return rc;
	int a16 = v4, b16 = v4 && kind != EMU_DATA;
	for (int warp = 0; warp < TC_THREADS / 32; warp++) {
		for (int l = 0; l < al + bl; l++) {
			int b = l >= al, lb = b ? l - al : l, words[32];
			for (int lane = 0; lane < 32; lane++)
				words[lane] = b ? op->boffs[(warp * 32 + lane) * TC_B_LOADS + lb] : op->aoffs[(warp * 32 + lane) * TC_A_LOADS + lb];
			if (b ? b16 : a16)
				emu_store16_phases(words, &op->banks);
			else
				emu_store_phase(words, &op->banks);
		}
	}
	return 0;
}

// load_sw is every thread's tc_load_sw of the kernel's op (TcFwd, TcData:
// a_row, a_at and b_at) into the swizzled layout, each thread with its
// pixel decoded once per block as the kernel does (here per step: the same
// values).
static int load_sw(emu_op *op, float *As, float *Bs, int m0, int n0, int kt, emu_copies *q)
{
	const TcConv *g = op->g;
	int r, s, c0;
	tc_step(g, op->kind == EMU_FORWARD ? g->C : g->K, kt, &r, &s, &c0);
	for (int tid = 0; tid < TC_THREADS; tid++) {
		int pm = m0 + tc_a_row_sw(tid);
		TcPixel pix = tc_pixel(g, pm);
		TcDataPixel dpix = tc_data_pixel(g, pm);
		TcRow row = op->kind == EMU_FORWARD ? tc_im2col_row(g, &pix, r, s) : tc_dy_row(g, &dpix, r, s);
		for (int l = 0; l < TC_A_LOADS; l++) {
			int m, kk, ok, off = 0;
			tc_a_slot_sw(tid, l, &m, &kk);
			if (op->kind == EMU_FORWARD)
				ok = tc_im2col(g, &row, c0 + kk, &off);
			else
				ok = tc_dy_at(g, &row, c0 + kk, &off);
			int rc = copy4(q, As + stage_at(op, 0, tid, l, m, kk), op->a, op->alen, ok, off);
			if (rc)
				return rc;
		}
		for (int l = 0; l < TC_B_LOADS; l++) {
			int n, kk, ok, off = 0;
			tc_b_slot(tid, l, &n, &kk);
			if (op->kind == EMU_FORWARD)
				ok = tc_w_at(g, n0 + n, r, s, c0 + kk, &off);
			else
				ok = tc_wt_at(g, n0 + n, r, s, c0 + kk, &off);
			int rc = copy4(q, Bs + stage_at(op, 1, tid, l, n, kk), op->b, op->blen, ok, off);
			if (rc)
				return rc;
		}
	}
	return 0;
}

// load_stage is every thread's op.load (TcFwd and TcData: tc_load_sw;
// the others' own). The stage is first poisoned with NaN: an element no
// thread copies, or a stage read while it is being refilled, shows as NaN
// in the output.
static int load_stage(emu_op *op, float *As, float *Bs, int m0, int n0, int kt, emu_copies *q)
{
	for (int i = 0; i < op->astage; i++)
		As[i] = NAN;
	for (int i = 0; i < op->bstage; i++)
		Bs[i] = NAN;
	int rc;
	if (op->kind == EMU_FILTER)
		rc = load_filter(op, As, Bs, m0, n0, kt, q);
	else if (op->kind == EMU_FLAT)
		rc = load_flat(op, As, Bs, m0, n0, kt, q);
	else if (op->kind >= EMU_1X1_FWD)
		rc = load_1x1(op, As, Bs, m0, n0, kt, q);
	else if (op->kind >= EMU_LIN_FWD)
		rc = load_linear(op, As, Bs, m0, n0, kt, q);
	else
		rc = load_sw(op, As, Bs, m0, n0, kt, q);
	if (rc == 0 && op->ldsm && op->kind < EMU_1X1_FWD) {
		store_phases(op->aoffs, TC_A_LOADS, &op->banks);
		store_phases(op->boffs, TC_B_LOADS, &op->banks);
	}
	return rc;
}

// warp_state is one warp's registers: fragments and accumulators per lane.
typedef struct {
	uint32_t a[TC_MT][32][4], b[TC_NT][32][2];
	float acc[TC_MT][TC_NT][32][4];
} warp_state;

static void swap_u32(uint32_t *p, uint32_t *q)
{
	uint32_t t = *p;
	*p = *q;
	*q = t;
}

// tf32_bits is cvt.rna.tf32.f32 of the float whose bits ldmatrix delivered.
static uint32_t tf32_bits(uint32_t u)
{
	float f;
	memcpy(&f, &u, 4);
	return tc_emu_tf32(f);
}

// fragments_ldsm is one warp's fragment loads at column k8 of a stage in
// the swizzled layout: an ldmatrix.x4 per mma tile of A (lanes through
// tc_ldsm_a), one per two of B (tc_ldsm_b), each register then rounded to
// TF32 as the kernel's cvt does.
static void fragments_ldsm(const float *as, const float *bs, int wm, int wn, int k8, warp_state *s, int mutation,
			   TcBanks *bk)
{
	int addr[32];
	uint32_t d[32][4];
	for (int i = 0; i < TC_MT; i++) {
		for (int lane = 0; lane < 32; lane++) {
			int row, col, ln = lane;
			if (mutation == EMU_MUT_LDSM_LANE) // bits 3 and 4 of the lane swapped
				ln = (lane & 7) | ((lane >> 1) & 8) | ((lane << 1) & 16);
			tc_ldsm_a(ln, &row, &col);
			addr[lane] = sw_at(wm + 16 * i + row, k8 + col, mutation, 1);
		}
		emu_ldsm_x4(as, addr, d, bk);
		for (int lane = 0; lane < 32; lane++)
			for (int e = 0; e < 4; e++)
				s->a[i][lane][e] = tf32_bits(d[lane][e]);
	}
	for (int j = 0; j < TC_NT; j += 2) {
		for (int lane = 0; lane < 32; lane++) {
			int n, kk;
			tc_ldsm_b(lane, &n, &kk);
			addr[lane] = sw_at(wn + 8 * j + n, k8 + kk, mutation, 1);
		}
		emu_ldsm_x4(bs, addr, d, bk);
		for (int lane = 0; lane < 32; lane++)
			for (int e = 0; e < 4; e++)
				s->b[j + e / 2][lane][e % 2] = tf32_bits(d[lane][e]);
	}
}

// compute is every warp's inner loop over one stage of the kernel.
static void compute(emu_op *op, const float *as, const float *bs, warp_state *ws, int mutation)
{
	for (int warp = 0; warp < TC_THREADS / 32; warp++) {
		warp_state *s = &ws[warp];
		int wm, wn;
		tc_warp_origin(warp, &wm, &wn);
		for (int k8 = 0; k8 < TC_BK; k8 += 8) {
			if (op->ldsm)
				fragments_ldsm(as, bs, wm, wn, k8, s, mutation, &op->banks);
			for (int lane = 0; lane < 32 && !op->ldsm; lane++) {
				for (int i = 0; i < TC_MT; i++) {
					for (int e = 0; e < 4; e++) {
						int row, col;
						tc_frag_a(lane, e, &row, &col);
						s->a[i][lane][e] = tc_emu_tf32(as[tc_a_smem(wm + 16 * i + row, k8 + col)]);
					}
					if (mutation == EMU_MUT_A_REGS)
						swap_u32(&s->a[i][lane][1], &s->a[i][lane][2]);
				}
				for (int j = 0; j < TC_NT; j++) {
					for (int e = 0; e < 2; e++) {
						int row, col;
						tc_frag_b(lane, e, &row, &col);
						s->b[j][lane][e] = tc_emu_tf32(bs[tc_b_smem(wn + 8 * j + col, k8 + row)]);
					}
					if (mutation == EMU_MUT_B_REGS)
						swap_u32(&s->b[j][lane][0], &s->b[j][lane][1]);
				}
			}
			for (int lane = 0; lane < 32 && op->ldsm; lane++) { // the same register faults after ldmatrix
				for (int i = 0; i < TC_MT && mutation == EMU_MUT_A_REGS; i++)
					swap_u32(&s->a[i][lane][1], &s->a[i][lane][2]);
				for (int j = 0; j < TC_NT && mutation == EMU_MUT_B_REGS; j++)
					swap_u32(&s->b[j][lane][0], &s->b[j][lane][1]);
			}
			for (int i = 0; i < TC_MT; i++)
				for (int j = 0; j < TC_NT; j++)
					mma_m16n8k8_tf32(s->a[i], s->b[j], s->acc[i][j]);
		}
	}
}

// tc_emu_store_row: see tc_emu.h.
int tc_emu_store_row(const TcConv *g, int out, int m0, int wm, int lane, int i, int h, int rows, int mutation,
		     TcRowOff *r0, TcRowOff *r, int *m)
{
	int row, col;
	tc_frag_c(lane, 2 * h, &row, &col);
	*m = m0 + wm + 16 * i + row;
	if (*m >= rows)
		return 0;
	if (out != TC_EMU_ROW_NONE) {
		*r = out == TC_EMU_ROW_Y ? tc_y_row(g, *m) : tc_dx_row(g, *m);
		if (h == 0)
			*r0 = *r;
		else if (mutation == EMU_MUT_ROW_STEP)
			r->off = r0->off + 8;
	}
	return 1;
}

// tc_emu_store_col: see tc_emu.h.
int tc_emu_store_col(int n0, int wn, int lane, int j, int e)
{
	int row, col;
	tc_frag_c(lane, e, &row, &col);
	return n0 + wn + 8 * j + col;
}

// epilogue is tc_store_tile: each lane's rows (c_{2h}, c_{2h+1} of its
// mma tiles i share one) decoded once, the forward's through tc_y_row, the
// data gradient's through tc_dx_row (EMU_MUT_ROW_STEP: the second row as the first's plus 8 pixels, no
// carry into the next image), then the row's stores. EMU_MUT_C_OWNER
// stores c1's value at c2's place and c2's at c1's.
static void epilogue(emu_op *op, int m0, int n0, const warp_state *ws, int mutation)
{
	int base = emu_base(op->kind), fwd = base == EMU_FORWARD;
	int out = fwd ? TC_EMU_ROW_Y : base == EMU_DATA ? TC_EMU_ROW_DX : TC_EMU_ROW_NONE;
	for (int warp = 0; warp < TC_THREADS / 32; warp++) {
		int wm, wn;
		tc_warp_origin(warp, &wm, &wn);
		for (int lane = 0; lane < 32; lane++)
			for (int i = 0; i < TC_MT; i++) {
				TcRowOff r0 = {0, 0}, r = {0, 0};
				for (int h = 0; h < 2; h++) {
					int m;
					if (!tc_emu_store_row(op->g, out, m0, wm, lane, i, h, op->rows, mutation, &r0, &r, &m))
						continue;
					for (int j = 0; j < TC_NT; j++)
						for (int p = 0; p < 2; p++) {
							int e = 2 * h + p, ee = e;
							if (mutation == EMU_MUT_C_OWNER && (e == 1 || e == 2))
								ee = 3 - e;
							int n = tc_emu_store_col(n0, wn, lane, j, e);
							if (n >= op->cols)
								continue;
							float v = ws[warp].acc[i][j][lane][ee];
							long long off;
							if (fwd) {
								off = tc_row_at(&r, n);
								v = conv_epilogue(v, op->bias, n, op->res, off, op->relu);
							} else if (out == TC_EMU_ROW_DX) {
								off = tc_row_at(&r, n);
							} else {
								off = (long long)m * op->cols + n; // in the split's slab
							}
							if (off < 0 || off >= op->outlen) {
								op->bad_store = 1;
								continue;
							}
							op->out[off] = v;
							op->written[off]++;
						}
				}
			}
	}
}

// block runs one thread block (bx, by) of the grid: the kernel's prologue,
// main loop and epilogue (tc_gemm).
static int block(emu_op *op, int bx, int by, int mutation, float *As, float *Bs, warp_state *ws, emu_copies *q)
{
	int m0 = bx * TC_BM, n0 = by * TC_BN, steps = op->steps;
	int pending = TC_WAIT_PENDING + (mutation == EMU_MUT_WAIT);
	memset(ws, 0, (TC_THREADS / 32) * sizeof *ws);
	q->n = q->done = q->committed = 0;
	int as = op->astage, bs = op->bstage;
	for (int i = 0; i < TC_STAGES * as; i++)
		As[i] = NAN; // shared memory starts as garbage
	for (int i = 0; i < TC_STAGES * bs; i++)
		Bs[i] = NAN;

	for (int kt = 0; kt < TC_STAGES - 1; kt++) {
		int rc = kt < steps ? load_stage(op, As + tc_stage(kt) * as, Bs + tc_stage(kt) * bs, m0, n0, kt, q) : 0;
		if (rc)
			return rc;
		q->committed++;
	}
	for (int kt = 0; kt < steps; kt++) {
		wait_group(q, pending); // then __syncthreads: every thread sees every landed copy
		int next = kt + TC_STAGES - 1;
		int slot = mutation == EMU_MUT_PREFETCH ? tc_stage(kt) : tc_stage(next);
		int rc = next < steps ? load_stage(op, As + slot * as, Bs + slot * bs, m0, n0, next, q) : 0;
		if (rc)
			return rc;
		q->committed++;
		compute(op, As + tc_stage(kt) * as, Bs + tc_stage(kt) * bs, ws, mutation);
	}
	epilogue(op, m0, n0, ws, mutation);
	return 0;
}

int tc_emu_run(const TcConv *g, int kind, const float *a, const float *b, const float *bias, const float *res,
	       int relu, float *out, int32_t *written, int splits, int pipeline, int mutation, TcBanks *banks)
{
	long long x = (long long)g->N * g->C * g->H * g->W, w = (long long)g->K * g->C * g->R * g->S,
		  y = (long long)g->N * g->K * g->OH * g->OW;
	emu_op op = {g, kind, a, b, bias, res, relu, out, written, 0, 0, 0, 0, x, w};
	op.ldsm = kind == EMU_FORWARD || kind == EMU_DATA || kind == EMU_FILTER || kind == EMU_1X1_FILTER ||
		  kind == EMU_1X1_FILTER_V4;
	op.astage = op.ldsm ? TC_A_SW_STAGE : TC_A_STAGE;
	op.bstage = op.ldsm ? TC_B_SW_STAGE : TC_B_STAGE;
	op.mutation = mutation;
	kind = emu_base(kind);
	if (kind == EMU_DATA)
		op.alen = y;
	else if (kind == EMU_FILTER)
		op.blen = y;
	op.outlen = kind == EMU_FORWARD ? y : kind == EMU_DATA ? x : w;
	if (kind == EMU_FORWARD) {
		op.rows = tc_gemm_m(g);
		op.cols = g->K;
		op.steps = op.kind == EMU_FLAT ? tc_flat_steps(g) : tc_k_steps(g, g->C);
	} else if (kind == EMU_DATA) {
		op.rows = tc_data_m(g);
		op.cols = g->C;
		op.steps = tc_k_steps(g, g->K);
	} else {
		op.rows = g->K;
		op.cols = g->C * g->R * g->S;
	}
	if (kind != EMU_FILTER)
		splits = 1;
	float *As = malloc(sizeof(float) * TC_STAGES * TC_A_STAGE);
	float *Bs = malloc(sizeof(float) * TC_STAGES * TC_B_STAGE);
	warp_state *ws = malloc((TC_THREADS / 32) * sizeof *ws);
	emu_copies q = {0};
	q.eager = pipeline == EMU_EAGER;
	int rc = As && Bs && ws ? 0 : -1;
	int gx = (op.rows + TC_BM - 1) / TC_BM, gy = (op.cols + TC_BN - 1) / TC_BN;
	for (int z = 0; z < splits && rc == 0; z++) {
		emu_op zop = op;
		memset(&zop.banks, 0, sizeof zop.banks);
		if (kind == EMU_FILTER) {
			int end;
			int steps = op.kind == EMU_LIN_FILTER ? tc_linear_steps(g->N) : tc_filter_steps(g);
			tc_split(steps, splits, z, &zop.begin, &end);
			zop.steps = end - zop.begin;
			zop.out = out + (long long)z * op.rows * op.cols;
			zop.written = written + (long long)z * op.rows * op.cols;
		}
		for (int by = 0; by < gy && rc == 0; by++)
			for (int bx = 0; bx < gx && rc == 0; bx++)
				rc = block(&zop, bx, by, mutation, As, Bs, ws, &q);
		if (rc == 0 && zop.bad_store)
			rc = -3;
		op.banks.ldsm_phases += zop.banks.ldsm_phases;
		op.banks.ldsm_conflicts += zop.banks.ldsm_conflicts;
		op.banks.misaligned += zop.banks.misaligned;
		op.banks.store_phases += zop.banks.store_phases;
		op.banks.store_conflicts += zop.banks.store_conflicts;
	}
	if (banks)
		*banks = op.banks;
	free(q.ops);
	free(ws);
	free(Bs);
	free(As);
	return rc;
}

long long tc_emu_store_rows(const TcConv *g, int data, int mutation, int32_t *written, long long outlen)
{
	int plane = data ? g->H * g->W : g->OH * g->OW, chans = data ? g->C : g->K;
	int rows = g->N * plane;
	long long bad = 0;
	for (int m0 = 0; m0 < rows; m0 += TC_BM)
		for (int n0 = 0; n0 < chans; n0 += TC_BN)
			for (int warp = 0; warp < TC_THREADS / 32; warp++) {
				int wm, wn;
				tc_warp_origin(warp, &wm, &wn);
				for (int lane = 0; lane < 32; lane++)
					for (int i = 0; i < TC_MT; i++) {
						TcRowOff r0 = {0, 0}, r = {0, 0};
						for (int h = 0; h < 2; h++) {
							int m;
							if (!tc_emu_store_row(g, data ? TC_EMU_ROW_DX : TC_EMU_ROW_Y, m0, wm, lane, i, h, rows,
									      mutation, &r0, &r, &m))
								continue;
							for (int j = 0; j < TC_NT; j++)
								for (int p = 0; p < 2; p++) {
									int n = tc_emu_store_col(n0, wn, lane, j, 2 * h + p);
									if (n >= chans)
										continue;
									long long off = tc_row_at(&r, n);
									long long want = data ? tc_dx_offset(g, m, n) : tc_y_offset(g, m, n);
									bad += off != want;
									if (off >= 0 && off < outlen)
										written[off]++;
								}
						}
					}
			}
	return bad;
}
