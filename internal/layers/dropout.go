package layers

import (
	"hash/fnv"

	"github.com/cnnctl/cnnctl/internal/tensor"
)

// Dropout is nn.Dropout (inverted dropout): in training each element is
// zeroed with probability P and the others scaled by 1/(1-P); in
// evaluation it is the identity.
//
// The mask is a pure function of (seed, counter, element): the counter is
// ctx.Step (read on the device from ctx.Counter where that is set) and the
// seed is ctx.Seed mixed with a hash of the layer's name, so two dropout
// layers draw different masks and a resumed run draws the same ones.
type Dropout struct {
	base
	leaf
	P float32

	ctx      *Context
	in       tensor.Shape // per sample
	nameHash uint64
	train    bool // the last Forward dropped elements
	mask, y  *tensor.Tensor
	dx       *tensor.Tensor
}

// NewDropout returns a dropout with drop probability p (type "dropout").
func NewDropout(name string, p float32) Layer {
	h := fnv.New64a()
	h.Write([]byte(name))
	return &Dropout{base: base{name, "dropout"}, P: p, nameHash: h.Sum64()}
}

// Setup checks p and accepts any shape.
func (l *Dropout) Setup(ctx *Context, in tensor.Shape) (tensor.Shape, error) {
	if !(l.P >= 0 && l.P <= 1) {
		return nil, l.errorf("p = %g, want 0 <= p <= 1", l.P)
	}
	if err := l.positive(in); err != nil {
		return nil, err
	}
	l.ctx, l.in = ctx, in.Clone()
	return in.Clone(), nil
}

// Seed is the seed of the layer's masks: ctx.Seed mixed with the hash of
// its name (splitmix64's finaliser).
func (l *Dropout) Seed() uint64 {
	z := l.ctx.Seed ^ l.nameHash
	z += 0x9E3779B97F4A7C15
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
	z = (z ^ (z >> 27)) * 0x94D049BB133111EB
	return z ^ (z >> 31)
}

// Forward: in training y = x * mask with the mask of step ctx.Step; in
// evaluation (or with P = 0) it returns x itself.
func (l *Dropout) Forward(x *tensor.Tensor, train bool) *tensor.Tensor {
	l.train = train && l.P > 0
	if !l.train {
		return x
	}
	be := l.ctx.Backend
	mask := ensure(be, &l.mask, x.Shape, tensor.F32)
	y := ensure(be, &l.y, x.Shape, x.DType)
	if at, ok := be.(tensor.DropoutAt); ok && l.ctx.Counter != nil {
		at.DropoutForwardAt(x, mask, y, l.P, l.Seed(), l.ctx.Counter)
	} else {
		be.DropoutForward(x, mask, y, l.P, l.Seed(), l.ctx.Step)
	}
	return y
}

// Backward: dx = dy * mask after a training Forward, else dy itself.
func (l *Dropout) Backward(dy *tensor.Tensor) *tensor.Tensor {
	if !l.train {
		return dy
	}
	be := l.ctx.Backend
	dx := ensure(be, &l.dx, dy.Shape, dy.DType)
	be.Mul(dy, l.mask, dx)
	return dx
}
