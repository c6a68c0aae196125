package cpu

import "github.com/cnnctl/cnnctl/internal/tensor"

// Cast converts src into dst, the same number of elements: f32 -> bf16
// rounds to nearest, ties to even (tensor.ToBF16: NaN stays NaN, too large
// becomes infinite), bf16 -> f32 is exact, the same dtype copies. The
// reference converts element by element; the fast engine splits the same
// loop over the threads (parallelElems), which gives the same bits.
func (b *Backend) Cast(dst, src *tensor.Tensor) {
	c := b.call("cast")
	d, s := c.raw("dst", dst), c.raw("src", src)
	c.check(dst.Numel() == src.Numel(), "dst %v and src %v differ in size", dst.Shape, src.Shape)
	if !c.ok() {
		return
	}
	run := parallelElems
	if b.ref {
		run = func(n int, f func(lo, hi int)) { f(0, n) }
	}
	switch {
	case s.f32 != nil && d.bf16 != nil:
		// src (n) f32 -> dst (n) bf16
		run(len(s.f32), func(lo, hi int) {
			for i := lo; i < hi; i++ {
				d.bf16[i] = tensor.ToBF16(s.f32[i])
			}
		})
	case s.bf16 != nil && d.f32 != nil:
		// src (n) bf16 -> dst (n) f32
		run(len(s.bf16), func(lo, hi int) {
			for i := lo; i < hi; i++ {
				d.f32[i] = tensor.FromBF16(s.bf16[i])
			}
		})
	default:
		copy(d.f32, s.f32)
		copy(d.bf16, s.bf16)
	}
}
