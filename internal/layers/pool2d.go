package layers

import (
	"github.com/cnnctl/cnnctl/internal/tensor"
)

// Pool2D is nn.MaxPool2d or nn.AvgPool2d (floor mode; average pooling
// counts the padding in its divisor): x (N,C,H,W) -> y (N,C,OH,OW).
type Pool2D struct {
	base
	leaf
	Max bool
	P   tensor.PoolParams

	be      tensor.Backend
	in, out tensor.Shape
	x, y    *tensor.Tensor
	dx      *tensor.Tensor
}

// NewMaxPool2D returns a max pooling (type "maxpool2d"). A zero stride
// means the window size (PyTorch's stride=None).
func NewMaxPool2D(name string, p tensor.PoolParams) Layer {
	return &Pool2D{base: base{name, "maxpool2d"}, Max: true, P: defaultStride(p)}
}

// NewAvgPool2D returns an average pooling (type "avgpool2d"). A zero
// stride means the window size (PyTorch's stride=None).
func NewAvgPool2D(name string, p tensor.PoolParams) Layer {
	return &Pool2D{base: base{name, "avgpool2d"}, P: defaultStride(p)}
}

func defaultStride(p tensor.PoolParams) tensor.PoolParams {
	if p.StrideH == 0 {
		p.StrideH = p.R
	}
	if p.StrideW == 0 {
		p.StrideW = p.S
	}
	return p
}

// Setup checks in (C,H,W) and the window as PyTorch does.
func (l *Pool2D) Setup(ctx *Context, in tensor.Shape) (tensor.Shape, error) {
	if err := l.image(in); err != nil {
		return nil, err
	}
	p := l.P
	switch {
	case p.R <= 0 || p.S <= 0:
		return nil, l.errorf("window %dx%d: want >= 1", p.R, p.S)
	case p.StrideH <= 0 || p.StrideW <= 0:
		return nil, l.errorf("stride %dx%d: want >= 1", p.StrideH, p.StrideW)
	case p.PadH < 0 || p.PadW < 0 || 2*p.PadH > p.R || 2*p.PadW > p.S:
		return nil, l.errorf("padding %s: want between 0 and half the window %dx%d", pair(p.PadH, p.PadW), p.R, p.S)
	}
	h, w := in[1], in[2]
	if h+2*p.PadH < p.R || w+2*p.PadW < p.S {
		return nil, l.errorf("input %v is smaller than window %dx%d with padding %s", in, p.R, p.S, pair(p.PadH, p.PadW))
	}
	l.be, l.in = ctx.Backend, in.Clone()
	l.out = tensor.Shape{in[0], (h+2*p.PadH-p.R)/p.StrideH + 1, (w+2*p.PadW-p.S)/p.StrideW + 1}
	return l.out.Clone(), nil
}

// Forward: x (N,C,H,W) -> y (N,C,OH,OW).
func (l *Pool2D) Forward(x *tensor.Tensor, train bool) *tensor.Tensor {
	l.x = x
	y := ensure(l.be, &l.y, batched(x.Shape[0], l.out), x.DType)
	if l.Max {
		l.be.MaxPool2DForward(x, y, l.P)
	} else {
		l.be.AvgPool2DForward(x, y, l.P)
	}
	return y
}

// Backward: dy (N,C,OH,OW) -> dx (N,C,H,W). Max pooling sends each
// gradient to the first maximum of its window.
func (l *Pool2D) Backward(dy *tensor.Tensor) *tensor.Tensor {
	dx := ensure(l.be, &l.dx, l.x.Shape, dy.DType)
	if l.Max {
		l.be.MaxPool2DBackward(l.x, dy, dx, l.P)
	} else {
		l.be.AvgPool2DBackward(dy, dx, l.P)
	}
	return dx
}

// GlobalAvgPool is nn.AdaptiveAvgPool2d(1): x (N,C,H,W) -> y (N,C,1,1).
type GlobalAvgPool struct {
	base
	leaf

	be    tensor.Backend
	p     tensor.PoolParams
	in    tensor.Shape
	y, dx *tensor.Tensor
}

// NewGlobalAvgPool returns the mean over each channel's plane (type
// "globalavgpool"); the output keeps its 1x1 plane, (C,1,1).
func NewGlobalAvgPool(name string) Layer {
	return &GlobalAvgPool{base: base{name, "globalavgpool"}}
}

// Setup checks in (C,H,W) and returns (C,1,1).
func (l *GlobalAvgPool) Setup(ctx *Context, in tensor.Shape) (tensor.Shape, error) {
	if err := l.image(in); err != nil {
		return nil, err
	}
	l.be = ctx.Backend
	l.in = in.Clone()
	l.p = tensor.PoolParams{R: in[1], S: in[2], StrideH: in[1], StrideW: in[2]}
	return tensor.Shape{in[0], 1, 1}, nil
}

// Forward: x (N,C,H,W) -> y (N,C,1,1), the mean of each plane.
func (l *GlobalAvgPool) Forward(x *tensor.Tensor, train bool) *tensor.Tensor {
	y := ensure(l.be, &l.y, tensor.Shape{x.Shape[0], l.in[0], 1, 1}, x.DType)
	l.be.AvgPool2DForward(x, y, l.p)
	return y
}

// Backward: dy (N,C,1,1) -> dx (N,C,H,W) = dy/(H*W) everywhere.
func (l *GlobalAvgPool) Backward(dy *tensor.Tensor) *tensor.Tensor {
	dx := ensure(l.be, &l.dx, batched(dy.Shape[0], l.in), dy.DType)
	l.be.AvgPool2DBackward(dy, dx, l.p)
	return dx
}
