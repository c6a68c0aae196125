package zoo

import (
	"fmt"
	"strings"

	"github.com/cnnctl/cnnctl/internal/layers"
	"github.com/cnnctl/cnnctl/internal/tensor"
)

// Conv2DParams are a conv2d layer's settings; kernel, stride and padding
// are (H, W) pairs.
type Conv2DParams struct {
	Out                     Size // K
	Kernel, Stride, Padding [2]int
	Bias                    bool
}

var conv2dKind = &Kind{
	Name: "conv2d",
	Doc:  "2-D convolution (nn.Conv2d): (C,H,W) -> (K,OH,OW)",
	Keys: []Key{
		{"out", "output channels K, or classes (required)"},
		{"kernel", "kernel size: n or [height, width] (required)"},
		{"stride", "stride: n or [height, width] (1)"},
		{"padding", "zero padding on each side: n or [height, width] (0)"},
		{"bias", "learn a bias per output channel (true)"},
	},
	Example: "{type: conv2d, name: conv1, out: 16, kernel: 3, padding: 1, bias: false}",
	Layer:   "conv2d",
	Cost:    CostGEMM,
	impl:    conv2d{},
}

type conv2d struct{}

func (conv2d) decode(d *decoder, l *Layer, fields map[string]field) error {
	p := &Conv2DParams{Stride: [2]int{1, 1}, Bias: true}
	var err error
	if p.Out, err = d.size(l, fields, "out"); err != nil {
		return err
	}
	if p.Kernel, err = d.kernel(l, fields); err != nil {
		return err
	}
	if err := d.optionalPair(fields, "stride", 1, &p.Stride); err != nil {
		return err
	}
	if err := d.optionalPair(fields, "padding", 0, &p.Padding); err != nil {
		return err
	}
	if err := d.optionalBool(fields, "bias", &p.Bias); err != nil {
		return err
	}
	l.Params = p
	return nil
}

func (conv2d) canonical(b *strings.Builder, full string, l *Layer) {
	p := l.Params.(*Conv2DParams)
	fmt.Fprintf(b, " out=%s kernel=%s stride=%s padding=%s bias=%t\n", p.Out, pairString(p.Kernel), pairString(p.Stride), pairString(p.Padding), p.Bias)
}

func (conv2d) shape(w *walker, v *visit) (tensor.Shape, error) {
	p := v.l.Params.(*Conv2DParams)
	oh, ow, err := v.window(p.Kernel, p.Stride, p.Padding)
	if err != nil {
		return nil, err
	}
	c, r, s, k := v.in[0], p.Kernel[0], p.Kernel[1], p.Out.Resolve(w.classes)
	if n := float64(k) * float64(c) * float64(r) * float64(s); n > maxValues {
		return nil, v.errorf("%.3g weights, beyond any machine's memory", n)
	}
	v.row.Params = int64(k) * int64(c) * int64(r) * int64(s)
	if p.Bias {
		v.row.Params += int64(k)
	}
	v.row.MACs = int64(k) * int64(oh) * int64(ow) * int64(c) * int64(r) * int64(s)
	return tensor.Shape{k, oh, ow}, nil
}

func (conv2d) build(b builder, full string, l *Layer) (layers.Layer, error) {
	p := l.Params.(*Conv2DParams)
	cp := tensor.ConvParams{StrideH: p.Stride[0], StrideW: p.Stride[1], PadH: p.Padding[0], PadW: p.Padding[1]}
	return layers.NewConv2D(full, p.Out.Resolve(b.classes), p.Kernel[0], p.Kernel[1], cp, p.Bias), nil
}
