package zoo

import (
	"github.com/cnnctl/cnnctl/internal/layers"
	"github.com/cnnctl/cnnctl/internal/tensor"
)

var globalavgpoolKind = &Kind{
	Name:     "globalavgpool",
	Doc:      "average over each channel (nn.AdaptiveAvgPool2d(1)): (C,H,W) -> (C,1,1)",
	Example:  "{type: globalavgpool, name: avgpool}",
	Layer:    "globalavgpool",
	Reusable: true,
	Cost:     CostReduce,
	impl:     globalavgpool{},
}

type globalavgpool struct{ keyless }

func (globalavgpool) shape(w *walker, v *visit) (tensor.Shape, error) {
	if err := v.need3(); err != nil {
		return nil, err
	}
	return tensor.Shape{v.in[0], 1, 1}, nil
}

func (globalavgpool) build(b builder, full string, l *Layer) (layers.Layer, error) {
	return layers.NewGlobalAvgPool(full), nil
}
