package zoo

import (
	"fmt"
	"strings"

	"github.com/cnnctl/cnnctl/internal/layers"
	"github.com/cnnctl/cnnctl/internal/tensor"
)

// PoolParams are a maxpool's or avgpool's settings, (H, W) pairs.
type PoolParams struct {
	Kernel, Stride, Padding [2]int
}

// poolKeys are the keys of both pools.
var poolKeys = []Key{
	{"kernel", "window size: n or [height, width] (required)"},
	{"stride", "stride: n or [height, width] (the kernel size)"},
	{"padding", "padding on each side, at most half the kernel: n or [height, width] (0)"},
}

var maxpoolKind = &Kind{
	Name:     "maxpool",
	Doc:      "max pooling (nn.MaxPool2d): (C,H,W) -> (C,OH,OW)",
	Keys:     poolKeys,
	Example:  "{type: maxpool, name: pool, kernel: 3, stride: 2, padding: 1}",
	Layer:    "maxpool2d",
	Reusable: true,
	Cost:     CostWindow,
	impl:     pool{max: true},
}

var avgpoolKind = &Kind{
	Name:     "avgpool",
	Doc:      "average pooling (nn.AvgPool2d, padding counted in the divisor): (C,H,W) -> (C,OH,OW)",
	Keys:     poolKeys,
	Example:  "{type: avgpool, name: pool, kernel: 2}",
	Layer:    "avgpool2d",
	Reusable: true,
	Cost:     CostWindow,
	impl:     pool{},
}

// pool is a maxpool (max) or an avgpool.
type pool struct{ max bool }

func (pool) decode(d *decoder, l *Layer, fields map[string]field) error {
	p := &PoolParams{}
	var err error
	if p.Kernel, err = d.kernel(l, fields); err != nil {
		return err
	}
	p.Stride = p.Kernel // PyTorch: stride defaults to the kernel size
	if err := d.optionalPair(fields, "stride", 1, &p.Stride); err != nil {
		return err
	}
	if err := d.optionalPair(fields, "padding", 0, &p.Padding); err != nil {
		return err
	}
	l.Params = p
	return nil
}

func (pool) canonical(b *strings.Builder, full string, l *Layer) {
	p := l.Params.(*PoolParams)
	fmt.Fprintf(b, " kernel=%s stride=%s padding=%s\n", pairString(p.Kernel), pairString(p.Stride), pairString(p.Padding))
}

func (pool) shape(w *walker, v *visit) (tensor.Shape, error) {
	p := v.l.Params.(*PoolParams)
	if err := v.need3(); err != nil {
		return nil, err
	}
	r, s := p.Kernel[0], p.Kernel[1]
	if 2*p.Padding[0] > r || 2*p.Padding[1] > s {
		return nil, v.errorf("padding %dx%d is more than half the kernel %dx%d", p.Padding[0], p.Padding[1], r, s)
	}
	oh, ow, err := v.window(p.Kernel, p.Stride, p.Padding)
	if err != nil {
		return nil, err
	}
	return tensor.Shape{v.in[0], oh, ow}, nil
}

func (k pool) build(b builder, full string, l *Layer) (layers.Layer, error) {
	p := l.Params.(*PoolParams)
	pp := tensor.PoolParams{R: p.Kernel[0], S: p.Kernel[1], StrideH: p.Stride[0], StrideW: p.Stride[1], PadH: p.Padding[0], PadW: p.Padding[1]}
	if k.max {
		return layers.NewMaxPool2D(full, pp), nil
	}
	return layers.NewAvgPool2D(full, pp), nil
}
