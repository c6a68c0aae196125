package zoo

import (
	"strings"

	"github.com/cnnctl/cnnctl/internal/layers"
	"github.com/cnnctl/cnnctl/internal/tensor"
)

// BatchNormParams are a batchnorm layer's settings.
type BatchNormParams struct {
	Momentum, Eps float64
}

var batchnormKind = &Kind{
	Name: "batchnorm",
	Doc:  "batch normalisation (nn.BatchNorm2d on (C,H,W), nn.BatchNorm1d on (F)): shape unchanged",
	Keys: []Key{
		{"momentum", "weight of the batch in the running statistics, in [0, 1] (0.1)"},
		{"eps", "added to the variance, positive (1e-5)"},
	},
	Example: "{type: batchnorm, name: bn1}",
	Layer:   "batchnorm",
	Cost:    CostNormalize,
	impl:    batchnorm{},
}

type batchnorm struct{}

func (batchnorm) decode(d *decoder, l *Layer, fields map[string]field) error {
	p := &BatchNormParams{Momentum: 0.1, Eps: 1e-5}
	l.Params = p
	err := d.optionalFloat(fields, "momentum", &p.Momentum, func(x float64) string {
		if x < 0 || x > 1 {
			return "in [0, 1]"
		}
		return ""
	})
	if err != nil {
		return err
	}
	return d.optionalFloat(fields, "eps", &p.Eps, func(x float64) string {
		if x <= 0 {
			return "positive"
		}
		return ""
	})
}

func (batchnorm) canonical(b *strings.Builder, full string, l *Layer) {
	p := l.Params.(*BatchNormParams)
	b.WriteString(" momentum=" + floatString(p.Momentum) + " eps=" + floatString(p.Eps) + "\n")
}

func (batchnorm) shape(w *walker, v *visit) (tensor.Shape, error) {
	if len(v.in) != 3 && len(v.in) != 1 {
		return nil, v.errorf("wants a (C,H,W) or (F) input")
	}
	v.row.Params = 2 * int64(v.in[0])
	return v.in.Clone(), nil
}

func (batchnorm) build(b builder, full string, l *Layer) (layers.Layer, error) {
	p := l.Params.(*BatchNormParams)
	return layers.NewBatchNorm(full, tensor.BatchNormParams{Momentum: float32(p.Momentum), Eps: float32(p.Eps)}), nil
}
