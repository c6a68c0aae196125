package layers

import (
	"github.com/cnnctl/cnnctl/internal/tensor"
)

// ShortcutPad is ResNet's parameter-free "option A" shortcut:
// x (N,C,H,W) -> y (N,K,ceil(H/stride),ceil(W/stride)), every stride-th
// pixel, the C channels placed at offset (K-C)/2 and zeros around them.
type ShortcutPad struct {
	base
	leaf
	K, Stride int

	be      tensor.Backend
	in, out tensor.Shape
	y, dx   *tensor.Tensor
}

// NewShortcutPad returns an option A shortcut to k channels (type "shortcutpad").
func NewShortcutPad(name string, k, stride int) Layer {
	return &ShortcutPad{base: base{name, "shortcutpad"}, K: k, Stride: stride}
}

// Setup checks in (C,H,W), C <= K and stride >= 1.
func (l *ShortcutPad) Setup(ctx *Context, in tensor.Shape) (tensor.Shape, error) {
	if err := l.image(in); err != nil {
		return nil, err
	}
	if l.Stride < 1 {
		return nil, l.errorf("stride %d, want >= 1", l.Stride)
	}
	if l.K < in[0] {
		return nil, l.errorf("input %v has more channels than the %d of the output", in, l.K)
	}
	l.be = ctx.Backend
	l.in = in.Clone()
	l.out = tensor.Shape{l.K, (in[1] + l.Stride - 1) / l.Stride, (in[2] + l.Stride - 1) / l.Stride}
	return l.out.Clone(), nil
}

// Forward: x (N,C,H,W) -> y (N,K,OH,OW).
func (l *ShortcutPad) Forward(x *tensor.Tensor, train bool) *tensor.Tensor {
	y := ensure(l.be, &l.y, batched(x.Shape[0], l.out), x.DType)
	l.be.ShortcutPadForward(x, y, l.Stride)
	return y
}

// Backward: dy (N,K,OH,OW) -> dx (N,C,H,W), zero at the skipped pixels.
func (l *ShortcutPad) Backward(dy *tensor.Tensor) *tensor.Tensor {
	dx := ensure(l.be, &l.dx, batched(dy.Shape[0], l.in), dy.DType)
	l.be.ShortcutPadBackward(dy, dx, l.Stride)
	return dx
}
