package cpu

import (
	"github.com/cnnctl/cnnctl/internal/tensor"
)

// LinearForward: x (N,I), w (O,I), b (O) or nil -> y (N,O),
// y[n][o] = b[o] + Σ_i x[n][i] · w[o][i]. The batch is split over goroutines.
func (b *Backend) LinearForward(x, w, bias, y *tensor.Tensor) {
	if hasBF16(x, w, bias, y) {
		b.emulate("linear forward", []*tensor.Tensor{x, w, bias, y}, 1<<3, func(t []*tensor.Tensor) { b.LinearForward(t[0], t[1], t[2], t[3]) })
		return
	}
	c := b.call("linear forward")
	xd := c.data("x", x, 2)
	wd := c.data("w", w, 2)
	yd := c.data("y", y, 2)
	var bd []float32
	if bias != nil {
		bd = c.data("b", bias, 1)
	}
	if c.err != nil {
		c.ok()
		return
	}
	n, in, out := x.Shape[0], x.Shape[1], w.Shape[0]
	if c.err == nil && w.Shape[1] != in {
		c.fail("w %v does not match x %v", w.Shape, x.Shape)
	}
	c.shape("y", y, n, out)
	if bias != nil {
		c.shape("b", bias, out)
	}
	if !c.ok() {
		return
	}
	if !b.ref {
		b.linearForward(n, in, out, xd, wd, bd, yd)
		return
	}
	parallelFor(n, func(_, lo, hi int) {
		matmul(false, true, hi-lo, out, in, xd[lo*in:], in, wd, in, yd[lo*out:], out, false)
		if bd != nil {
			for i := lo; i < hi; i++ {
				for o := range out {
					yd[i*out+o] += bd[o]
				}
			}
		}
	})
}

// LinearBackward: x (N,I), w (O,I), dy (N,O) -> dx (N,I) or nil, dw (O,I), db (O) or nil:
// dx = dy · w, dw = dyᵀ · x, db[o] = Σ_n dy[n][o].
func (b *Backend) LinearBackward(x, w, dy, dx, dw, db *tensor.Tensor) {
	if hasBF16(x, w, dy, dx, dw, db) {
		b.emulate("linear backward", []*tensor.Tensor{x, w, dy, dx, dw, db}, 1<<3|1<<4|1<<5, func(t []*tensor.Tensor) { b.LinearBackward(t[0], t[1], t[2], t[3], t[4], t[5]) })
		return
	}
	c := b.call("linear backward")
	xd := c.data("x", x, 2)
	wd := c.data("w", w, 2)
	dyd := c.data("dy", dy, 2)
	dwd := c.data("dw", dw, 2)
	var dxd, dbd []float32
	if dx != nil {
		dxd = c.data("dx", dx, 2)
	}
	if db != nil {
		dbd = c.data("db", db, 1)
	}
	if c.err != nil {
		c.ok()
		return
	}
	n, in, out := x.Shape[0], x.Shape[1], w.Shape[0]
	if c.err == nil && w.Shape[1] != in {
		c.fail("w %v does not match x %v", w.Shape, x.Shape)
	}
	c.shape("dy", dy, n, out)
	c.shape("dw", dw, out, in)
	if dx != nil {
		c.shape("dx", dx, n, in)
	}
	if db != nil {
		c.shape("db", db, out)
	}
	if !c.ok() {
		return
	}
	if !b.ref {
		linearBackward(n, in, out, xd, wd, dyd, dxd, dwd, dbd)
		return
	}
	if dxd != nil {
		parallelFor(n, func(_, lo, hi int) {
			matmul(false, false, hi-lo, in, out, dyd[lo*out:], out, wd, in, dxd[lo*in:], in, false)
		})
	}
	parallelFor(out, func(_, lo, hi int) {
		// dw[lo:hi] (hi-lo, I) = dy[:, lo:hi]ᵀ · x, dy stored (N,O).
		matmul(true, false, hi-lo, in, n, dyd[lo:], out, xd, in, dwd[lo*in:], in, false)
	})
	if dbd != nil {
		for o := range out {
			var s float64
			for i := range n {
				s += float64(dyd[i*out+o])
			}
			dbd[o] = float32(s)
		}
	}
}
