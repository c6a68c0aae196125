//go:build cuda

package gpu

import (
	"strings"

	"github.com/cnnctl/cnnctl/internal/tensor"
)

// Mixed precision's bf16 storage (internal/layers/precision.go): an op
// that has a bf16-storage kernel (kernels/storage.cuh: widen on load,
// compute in float32, round to nearest even on store; internal/cpu/bf16.go
// is the reference) runs it when its tensors have the dtypes that kernel
// takes. So far the elementwise ops have one (activation forward and
// backward, add, add+relu, and mul for dropout's backward), and the moves
// (shortcut pad forward and backward, copy and extract channels) and the
// pools (max and average, forward and backward) and dropout's forward
// (the mask float32); the others
// take float32 only and say so, and the backend does not offer
// tensor.BF16Storage, so no model keeps bf16 activations on the GPU yet.

// storage returns the kernel of an op for its tensors ts: base when all
// are F32; variant when their dtypes are want (the op's bf16-storage
// combination, in ts's order); otherwise it records an error naming the
// op and the dtypes it got. Nil tensors (optional ones left out) match
// anything.
func (c *call) storage(base, variant string, ts []*tensor.Tensor, names []string, want []tensor.DType) string {
	allF32, match := true, true
	for i, t := range ts {
		if t == nil {
			continue
		}
		allF32 = allF32 && t.DType == tensor.F32
		match = match && t.DType == want[i]
	}
	switch {
	case allF32:
		return base
	case match:
		return variant
	}
	var got, wanted []string
	for i, t := range ts {
		if t != nil {
			got = append(got, names[i]+" "+t.DType.String())
			wanted = append(wanted, names[i]+" "+want[i].String())
		}
	}
	c.fail("%s: takes all f32 or %s (bf16 storage); got %s", c.op, strings.Join(wanted, ", "), strings.Join(got, ", "))
	return base
}

// The bf16-storage combinations: every tensor bf16 (two or three of
// them), and mul's bf16 a and y with a float32 b.
var (
	bf16x2  = []tensor.DType{tensor.BF16, tensor.BF16}
	bf16x3  = []tensor.DType{tensor.BF16, tensor.BF16, tensor.BF16}
	bf16Mul = []tensor.DType{tensor.BF16, tensor.F32, tensor.BF16} // also dropout's x, mask, y
)
