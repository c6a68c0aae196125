package zoo

import (
	"fmt"
	"strings"

	"github.com/cnnctl/cnnctl/internal/layers"
	"github.com/cnnctl/cnnctl/internal/tensor"
)

// LinearParams are a linear layer's settings.
type LinearParams struct {
	Out  Size
	Bias bool
}

var linearKind = &Kind{
	Name: "linear",
	Doc:  "fully connected layer (nn.Linear): (F) -> (out); put a flatten before it",
	Keys: []Key{
		{"out", "output features, or classes (required)"},
		{"bias", "learn a bias per output (true)"},
	},
	Example: "{type: linear, name: fc, out: classes}",
	Layer:   "linear",
	Cost:    CostGEMM,
	impl:    linear{},
}

type linear struct{}

func (linear) decode(d *decoder, l *Layer, fields map[string]field) error {
	p := &LinearParams{Bias: true}
	var err error
	if p.Out, err = d.size(l, fields, "out"); err != nil {
		return err
	}
	if err := d.optionalBool(fields, "bias", &p.Bias); err != nil {
		return err
	}
	l.Params = p
	return nil
}

func (linear) canonical(b *strings.Builder, full string, l *Layer) {
	p := l.Params.(*LinearParams)
	fmt.Fprintf(b, " out=%s bias=%t\n", p.Out, p.Bias)
}

func (linear) shape(w *walker, v *visit) (tensor.Shape, error) {
	p := v.l.Params.(*LinearParams)
	if len(v.in) != 1 {
		return nil, v.errorf("wants a 1-D input (F): put a flatten before it")
	}
	o, f := p.Out.Resolve(w.classes), v.in[0]
	if n := float64(o) * float64(f); n > maxValues {
		return nil, v.errorf("%.3g weights, beyond any machine's memory", n)
	}
	v.row.Params = int64(o) * int64(f)
	if p.Bias {
		v.row.Params += int64(o)
	}
	v.row.MACs = int64(o) * int64(f)
	return tensor.Shape{o}, nil
}

func (linear) build(b builder, full string, l *Layer) (layers.Layer, error) {
	p := l.Params.(*LinearParams)
	return layers.NewLinear(full, p.Out.Resolve(b.classes), p.Bias), nil
}
