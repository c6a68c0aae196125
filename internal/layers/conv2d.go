package layers

import (
	"github.com/cnnctl/cnnctl/internal/tensor"
)

// Conv2D is nn.Conv2d: x (N,C,H,W), weight (K,C,R,S), bias (K) -> y (N,K,OH,OW).
type Conv2D struct {
	base
	noChildren
	K, R, S int
	P       tensor.ConvParams
	HasBias bool

	be      tensor.Backend
	in, out tensor.Shape
	Weight  *Param
	Bias    *Param // nil without bias

	x, y, dx *tensor.Tensor
	// skipDX leaves out the backward data: set by Model.Backward on the
	// network's first layer, whose input gradient nothing uses.
	skipDX bool
}

// SetSkipInputGrad makes Backward leave out dx and return nil.
func (l *Conv2D) SetSkipInputGrad(skip bool) { l.skipDX = skip }

// SkipsInputGrad reports whether Backward leaves out dx.
func (l *Conv2D) SkipsInputGrad() bool { return l.skipDX }

// NewConv2D returns a convolution with k output channels and an r x s
// kernel; the input channels come from the input shape. Its parameters are
// name+".weight" (K,C,R,S) and, with bias, name+".bias" (K). A zero stride
// means 1 (PyTorch's default).
func NewConv2D(name string, k, r, s int, p tensor.ConvParams, bias bool) Layer {
	if p.StrideH == 0 {
		p.StrideH = 1
	}
	if p.StrideW == 0 {
		p.StrideW = 1
	}
	return &Conv2D{base: base{name, "conv2d"}, K: k, R: r, S: s, P: p, HasBias: bias}
}

// Setup checks in (C,H,W) and declares the weight and bias.
func (l *Conv2D) Setup(ctx *Context, in tensor.Shape) (tensor.Shape, error) {
	if err := l.image(in); err != nil {
		return nil, err
	}
	p := l.P
	switch {
	case l.K <= 0 || l.R <= 0 || l.S <= 0:
		return nil, l.errorf("%d output channels, kernel %dx%d: want all >= 1", l.K, l.R, l.S)
	case p.StrideH <= 0 || p.StrideW <= 0:
		return nil, l.errorf("stride %dx%d: want >= 1", p.StrideH, p.StrideW)
	case p.PadH < 0 || p.PadW < 0:
		return nil, l.errorf("padding %dx%d: want >= 0", p.PadH, p.PadW)
	}
	c, h, w := in[0], in[1], in[2]
	if h+2*p.PadH < l.R || w+2*p.PadW < l.S {
		return nil, l.errorf("input %v is smaller than kernel %dx%d with padding %s", in, l.R, l.S, pair(p.PadH, p.PadW))
	}
	oh := (h+2*p.PadH-l.R)/p.StrideH + 1
	ow := (w+2*p.PadW-l.S)/p.StrideW + 1
	l.be = ctx.Backend
	l.in = in.Clone()
	l.out = tensor.Shape{l.K, oh, ow}
	fanIn := c * l.R * l.S
	l.Weight = ctx.Param(l.name+".weight", tensor.Shape{l.K, c, l.R, l.S}, false, uniformInit(fanIn))
	if l.HasBias {
		l.Bias = ctx.Param(l.name+".bias", tensor.Shape{l.K}, false, uniformInit(fanIn))
	}
	return l.out.Clone(), nil
}

// Forward: x (N,C,H,W) -> y (N,K,OH,OW).
func (l *Conv2D) Forward(x *tensor.Tensor, train bool) *tensor.Tensor {
	l.x = x
	y := ensure(l.be, &l.y, batched(x.Shape[0], l.out), x.DType)
	l.be.Conv2DForward(x, operand(l.Weight, x.DType), value(l.Bias), y, l.P)
	return y
}

// Backward: dy (N,K,OH,OW) -> dx (N,C,H,W); fills the weight and bias gradients.
func (l *Conv2D) Backward(dy *tensor.Tensor) *tensor.Tensor {
	if l.skipDX {
		l.be.Conv2DBackwardFilter(l.x, dy, l.Weight.Grad, grad(l.Bias), l.P)
		return nil
	}
	dx := ensure(l.be, &l.dx, l.x.Shape, dy.DType)
	l.be.Conv2DBackwardData(dy, operand(l.Weight, dy.DType), dx, l.P)
	l.be.Conv2DBackwardFilter(l.x, dy, l.Weight.Grad, grad(l.Bias), l.P)
	return dx
}

// MACs is K*C*R*S*OH*OW per sample.
func (l *Conv2D) MACs() int64 {
	if l.out == nil {
		return 0
	}
	return int64(l.K) * int64(l.in[0]) * int64(l.R*l.S) * int64(l.out[1]*l.out[2])
}
