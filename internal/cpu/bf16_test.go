package cpu_test

import (
	"math"
	"strings"
	"testing"

	"github.com/cnnctl/cnnctl/internal/cpu"
	"github.com/cnnctl/cnnctl/internal/tensor"
	"github.com/cnnctl/cnnctl/internal/tensor/tensortest"
)

// TestStorageCases runs every op mixed precision uses on bf16 tensors
// (tensortest.StorageCases: activations, their gradients and the weight
// operands bf16) on the fast engine against the reference: outputs
// NaN-poisoned, guard cells around every tensor, in-place calls, bf16
// outputs held to tensortest.StoredTolerance.
func TestStorageCases(t *testing.T) {
	cases := tensortest.StorageCases()
	if len(cases) < 100 {
		t.Fatalf("%d storage cases: the list of ops lost most of its cases", len(cases))
	}
	tensortest.CheckStorage(t, cpu.New())
}

// TestStorageIsWidenComputeRound pins the semantics of an op on bf16
// tensors (internal/cpu/bf16.go): on both engines, each storage case gives
// exactly the bits of the float32 op run on the bf16 inputs widened, with
// its bf16 outputs then rounded by tensor.ToBF16, and its float32 outputs
// unchanged.
func TestStorageIsWidenComputeRound(t *testing.T) {
	for _, eng := range []struct {
		name string
		be   func() *cpu.Backend
	}{{"reference", cpu.NewReference}, {"fast", cpu.New}} {
		for _, c := range tensortest.StorageCases() {
			t.Run(eng.name+"/"+c.String(), func(t *testing.T) {
				got, err := tensortest.Outputs(eng.be(), c)
				if err != nil {
					t.Fatal(err)
				}
				want, err := tensortest.Outputs(eng.be(), widened(c))
				if err != nil {
					t.Fatal(err)
				}
				for _, a := range c.Args {
					if !a.Out {
						continue
					}
					for i, w := range want[a.Name] {
						if a.DType == tensor.BF16 {
							w = tensor.FromBF16(tensor.ToBF16(w))
						}
						if g := got[a.Name][i]; math.Float32bits(g) != math.Float32bits(w) && !(isNaN(g) && isNaN(w)) {
							t.Fatalf("%s[%d] = %g (%#08x), want %g (%#08x)", a.Name, i, g, math.Float32bits(g), w, math.Float32bits(w))
						}
					}
				}
			})
		}
	}
}

func isNaN(v float32) bool { return v != v }

// widened is c with every tensor float32 and c's starting values, those of
// bf16 inputs rounded to bf16 as c's Bind rounds them.
func widened(c tensortest.Case) tensortest.Case {
	in := c.Inputs()
	w := c
	w.Name += " widened"
	w.Args = make([]tensortest.Arg, len(c.Args))
	for i, a := range c.Args {
		if v, ok := in[a.Name]; ok {
			a.Values = v
			if a.DType == tensor.BF16 {
				a.Values = make([]float32, len(v))
				for j, x := range v {
					a.Values[j] = tensor.FromBF16(tensor.ToBF16(x))
				}
			}
		}
		a.DType = tensor.F32
		w.Args[i] = a
	}
	return w
}

// TestStorageRejectsMismatch: a bf16 tensor whose buffer is float32 (or a
// view beyond its buffer) is an error naming the op, not a wrong result.
func TestStorageRejectsMismatch(t *testing.T) {
	be := cpu.New()
	x := be.New(tensor.Shape{2, 3})
	y := be.NewTyped(tensor.Shape{2, 3}, tensor.BF16)
	bad := &tensor.Tensor{Shape: x.Shape, Buf: x.Buf, DType: tensor.BF16}
	be.ActivationForward(tensor.ReLU, bad, y)
	err := be.Err()
	if err == nil || !contains(err.Error(), "activation forward") {
		t.Fatalf("err = %v, want the activation forward's error about the dtype", err)
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
