package zoo

import (
	"github.com/cnnctl/cnnctl/internal/layers"
	"github.com/cnnctl/cnnctl/internal/tensor"
)

var reluKind = activationKind(tensor.ReLU, "max(x, 0) (nn.ReLU): any shape, unchanged", CostPointwise)

var sigmoidKind = activationKind(tensor.Sigmoid, "1/(1+exp(-x)) (nn.Sigmoid): any shape, unchanged", CostTranscendental)

var tanhKind = activationKind(tensor.Tanh, "tanh(x) (nn.Tanh): any shape, unchanged", CostTranscendental)

// activationKind is the kind of an elementwise non-linearity, named and
// typed after the function (tensor.Activation's String: "relu"); it may
// be a residual's post.
func activationKind(a tensor.Activation, doc string, cost Cost) *Kind {
	return &Kind{
		Name:       a.String(),
		Doc:        doc,
		Example:    "{type: " + a.String() + ", name: " + a.String() + "}",
		Layer:      a.String(),
		Reusable:   true,
		Activation: true,
		Cost:       cost,
		impl:       activation{a: a},
	}
}

type activation struct {
	keyless
	a tensor.Activation
}

func (activation) shape(w *walker, v *visit) (tensor.Shape, error) { return v.in.Clone(), nil }

func (k activation) build(b builder, full string, l *Layer) (layers.Layer, error) {
	return layers.NewActivation(full, k.a), nil
}
