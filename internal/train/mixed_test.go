package train

import (
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cnnctl/cnnctl/internal/checkpoint"
	"github.com/cnnctl/cnnctl/internal/cpu"
	"github.com/cnnctl/cnnctl/internal/layers"
	"github.com/cnnctl/cnnctl/internal/tensor"
)

// buildMixed is buildModel with bf16 activations (layers/precision.go).
func buildMixed(t *testing.T, be tensor.Backend, name string) *layers.Model {
	t.Helper()
	m := buildModel(t, be, name)
	if err := m.SetAct(tensor.BF16); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestMixedStepBitIdenticalToInline: with bf16 activations, train.Step
// (the capturable step, a window of 3) gives the bits of the inline loop,
// as TestStepBitIdenticalToInline checks for float32; and the bf16 run is
// not the float32 run (the activations really are rounded).
func TestMixedStepBitIdenticalToInline(t *testing.T) {
	for _, c := range stepCases[:2] {
		t.Run(c.model+"/"+c.opt.Kind, func(t *testing.T) {
			bs := batches(c.sizes)
			inline := trainInline(t, buildMixed(t, cpu.New(), c.model), c, bs, nil)
			compare(t, inline, trainStep(t, buildMixed(t, cpu.New(), c.model), c, bs, 3, nil))
			f32 := trainInline(t, buildModel(t, cpu.New(), c.model), c, bs, nil)
			if f32.losses[0] == inline.losses[0] && f32.losses[len(bs)-1] == inline.losses[len(bs)-1] {
				t.Errorf("bf16 and float32 runs give the same losses %v: the activations are not bf16", inline.losses)
			}
			for i := range f32.losses {
				if d := math.Abs(float64(f32.losses[i] - inline.losses[i])); d > 0.05*math.Abs(float64(f32.losses[i])) {
					t.Errorf("step %d: loss %g in bf16, %g in float32", i, inline.losses[i], f32.losses[i])
				}
			}
		})
	}
}

// TestMixedCheckpoint: a model trained with bf16 activations saves float32
// weights (the master copy; no bf16 tensor in the file), and its
// checkpoint loads exactly into a model of either precision; loaded with
// bf16 activations it computes the trained model's outputs bit for bit.
func TestMixedCheckpoint(t *testing.T) {
	c := stepCases[1] // lenet-bn, adam
	bs := batches(c.sizes)
	m := buildMixed(t, cpu.New(), c.model)
	trainInline(t, m, c, bs, nil)
	ck, err := Snapshot(m, checkpoint.Meta{Precision: "bf16"})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "last")
	if err := checkpoint.Save(path, ck); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if header := string(raw[:min(len(raw), 1<<16)]); strings.Contains(header, "BF16") || !strings.Contains(header, `"F32"`) {
		t.Errorf("the checkpoint's header is not all F32: %.300s", header)
	}
	loaded, err := checkpoint.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	x := probe(m)
	want := forward(t, m, x)
	for _, act := range []tensor.DType{tensor.F32, tensor.BF16} {
		d := buildModel(t, cpu.New(), c.model)
		if err := d.SetAct(act); err != nil {
			t.Fatal(err)
		}
		if err := LoadState(d, loaded); err != nil {
			t.Fatal(err)
		}
		for i, p := range d.All() {
			v := make([]float32, p.Shape.Numel())
			d.Ctx.Backend.Download(v, p.Value)
			for j := range v {
				if math.Float32bits(v[j]) != math.Float32bits(ck.State[i].Data[j]) {
					t.Fatalf("%v: %s[%d] = %g after loading, saved %g", act, p.Name, j, v[j], ck.State[i].Data[j])
				}
			}
		}
		got := forward(t, d, x)
		for i := range want {
			if act == tensor.BF16 && math.Float32bits(got[i]) != math.Float32bits(want[i]) {
				t.Fatalf("bf16: output %d = %g after loading, %g before", i, got[i], want[i])
			}
			if act == tensor.F32 && math.IsNaN(float64(got[i])) {
				t.Fatalf("f32: output %d is NaN", i)
			}
		}
	}
}

// probe is a seeded batch of 4 inputs for m.
func probe(m *layers.Model) []float32 {
	r := rand.New(rand.NewPCG(3, 4))
	x := make([]float32, 4*m.In.Numel())
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	return x
}

// forward is m's evaluation output on the host batch x.
func forward(t *testing.T, m *layers.Model, x []float32) []float32 {
	t.Helper()
	be := m.Ctx.Backend
	xt := be.New(append(tensor.Shape{len(x) / m.In.Numel()}, m.In...))
	defer be.Free(xt)
	be.Upload(xt, x)
	y := m.Forward(xt, false)
	out := make([]float32, y.Numel())
	be.Download(out, y)
	if err := be.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestMixedFirstNonFinite: with bf16 activations (and a plan, whose
// arenas hold them) the diagnosis of a diverged step finds the first
// layer whose output is not finite, reading bf16 outputs through a Cast.
func TestMixedFirstNonFinite(t *testing.T) {
	m := buildMixed(t, cpu.New(), "lenet-bn")
	if _, err := attachPlan(m, 2, true); err != nil {
		t.Fatal(err)
	}
	be := m.Ctx.Backend
	x := be.New(append(tensor.Shape{2}, m.In...))
	v := probe(m)[:x.Numel()]
	v[5] = float32(math.Inf(1))
	be.Upload(x, v)
	got := FirstNonFinite(m, x)
	if !strings.Contains(got, "first non-finite output: layer") {
		t.Errorf("FirstNonFinite = %q, want the first layer with a non-finite output", got)
	}
	if err := be.Err(); err != nil {
		t.Fatal(err)
	}
}
