package zoo

import (
	"strings"

	"github.com/cnnctl/cnnctl/internal/layers"
	"github.com/cnnctl/cnnctl/internal/tensor"
)

var sequentialKind = &Kind{
	Name:      "sequential",
	Doc:       "layers run in order (nn.Sequential), named relative to it",
	Keys:      []Key{{"layers", "the layers, a list (required)"}},
	Example:   `{type: sequential, name: features, layers: [{type: conv2d, name: "0", out: 16, kernel: 3}, {type: relu, name: "1"}]}`,
	Layer:     "sequential",
	Container: true,
	impl:      sequential{},
}

type sequential struct{}

func (sequential) decode(d *decoder, l *Layer, fields map[string]field) error {
	f, ok := fields["layers"]
	if !ok {
		return d.missing(l, fields, "layers")
	}
	var err error
	l.Layers, err = d.list(f)
	return err
}

func (sequential) canonical(b *strings.Builder, full string, l *Layer) {
	b.WriteByte('\n')
	canonical(b, full, l.Layers)
}

func (sequential) shape(w *walker, v *visit) (tensor.Shape, error) {
	return w.list(v.full, v.l.Layers, v.in, v.depth+1)
}

func (sequential) build(b builder, full string, l *Layer) (layers.Layer, error) {
	children, err := b.list(full, l.Layers)
	return layers.NewSequential(full, children...), err
}
