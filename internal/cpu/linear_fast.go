package cpu

import "github.com/cnnctl/cnnctl/internal/gemm"

// linearForward: x (N,I), w (O,I), b (O) or nil -> y (N,O) = b + x · wᵀ,
// one product split over the workers inside gemm.
func linearForward(n, in, out int, xd, wd, bd, yd []float32) {
	beta := float32(0)
	if bd != nil {
		for i := range n {
			copy(yd[i*out:(i+1)*out], bd)
		}
		beta = 1
	}
	gemm.Sgemm(false, true, n, out, in, 1, xd, in, wd, in, beta, yd, out)
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
