package cpu

import "github.com/cnnctl/cnnctl/internal/gemm"

// linearForward: x (N,I), w (O,I), b (O) or nil -> y (N,O) = b + x · wᵀ,
// one product split over the workers inside gemm. Wide layers compute
// yᵀ = b + w · xᵀ instead (linearWide).
func (b *Backend) linearForward(n, in, out int, xd, wd, bd, yd []float32) {
	if linearWide(n, out) {
		b.linearForwardWide(n, in, out, xd, wd, bd, yd)
		return
	}
	beta := float32(0)
	if bd != nil {
		for i := range n {
			copy(yd[i*out:(i+1)*out], bd)
		}
		beta = 1
	}
	gemm.Sgemm(false, true, n, out, in, 1, xd, in, wd, in, beta, yd, out)
}

// linearWideMinO is the fewest outputs for which linearForward multiplies
// w · xᵀ. As x · wᵀ, gemm packs all of w as its B, kc×nc blocks of 4 MB that
// spill out of L2, for a batch that uses each value only N times; as
// w · xᵀ, w is packed as A in 144×256 blocks that stay in L2 and x (the
// smaller) is the B. BenchmarkLinear 4096x4096 fwd at batch 128, 1 thread:
// about 100 against 85 GFLOP per CPU-second.
const linearWideMinO = 1024

// linearWide reports whether linearForward takes the w · xᵀ form: wide
// layers at batches above gemm's row-dot rows (where x · wᵀ streams w).
func linearWide(n, out int) bool {
	return linearWideMode > 0 || linearWideMode == 0 && out >= linearWideMinO && n > 4
}

// linearWideMode forces the w · xᵀ form on (1) or off (-1) for tests and
// benchmarks; 0 leaves the choice to linearWide.
var linearWideMode = 0

// linearForwardWide is linearForward as yᵀ (O,N) = b + w · xᵀ, then y = (yᵀ)ᵀ.
// Each element is the same sum in the same order as in x · wᵀ (gemm's
// tiles accumulate over the same K slices whichever operand is A), so the
// bits are the same.
func (b *Backend) linearForwardWide(n, in, out int, xd, wd, bd, yd []float32) {
	yt := b.bufs(slotGather, 1, out*n)[0]
	beta := float32(0)
	if bd != nil {
		for o, v := range bd {
			fill(yt[o*n:(o+1)*n], v)
		}
		beta = 1
	}
	gemm.Sgemm(false, true, out, n, in, 1, wd, in, xd, in, beta, yt, n)
	// y (N,O) = yᵀ transposed, in blocks of 32 outputs so that the rows
	// of yᵀ being read stay in cache.
	const blk = 32
	parallelFor((out+blk-1)/blk, func(_, lo, hi int) {
		for o0 := lo * blk; o0 < min(out, hi*blk); o0 += blk {
			o1 := min(out, o0+blk)
			for i := range n {
				row := yd[i*out+o0 : i*out+o1]
				for j := range row {
					row[j] = yt[(o0+j)*n+i]
				}
			}
		}
	})
}

// linearBackward: x (N,I), w (O,I), dy (N,O) -> dx (N,I) or nil, dw (O,I), db (O) or nil:
// dx = dy · w, dw = dyᵀ · x, db = column sums of dy (float64).
func linearBackward(n, in, out int, xd, wd, dyd, dxd, dwd, dbd []float32) {
	if dxd != nil {
		gemm.Sgemm(false, false, n, in, out, 1, dyd, out, wd, in, 0, dxd, in)
	}
	gemm.Sgemm(true, false, out, in, n, 1, dyd, out, xd, in, 0, dwd, in)
	if dbd != nil {
		parallelFor(out, func(_, lo, hi int) {
			for o := lo; o < hi; o++ {
				var s float64
				for i := range n {
					s += float64(dyd[i*out+o])
				}
				dbd[o] = float32(s)
			}
		})
	}
}
