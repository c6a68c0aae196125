//go:build cuda

package gpu

import "github.com/cnnctl/cnnctl/internal/tensor"

// DropoutForward: mask[i] = 1/(1-p) if the Philox4x32-10 uniform of (seed,
// counter, i) is >= p, else 0; y = x * mask. The same recipe as
// internal/cpu/philox.go, so masks are equal on both backends. All f32, or
// x and y bf16 with a float32 mask (storage.go).
func (b *Backend) DropoutForward(x, mask, y *tensor.Tensor, p float32, seed, counter uint64) {
	c := b.call("dropout forward")
	name := c.storage("dropout_forward", "dropout_forward_bf16", []*tensor.Tensor{x, mask, y}, []string{"x", "mask", "y"}, bf16Mul)
	xp, mp, yp := c.raw("x", x, 0), c.raw("mask", mask, 0), c.raw("y", y, 0)
	c.check(c.err != nil || x.Numel() == mask.Numel() && x.Numel() == y.Numel(),
		"x %v, mask %v and y %v differ in size", x.Shape, mask.Shape, y.Shape)
	c.check(p >= 0 && p <= 1, "p = %g, want 0 <= p <= 1", p)
	scale := 1 / (1 - p) // float32, as the CPU computes it
	c.launch(name, b.grid1D(x.Numel()), xp, mp, yp, int64(x.Numel()), p, scale, seed, counter)
}

var _ tensor.DropoutAt = (*Backend)(nil)

// DropoutForwardAt is DropoutForward with the counter read by the kernel
// from counter[0], so that a captured step draws a new mask per replay.
// Its dtypes are DropoutForward's.
func (b *Backend) DropoutForwardAt(x, mask, y *tensor.Tensor, p float32, seed uint64, counter *tensor.Tensor) {
	c := b.call("dropout forward")
	name := c.storage("dropout_forward_at", "dropout_forward_at_bf16", []*tensor.Tensor{x, mask, y}, []string{"x", "mask", "y"}, bf16Mul)
	xp, mp, yp := c.raw("x", x, 0), c.raw("mask", mask, 0), c.raw("y", y, 0)
	cp := c.scalar("counter", counter)
	c.check(c.err != nil || x.Numel() == mask.Numel() && x.Numel() == y.Numel(),
		"x %v, mask %v and y %v differ in size", x.Shape, mask.Shape, y.Shape)
	c.check(p >= 0 && p <= 1, "p = %g, want 0 <= p <= 1", p)
	scale := 1 / (1 - p) // float32, as the CPU computes it
	c.launch(name, b.grid1D(x.Numel()), xp, mp, yp, int64(x.Numel()), p, scale, seed, cp)
}
