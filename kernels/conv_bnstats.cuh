// conv_bnstats.cuh: the block step of the epilogue statistics (see
// bnstats.cuh), shared by the TF32 and bf16 tensor-core forwards
// (tc_gemm and bf_gemm with STATS). Device code; its arithmetic and order
// are bnstats.cuh's CNNCTL_HD functions, which internal/kernelhost runs.
#ifndef CNNCTL_CONV_BNSTATS_CUH
#define CNNCTL_CONV_BNSTATS_CUH

#include <type_traits>
#include <utility>

#include "bnstats.cuh"
#include "conv2d_tc.cuh"

// bns_shfl_down is __shfl_down_sync of the three doubles of a.
__device__ __forceinline__ BnsAcc bns_shfl_down(BnsAcc a, int o)
{
	BnsAcc r;
	r.n = __shfl_down_sync(0xffffffffu, a.n, o);
	r.mean = __shfl_down_sync(0xffffffffu, a.mean, o);
	r.m2 = __shfl_down_sync(0xffffffffu, a.m2, o);
	return r;
}

static_assert(2 * TC_MT == 4, "bns_leaf takes a lane's 4 values of a column");

// BNS_SMEM_BYTES is the shared memory conv_bn_partials needs: one BnsAcc
// per (warp row, block column).
#define BNS_SMEM_BYTES (TC_WARPS_M * TC_BN * (int)sizeof(BnsAcc))

// conv_bn_partials stores block (blockIdx.x, blockIdx.y)'s partials of
// the output it has just stored: acc holds, per lane, the stored values
// y (after the bias) of tc_frag_c's elements, at block rows m0 and
// columns n0, warp origin (wm, wn); rows are the GEMM's rows (N*OH*OW),
// K its columns; part is bnstats.cuh's layout with B = gridDim.x. sh is
static_assert(2 * TC_MT == 4, "bns_leaf takes a lane's 4 values of a column");

// BNS_SMEM_BYTES of shared memory that no thread reads or writes any more
// (the pipeline's, after the main loop). Every thread of the block calls it.
__device__ __forceinline__ void conv_bn_partials(const float (&acc)[TC_MT][TC_NT][4], int m0, int n0, int wm, int wn,
						 int rows, int K, double *part, BnsAcc *sh)
{
	const int lane = threadIdx.x & 31, wi = (threadIdx.x >> 5) % TC_WARPS_M;
	// The lane's values inside the GEMM are a prefix of its leaf order.
	int cnt = 0;
#pragma unroll
	for (int q = 0; q < 2 * TC_MT; q++)
		cnt += m0 + bns_leaf_row(wm, lane, q) < rows;
	__syncthreads(); // every warp is done with the pipeline's shared memory
#pragma unroll
	for (int j = 0; j < TC_NT; j++)
#pragma unroll
		for (int p = 0; p < 2; p++) {
			float v[4];
#pragma unroll
			for (int q = 0; q < 2 * TC_MT; q++)
				v[q] = acc[q >> 1][j][2 * (q & 1) + p];
			BnsAcc a = bns_leaf(v, cnt);
#pragma unroll
			for (int o = 16; o >= 4; o >>= 1)
				a = bns_chan(a, bns_shfl_down(a, o));
			if (lane < 4)
				sh[wi * TC_BN + bns_leaf_col(wn, lane, j, p)] = a;
		}
	__syncthreads();
	const int col = threadIdx.x, c = n0 + col;
	if (col < TC_BN && c < K) {
		BnsAcc t = bns_chain(sh + col, TC_WARPS_M, TC_BN);
		long long B = gridDim.x;
		part[c * B + blockIdx.x] = t.mean;
		part[(K + c) * B + blockIdx.x] = t.m2;
	}
}

// tc_op_row is the store loop's handle of GEMM row m of op: op.row(m)
// where op has one (the forwards: the row decoded once, see tc_row_off),
// else m itself; op.store takes it with the column.
template <class Op, class = void> struct tc_has_row : std::false_type {
};
template <class Op>
struct tc_has_row<Op, std::void_t<decltype(std::declval<const Op &>().row(0))>> : std::true_type {
};
template <class Op> __device__ __forceinline__ auto tc_op_row(const Op &op, int m)
{
	if constexpr (tc_has_row<Op>::value)
		return op.row(m);
	else
		return m;
}

// tc_store_tile is the tensor-core GEMMs' epilogue (tc_gemm, bf_gemm):
// each lane stores the accumulators it owns through op.store, at block
// rows m0 and columns n0, warp origin (wm, wn), inside the M x Nc GEMM,
// row by row: c_{2h} and c_{2h+1} of every mma tile along N lie on one row
// (tc_frag_c), whose handle (tc_op_row) is formed once for them all.
// With STATS (a forward whose store returns the value stored) acc keeps
// the stored values and the block's batch-norm partials go to part, smem
// being the pipeline's shared memory, which no thread reads any more.
template <bool STATS, class Op>
__device__ __forceinline__ void tc_store_tile(const Op &op, float (&acc)[TC_MT][TC_NT][4], int m0, int n0, int wm, int wn,
					      int M, int Nc, double *part, void *smem)
{
	const int lane = threadIdx.x & 31;
#pragma unroll
	for (int i = 0; i < TC_MT; i++)
#pragma unroll
		for (int h = 0; h < 2; h++) {
			int row, col;
			tc_frag_c(lane, 2 * h, &row, &col);
			const int m = m0 + wm + 16 * i + row;
			if (m >= M)
				continue;
			const auto r = tc_op_row(op, m);
#pragma unroll
			for (int j = 0; j < TC_NT; j++)
#pragma unroll
				for (int p = 0; p < 2; p++) {
					const int e = 2 * h + p;
					tc_frag_c(lane, e, &row, &col);
					const int n = n0 + wn + 8 * j + col;
					if (n < Nc) {
						if constexpr (STATS)
							acc[i][j][e] = op.store(r, n, acc[i][j][e]);
						else
							op.store(r, n, acc[i][j][e]);
					}
				}
		}
	if constexpr (STATS)
		conv_bn_partials(acc, m0, n0, wm, wn, M, Nc, part, static_cast<BnsAcc *>(smem));
}

#endif
