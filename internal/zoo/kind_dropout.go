package zoo

import (
	"strings"

	"github.com/cnnctl/cnnctl/internal/layers"
	"github.com/cnnctl/cnnctl/internal/tensor"
)

// DropoutParams are a dropout layer's settings.
type DropoutParams struct {
	P float64 // the probability of zeroing an element
}

var dropoutKind = &Kind{
	Name:     "dropout",
	Doc:      "dropout (nn.Dropout), in training only: any shape, unchanged",
	Keys:     []Key{{"p", "probability of zeroing an element, in [0, 1) (0.5)"}},
	Example:  "{type: dropout, name: drop, p: 0.2}",
	Layer:    "dropout",
	Reusable: true,
	Cost:     CostMask,
	impl:     dropout{},
}

type dropout struct{}

func (dropout) decode(d *decoder, l *Layer, fields map[string]field) error {
	p := &DropoutParams{P: 0.5}
	l.Params = p
	return d.optionalFloat(fields, "p", &p.P, func(x float64) string {
		if x < 0 || x >= 1 {
			return "in [0, 1)"
		}
		return ""
	})
}

func (dropout) canonical(b *strings.Builder, full string, l *Layer) {
	b.WriteString(" p=" + floatString(l.Params.(*DropoutParams).P) + "\n")
}

func (dropout) shape(w *walker, v *visit) (tensor.Shape, error) { return v.in.Clone(), nil }

func (dropout) build(b builder, full string, l *Layer) (layers.Layer, error) {
	return layers.NewDropout(full, float32(l.Params.(*DropoutParams).P)), nil
}
