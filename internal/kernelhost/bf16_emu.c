// bf16_emu.c: the bf16 convolutions of kernels/conv2d_bf16.cu emulated on
// the host, one thread block at a time: every thread's loads and bf16x2
// stores through the kernels' loader math and swizzle, every ldmatrix.x4
// through the kernels' lane addresses, and ldmatrix and
// mma.sync.m16n8k16 .bf16 as the PTX ISA defines them (written here from
// the ISA, independently of conv2d_bf16.cuh). The loop mirrors bf_gemm
// step for step; a wrong index in the .cuh gives a wrong result here, and
// every shared-memory phase is checked for bank conflicts.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bf16_emu.h"
#include "tc_emu.h" // tc_emu_store_row, tc_emu_store_col: the store loop shared with the TF32 emulator
#include "cast_dep_cast_cuh.h"

uint16_t bf_emu_round(float f)
{
	uint32_t u;
	memcpy(&u, &f, 4);
	return bf16_round_bits(u);
}

static float bf_value(uint16_t h)
{
	uint32_t u = (uint32_t)h << 16;
	float f;
	memcpy(&f, &u, 4);
	return f;
}

// A bf16x2 NaN pair: shared memory before anything is staged into it.
#define BF_POISON 0x7fc07fc0u

// bf_pack is cvt.rn.bf16x2.f32 d, hi, lo: lo's bf16 in the low half.
static uint32_t bf_pack(float lo, float hi, int mutation)
{
	uint32_t l, h;
	if (mutation == BF_MUT_ROUND) { // truncation: drop the low 16 bits
		memcpy(&l, &lo, 4);
		memcpy(&h, &hi, 4);
		l >>= 16;
		h >>= 16;
	} else {
		l = bf_emu_round(lo);
		h = bf_emu_round(hi);
	}
	return l | h << 16;
}

