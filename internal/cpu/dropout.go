package cpu

import (
	"github.com/cnnctl/cnnctl/internal/tensor"
)

// DropoutForward: x, mask, y (any shape, all the same size). For element i,
// u = philoxUniform(seed, counter, i) (see philox.go);
// mask[i] = 1/(1-p) (computed in float32) if u >= p, else 0; y[i] = x[i]*mask[i].
// p = 0 keeps everything, p = 1 drops everything.
func (b *Backend) DropoutForward(x, mask, y *tensor.Tensor, p float32, seed, counter uint64) {
	if hasBF16(x, mask, y) {
		b.emulate("dropout forward", []*tensor.Tensor{x, mask, y}, 1<<1|1<<2, func(t []*tensor.Tensor) { b.DropoutForward(t[0], t[1], t[2], p, seed, counter) })
		return
	}
	c := b.call("dropout forward")
	xd := c.data("x", x, 0)
	md := c.data("mask", mask, 0)
	yd := c.data("y", y, 0)
	if !(len(xd) == len(md) && len(xd) == len(yd)) {
		c.fail("x %v, mask %v and y %v differ in size", x.Shape, mask.Shape, y.Shape)
	}
	if !(p >= 0 && p <= 1) {
		c.fail("p = %g, want 0 <= p <= 1", p)
	}
	if !c.ok() {
		return
	}
	scale := 1 / (1 - p)
	parallelElems(len(xd), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			m := float32(0)
			if philoxUniform(seed, counter, uint64(i)) >= p {
				m = scale
			}
			md[i] = m
			yd[i] = xd[i] * m
		}
	})
}

var _ tensor.DropoutAt = (*Backend)(nil)

// DropoutForwardAt is DropoutForward with the counter read from the
// 1-element tensor counter: the same loop, so the same bits.
func (b *Backend) DropoutForwardAt(x, mask, y *tensor.Tensor, p float32, seed uint64, counter *tensor.Tensor) {
	c := b.call("dropout forward")
	n := c.index("counter", counter, 1<<24+1)
	if !c.ok() {
		return
	}
	b.DropoutForward(x, mask, y, p, seed, uint64(n))
}
