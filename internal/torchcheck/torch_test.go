package torchcheck

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/cnnctl/cnnctl/internal/cpu"
	"github.com/cnnctl/cnnctl/internal/layers"
	"github.com/cnnctl/cnnctl/internal/safetensors"
	"github.com/cnnctl/cnnctl/internal/tensor"
	"github.com/cnnctl/cnnctl/internal/train"
	"github.com/cnnctl/cnnctl/internal/zoo"
)

// tol bounds max|Δ| / max(1, max|ref|) for every compared tensor.
const tol = 1e-4

// The training step of torch_fixtures.py.
const (
	stepLR          = 0.1
	stepMomentum    = 0.9
	stepWeightDecay = 5e-4
)

// fixtures returns the fixture directory, skipping the test when it is not set.
func fixtures(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("CNNCTL_TORCH_FIXTURES")
	if dir == "" {
		t.Skip("CNNCTL_TORCH_FIXTURES not set: run scripts/test-torch.sh (needs /usr/bin/python3 with torch)")
	}
	return dir
}

// read reads DIR/NAME.KIND.safetensors.
func read(t *testing.T, dir, name, kind string) *safetensors.File {
	t.Helper()
	f, err := safetensors.ReadFile(filepath.Join(dir, name+"."+kind+".safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func get(t *testing.T, f *safetensors.File, name string) safetensors.Tensor {
	t.Helper()
	v, ok := f.Get(name)
	if !ok {
		t.Fatalf("fixture has no tensor %q", name)
	}
	return v
}

// build makes zoo model name on a fresh CPU backend with the fixture's
// weights; noDropout sets every Dropout's p to 0 (the fixtures' training step).
func build(t *testing.T, dir, name string, noDropout bool) *layers.Model {
	t.Helper()
	spec, err := zoo.Load(name)
	if err != nil {
		t.Fatal(err)
	}
	be := cpu.New()
	t.Cleanup(func() { be.Close() })
	m, err := zoo.Build(spec, be, tensor.Shape{3, 32, 32}, 10, 1)
	if err != nil {
		t.Fatal(err)
	}
	if noDropout {
		layers.Walk(m.Root, func(l layers.Layer, _ int) {
			if d, ok := l.(*layers.Dropout); ok {
				d.P = 0
			}
		})
	}
	if err := train.LoadTensors(m, State(read(t, dir, name, "weights")), "PyTorch weights"); err != nil {
		t.Fatal(err)
	}
	return m
}

func upload(be tensor.Backend, v safetensors.Tensor) *tensor.Tensor {
	x := be.New(tensor.Shape(v.Shape))
	be.Upload(x, v.Data)
	return x
}

// check fails t when got is further than tol from ref, and logs the distance.
func check(t *testing.T, what string, got, ref []float32) Diff {
	t.Helper()
	d := Compare(got, ref)
	if !(d.Rel <= tol) {
		t.Errorf("%s: %v, want relative ≤ %g (len %d, ref %d)", what, d, tol, len(got), len(ref))
	}
	return d
}

// TestEvalLogits: every zoo model, with PyTorch's weights, gives PyTorch's
// eval-mode logits on the fixture batch.
func TestEvalLogits(t *testing.T) {
	dir := fixtures(t)
	for _, name := range zoo.Names() {
		t.Run(name, func(t *testing.T) {
			m := build(t, dir, name, false)
			io := read(t, dir, name, "io")
			be := m.Ctx.Backend
			out := download(be, m.Forward(upload(be, get(t, io, "input")), false))
			if err := be.Err(); err != nil {
				t.Fatal(err)
			}
			d := check(t, "logits", out, get(t, io, "logits").Data)
			d64 := Compare(out, get(t, io, "logits_f64").Data)
			t.Logf("%-10s logits vs torch f32: %v; vs torch f64: max|Δ| %.3g", name, d, d64.MaxAbs)
		})
	}
}

// TestTrainStep: one train-mode forward (BatchNorm on batch statistics,
// dropout off), cross-entropy, backward and SGD-momentum step gives
// PyTorch's loss, gradients, updated weights and BatchNorm running
// statistics and counts.
func TestTrainStep(t *testing.T) {
	dir := fixtures(t)
	for _, name := range []string{"lenet", "resnet", "vgg11-bn"} {
		t.Run(name, func(t *testing.T) {
			m := build(t, dir, name, true)
			st := read(t, dir, name, "step")
			be := m.Ctx.Backend
			out := m.Forward(upload(be, get(t, st, "input")), true)
			check(t, "train logits", download(be, out), get(t, st, "train_logits").Data)
			loss := layers.NewLoss(be, 0)
			l := loss.Forward(out, upload(be, get(t, st, "labels")))
			d := check(t, "loss", []float32{l}, get(t, st, "loss").Data)
			t.Logf("%s loss %.6f: %v", name, l, d)
			m.Backward(loss.Backward())

			worst := Diff{}
			for _, p := range m.Params {
				d := check(t, "grad."+p.Name, download(be, p.Grad), get(t, st, "grad."+p.Name).Data)
				if d.Rel > worst.Rel {
					worst = d
				}
			}
			t.Logf("%s gradients (%d): worst %v", name, len(m.Params), worst)

			opt, err := train.NewOptimizer(m, train.OptimizerConfig{Kind: "sgd", Momentum: stepMomentum, WeightDecay: stepWeightDecay})
			if err != nil {
				t.Fatal(err)
			}
			opt.Update(stepLR)
			worst = Diff{}
			for _, p := range m.All() {
				d := check(t, "updated."+p.Name, download(be, p.Value), get(t, st, "updated."+p.Name).Data)
				if d.Rel > worst.Rel {
					worst = d
				}
			}
			t.Logf("%s updated state (%d tensors): worst %v", name, len(m.All()), worst)
			layers.Walk(m.Root, func(l layers.Layer, _ int) {
				bn, ok := l.(*layers.BatchNorm)
				if !ok {
					return
				}
				want := get(t, st, "updated."+l.Name()+".num_batches_tracked")
				if len(want.Int64) != 1 || bn.NumBatchesTracked() != want.Int64[0] {
					t.Errorf("%s.num_batches_tracked = %d, want %v", l.Name(), bn.NumBatchesTracked(), want.Int64)
				}
			})
			if err := be.Err(); err != nil {
				t.Fatal(err)
			}
		})
	}
}
