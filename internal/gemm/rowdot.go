package gemm

import "github.com/cnnctl/cnnctl/internal/parallel"

// The row-dot path: C = alpha·A·Bᵀ + beta·C for an A of at most rowDotMaxM
// rows, the shape of a linear layer at batch 1 (a matrix-vector product:
// x (1×K) times the weights W (N×K) transposed). Each element of C is the
// dot product of a row of A and a row of B, both contiguous, so B is
// streamed once from memory as it is stored. The blocked path would pack
// all of B first (reading and writing it once more) and then run a tile
// MR rows tall for one row of A: for the 4096×4096 layers of the MLP and
// AlexNet at batch 1 the product is bound by reading B, and packing it
// doubles that.
//
// A kernel (dotKernel) keeps lane-wise partial sums of MR rows of A against
// NV rows of B for the first ⌊K/L⌋·L columns; the lanes are then summed in
// order and the last K mod L products added one by one. Each element's sum
// is computed whole by one worker, so the bits do not depend on the number
// of workers.

// rowDotMaxM is the most rows of A the row-dot path takes; taller products
// use the blocked path. A variable so benchmarks can compare both.
var rowDotMaxM = 4

// useRowDot reports whether sgemm takes the row-dot path for this product.
func (f *family) useRowDot(transA, transB bool, m, k int) bool {
	return len(f.rowDot) > 0 && !transA && transB && m <= rowDotMaxM && k >= f.rowDot[0].lanes
}

// rowDots computes C = alpha·A·Bᵀ + beta·C (A m×K, B n×K, C m×n, row-major)
// over up to workers threads, splitting the rows of B.
func rowDots(f *family, workers, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	// Split B's rows in chunks of a multiple of 4 rows.
	const unit = 4
	units := (n + unit - 1) / unit
	workers = max(1, min(workers, units))
	if m*n*k < parallelMinWork {
		workers = 1
	}
	per := (units + workers - 1) / workers * unit
	chunks := (n + per - 1) / per
	if chunks <= 1 {
		rowDotRange(f, 0, n, m, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	t := tasks.Get().(*task)
	*t = task{f: f, per: per, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc}
	parallel.Split(chunks, chunks, t)
	*t = task{}
	tasks.Put(t)
}

// rowDotRange computes columns [lo, hi) of C on the calling goroutine.
func rowDotRange(f *family, lo, hi, m, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	ws := workspaces.Get().(*workspace)
	var offs [4]int
	for i := 0; i < m; {
		// The tallest kernel that fits the rows left.
		kr := f.rowDot[len(f.rowDot)-1]
		for _, cand := range f.rowDot {
			if cand.mr <= m-i {
				kr = cand
				break
			}
		}
		lanes := kr.lanes
		steps := k / lanes
		tile := kr.mr * kr.nv * lanes
		ws.tile = grow(ws.tile, tile)
		acc := ws.tile
		for j := lo; j < hi; j += kr.nv {
			nn := min(kr.nv, hi-j)
			// Rows of B past hi repeat the last one: read, not stored.
			for q := range kr.nv {
				offs[q] = (j + min(q, nn-1)) * ldb
			}
			clear(acc)
			kr.fn(steps, a[i*lda:], lda, b, offs[:kr.nv], acc)
			for r := range kr.mr {
				ar := a[(i+r)*lda : (i+r)*lda+k]
				for q := range nn {
					v := acc[(r*kr.nv+q)*lanes : (r*kr.nv+q+1)*lanes]
					var s float32
					for _, x := range v {
						s += x
					}
					br := b[(j+q)*ldb : (j+q)*ldb+k]
					for p := steps * lanes; p < k; p++ {
						s += ar[p] * br[p]
					}
					e := &c[(i+r)*ldc+j+q]
					if beta == 0 {
						*e = alpha * s
					} else {
						*e = alpha*s + beta**e
					}
				}
			}
		}
		i += kr.mr
	}
	workspaces.Put(ws)
}
