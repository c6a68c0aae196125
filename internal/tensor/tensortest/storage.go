package tensortest

import (
	"strings"
	"testing"

	"github.com/cnnctl/cnnctl/internal/tensor"
)

// storageArgs names, per op, the arguments mixed precision stores as bf16
// (internal/layers/precision.go): activations, activation gradients and
// the weight operands; the rest (biases, batch-norm parameters and
// statistics, weight gradients, masks) stay float32. Mul is dropout's
// backward (dy bf16 times its float32 mask). The softmax is left out: it
// runs on the model's float32 logits.
var storageArgs = map[string][]string{
	"Conv2DForward":             {"x", "w", "y"},
	"Conv2DBackwardData":        {"dy", "w", "dx"},
	"Conv2DBackwardFilter":      {"x", "dy"},
	"Conv2DForwardEpilogue":     {"x", "w", "y", "residual"},
	"LinearForward":             {"x", "w", "y"},
	"LinearBackward":            {"x", "w", "dy", "dx"},
	"MaxPool2DForward":          {"x", "y"},
	"MaxPool2DBackward":         {"x", "dy", "dx"},
	"AvgPool2DForward":          {"x", "y"},
	"AvgPool2DBackward":         {"dy", "dx"},
	"ActivationForward":         {"x", "y"},
	"ActivationBackward":        {"y", "dy", "dx"},
	"BatchNormForwardTrain":     {"x", "y"},
	"BatchNormForwardInfer":     {"x", "y"},
	"BatchNormBackward":         {"x", "dy", "dx"},
	"BatchNormReLUForwardTrain": {"x", "y"},
	"BatchNormReLUForwardInfer": {"x", "y"},
	"BatchNormReLUBackward":     {"x", "y", "dy", "dx"},
	"Add":                       {"a", "b", "y"},
	"AddReLU":                   {"a", "b", "y"},
	"Mul":                       {"a", "y"},
	"ShortcutPadForward":        {"x", "y"},
	"ShortcutPadBackward":       {"dy", "dx"},
	"CopyChannels":              {"dst", "src"},
	"ExtractChannels":           {"dst", "src"},
	"DropoutForward":            {"x", "y"},
	"DropoutForwardAt":          {"x", "y"},
}

// StorageCases are the cases of every op that mixed precision runs on
// bf16 tensors, with those tensors bf16 (storageArgs) and marked Storage:
// the ops a backend needs for `--precision bf16` with bf16 activations,
// checked against the CPU reference's widen-compute-round
// (internal/cpu/bf16.go).
func StorageCases() []Case {
	var cs []Case
	for _, c := range Cases() {
		names, ok := storageArgs[c.Op]
		if !ok || c.Op == "Mul" && strings.HasSuffix(c.Name, " y=b") {
			continue // b is dropout's float32 mask, never the output
		}
		s := c
		s.Name += " bf16"
		s.Storage = true
		s.Args = make([]Arg, len(c.Args))
		for i, a := range c.Args {
			for _, n := range names {
				if a.Name == n {
					a.DType = tensor.BF16
				}
			}
			s.Args[i] = a
		}
		cs = append(cs, s)
	}
	return cs
}

// StoredTolerance is the bound a bf16 output of a storage case is held to
// against the reference's, both computed in float32 and rounded to bf16
// once. The float32 results a (the backend's) and b (the reference's)
// agree within the engine's tolerance, |a-b| <= Tol·max(1, |b|); each
// rounding moves a value by at most u = BF16U of its size, so
//
//	|rnd(a) - rnd(b)| <= |a-b| + u|a| + u|b| <= (1+u)|a-b| + 2u|b|,
//
// and with |b| <= |want|/(1-u) (want = rnd(b)):
//
//	Abs = (1+u)/(1-u)·Tol,  Rel = ((1+u)·Tol + 2u)/(1-u).
//
// Two values on either side of a rounding boundary land one bf16 ulp
// apart (up to 2^-7 of the value), which is why this is about twice
// DTypeTolerance(BF16), the bound of one rounded value against an
// unrounded one.
func StoredTolerance() Tolerance {
	const u = BF16U
	return Tolerance{Abs: (1 + u) / (1 - u) * Tol, Rel: ((1+u)*Tol + 2*u) / (1 - u)}
}

// CheckStorage runs StorageCases on be against the CPU reference.
func CheckStorage(t *testing.T, be tensor.Backend) {
	t.Helper()
	CheckCases(t, be, StorageCases())
}
