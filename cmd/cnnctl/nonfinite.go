package main

import (
	"fmt"
	"math"

	"github.com/cnnctl/cnnctl/internal/safetensors"
)

// checkFiniteWeights refuses a weights file holding a NaN or an infinity:
// such a model predicts nothing, and every later command would say so.
func checkFiniteWeights(path string, ts []safetensors.Tensor) error {
	var bad []string
	for _, t := range ts {
		n, first := 0, -1
		for i, v := range t.Data {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				if first < 0 {
					first = i
				}
				n++
			}
		}
		if n > 0 {
			bad = append(bad, fmt.Sprintf("%s: %d of %d values (first %s[%d] = %v)", t.Name, n, len(t.Data), t.Name, first, t.Data[first]))
		}
	}
	if len(bad) == 0 {
		return nil
	}
	msg := fmt.Sprintf("import %s: non-finite weights (NaN or Inf) in %d tensors, so the model would output NaN for every image:", path, len(bad))
	for i, b := range bad {
		if i == 5 {
			msg += fmt.Sprintf("\n  … and %d more", len(bad)-5)
			break
		}
		msg += "\n  " + b
	}
	return fmt.Errorf("%s\n  (was the model exported from a diverged run?)", msg)
}

// nonFiniteOutputs is the error of eval and predict when the model's
// outputs hold NaN or Inf for n of total images (nil when n is 0).
func nonFiniteOutputs(cmd string, n, total int) error {
	if n == 0 {
		return nil
	}
	return fmt.Errorf("%s: the model produces non-finite outputs (NaN or Inf) for %d of %d images, counted as wrong: its weights are broken (a diverged run, or a bad import)", cmd, n, total)
}

// finiteRow says whether a row of logits holds only finite values.
func finiteRow(row []float32) bool {
	for _, v := range row {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return false
		}
	}
	return true
}
