//go:build cuda

package gpu

import "github.com/cnnctl/cnnctl/internal/tensor"

// ActivationForward: y = f(x), any shape; y may be x. x and y both f32,
// or both bf16 (storage.go).
func (b *Backend) ActivationForward(a tensor.Activation, x, y *tensor.Tensor) {
	c := b.call("activation forward")
	name := c.storage("activation_forward", "activation_forward_bf16", []*tensor.Tensor{x, y}, []string{"x", "y"}, bf16x2)
	xp, yp := c.raw("x", x, 0), c.raw("y", y, 0)
	c.check(a == tensor.ReLU || a == tensor.Sigmoid || a == tensor.Tanh, "unknown %v", a)
	c.check(c.err != nil || x.Numel() == y.Numel(), "x %v and y %v differ in size", x.Shape, y.Shape)
	c.launch(name, b.grid1D(x.Numel()), xp, yp, int64(x.Numel()), int(a))
}

// ActivationBackward: dx = dy * f'(x), from y = f(x); dx may be dy. All
// f32, or all bf16 (storage.go).
func (b *Backend) ActivationBackward(a tensor.Activation, y, dy, dx *tensor.Tensor) {
	c := b.call("activation backward")
	name := c.storage("activation_backward", "activation_backward_bf16", []*tensor.Tensor{y, dy, dx}, []string{"y", "dy", "dx"}, bf16x3)
	yp, dyp, dxp := c.raw("y", y, 0), c.raw("dy", dy, 0), c.raw("dx", dx, 0)
	c.check(a == tensor.ReLU || a == tensor.Sigmoid || a == tensor.Tanh, "unknown %v", a)
	c.check(c.err != nil || y.Numel() == dy.Numel() && y.Numel() == dx.Numel(),
		"y %v, dy %v and dx %v differ in size", y.Shape, dy.Shape, dx.Shape)
	c.launch(name, b.grid1D(y.Numel()), yp, dyp, dxp, int64(y.Numel()), int(a))
}
