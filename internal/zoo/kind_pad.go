package zoo

import (
	"fmt"
	"strings"

	"github.com/cnnctl/cnnctl/internal/layers"
	"github.com/cnnctl/cnnctl/internal/tensor"
)

// PadParams are a pad shortcut's settings.
type PadParams struct {
	Out    Size // K, the output channels
	Stride int  // the same for both axes
}

var padKind = &Kind{
	Name: "pad",
	Doc:  "ResNet's option-A shortcut, every stride-th pixel with zero channels added on both sides: (C,H,W) -> (K,⌈H/stride⌉,⌈W/stride⌉)",
	Keys: []Key{
		{"out", "output channels K >= C with K-C even, or classes (required)"},
		{"stride", "one stride for both axes (required)"},
	},
	Example: "{type: pad, name: shortcut, out: 32, stride: 2}",
	Layer:   "shortcutpad",
	Cost:    CostMove,
	impl:    pad{},
}

type pad struct{}

func (pad) decode(d *decoder, l *Layer, fields map[string]field) error {
	p := &PadParams{}
	var err error
	if p.Out, err = d.size(l, fields, "out"); err != nil {
		return err
	}
	f, ok := fields["stride"]
	if !ok {
		return d.missing(l, fields, "stride")
	}
	stride, err := d.pair(f, 1)
	if err != nil {
		return err
	}
	if stride[0] != stride[1] {
		return d.errorf(f.val, "stride: a pad shortcut takes one stride for both axes")
	}
	p.Stride = stride[0]
	l.Params = p
	return nil
}

func (pad) canonical(b *strings.Builder, full string, l *Layer) {
	p := l.Params.(*PadParams)
	fmt.Fprintf(b, " out=%s stride=%d\n", p.Out, p.Stride)
}

func (pad) shape(w *walker, v *visit) (tensor.Shape, error) {
	p := v.l.Params.(*PadParams)
	if err := v.need3(); err != nil {
		return nil, err
	}
	k, st, in := p.Out.Resolve(w.classes), p.Stride, v.in
	if k < in[0] || (k-in[0])%2 != 0 {
		return nil, v.errorf("out %d must be at least the %d input channels and differ from them by an even number", k, in[0])
	}
	return tensor.Shape{k, (in[1] + st - 1) / st, (in[2] + st - 1) / st}, nil
}

func (pad) build(b builder, full string, l *Layer) (layers.Layer, error) {
	p := l.Params.(*PadParams)
	return layers.NewShortcutPad(full, p.Out.Resolve(b.classes), p.Stride), nil
}
