package layers

import (
	"math/rand"
	"testing"

	"github.com/cnnctl/cnnctl/internal/cpu"
	"github.com/cnnctl/cnnctl/internal/tensor"
)

// TestSkipInputGrad: by default a model whose first layer is a convolution
// returns no input gradient and fills the same parameter gradients as with
// InputGrad; the convolution inside the Residual still computes its dx.
func TestSkipInputGrad(t *testing.T) {
	be := cpu.New()
	in := tensor.Shape{2, 5, 5}
	pad := tensor.ConvParams{PadH: 1, PadW: 1}
	net := func() Layer {
		return NewSequential("net",
			NewConv2D("conv", 3, 3, 3, pad, true),
			NewResidual("res", NewSequential("body", NewConv2D("inner", 3, 3, 3, pad, false)), nil, nil),
		)
	}
	rng := rand.New(rand.NewSource(1))
	xs := make([]float32, batched(2, in).Numel())
	uniform(rng, xs, -1, 1)
	var grads [2][]float32
	for i, inputGrad := range []bool{false, true} {
		m, err := Build(be, net(), in, 1)
		if err != nil {
			t.Fatal(err)
		}
		m.InputGrad = inputGrad
		x := be.New(batched(2, in))
		be.Upload(x, xs)
		y := m.Forward(x, true)
		dx := m.Backward(y)
		if got := dx != nil; got != inputGrad {
			t.Errorf("InputGrad %v: Backward returned dx: %v", inputGrad, got)
		}
		grads[i] = download(be, m.Grads)
	}
	if err := be.Err(); err != nil {
		t.Fatal(err)
	}
	if !equal(grads[0], grads[1]) {
		t.Errorf("parameter gradients differ with and without the input gradient")
	}
	if firstLeaf(NewSequential("r", NewResidual("res", NewConv2D("c", 2, 1, 1, tensor.ConvParams{}, false), nil, nil))) != nil {
		t.Errorf("a convolution inside a Residual was taken for the first layer")
	}
}
