package layers

import (
	"github.com/cnnctl/cnnctl/internal/tensor"
)

// Activation is an elementwise non-linearity (nn.ReLU, nn.Sigmoid, nn.Tanh)
// on any shape; its type is the function's name ("relu").
type Activation struct {
	base
	leaf
	A tensor.Activation

	be    tensor.Backend
	in    tensor.Shape // per sample
	y, dx *tensor.Tensor
}

// NewActivation returns the non-linearity a.
func NewActivation(name string, a tensor.Activation) Layer {
	return &Activation{base: base{name, a.String()}, A: a}
}

// Setup accepts any shape and returns it.
func (l *Activation) Setup(ctx *Context, in tensor.Shape) (tensor.Shape, error) {
	switch l.A {
	case tensor.ReLU, tensor.Sigmoid, tensor.Tanh:
	default:
		return nil, l.errorf("unknown activation %v", l.A)
	}
	if err := l.positive(in); err != nil {
		return nil, err
	}
	l.be, l.in = ctx.Backend, in.Clone()
	return in.Clone(), nil
}

// Forward: y = f(x), into the layer's own tensor (x is left as it is).
func (l *Activation) Forward(x *tensor.Tensor, train bool) *tensor.Tensor {
	y := ensure(l.be, &l.y, x.Shape, x.DType)
	l.be.ActivationForward(l.A, x, y)
	return y
}

// Backward: dx = dy * f'(x), written with the saved output y.
func (l *Activation) Backward(dy *tensor.Tensor) *tensor.Tensor {
	dx := ensure(l.be, &l.dx, l.y.Shape, dy.DType)
	l.be.ActivationBackward(l.A, l.y, dy, dx)
	return dx
}
