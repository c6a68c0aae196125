package cpu

import (
	"math/rand/v2"
	"testing"
)

// TestMatmul checks every transposition against c[i][j] = Σ_p a(i,p)·b(p,j)
// in float64, on sub-matrices (leading dimensions wider than the matrices).
func TestMatmul(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	const m, n, k, pad = 5, 7, 3, 2
	for _, ta := range []bool{false, true} {
		for _, tb := range []bool{false, true} {
			for _, acc := range []bool{false, true} {
				// a(i,p) and b(p,j) as mathematical matrices.
				at := func(i, p int) (int, int) { return i, p }
				arows, acols := m, k
				if ta {
					at = func(i, p int) (int, int) { return p, i }
					arows, acols = k, m
				}
				bt := func(p, j int) (int, int) { return p, j }
				brows, bcols := k, n
				if tb {
					bt = func(p, j int) (int, int) { return j, p }
					brows, bcols = n, k
				}
				lda, ldb, ldc := acols+pad, bcols+pad, n+pad
				a, b, c := random(r, arows*lda), random(r, brows*ldb), random(r, m*ldc)
				c0 := append([]float32(nil), c...)
				matmul(ta, tb, m, n, k, a, lda, b, ldb, c, ldc, acc)
				for i := range m {
					for j := range ldc {
						want := float64(c0[i*ldc+j]) // the padding columns are untouched
						if j < n {
							if !acc {
								want = 0
							}
							for p := range k {
								ai, ap := at(i, p)
								bp, bj := bt(p, j)
								want += float64(a[ai*lda+ap]) * float64(b[bp*ldb+bj])
							}
						}
						expect(t, "c", c[i*ldc+j:i*ldc+j+1], []float64{want}, 1e-5)
					}
				}
			}
		}
	}
}
