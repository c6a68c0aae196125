package layers

import (
	"github.com/cnnctl/cnnctl/internal/tensor"
)

// Residual is a ResNet block: y = post(body(x) + shortcut(x)), the
// shortcut being the identity when nil and post nothing when nil.
type Residual struct {
	base
	Body, Shortcut, Post Layer

	be      tensor.Backend
	in, out tensor.Shape // per sample: x, and the body's output
	sum, dx *tensor.Tensor
}

// NewResidual returns a residual block (type "residual").
func NewResidual(name string, body Layer, shortcut Layer, post Layer) Layer {
	return &Residual{base: base{name, "residual"}, Body: body, Shortcut: shortcut, Post: post}
}

// Setup sets up the body and the shortcut on in, checks that their
// outputs match, and sets up post on that shape.
func (l *Residual) Setup(ctx *Context, in tensor.Shape) (tensor.Shape, error) {
	if l.Body == nil {
		return nil, l.errorf("has no body")
	}
	b, err := l.Body.Setup(ctx, in)
	if err != nil {
		return nil, err
	}
	s := in.Clone()
	if l.Shortcut != nil {
		if s, err = l.Shortcut.Setup(ctx, in); err != nil {
			return nil, err
		}
	}
	if !b.Equal(s) {
		what := "identity shortcut"
		if l.Shortcut != nil {
			what = "shortcut " + l.Shortcut.Name()
		}
		return nil, l.errorf("body output %v does not match %s output %v", b, what, s)
	}
	l.be, l.in, l.out = ctx.Backend, in.Clone(), b.Clone()
	if l.Post != nil {
		return l.Post.Setup(ctx, b)
	}
	return b.Clone(), nil
}

// Forward: sum = body(x) + shortcut(x), then post(sum).
func (l *Residual) Forward(x *tensor.Tensor, train bool) *tensor.Tensor {
	b := l.Body.Forward(x, train)
	s := x
	if l.Shortcut != nil {
		s = l.Shortcut.Forward(x, train)
	}
	sum := ensure(l.be, &l.sum, b.Shape, b.DType)
	l.be.Add(b, s, sum)
	if l.Post != nil {
		return l.Post.Forward(sum, train)
	}
	return sum
}

// Backward: with g = dy through post, dx = body.Backward(g) + shortcut.Backward(g)
// (g itself for the identity).
func (l *Residual) Backward(dy *tensor.Tensor) *tensor.Tensor {
	g := dy
	if l.Post != nil {
		g = l.Post.Backward(dy)
	}
	db := l.Body.Backward(g)
	ds := g
	if l.Shortcut != nil {
		ds = l.Shortcut.Backward(g)
	}
	dx := ensure(l.be, &l.dx, db.Shape, db.DType)
	l.be.Add(db, ds, dx)
	return dx
}

// MACs sums the body's, the shortcut's and post's.
func (l *Residual) MACs() int64 { return sumMACs(l.Children()) }

// Children are the body, then the shortcut and post when present.
func (l *Residual) Children() []Layer {
	var c []Layer
	for _, x := range []Layer{l.Body, l.Shortcut, l.Post} {
		if x != nil {
			c = append(c, x)
		}
	}
	return c
}
