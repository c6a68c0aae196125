package layers

import (
	"github.com/cnnctl/cnnctl/internal/tensor"
)

// Sequential is nn.Sequential: its children run one after the other.
type Sequential struct {
	base
	Layers []Layer
}

// NewSequential returns a container of children (type "sequential").
func NewSequential(name string, children ...Layer) *Sequential {
	return &Sequential{base: base{name, "sequential"}, Layers: children}
}

// Setup sets up each child on the previous one's output shape.
func (l *Sequential) Setup(ctx *Context, in tensor.Shape) (tensor.Shape, error) {
	s := in.Clone()
	for _, c := range l.Layers {
		out, err := c.Setup(ctx, s)
		if err != nil {
			return nil, err
		}
		s = out
	}
	return s, nil
}

// Forward runs the children in order.
func (l *Sequential) Forward(x *tensor.Tensor, train bool) *tensor.Tensor {
	for _, c := range l.Layers {
		x = c.Forward(x, train)
	}
	return x
}

// Backward runs the children's backwards in reverse order.
func (l *Sequential) Backward(dy *tensor.Tensor) *tensor.Tensor {
	for i := len(l.Layers) - 1; i >= 0; i-- {
		dy = l.Layers[i].Backward(dy)
	}
	return dy
}

// MACs sums the children's.
func (l *Sequential) MACs() int64 { return sumMACs(l.Layers) }

// Children are the layers in order.
func (l *Sequential) Children() []Layer { return l.Layers }

func sumMACs(ls []Layer) int64 {
	var n int64
	for _, c := range ls {
		n += c.MACs()
	}
	return n
}
