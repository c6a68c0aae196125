package cpu

import (
	"github.com/cnnctl/cnnctl/internal/tensor"
)

// Add: y = a + b elementwise (same element count); y may be a or b.
func (b *Backend) Add(a, bt, y *tensor.Tensor) {
	if hasBF16(a, bt, y) {
		b.emulate("add", []*tensor.Tensor{a, bt, y}, 1<<2, func(t []*tensor.Tensor) { b.Add(t[0], t[1], t[2]) })
		return
	}
	b.binary("add", a, bt, y, func(u, v float32) float32 { return u + v }, addRange)
}

// Mul: y = a * b elementwise (same element count); y may be a or b.
func (b *Backend) Mul(a, bt, y *tensor.Tensor) {
	if hasBF16(a, bt, y) {
		b.emulate("mul", []*tensor.Tensor{a, bt, y}, 1<<2, func(t []*tensor.Tensor) { b.Mul(t[0], t[1], t[2]) })
		return
	}
	b.binary("mul", a, bt, y, func(u, v float32) float32 { return u * v }, mulRange)
}

// binary checks and runs an elementwise op of two tensors: fast on the
// fast engine, f per element on the reference (f may be nil for an op the
// reference runs otherwise).
func (b *Backend) binary(op string, a, bt, y *tensor.Tensor, f func(u, v float32) float32, fast func(a, b, y []float32)) {
	c := b.call(op)
	ad := c.data("a", a, 0)
	bd := c.data("b", bt, 0)
	yd := c.data("y", y, 0)
	if !(len(ad) == len(bd) && len(ad) == len(yd)) {
		c.fail("a %v, b %v and y %v differ in size", a.Shape, bt.Shape, y.Shape)
	}
	if !c.ok() {
		return
	}
	if !b.ref {
		parallelElems(len(yd), func(lo, hi int) { fast(ad[lo:hi], bd[lo:hi], yd[lo:hi]) })
		return
	}
	parallelElems(len(yd), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			yd[i] = f(ad[i], bd[i])
		}
	})
}

// addRange writes y = a + b: the fast engine's loop, without the reference's
// call per element (the multiple-of-8 prefix in AVX2, the same bits).
func addRange(a, b, y []float32) {
	b, y = b[:len(a)], y[:len(a)]
	for i := addVector(a, b, y, false); i < len(a); i++ {
		y[i] = a[i] + b[i]
	}
}

// mulRange writes y = a · b.
func mulRange(a, b, y []float32) {
	b, y = b[:len(a)], y[:len(a)]
	for i, v := range a {
		y[i] = v * b[i]
	}
}
