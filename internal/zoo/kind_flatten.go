package zoo

import (
	"github.com/cnnctl/cnnctl/internal/layers"
	"github.com/cnnctl/cnnctl/internal/tensor"
)

var flattenKind = &Kind{
	Name:     "flatten",
	Doc:      "flatten (nn.Flatten, x.view(n, -1)): anything -> (C·H·W)",
	Example:  "{type: flatten, name: flatten}",
	Layer:    "flatten",
	Reusable: true,
	Cost:     CostView,
	impl:     flatten{},
}

type flatten struct{ keyless }

func (flatten) shape(w *walker, v *visit) (tensor.Shape, error) {
	return tensor.Shape{v.in.Numel()}, nil
}

func (flatten) build(b builder, full string, l *Layer) (layers.Layer, error) {
	return layers.NewFlatten(full), nil
}