// mma_m16n8k16_bf16 is mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32
// D = A·B + C for one warp, from the ISA's fragment tables: with gid =
// lane>>2, tig = lane%4, lane holds A[gid][2tig..2tig+1] in a0,
// A[gid+8][2tig..] in a1, A[gid][2tig+8..] in a2, A[gid+8][2tig+8..] in a3;
// B[2tig..2tig+1][gid] in b0, B[2tig+8..2tig+9][gid] in b1 (lower index in
// the low half); C as m16n8k8's. Products of bf16 values are exact in
// fp32; the sums are rounded to fp32 in order of k.
static void mma_m16n8k16_bf16(const uint32_t a[32][4], const uint32_t b[32][2], float c[32][4])
{
	float A[16][16], B[16][8], D[16][8];
	for (int lane = 0; lane < 32; lane++) {
		int gid = lane >> 2, tig = lane & 3;
		for (int h = 0; h < 2; h++) {
			int sh = 16 * h;
			A[gid][2 * tig + h] = bf_value(a[lane][0] >> sh);
			A[gid + 8][2 * tig + h] = bf_value(a[lane][1] >> sh);
			A[gid][2 * tig + 8 + h] = bf_value(a[lane][2] >> sh);
			A[gid + 8][2 * tig + 8 + h] = bf_value(a[lane][3] >> sh);
			B[2 * tig + h][gid] = bf_value(b[lane][0] >> sh);
			B[2 * tig + 8 + h][gid] = bf_value(b[lane][1] >> sh);
		}
		D[gid][2 * tig] = c[lane][0];
		D[gid][2 * tig + 1] = c[lane][1];
		D[gid + 8][2 * tig] = c[lane][2];
		D[gid + 8][2 * tig + 1] = c[lane][3];
	}
	for (int i = 0; i < 16; i++)
		for (int j = 0; j < 8; j++) {
			float s = D[i][j];
			for (int k = 0; k < 16; k++)
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

// regs is one thread's BfRegs: the fp32 pairs between loads and stores.
typedef struct {
	float a[BF_A_LOADS][2], b[BF_B_LOADS][2];
} regs;

typedef struct {
	const TcConv *g;
	int kind;
	const float *a, *b, *bias, *res; // res: the forward's residual or NULL
	int relu;                         // the forward's ReLU
	float *out;
	int32_t *written;
	int rows, cols, steps;
	int begin;
	long long alen, blen, outlen;
	int bad_store;
	int one;      // the 1x1 kernels (BF_EMU_1X1_*; kind is then their base kind)
	int mutation; // for the 1x1 loaders' BF_MUT_PIX_STRIDE
} bf_op;

// get reads v[off] (n elements) for a load the kernel marked valid, 0 for
// one it did not; an offset outside v is an out-of-bounds read on the GPU,
// which the emulator reports (-2) instead of making.
static int get(const float *v, long long n, int ok, int off, float *out)
{
	*out = 0.f;
	if (!ok)
		return 0;
	if (off < 0 || off >= n)
		return -2;
	*out = v[off];
	return 0;
}

// fetch_1x1 is every thread's Bf1<DATA>::fetch or Bf1Filter::fetch of step
// kt (kernels/gemm_bf16.cu): gemm_tc.cuh's addressing in the generic
// kernels' slot orders, each thread's pixels decoded once per block
// (forward, data gradient; here per step: the same values) or per step
// (filter gradient).
static int fetch_1x1(const bf_op *op, int m0, int n0, int kt, regs *rg)
{
	const TcConv *g = op->g;
	TcConv gm = *g; // the geometry g1_pix and g1_at see
	if (op->mutation == BF_MUT_PIX_STRIDE)
		gm.H = 1;
	for (int tid = 0; tid < BF_THREADS; tid++) {
		regs *t = &rg[tid];
		int row, kp, m, n;
		if (op->kind == BF_EMU_FILTER) {
			bf_slot_k(tid, 0, &row, &kp);
			int p = (op->begin + kt) * BF_BK + 2 * kp;
			G1Pix pd[2] = {g1_pix(&gm, g->K, p), g1_pix(&gm, g->K, p + 1)};
			G1Pix px[2] = {g1_pix(&gm, g->C, p), g1_pix(&gm, g->C, p + 1)};
			for (int l = 0; l < BF_A_LOADS + BF_B_LOADS; l++) {
				int b = l >= BF_A_LOADS, lb = b ? l - BF_A_LOADS : l;
				bf_slot_k(tid, lb, &row, &kp);
				for (int e = 0; e < 2; e++) {
					int off = 0, ok = b ? g1_at(&gm, &px[e], g->C, n0 + row, &off)
							    : g1_at(&gm, &pd[e], g->K, m0 + row, &off);
					if (get(b ? op->a : op->b, b ? op->alen : op->blen, ok, off, b ? &t->b[lb][e] : &t->a[lb][e]))
						return -2;
				}
			}
			continue;
		}
		int data = op->kind == BF_EMU_DATA, ch = data ? g->K : g->C, c0 = kt * BF_BK;
		G1Pix pix[2];
		for (int i = 0; i < 2; i++) {
			bf_slot_m(tid, 4 * i, &m, &kp);
			pix[i] = g1_pix(&gm, ch, m0 + m);
		}
		for (int l = 0; l < BF_A_LOADS; l++) {
			bf_slot_m(tid, l, &m, &kp);
			for (int e = 0; e < 2; e++) {
				int off = 0, ok = g1_at(&gm, &pix[l >> 2], ch, c0 + 2 * kp + e, &off);
				if (get(op->a, op->alen, ok, off, &t->a[l][e]))
					return -2;
			}
		}
		for (int l = 0; l < BF_B_LOADS; l++) {
			bf_slot_m(tid, l, &n, &kp);
			for (int e = 0; e < 2; e++) {
				int off = 0, c = c0 + 2 * kp + e;
				int ok = data ? tc_wt_at(g, n0 + n, 0, 0, c, &off) : tc_w_at(g, n0 + n, 0, 0, c, &off);
				if (get(op->b, op->blen, ok, off, &t->b[l][e]))
					return -2;
			}
		}
	}
	return 0;
}

// fetch is every thread's op.fetch of step kt (BfFwd, BfData: bf_fetch_m
// at the cursor tap, then moved on; BfFilter::fetch).
static int fetch(const bf_op *op, int m0, int n0, int kt, BfTap *tap, regs *rg)
{
	if (op->one)
		return fetch_1x1(op, m0, n0, kt, rg);
	const TcConv *g = op->g;
	int fwd = op->kind == BF_EMU_FORWARD;
	for (int tid = 0; tid < BF_THREADS; tid++) {
		regs *t = &rg[tid];
		if (op->kind == BF_EMU_FILTER) {
			int row, kp;
			bf_slot_k(tid, 0, &row, &kp);
			TcFilterPixel f[2] = {tc_filter_pixel(g, (op->begin + kt) * BF_BK + 2 * kp),
					      tc_filter_pixel(g, (op->begin + kt) * BF_BK + 2 * kp + 1)};
			for (int l = 0; l < BF_A_LOADS; l++) {
				bf_slot_k(tid, l, &row, &kp);
				for (int e = 0; e < 2; e++) {
					int off = 0, ok = tc_fdy_at(g, &f[e], m0 + row, &off);
					if (get(op->b, op->blen, ok, off, &t->a[l][e]))
						return -2;
				}
			}
			for (int l = 0; l < BF_B_LOADS; l++) {
				bf_slot_k(tid, l, &row, &kp);
				TcTap tap = tc_tap(g, n0 + row);
				for (int e = 0; e < 2; e++) {
					int off = 0, ok = tc_fx_at(g, &f[e], &tap, &off);
					if (get(op->a, op->alen, ok, off, &t->b[l][e]))
						return -2;
				}
			}
			continue;
		}
		int r = tap->r, s = tap->s, c0 = tap->c0, m, kp;
		TcRow rows[2];
		for (int i = 0; i < 2; i++) {
			bf_slot_m(tid, 4 * i, &m, &kp);
			TcPixel pix = tc_pixel(g, m0 + m);
			TcDataPixel dpix = tc_data_pixel(g, m0 + m);
			rows[i] = fwd ? tc_im2col_row(g, &pix, r, s) : tc_dy_row(g, &dpix, r, s);
		}
		for (int l = 0; l < BF_A_LOADS; l++) {
			bf_slot_m(tid, l, &m, &kp);
			for (int e = 0; e < 2; e++) {
				int off = 0, c = c0 + 2 * kp + e;
				int ok = fwd ? tc_im2col(g, &rows[l >> 2], c, &off) : tc_dy_at(g, &rows[l >> 2], c, &off);
				if (get(op->a, op->alen, ok, off, &t->a[l][e]))
					return -2;
			}
		}
		for (int l = 0; l < BF_B_LOADS; l++) {
			int n;
			bf_slot_m(tid, l, &n, &kp);
			for (int e = 0; e < 2; e++) {
				int off = 0, c = c0 + 2 * kp + e;
				int ok = fwd ? tc_w_at(g, n0 + n, r, s, c, &off) : tc_wt_at(g, n0 + n, r, s, c, &off);
				if (get(op->b, op->blen, ok, off, &t->b[l][e]))
					return -2;
			}
		}
	}
	if (op->kind != BF_EMU_FILTER)
		bf_tap_next(g, op->kind == BF_EMU_FORWARD ? g->C : g->K, tap); // all threads' cursors alike
	return 0;
}

// pair_at is where the loader stores pair kp of tile row row: the
// kernel's bf_smem_pair, or the unswizzled place under BF_MUT_NO_SWIZZLE.
static int pair_at(int row, int kp, int mutation)
{
	if (mutation == BF_MUT_NO_SWIZZLE)
		return row * BF_KP + kp;
	return bf_smem_pair(row, kp);
}

// chunk_at is the word an ldmatrix lane points at for logical chunk c of
// tile row row: bf_smem_chunk, or unswizzled under the swizzle mutations.
static int chunk_at(int row, int c, int mutation)
{
	if (mutation == BF_MUT_NO_SWIZZLE || mutation == BF_MUT_SWIZZLE_LOAD)
		return (row * BF_CHUNKS + c) * 4;
	return bf_smem_chunk(row, c);
}

// stage is every thread's op.stage (bf_stage): the stage is first poisoned
// with NaN pairs, so that an element no thread stores shows as NaN; each
// warp-wide store (one copy l of the warp's 32 threads) is a bank phase.
static void stage(const bf_op *op, const regs *rg, uint32_t *As, uint32_t *Bs, int mutation, BfBanks *bk)
{
	void (*slot)(int, int, int *, int *) = op->kind == BF_EMU_FILTER ? bf_slot_k : bf_slot_m;
	for (int i = 0; i < BF_A_STAGE; i++)
		As[i] = BF_POISON;
	for (int i = 0; i < BF_B_STAGE; i++)
		Bs[i] = BF_POISON;
	for (int warp = 0; warp < BF_THREADS / 32; warp++)
		for (int t = 0; t < 2; t++) { // A, then B
			int loads = t ? BF_B_LOADS : BF_A_LOADS;
			uint32_t *dst = t ? Bs : As;
			for (int l = 0; l < loads; l++) {
				int words[32];
				for (int lane = 0; lane < 32; lane++) {
					int tid = warp * 32 + lane, row, kp;
					slot(tid, l, &row, &kp);
					int w = words[lane] = pair_at(row, kp, mutation);
					const float *v = t ? rg[tid].b[l] : rg[tid].a[l];
					dst[w] = bf_pack(v[0], v[1], mutation);
				}
				emu_store_phase(words, bk);
			}
		}
}

typedef struct {
	float acc[TC_MT][TC_NT][32][4];
} warp_acc;

// compute is every warp's inner loop over one stage (bf_gemm's k16 loop).
static void compute(const uint32_t *as, const uint32_t *bs, warp_acc *wa, int mutation, BfBanks *bk)
{
	for (int warp = 0; warp < BF_THREADS / 32; warp++) {
		int wm, wn;
		tc_warp_origin(warp, &wm, &wn);
		for (int k16 = 0; k16 < BF_CHUNKS; k16 += 2) {
			uint32_t a[TC_MT][32][4], b[TC_NT][32][2], d[32][4];
			int addr[32];
			for (int i = 0; i < TC_MT; i++) {
				for (int lane = 0; lane < 32; lane++) {
					int row, c;
					bf_ldsm_a(lane, &row, &c);
					if (mutation == BF_MUT_LDSM_LANE) { // matrices 1 and 2 swapped
						int j = lane >> 3;
						row = (lane & 7) + 8 * (j >> 1);
						c = j & 1;
					}
					addr[lane] = chunk_at(wm + 16 * i + row, k16 + c, mutation);
				}
				emu_ldsm_x4(as, addr, a[i], bk);
			}
			for (int j = 0; j < TC_NT; j += 2) {
				for (int lane = 0; lane < 32; lane++) {
					int row, c;
					bf_ldsm_b(lane, &row, &c);
					addr[lane] = chunk_at(wn + 8 * j + row, k16 + c, mutation);
				}
				emu_ldsm_x4(bs, addr, d, bk);
				for (int lane = 0; lane < 32; lane++) {
					b[j][lane][0] = d[lane][0];
					b[j][lane][1] = d[lane][1];
					b[j + 1][lane][0] = d[lane][2];
					b[j + 1][lane][1] = d[lane][3];
					if (mutation == BF_MUT_B_REGS) {
						b[j][lane][0] = d[lane][1];
						b[j][lane][1] = d[lane][0];
					}
				}
			}
			for (int i = 0; i < TC_MT; i++)
				for (int j = 0; j < TC_NT; j++)
					mma_m16n8k16_bf16(a[i], b[j], wa[warp].acc[i][j]);
		}
	}
}

// epilogue is tc_store_tile: each lane's rows (c_{2h}, c_{2h+1} of its
// mma tiles i share one) decoded once, the forward's through tc_y_row, the
// data gradient's through tc_dx_row, then the row's stores. BF_MUT_C_OWNER stores c1's value at c2's place
// and c2's at c1's.
static void epilogue(bf_op *op, int m0, int n0, const warp_acc *wa, int mutation)
{
	int fwd = op->kind == BF_EMU_FORWARD, data = op->kind == BF_EMU_DATA;
	int out = fwd ? TC_EMU_ROW_Y : data ? TC_EMU_ROW_DX : TC_EMU_ROW_NONE;
	for (int warp = 0; warp < BF_THREADS / 32; warp++) {
		int wm, wn;
		tc_warp_origin(warp, &wm, &wn);
		for (int lane = 0; lane < 32; lane++)
			for (int i = 0; i < TC_MT; i++)
				for (int h = 0; h < 2; h++) {
					TcRowOff r0, r = {0, 0};
					int m;
					if (!tc_emu_store_row(op->g, out, m0, wm, lane, i, h, op->rows, EMU_MUT_NONE, &r0, &r, &m))
						continue;
					for (int j = 0; j < TC_NT; j++)
						for (int p = 0; p < 2; p++) {
							int e = 2 * h + p, ee = e;
							if (mutation == BF_MUT_C_OWNER && (e == 1 || e == 2))
								ee = 3 - e;
							int n = tc_emu_store_col(n0, wn, lane, j, e);
							if (n >= op->cols)
								continue;
							float v = wa[warp].acc[i][j][lane][ee];
							long long off;
							if (fwd) {
								off = tc_row_at(&r, n);
								if (off >= 0 && off < op->outlen)
									v = conv_epilogue(v, op->bias, n, op->res, off, op->relu);
							} else if (data) {
								off = tc_row_at(&r, n);
							} else {
								off = (long long)m * op->cols + n;
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

// block runs thread block (bx, by): bf_gemm's prologue, main loop and epilogue.
static int block(bf_op *op, int bx, int by, int order, int mutation, uint32_t *As, uint32_t *Bs, regs *rg,
		 warp_acc *wa, BfBanks *bk)
{
	int m0 = bx * BF_BM, n0 = by * BF_BN, steps = op->steps;
	memset(wa, 0, (BF_THREADS / 32) * sizeof *wa);
	for (int i = 0; i < BF_STAGES * BF_A_STAGE; i++)
		As[i] = BF_POISON; // shared memory starts as garbage
	for (int i = 0; i < BF_STAGES * BF_B_STAGE; i++)
		Bs[i] = BF_POISON;
	BfTap tap = {0, 0, 0};
	if (steps > 0) {
		if (fetch(op, m0, n0, 0, &tap, rg))
			return -2;
		stage(op, rg, As, Bs, mutation, bk);
	}
	for (int kt = 0; kt < steps; kt++) {
		int more = kt + 1 < steps;
		int next = mutation == BF_MUT_STAGE ? kt % BF_STAGES : (kt + 1) % BF_STAGES;
		if (more && fetch(op, m0, n0, kt + 1, &tap, rg))
			return -2;
		if (more && order == BF_EMU_EARLY)
			stage(op, rg, As + next * BF_A_STAGE, Bs + next * BF_B_STAGE, mutation, bk);
		compute(As + (kt % BF_STAGES) * BF_A_STAGE, Bs + (kt % BF_STAGES) * BF_B_STAGE, wa, mutation, bk);
		if (more && order == BF_EMU_LATE)
			stage(op, rg, As + next * BF_A_STAGE, Bs + next * BF_B_STAGE, mutation, bk);
	}
	epilogue(op, m0, n0, wa, mutation);
	return 0;
}

int bf_emu_run(const TcConv *g, int kind, const float *a, const float *b, const float *bias, const float *res, int relu,
	       float *out, int32_t *written, int splits, int order, int mutation, BfBanks *banks)
{
	long long x = (long long)g->N * g->C * g->H * g->W, w = (long long)g->K * g->C * g->R * g->S,
		  y = (long long)g->N * g->K * g->OH * g->OW;
	int one = kind >= BF_EMU_1X1_FORWARD;
	if (one)
		kind -= BF_EMU_1X1_FORWARD; // the 1x1 kernels' operands, grids and stores are their base kind's
	bf_op op = {g, kind, a, b, bias, kind == BF_EMU_FORWARD ? res : NULL, kind == BF_EMU_FORWARD && relu, out, written};
	op.one = one;
	op.mutation = mutation;
	op.alen = kind == BF_EMU_DATA ? y : x;
	op.blen = kind == BF_EMU_FILTER ? y : w;
	op.outlen = kind == BF_EMU_FORWARD ? y : kind == BF_EMU_DATA ? x : w;
	if (kind == BF_EMU_FORWARD) {
		op.rows = tc_gemm_m(g);
		op.cols = g->K;
		op.steps = bf_k_steps(g, g->C);
	} else if (kind == BF_EMU_DATA) {
		op.rows = tc_data_m(g);
		op.cols = g->C;
		op.steps = bf_k_steps(g, g->K);
	} else {
		op.rows = g->K;
		op.cols = g->C * g->R * g->S;
	}
	if (kind != BF_EMU_FILTER)
		splits = 1;
	BfBanks bk = {0};
	uint32_t *As = malloc(sizeof(uint32_t) * BF_STAGES * BF_A_STAGE);
	uint32_t *Bs = malloc(sizeof(uint32_t) * BF_STAGES * BF_B_STAGE);
	regs *rg = malloc(BF_THREADS * sizeof *rg);
	warp_acc *wa = malloc((BF_THREADS / 32) * sizeof *wa);
	int rc = As && Bs && rg && wa ? 0 : -1;
	int gx = (op.rows + BF_BM - 1) / BF_BM, gy = (op.cols + BF_BN - 1) / BF_BN;
	for (int z = 0; z < splits && rc == 0; z++) {
		bf_op zop = op;
		if (kind == BF_EMU_FILTER) {
			int end;
			tc_split(bf_filter_steps(g), splits, z, &zop.begin, &end);
			zop.steps = end - zop.begin;
			zop.out = out + (long long)z * op.rows * op.cols;
			zop.written = written + (long long)z * op.rows * op.cols;
		}
		for (int by = 0; by < gy && rc == 0; by++)
			for (int bx = 0; bx < gx && rc == 0; bx++)
				rc = block(&zop, bx, by, order, mutation, As, Bs, rg, wa, &bk);
		if (rc == 0 && zop.bad_store)
			rc = -3;
	}
	if (banks)
		*banks = bk;
	free(wa);
	free(rg);
	free(Bs);
	free(As);
	return rc;
}
