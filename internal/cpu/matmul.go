package cpu

// matmul computes c = op(a)·op(b), or c += op(a)·op(b) when acc, where c is
// (m,n), op(a) is (m,k) and op(b) is (k,n), all row-major with leading
// dimensions lda, ldb, ldc. op(a) is a as stored when ta is false, else aᵀ
// (a is then stored (k,m)); likewise for b and tb.
//
// It is the one matrix product of the package, serial and plain; callers
// parallelise around it. A faster SGEMM replaces this function alone.
func matmul(ta, tb bool, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int, acc bool) {
	for i := range m {
		ci := c[i*ldc : i*ldc+n]
		if !acc {
			clear(ci)
		}
		if tb {
			// c[i][j] += Σ_p a(i,p) · b[j][p]: a dot product per element.
			for j := range n {
				bj := b[j*ldb : j*ldb+k]
				var s float32
				if ta {
					for p := range k {
						s += a[p*lda+i] * bj[p]
					}
				} else {
					ai := a[i*lda : i*lda+k]
					for p := range k {
						s += ai[p] * bj[p]
					}
				}
				ci[j] += s
			}
			continue
		}
		// c[i][:] += a(i,p) · b[p][:]: rows of b scaled and added.
		for p := range k {
			var aip float32
			if ta {
				aip = a[p*lda+i]
			} else {
				aip = a[i*lda+p]
			}
			bp := b[p*ldb : p*ldb+n]
			for j := range n {
				ci[j] += aip * bp[j]
			}
		}
	}
}
