package cpu

import (
	"testing"

	"github.com/cnnctl/cnnctl/internal/tensor"
)

// TestCheckErrors covers the argument checks written as if !cond { fail }
// (so that their message arguments are boxed only on failure): each still
// records its error, naming the op and the shapes.
func TestCheckErrors(t *testing.T) {
	p := tensor.BatchNormParams{Momentum: 0.1, Eps: 1e-5}
	tests := []errorCase{
		{"activation sizes", func(be *Backend) {
			be.ActivationForward(tensor.ReLU, be.New(tensor.Shape{3}), be.New(tensor.Shape{4}))
		}, []string{"relu forward", "x 3 and y 4 differ in size"}},
		{"activation backward sizes", func(be *Backend) {
			be.ActivationBackward(tensor.Sigmoid, be.New(tensor.Shape{3}), be.New(tensor.Shape{3}), be.New(tensor.Shape{2}))
		}, []string{"sigmoid backward", "dx 2 differ in size"}},
		{"batchnorm per-channel", func(be *Backend) {
			c := tensor.Shape{2}
			be.BatchNormForwardInfer(be.New(tensor.Shape{1, 2, 2, 2}), be.New(c), be.New(tensor.Shape{3}),
				be.New(c), be.New(c), be.New(tensor.Shape{1, 2, 2, 2}), p)
		}, []string{"batchnorm forward infer", "per-channel tensor is 3, want 2 for x 1x2x2x2"}},
		{"batchnorm one value", func(be *Backend) {
			c := tensor.Shape{2}
			be.BatchNormForwardTrain(be.New(tensor.Shape{1, 2}), be.New(c), be.New(c), be.New(c), be.New(c),
				be.New(tensor.Shape{1, 2}), be.New(c), be.New(c), p)
		}, []string{"batchnorm forward train", "x 1x2 has one value per channel"}},
		{"sgd sizes", func(be *Backend) {
			be.SGDUpdate(be.New(tensor.Shape{3}), be.New(tensor.Shape{3}), be.New(tensor.Shape{5}), tensor.SGDParams{LR: 0.1})
		}, []string{"sgd", "v 5 differ in size"}},
	}
	checkErrorCases(t, tests)
}

// TestChecksDoNotAllocate runs small ops whose arguments are valid: their
// checks must not allocate (a boxed shape per check made a BatchNorm
// inference allocate ~8 times). What remains is at most the loop body's
// closure, one per op.
func TestChecksDoNotAllocate(t *testing.T) {
	be := New()
	x, y := be.New(tensor.Shape{2, 3, 4, 4}), be.New(tensor.Shape{2, 3, 4, 4})
	c := tensor.Shape{3}
	g, bt, rm, rv := be.New(c), be.New(c), be.New(c), be.New(c)
	be.Fill(rv, 1)
	p := tensor.BatchNormParams{Momentum: 0.1, Eps: 1e-5}
	ops := []struct {
		name string
		run  func()
	}{
		{"batchnorm infer", func() { be.BatchNormForwardInfer(x, g, bt, rm, rv, y, p) }},
		{"relu", func() { be.ActivationForward(tensor.ReLU, x, y) }},
		{"relu backward", func() { be.ActivationBackward(tensor.ReLU, y, x, y) }},
		{"add", func() { be.Add(x, y, y) }},
	}
	for _, op := range ops {
		op.run()
		if n := testing.AllocsPerRun(20, op.run); n > 1 {
			t.Errorf("%s: %v allocations per call, want at most 1 (the loop's closure)", op.name, n)
		}
	}
	if err := be.Err(); err != nil {
		t.Fatal(err)
	}
}
