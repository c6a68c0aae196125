package cpu

import (
	"math"

	"github.com/cnnctl/cnnctl/internal/tensor"
)

// Cast converts src into dst, the same number of elements: f32 -> bf16
// rounds to nearest, ties to even (tensor.ToBF16: NaN stays NaN, too large
// becomes infinite), bf16 -> f32 is exact, the same dtype copies. The
// reference converts element by element with tensor.ToBF16; the fast
// engine runs a branch-free loop on the bits (toBF16) split over the
// threads, and gives the same bits (TestSharedCases, the Cast cases).
func (b *Backend) Cast(dst, src *tensor.Tensor) {
	c := b.call("cast")
	d, s := c.raw("dst", dst), c.raw("src", src)
	if !(dst.Numel() == src.Numel()) {
		c.fail("dst %v and src %v differ in size", dst.Shape, src.Shape)
	}
	if !c.ok() {
		return
	}
	if b.ref {
		castRef(d, s)
		return
	}
	switch {
	case s.f32 != nil && d.bf16 != nil:
		parallelElems(len(s.f32), func(lo, hi int) { toBF16(d.bf16[lo:hi], s.f32[lo:hi]) })
	case s.bf16 != nil && d.f32 != nil:
		parallelElems(len(s.bf16), func(lo, hi int) { fromBF16(d.f32[lo:hi], s.bf16[lo:hi]) })
	default:
		copy(d.f32, s.f32)
		copy(d.bf16, s.bf16)
	}
}

// castRef is the reference: element by element, tensor.ToBF16 and
// tensor.FromBF16 as written.
func castRef(d, s typed) {
	switch {
	case s.f32 != nil && d.bf16 != nil:
		// src (n) f32 -> dst (n) bf16
		for i := range s.f32 {
			d.bf16[i] = tensor.ToBF16(s.f32[i])
		}
	case s.bf16 != nil && d.f32 != nil:
		// src (n) bf16 -> dst (n) f32
		for i := range s.bf16 {
			d.f32[i] = tensor.FromBF16(s.bf16[i])
		}
	default:
		copy(d.f32, s.f32)
		copy(d.bf16, s.bf16)
	}
}

// toBF16 is tensor.ToBF16 over a slice, on the bits, without bounds checks
// in the loop: dst (n) bf16 <- src (n) f32.
func toBF16(dst []uint16, src []float32) {
	dst = dst[:len(src)]
	for i, f := range src {
		u := math.Float32bits(f)
		r := uint16((u + 0x7fff + (u>>16)&1) >> 16)
		if u&0x7fffffff > 0x7f800000 {
			r = uint16(u>>16) | 0x0040
		}
		dst[i] = r
	}
}

// fromBF16 widens: dst (n) f32 <- src (n) bf16.
func fromBF16(dst []float32, src []uint16) {
	dst = dst[:len(src)]
	for i, h := range src {
		dst[i] = math.Float32frombits(uint32(h) << 16)
	}
}
