// bn_emu.c: kernels/batchnorm.cu run on the host, block by block and thread
// by thread, with the functions of kernels/batchnorm.cuh: the same tiles, the
// same per-lane order, the same partial layout and combine order, the same
// float and double operations. Only the loops over blocks and threads and the
// warp shuffle tree (bn_tree32) stand in for the GPU.
// The GPU rounds every operation the .cuh writes separately (the kernels
// spell each fused multiply-add out), so the host must not fuse either.
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif
#include <stdlib.h>
#include "batchnorm.cuh"
#include "bnstats_emu.h"
#include "bn_emu.h"

// FCOEF is batchnorm_forward_coef: FORWARD's normalisation with the float
// mean and scale that batchnorm_partials_combine wrote to coef.
enum { STATS, FORWARD, INFER, BSTATS, BACKWARD, FCOEF };

typedef struct {
	const float *x, *dy, *yr, *gamma, *beta, *mean, *invstd, *run_mean_in, *run_var_in;
	float *y, *dx, *run_mean, *run_var, *save_mean, *save_invstd, *dgamma, *dbeta;
	double *part;
	const float *coef; // FCOEF: mean (C), then scale (C)
	float momentum, eps;
	int relu; // forward: y = relu(bn(x)); the backward's ReLU is yr != NULL
	int *count; // coverage: visits per element (bn_emu_cover)
	int bad;    // coverage: elements outside the lane's channel
} bn_args;

// grad is dy[e], through ReLU's backward when the fused output yr is given (bn_load_grad).
static float grad(const bn_args *a, long long e) { return a->yr ? bn_relu_grad(a->yr[e], a->dy[e]) : a->dy[e]; }

// block_partials is bn_block_partials of batchnorm.cu.
static void block_partials(const bn_plan *p, const bn_tile *t, int bx, const double *la, const double *lb, double *part)
{
	double ca[32], cb[32];
	for (int s = 0; s < 32; s++) {
		ca[s] = bn_colsum(la, s);
		cb[s] = bn_colsum(lb, s);
	}
	int n = bn_lanes_per_ch(p);
	for (int cl = 0; cl < t->cbt; cl++) {
		long long c = t->c0 + cl;
		part[c * p->B + bx] = bn_chansum(ca, cl, n);
		part[(p->C + c) * p->B + bx] = bn_chansum(cb, cl, n);
	}
}

// combine is bn_combine of batchnorm.cu: lane partials, then the shuffle-down tree.
static void combine(const bn_plan *p, const double *part, int c, double *a, double *b)
{
	double va[32], vb[32];
	for (int lane = 0; lane < 32; lane++) {
		va[lane] = bn_lane_partial(part + (long long)c * p->B, p->B, lane);
		vb[lane] = bn_lane_partial(part + (long long)(p->C + c) * p->B, p->B, lane);
	}
	*a = bn_tree32(va);
	*b = bn_tree32(vb);
}

// block runs one block (bx, by) of kernel kind.
static void block(const bn_plan *p, int kind, int bx, int by, bn_args *a)
{
	bn_tile t = bn_tile_of(p, bx, by);
	int M = p->N * p->L;
	float sh[3 * BN_MAX_CB];
	// The per-channel prologue of the apply kernels (warp cl % 8, lane 0).
	for (int cl = 0; cl < t.cbt && (kind == FORWARD || kind == BACKWARD); cl++) {
		int c = t.c0 + cl;
		double s1, s2;
		combine(p, a->part, c, &s1, &s2);
		if (kind == FORWARD) {
			double mean, var;
			bn_moments(s1, s2, M, (float)a->part[2LL * p->C * p->B + c], &mean, &var);
			double invstd = bn_invstd(var, a->eps);
			sh[cl] = (float)mean;
			sh[BN_MAX_CB + cl] = bn_scale(a->gamma[c], invstd);
			sh[2 * BN_MAX_CB + cl] = a->beta[c];
			if (bx == 0) {
				a->save_mean[c] = (float)mean;
				a->save_invstd[c] = (float)invstd;
				a->run_mean[c] = bn_running(a->run_mean[c], mean, a->momentum);
				a->run_var[c] = bn_running(a->run_var[c], bn_unbiased(var, M), a->momentum);
			}
		} else {
			sh[cl] = (float)s1;
			sh[BN_MAX_CB + cl] = (float)s2;
			if (bx == 0) {
				a->dbeta[c] = (float)s1;
				a->dgamma[c] = (float)s2;
			}
		}
	}
	double la[BN_THREADS], lb[BN_THREADS];
	for (int tid = 0; tid < BN_THREADS; tid++) {
		int lane = tid & 31, warp = tid >> 5, cl = bn_lane_ch(p, lane), c = t.c0 + cl;
		double s1 = 0.0, s2 = 0.0, K = 0.0;
		float m = 0.f, s = 0.f, b = 0.f, k = 0.f;
		la[tid] = lb[tid] = 0.0;
		if (cl >= t.cbt)
			continue; // an idle lane: zero partials, nothing written
		switch (kind) {
		case STATS:
			K = (double)a->x[(long long)c * p->L];
			break;
		case FCOEF:
			m = a->coef[c], s = a->coef[p->C + c], b = a->beta[c];
			break;
		case FORWARD:
			m = sh[cl], s = sh[BN_MAX_CB + cl], b = sh[2 * BN_MAX_CB + cl];
			break;
		case INFER:
			m = a->run_mean_in[c], s = bn_infer_scale(a->gamma[c], a->run_var_in[c], a->eps), b = a->beta[c];
			break;
		case BSTATS:
			m = a->mean[c], s = a->invstd[c];
			break;
		case BACKWARD:
			m = a->mean[c], s = a->invstd[c], k = bn_backward_k(a->gamma[c], a->invstd[c], M), b = sh[cl];
			break;
		}
		for (bn_walk w = bn_walk_start(&t, warp); w.r < t.rows; bn_walk_next(&w, &t)) {
			int pos = bn_lane_pos(p, w.k, lane);
			if (pos >= t.R)
				continue;
			long long o = bn_offset(p, &t, w.r, pos);
			for (int i = 0; i < p->G; i++) {
				long long e = o + i;
				switch (kind) {
				case STATS:
					bn_acc_moments(a->x[e], K, &s1, &s2);
					if (a->count) {
						a->count[e]++;
						if ((int)(e / p->L % p->C) != c)
							a->bad++;
					}
					break;
				case FORWARD:
				case FCOEF:
				case INFER: {
					float v = bn_forward_y(a->x[e], m, s, b);
					a->y[e] = a->relu ? bn_relu(v) : v;
					break;
				}
				case BSTATS:
					bn_acc_backward(a->x[e], grad(a, e), m, s, &s1, &s2);
					break;
				case BACKWARD:
					a->dx[e] = bn_backward_dx(a->x[e], grad(a, e), m, s, k, (float)M, b, sh[BN_MAX_CB + cl]);
					break;
				}
			}
		}
		la[tid] = s1;
		lb[tid] = s2;
	}
	if (kind == STATS || kind == BSTATS)
		block_partials(p, &t, bx, la, lb, a->part);
	if (kind == STATS && bx == 0)
		for (int cl = 0; cl < t.cbt; cl++) {
			long long c = t.c0 + cl;
			a->part[2LL * p->C * p->B + c] = (double)a->x[c * p->L];
		}
}

