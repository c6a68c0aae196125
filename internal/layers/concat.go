package layers

import (
	"github.com/cnnctl/cnnctl/internal/tensor"
)

// Concat runs each branch on the same input and concatenates their
// outputs along the channels (torch.cat(dim=1)), as an Inception block:
// x (N,C,H,W) -> y (N,K1+K2+...,OH,OW).
type Concat struct {
	base
	Branches []Layer

	be    tensor.Backend
	outs  []tensor.Shape // per branch, (Ki,OH,OW)
	in    tensor.Shape
	out   tensor.Shape
	y, dx *tensor.Tensor
	dys   []*tensor.Tensor // per branch, its channels of dy
}

// NewConcat returns a concatenation of branches (type "concat").
func NewConcat(name string, branches ...Layer) Layer {
	return &Concat{base: base{name, "concat"}, Branches: branches}
}

// Setup sets up every branch on in and checks that their outputs are
// images of one spatial size.
func (l *Concat) Setup(ctx *Context, in tensor.Shape) (tensor.Shape, error) {
	if len(l.Branches) == 0 {
		return nil, l.errorf("has no branches")
	}
	l.outs = make([]tensor.Shape, len(l.Branches))
	k := 0
	for i, b := range l.Branches {
		s, err := b.Setup(ctx, in)
		if err != nil {
			return nil, err
		}
		if len(s) != 3 {
			return nil, l.errorf("branch %s output %v is not an image (C,H,W)", b.Name(), s)
		}
		if i > 0 && (s[1] != l.outs[0][1] || s[2] != l.outs[0][2]) {
			return nil, l.errorf("branch %s output %v differs in size from branch %s output %v",
				b.Name(), s, l.Branches[0].Name(), l.outs[0])
		}
		l.outs[i] = s
		k += s[0]
	}
	l.be, l.in = ctx.Backend, in.Clone()
	l.dys = make([]*tensor.Tensor, len(l.Branches))
	l.out = tensor.Shape{k, l.outs[0][1], l.outs[0][2]}
	return l.out.Clone(), nil
}

// Forward runs each branch on x and copies its output into its channels of y.
func (l *Concat) Forward(x *tensor.Tensor, train bool) *tensor.Tensor {
	y := ensure(l.be, &l.y, batched(x.Shape[0], l.out), x.DType)
	off := 0
	for i, b := range l.Branches {
		l.be.CopyChannels(y, b.Forward(x, train), off)
		off += l.outs[i][0]
	}
	return y
}

// Backward hands each branch its channels of dy and sums their input gradients.
func (l *Concat) Backward(dy *tensor.Tensor) *tensor.Tensor {
	n := dy.Shape[0]
	var dx *tensor.Tensor
	off := 0
	for i, b := range l.Branches {
		dyi := ensure(l.be, &l.dys[i], batched(n, l.outs[i]), dy.DType)
		l.be.ExtractChannels(dyi, dy, off)
		off += l.outs[i][0]
		dxi := b.Backward(dyi)
		if i == 0 {
			dx = ensure(l.be, &l.dx, dxi.Shape, dxi.DType)
			l.be.Copy(dx, dxi)
		} else {
			l.be.Add(dx, dxi, dx)
		}
	}
	return dx
}

// MACs sums the branches'.
func (l *Concat) MACs() int64 { return sumMACs(l.Branches) }

// Children are the branches in order.
func (l *Concat) Children() []Layer { return l.Branches }
