package layers

import (
	"github.com/cnnctl/cnnctl/internal/tensor"
)

// Flatten is nn.Flatten: x (N,C,H,W) -> y (N,C*H*W), a view of x (no copy).
type Flatten struct {
	base
	leaf
	in, out tensor.Shape
}

// NewFlatten returns a flatten (type "flatten").
func NewFlatten(name string) Layer {
	return &Flatten{base: base{name, "flatten"}}
}

// Setup accepts any shape and returns (its element count).
func (l *Flatten) Setup(ctx *Context, in tensor.Shape) (tensor.Shape, error) {
	if err := l.positive(in); err != nil {
		return nil, err
	}
	l.in = in.Clone()
	l.out = tensor.Shape{in.Numel()}
	return l.out.Clone(), nil
}

// Forward returns x viewed as (N, C*H*W).
func (l *Flatten) Forward(x *tensor.Tensor, train bool) *tensor.Tensor {
	return x.View(batched(x.Shape[0], l.out))
}

// Backward returns dy viewed as the input's shape.
func (l *Flatten) Backward(dy *tensor.Tensor) *tensor.Tensor {
	return dy.View(batched(dy.Shape[0], l.in))
}