// launch runs every block of a (B, tiles_c) grid, in an order that does not
// matter: blocks of one kernel write disjoint elements and partials.
static void launch(const bn_plan *p, int kind, bn_args *a)
{
	for (int by = 0; by < p->tiles_c; by++)
		for (int bx = 0; bx < p->B; bx++)
			block(p, kind, bx, by, a);
}

long long bn_emu_partials(const bn_plan *p) { return 2LL * p->C * p->B + p->C; }

void bn_emu_forward_train(const bn_plan *p, const float *x, const float *gamma, const float *beta, float *run_mean,
			  float *run_var, float *y, float *save_mean, float *save_invstd, float momentum, float eps,
			  int relu, double *part)
{
	bn_args a = {0};
	a.relu = relu;
	a.x = x, a.gamma = gamma, a.beta = beta, a.run_mean = run_mean, a.run_var = run_var, a.y = y;
	a.save_mean = save_mean, a.save_invstd = save_invstd, a.momentum = momentum, a.eps = eps, a.part = part;
	launch(p, STATS, &a);
	launch(p, FORWARD, &a);
}

void bn_emu_forward_partials(const bn_plan *p, const float *x, const float *gamma, const float *beta, float *run_mean,
			     float *run_var, float *y, float *save_mean, float *save_invstd, float momentum, float eps,
			     int relu, const double *part, int nparts, int tile_rows, float *coef)
{
	int rows = p->N * p->L;
	// batchnorm_partials_combine, block c.
	for (int c = 0; c < p->C; c++) {
		double mean, var;
		bns_emu_combine(part, p->C, nparts, tile_rows, rows, c, &mean, &var);
		double invstd = bn_invstd(var, eps);
		coef[c] = (float)mean;
		coef[p->C + c] = bn_scale(gamma[c], invstd);
		save_mean[c] = (float)mean;
		save_invstd[c] = (float)invstd;
		run_mean[c] = bn_running(run_mean[c], mean, momentum);
		run_var[c] = bn_running(run_var[c], bn_unbiased(var, rows), momentum);
	}
	bn_args a = {0};
	a.relu = relu;
	a.x = x, a.beta = beta, a.y = y, a.coef = coef;
	launch(p, FCOEF, &a);
}

void bn_emu_forward_infer(const bn_plan *p, const float *x, const float *gamma, const float *beta,
			  const float *run_mean, const float *run_var, float *y, float eps, int relu)
{
	bn_args a = {0};
	a.relu = relu;
	a.x = x, a.gamma = gamma, a.beta = beta, a.run_mean_in = run_mean, a.run_var_in = run_var, a.y = y, a.eps = eps;
	launch(p, INFER, &a);
}

void bn_emu_backward(const bn_plan *p, const float *x, const float *dy, const float *yr, const float *gamma,
		     const float *save_mean, const float *save_invstd, float *dx, float *dgamma, float *dbeta, double *part)
{
	bn_args a = {0};
	a.yr = yr;
	a.x = x, a.dy = dy, a.gamma = gamma, a.mean = save_mean, a.invstd = save_invstd, a.dx = dx;
	a.dgamma = dgamma, a.dbeta = dbeta, a.part = part;
	launch(p, BSTATS, &a);
	launch(p, BACKWARD, &a);
}

int bn_emu_cover(const bn_plan *p, const float *x, int *count, double *part)
{
	bn_args a = {0};
	a.x = x, a.count = count, a.part = part;
	launch(p, STATS, &a);
	return a.bad;
}
