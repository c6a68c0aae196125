//go:build cuda

package gpu

import "github.com/cnnctl/cnnctl/internal/tensor"

// Add: y = a + b elementwise; y may be a or b. All f32, or all bf16.
func (b *Backend) Add(x, z, y *tensor.Tensor) {
	b.binary("add", "add_bf16", x, z, y, bf16x3)
}

var _ tensor.AddReLU = (*Backend)(nil)

// AddReLU: y = max(0, a + b) elementwise in one pass (float4s where
// aligned); y may be a or b. Bit for bit Add then ActivationForward(ReLU).
// All f32, or all bf16.
func (b *Backend) AddReLU(x, z, y *tensor.Tensor) {
	b.binary("add_relu", "add_relu_bf16", x, z, y, bf16x3)
}

// Mul: y = a * b elementwise; y may be a or b. All f32, or a and y bf16
// with b f32 (dropout's backward: dy times its float32 mask).
func (b *Backend) Mul(x, z, y *tensor.Tensor) {
	b.binary("mul", "mul_bf16_f32", x, z, y, bf16Mul)
}

// binary launches kernel op (all f32) or variant (the dtypes want) on a,
// b and y.
func (b *Backend) binary(op, variant string, x, z, y *tensor.Tensor, want []tensor.DType) {
	c := b.call(op)
	name := c.storage(op, variant, []*tensor.Tensor{x, z, y}, []string{"a", "b", "y"}, want)
	xp, zp, yp := c.raw("a", x, 0), c.raw("b", z, 0), c.raw("y", y, 0)
	c.check(c.err != nil || x.Numel() == z.Numel() && x.Numel() == y.Numel(),
		"a %v, b %v and y %v differ in size", x.Shape, z.Shape, y.Shape)
	c.launch(name, b.grid1D(x.Numel()), xp, zp, yp, int64(x.Numel()))
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
