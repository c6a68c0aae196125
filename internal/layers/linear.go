package layers

import (
	"github.com/cnnctl/cnnctl/internal/tensor"
)

// Linear is nn.Linear: x (N,I), weight (O,I), bias (O) -> y (N,O).
type Linear struct {
	base
	noChildren
	O       int
	HasBias bool

	be     tensor.Backend
	I      int
	Weight *Param
	Bias   *Param // nil without bias

	x, y, dx *tensor.Tensor
}

// NewLinear returns a fully connected layer with out outputs; its input
// must be (I), so images need a flatten first. Its parameters are
// name+".weight" (O,I) and, with bias, name+".bias" (O).
func NewLinear(name string, out int, bias bool) Layer {
	return &Linear{base: base{name, "linear"}, O: out, HasBias: bias}
}

// Setup checks in (I) and declares the weight and bias.
func (l *Linear) Setup(ctx *Context, in tensor.Shape) (tensor.Shape, error) {
	if len(in) != 1 {
		return nil, l.errorf("input %v has %d dimensions, want features (I): put a flatten before it", in, len(in))
	}
	if err := l.positive(in); err != nil {
		return nil, err
	}
	if l.O <= 0 {
		return nil, l.errorf("%d outputs, want >= 1", l.O)
	}
	l.be = ctx.Backend
	l.I = in[0]
	l.Weight = ctx.Param(l.name+".weight", tensor.Shape{l.O, l.I}, false, uniformInit(l.I))
	if l.HasBias {
		l.Bias = ctx.Param(l.name+".bias", tensor.Shape{l.O}, false, uniformInit(l.I))
	}
	return tensor.Shape{l.O}, nil
}

// Forward: x (N,I) -> y (N,O).
func (l *Linear) Forward(x *tensor.Tensor, train bool) *tensor.Tensor {
	l.x = x
	y := ensure(l.be, &l.y, tensor.Shape{x.Shape[0], l.O}, x.DType)
	l.be.LinearForward(x, operand(l.Weight, x.DType), value(l.Bias), y)
	return y
}

// Backward: dy (N,O) -> dx (N,I); fills the weight and bias gradients.
func (l *Linear) Backward(dy *tensor.Tensor) *tensor.Tensor {
	dx := ensure(l.be, &l.dx, l.x.Shape, dy.DType)
	l.be.LinearBackward(l.x, operand(l.Weight, dy.DType), dy, dx, l.Weight.Grad, grad(l.Bias))
	return dx
}

// MACs is I*O per sample.
func (l *Linear) MACs() int64 { return int64(l.I) * int64(l.O) }
