//go:build cuda

package gpu

import "github.com/cnnctl/cnnctl/internal/tensor"

// ActivationForward: y = f(x), any shape; y may be x.
func (b *Backend) ActivationForward(a tensor.Activation, x, y *tensor.Tensor) {
	c := b.call("activation forward")
	xp, yp := c.ptr("x", x, 0), c.ptr("y", y, 0)
	c.check(a == tensor.ReLU || a == tensor.Sigmoid || a == tensor.Tanh, "unknown %v", a)
	c.check(c.err != nil || x.Numel() == y.Numel(), "x %v and y %v differ in size", x.Shape, y.Shape)
	c.launch("activation_forward", b.grid1D(x.Numel()), xp, yp, int64(x.Numel()), int(a))
}

// ActivationBackward: dx = dy * f'(x), from y = f(x); dx may be dy.
func (b *Backend) ActivationBackward(a tensor.Activation, y, dy, dx *tensor.Tensor) {
	c := b.call("activation backward")
	yp, dyp, dxp := c.ptr("y", y, 0), c.ptr("dy", dy, 0), c.ptr("dx", dx, 0)
	c.check(a == tensor.ReLU || a == tensor.Sigmoid || a == tensor.Tanh, "unknown %v", a)
	c.check(c.err != nil || y.Numel() == dy.Numel() && y.Numel() == dx.Numel(),
		"y %v, dy %v and dx %v differ in size", y.Shape, dy.Shape, dx.Shape)
	c.launch("activation_backward", b.grid1D(y.Numel()), yp, dyp, dxp, int64(y.Numel()), int(a))
}
