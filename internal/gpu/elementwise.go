//go:build cuda

package gpu

import "github.com/cnnctl/cnnctl/internal/tensor"

// Add: y = a + b elementwise; y may be a or b.
func (b *Backend) Add(x, z, y *tensor.Tensor) { b.binary("add", x, z, y) }

var _ tensor.AddReLU = (*Backend)(nil)

// AddReLU: y = max(0, a + b) elementwise in one pass (float4s where
// aligned); y may be a or b. Bit for bit Add then ActivationForward(ReLU).
func (b *Backend) AddReLU(x, z, y *tensor.Tensor) { b.binary("add_relu", x, z, y) }

// Mul: y = a * b elementwise; y may be a or b.
func (b *Backend) Mul(x, z, y *tensor.Tensor) { b.binary("mul", x, z, y) }

func (b *Backend) binary(op string, x, z, y *tensor.Tensor) {
	c := b.call(op)
	xp, zp, yp := c.ptr("a", x, 0), c.ptr("b", z, 0), c.ptr("y", y, 0)
	c.check(c.err != nil || x.Numel() == z.Numel() && x.Numel() == y.Numel(),
		"a %v, b %v and y %v differ in size", x.Shape, z.Shape, y.Shape)
	c.launch(op, b.grid1D(x.Numel()), xp, zp, yp, int64(x.Numel()))
}

// Fill sets every element of t to v.
func (b *Backend) Fill(t *tensor.Tensor, v float32) {
	c := b.call("fill")
	tp := c.ptr("t", t, 0)
	c.launch("fill", b.grid1D(t.Numel()), tp, v, int64(t.Numel()))
}

// Copy copies src into dst (same element count and dtype, no overlap).
func (b *Backend) Copy(dst, src *tensor.Tensor) {
	c := b.call("copy")
	dp, sp := c.raw("dst", dst, 0), c.raw("src", src, 0)
	c.check(c.err != nil || dst.Numel() == src.Numel(), "dst %v and src %v differ in size", dst.Shape, src.Shape)
	c.check(c.err != nil || dst.DType == src.DType, "dst is %v, src %v; use Cast to convert", dst.DType, src.DType)
	name := "copy"
	if src.DType == tensor.BF16 {
		name = "copy_bf16"
	}
	c.launch(name, b.grid1D(src.Numel()), dp, sp, int64(src.Numel()))
}
