// Package layers holds cnnctl's layers. Each layer runs its maths through a
// tensor.Backend and knows nothing about which device that is.
//
// Shapes handed to Setup are per sample ((C,H,W) for images, (F) for
// features); the tensors handed to Forward and Backward carry the batch as
// their first dimension.
package layers

import (
	"math/rand"

	"github.com/cnnctl/cnnctl/internal/tensor"
)

// Layer is one node of a model: a plain layer or a container of layers.
type Layer interface {
	// Name is the full, dotted PyTorch-style module name ("layer1.0.conv1").
	Name() string
	// Type is the YAML type name ("conv2d").
	Type() string
	// Setup checks the per-sample input shape, declares the layer's
	// parameters through ctx and returns the per-sample output shape.
	// Errors name the layer and the shapes involved.
	Setup(ctx *Context, in tensor.Shape) (tensor.Shape, error)
	// Forward computes the output for a batch. The returned tensor belongs
	// to the layer and stays valid until its next Forward.
	Forward(x *tensor.Tensor, train bool) *tensor.Tensor
	// Backward takes the gradient of the output and returns that of the
	// input of the last Forward, filling the gradients of the parameters.
	Backward(dy *tensor.Tensor) *tensor.Tensor
	// MACs is the multiply-accumulate count per sample of the forward
	// (convolutions and linear layers only, as PyTorch counters report).
	MACs() int64
	// Children lists the layers inside a container, nil for a plain layer.
	Children() []Layer
}

// Param is one named parameter or buffer. Value and Grad are views into
// the model's contiguous buffers once the model is built.
type Param struct {
	// Name is the full state_dict key ("layer1.0.conv1.weight").
	Name  string
	Shape tensor.Shape
	// Init fills the initial host values (PyTorch's default init).
	Init func(rng *rand.Rand, v []float32)
	// Buffer marks state that is saved but not trained (BatchNorm's
	// running statistics): it has no Grad and the optimiser skips it.
	Buffer bool

	Value *tensor.Tensor
	Grad  *tensor.Tensor
	// Half is the bf16 copy of Value that convolutions and linears read
	// as their weight operand in a model with bf16 activations (a view of
	// Model.Half; precision.go); nil otherwise, and for buffers.
	Half *tensor.Tensor
}

// Context is what layers share: the backend, the parameter registry and
// the training step (the dropout RNG counter).
type Context struct {
	Backend tensor.Backend
	// Seed makes dropout masks reproducible.
	Seed uint64
	// Step is the training step, set by the trainer before each Forward.
	Step uint64
	// Counter, when set, is a 1-element tensor on the backend that holds
	// Step (the trainer keeps it there): layers that draw per-step
	// randomness read it on the device (tensor.DropoutAt) where the
	// backend can, so that a captured step replays with the new step.
	Counter *tensor.Tensor
	// Act is the dtype of the activations and their gradients: F32, or
	// BF16 for mixed precision (precision.go lists what that changes).
	// Set by Build.
	Act tensor.DType

	params []*Param
}

// Param declares a parameter; its Value (and Grad unless buffer) are
// allocated when the model is built, before any Forward.
func (c *Context) Param(name string, s tensor.Shape, buffer bool, init func(rng *rand.Rand, v []float32)) *Param {
	p := &Param{Name: name, Shape: s.Clone(), Init: init, Buffer: buffer}
	c.params = append(c.params, p)
	return p
}
