package layers

import (
	"fmt"
	"math"
	"math/rand"
	"strconv"

	"github.com/cnnctl/cnnctl/internal/tensor"
)

// base holds what every layer has: its full dotted name and its type.
type base struct {
	name, typ string
}

// Name is the full dotted module name.
func (b *base) Name() string { return b.name }

// Type is the YAML type name.
func (b *base) Type() string { return b.typ }

// errorf returns an error that starts with the layer's name and type:
// "layer features.3 (conv2d): ...".
func (b *base) errorf(format string, args ...any) error {
	return fmt.Errorf("layer %s (%s): %s", b.name, b.typ, fmt.Sprintf(format, args...))
}

// noChildren is Children for a plain layer.
type noChildren struct{}

// Children is nil for a plain layer.
func (noChildren) Children() []Layer { return nil }

// leaf is a plain layer without multiply-accumulates.
type leaf struct{ noChildren }

// MACs is 0 for layers other than convolutions and linear layers.
func (leaf) MACs() int64 { return 0 }

// pair writes a height-width pair as "1" when both are equal, else "1x2".
func pair(h, w int) string {
	if h == w {
		return strconv.Itoa(h)
	}
	return fmt.Sprintf("%dx%d", h, w)
}

// uniformInit fills v with U(-bound, bound): PyTorch's default init of
// convolution and linear weights (kaiming_uniform_ with a = sqrt(5) gives
// bound = 1/sqrt(fan_in)) and of their biases (the same bound).
func uniformInit(fanIn int) func(rng *rand.Rand, v []float32) {
	bound := 1 / math.Sqrt(float64(fanIn))
	return func(rng *rand.Rand, v []float32) {
		for i := range v {
			v[i] = float32(bound * (2*rng.Float64() - 1))
		}
	}
}

// constInit fills v with c.
func constInit(c float32) func(rng *rand.Rand, v []float32) {
	return func(_ *rand.Rand, v []float32) {
		for i := range v {
			v[i] = c
		}
	}
}

// value returns p's value, or nil for a parameter the layer does not have.
func value(p *Param) *tensor.Tensor {
	if p == nil {
		return nil
	}
	return p.Value
}

// grad returns p's gradient, or nil for a parameter the layer does not have.
func grad(p *Param) *tensor.Tensor {
	if p == nil {
		return nil
	}
	return p.Grad
}

// image checks that a per-sample shape is (C,H,W) with positive sizes.
func (b *base) image(in tensor.Shape) error {
	if len(in) != 3 {
		return b.errorf("input %v is not an image (C,H,W)", in)
	}
	return b.positive(in)
}

// positive checks that every dimension of a per-sample shape is positive.
func (b *base) positive(in tensor.Shape) error {
	if len(in) == 0 {
		return b.errorf("input has no dimensions")
	}
	for _, d := range in {
		if d <= 0 {
			return b.errorf("input %v has a dimension that is not positive", in)
		}
	}
	return nil
}
