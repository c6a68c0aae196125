// Package torchcheck proves cnnctl's engine computes what PyTorch computes.
// Its tests read the fixtures that scripts/torch_fixtures.py writes (seeded
// weights, a batch of inputs, PyTorch's eval-mode logits, and for a few
// models one SGD training step) from the directory named by
// CNNCTL_TORCH_FIXTURES, rebuild each zoo model from its YAML on the CPU
// backend with those weights, and compare. scripts/test-torch.sh generates
// the fixtures and runs the tests, so CI never skips them.
package torchcheck

import (
	"fmt"
	"math"

	"github.com/cnnctl/cnnctl/internal/checkpoint"
	"github.com/cnnctl/cnnctl/internal/safetensors"
)

// Diff is how far got is from a reference: MaxAbs = max|got - ref|, Scale =
// max(1, max|ref|), and Rel = MaxAbs / Scale, the number the tolerances bound.
type Diff struct {
	MaxAbs, Scale, Rel float64
	At                 int // index of the largest difference
}

func (d Diff) String() string {
	return fmt.Sprintf("max|Δ| %.3g at [%d] (scale %.3g, relative %.3g)", d.MaxAbs, d.At, d.Scale, d.Rel)
}

// Compare measures got against ref; a length mismatch or a non-finite value
// in got gives Rel = +Inf.
func Compare(got, ref []float32) Diff {
	d := Diff{Scale: 1}
	if len(got) != len(ref) {
		d.Rel, d.MaxAbs = math.Inf(1), math.Inf(1)
		return d
	}
	for i := range ref {
		d.Scale = math.Max(d.Scale, math.Abs(float64(ref[i])))
		a := math.Abs(float64(got[i]) - float64(ref[i]))
		if math.IsNaN(a) {
			a = math.Inf(1)
		}
		if a > d.MaxAbs {
			d.MaxAbs, d.At = a, i
		}
	}
	d.Rel = d.MaxAbs / d.Scale
	return d
}

// State converts a safetensors file's tensors to the map train.LoadTensors
// takes.
func State(f *safetensors.File) map[string]checkpoint.Named {
	state := make(map[string]checkpoint.Named, len(f.Tensors))
	for _, t := range f.Tensors {
		state[t.Name] = checkpoint.Named{Name: t.Name, Shape: t.Shape, Data: t.Data}
	}
	return state
}
