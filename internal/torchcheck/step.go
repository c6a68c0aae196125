package torchcheck

import (
	"errors"
	"fmt"
	"math"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"github.com/cnnctl/cnnctl/internal/checkpoint"
	"github.com/cnnctl/cnnctl/internal/cpu"
	"github.com/cnnctl/cnnctl/internal/layers"
	"github.com/cnnctl/cnnctl/internal/safetensors"
	"github.com/cnnctl/cnnctl/internal/tensor"
	"github.com/cnnctl/cnnctl/internal/train"
	"github.com/cnnctl/cnnctl/internal/zoo"
)

// The training step that scripts/torch_f64_step.py computes in float64 and
// RunStep runs on an engine: a model built from BuildSeed (which seeds the
// dropout masks) at step 0, mean cross-entropy with label smoothing
// Smoothing, backward, one SGD step.
const (
	BuildSeed   = 1
	Smoothing   = 0.1
	LR          = 0.05
	Momentum    = 0.9
	WeightDecay = 5e-4
)

// StepBatch is the batch of the judged step: n = 8 images of N(0,1)
// pixels and labels in [0, 10), from math/rand seed 7 (TestModelStep's
// batch since the GPU engine's first run).
func StepBatch() (xs, ys []float32, shape tensor.Shape) {
	const n = 8
	rng := rand.New(rand.NewSource(7))
	xs, ys = make([]float32, n*3*32*32), make([]float32, n)
	for i := range xs {
		xs[i] = float32(rng.NormFloat64())
	}
	for i := range ys {
		ys[i] = float32(rng.Intn(10))
	}
	return xs, ys, tensor.Shape{n, 3, 32, 32}
}

// WriteStepInputs writes what the float64 referee starts from into dir:
// batch.safetensors (StepBatch) and, per model, NAME.weights.safetensors,
// the state_dict of zoo.Build(BuildSeed) under PyTorch's keys.
func WriteStepInputs(dir string, names []string) error {
	xs, ys, shape := StepBatch()
	err := safetensors.WriteFile(filepath.Join(dir, "batch.safetensors"), []safetensors.Tensor{
		{Name: "input", Shape: shape, Data: xs},
		{Name: "labels", Shape: []int{len(ys)}, Data: ys},
	}, map[string]string{"content": "the batch of torchcheck.StepBatch"})
	if err != nil {
		return err
	}
	for _, name := range names {
		spec, err := zoo.Load(name)
		if err != nil {
			return err
		}
		m, err := zoo.Build(spec, cpu.New(), shape[1:].Clone(), 10, BuildSeed)
		if err != nil {
			return err
		}
		snap, err := train.Snapshot(m, checkpoint.Meta{})
		if err != nil {
			return err
		}
		ts := make([]safetensors.Tensor, 0, len(snap.State)+len(snap.NumBatchesTracked))
		for _, t := range snap.State {
			ts = append(ts, safetensors.Tensor{Name: t.Name, Shape: t.Shape, Data: t.Data})
		}
		for layer, n := range snap.NumBatchesTracked {
			ts = append(ts, safetensors.Tensor{Name: layer + ".num_batches_tracked", Shape: []int{}, Int64: []int64{n}})
		}
		sort.SliceStable(ts, func(i, j int) bool { return ts[i].Name < ts[j].Name })
		err = safetensors.WriteFile(filepath.Join(dir, name+".weights.safetensors"), ts,
			map[string]string{"model": name, "content": fmt.Sprintf("zoo.Build weights, seed %d", BuildSeed)})
		if err != nil {
			return err
		}
	}
	return nil
}

// F64EnvVar names a directory that holds the float64 referee's files
// already (PrepareF64 then only reads them); CNNCTL_TORCH_PYTHON names the
// Python with torch (default /usr/bin/python3, else python3 on PATH) and
// CNNCTL_F64_SCRIPT the script (default scripts/torch_f64_step.py in the
// first parent directory of the working directory that has it).
const F64EnvVar = "CNNCTL_F64_FIXTURES"

// ErrNoTorch says the float64 referee cannot run here: no Python with torch.
var ErrNoTorch = errors.New("no Python with torch for the float64 referee")

// PrepareF64 returns a directory holding the float64 referee of every
// model in names: CNNCTL_F64_FIXTURES if set, else tmp after writing the
// inputs there (WriteStepInputs) and running scripts/torch_f64_step.py on
// them (a few seconds to minutes: float64 on the CPU). log receives the
// script's lines.
func PrepareF64(tmp string, names []string, log func(string)) (string, error) {
	if dir := os.Getenv(F64EnvVar); dir != "" {
		return dir, nil
	}
	py, err := torchPython()
	if err != nil {
		return "", err
	}
	script, err := findScript()
	if err != nil {
		return "", err
	}
	if err := WriteStepInputs(tmp, names); err != nil {
		return "", fmt.Errorf("write the referee's inputs: %w", err)
	}
	cmd := exec.Command(py, append([]string{script, tmp, "--models"}, names...)...)
	out, err := cmd.CombinedOutput()
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		log(line)
	}
	if err != nil {
		return "", fmt.Errorf("%s %s: %w", py, script, err)
	}
	return tmp, nil
}

func torchPython() (string, error) {
	cands := []string{os.Getenv("CNNCTL_TORCH_PYTHON"), "/usr/bin/python3", "python3"}
	if cands[0] != "" {
		cands = cands[:1]
	}
	for _, py := range cands {
		if py != "" && exec.Command(py, "-c", "import torch, numpy").Run() == nil {
			return py, nil
		}
	}
	return "", fmt.Errorf("%w: tried %s (install python3-torch and python3-numpy, or set CNNCTL_TORCH_PYTHON)",
		ErrNoTorch, strings.Join(cands, ", "))
}

func findScript() (string, error) {
	if s := os.Getenv("CNNCTL_F64_SCRIPT"); s != "" {
		return s, nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		s := filepath.Join(dir, "scripts", "torch_f64_step.py")
		if _, err := os.Stat(s); err == nil {
			return s, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("scripts/torch_f64_step.py not found above the working directory (set CNNCTL_F64_SCRIPT)")
		}
		dir = parent
	}
}

// F64Step is one model's float64 referee (scripts/torch_f64_step.py):
// the weights and batch it started from and the step's results, each the
// float64 value rounded to float32.
type F64Step struct {
	Model   string
	Weights *safetensors.File
	Input   safetensors.Tensor // (N,3,32,32)
	Labels  []float32          // class indices
	Loss    float32
	// Grads and Updated hold d loss/d p per parameter and the BatchNorm
	// running statistics after the step, by PyTorch key.
	Grads, Updated map[string][]float32
	// Err32 is PyTorch float32's max|g - g64| per parameter: a third
	// float32 engine's error on the same step.
	Err32 map[string]float64
}

// ReadF64Step reads DIR/batch.safetensors, DIR/NAME.weights.safetensors
// and DIR/NAME.f64step.safetensors.
func ReadF64Step(dir, name string) (*F64Step, error) {
	w, err := safetensors.ReadFile(filepath.Join(dir, name+".weights.safetensors"))
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, name+".f64step.safetensors")
	f, err := safetensors.ReadFile(path)
	if err != nil {
		return nil, err
	}
	b, err := safetensors.ReadFile(filepath.Join(dir, "batch.safetensors"))
	if err != nil {
		return nil, err
	}
	ref := &F64Step{Model: name, Weights: w, Grads: map[string][]float32{}, Updated: map[string][]float32{}, Err32: map[string]float64{}}
	ref.Input, _ = b.Get("input")
	if l, ok := b.Get("labels"); ok {
		ref.Labels = l.Data
	}
	for _, t := range f.Tensors {
		switch {
		case t.Name == "loss" && len(t.Data) == 1:
			ref.Loss = t.Data[0]
		case strings.HasPrefix(t.Name, "grad."):
			ref.Grads[strings.TrimPrefix(t.Name, "grad.")] = t.Data
		case strings.HasPrefix(t.Name, "updated."):
			ref.Updated[strings.TrimPrefix(t.Name, "updated.")] = t.Data
		case strings.HasPrefix(t.Name, "err32.") && len(t.Data) == 1:
			ref.Err32[strings.TrimPrefix(t.Name, "err32.")] = float64(t.Data[0])
		}
	}
	if len(ref.Input.Shape) != 4 || len(ref.Labels) != ref.Input.Shape[0] || len(ref.Grads) == 0 {
		return nil, fmt.Errorf("%s: want input (N,3,32,32), N labels, a loss and grad.* tensors; regenerate it with scripts/torch_f64_step.py", path)
	}
	return ref, nil
}

// StepResult is what one engine computed for a step: the loss, every
// parameter's gradient and, after the SGD update, every parameter and
// BatchNorm running statistic, by PyTorch key.
type StepResult struct {
	Engine         string
	Loss           float32
	Grads, Updated map[string][]float32
}

// RunStep builds ref's model on be with ref's weights and runs the step
// on ref's batch.
func RunStep(be tensor.Backend, ref *F64Step) (*StepResult, error) {
	spec, err := zoo.Load(ref.Model)
	if err != nil {
		return nil, err
	}
	in := tensor.Shape(ref.Input.Shape)
	m, err := zoo.Build(spec, be, in[1:].Clone(), 10, BuildSeed)
	if err != nil {
		return nil, err
	}
	if err := train.LoadTensors(m, State(ref.Weights), "the float64 referee's weights"); err != nil {
		return nil, err
	}
	x, y := be.New(in), be.New(tensor.Shape{in[0]})
	be.Upload(x, ref.Input.Data)
	be.Upload(y, ref.Labels)
	lossL := layers.NewLoss(be, Smoothing)
	opt, err := train.NewOptimizer(m, train.OptimizerConfig{Kind: "sgd", Momentum: Momentum, WeightDecay: WeightDecay})
	if err != nil {
		return nil, err
	}
	r := &StepResult{Engine: be.Name(), Grads: map[string][]float32{}, Updated: map[string][]float32{}}
	r.Loss = lossL.Forward(m.Forward(x, true), y)
	m.Backward(lossL.Backward())
	for _, p := range m.Params {
		r.Grads[p.Name] = download(be, p.Grad)
	}
	opt.Update(LR)
	for _, p := range m.All() {
		r.Updated[p.Name] = download(be, p.Value)
	}
	if err := be.Sync(); err != nil {
		return nil, fmt.Errorf("%s on %s: %w", ref.Model, be.Name(), err)
	}
	return r, nil
}

func download(be tensor.Backend, t *tensor.Tensor) []float32 {
	v := make([]float32, t.Numel())
	be.Download(v, t)
	return v
}

// TensorError is how far one engine's tensor is from the referee: Abs =
// max|got - ref| at element At, Rel = Abs / Scale with Scale = max|ref|
// (the tensor's own scale; 1 for an all-zero reference). A non-finite got
// is +Inf.
type TensorError struct {
	Name     string
	Abs, Rel float64
	At       int
	Got, Ref float64
	Scale    float64
}

func (e TensorError) String() string {
	return fmt.Sprintf("%s %.3g at [%d] (got %.6g, float64 %.6g, scale %.3g)", e.Name, e.Rel, e.At, e.Got, e.Ref, e.Scale)
}

// tensorError measures got against the reference values ref.
func tensorError(name string, got []float32, ref []float64) TensorError {
	e := TensorError{Name: name, Scale: 0}
	if len(got) != len(ref) {
		e.Rel, e.Abs = math.Inf(1), math.Inf(1)
		return e
	}
	for _, v := range ref {
		e.Scale = math.Max(e.Scale, math.Abs(v))
	}
	if e.Scale == 0 {
		e.Scale = 1
	}
	worst := -1.0
	for i, v := range ref {
		d := math.Abs(float64(got[i]) - v)
		if math.IsNaN(d) || math.IsInf(d, 0) {
			d = math.Inf(1)
		}
		if d > worst {
			worst, e.At, e.Got, e.Ref = d, i, float64(got[i]), v
		}
	}
	e.Abs, e.Rel = worst, worst/e.Scale
	return e
}

func widen(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

// Errors measures r against ref, tensor by tensor, in a fixed order:
// "loss", then "grad.<p>" per parameter, then "updated.<k>" per parameter
// and running statistic. The updated parameters' reference is SGD's first
// step applied exactly to the referee's gradients, in float64:
// w - LR*(g + WeightDecay*w) (the momentum buffer starts as g + wd*w).
func Errors(r *StepResult, ref *F64Step) ([]TensorError, error) {
	out := []TensorError{tensorError("loss", []float32{r.Loss}, []float64{float64(ref.Loss)})}
	names := make([]string, 0, len(r.Grads))
	for name := range r.Grads {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		g, ok := ref.Grads[name]
		if !ok {
			return nil, fmt.Errorf("%s: the referee has no gradient of %s", ref.Model, name)
		}
		out = append(out, tensorError("grad."+name, r.Grads[name], widen(g)))
	}
	names = names[:0]
	for name := range r.Updated {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		var want []float64
		if g, ok := ref.Grads[name]; ok {
			w, ok := ref.Weights.Get(name)
			if !ok || len(w.Data) != len(g) {
				return nil, fmt.Errorf("%s: the referee's weights lack %s", ref.Model, name)
			}
			want = make([]float64, len(g))
			for i := range g {
				wi := float64(w.Data[i])
				want[i] = wi - LR*(float64(g[i])+WeightDecay*wi)
			}
		} else if u, ok := ref.Updated[name]; ok {
			want = widen(u)
		} else {
			return nil, fmt.Errorf("%s: the referee has no updated %s", ref.Model, name)
		}
		out = append(out, tensorError("updated."+name, r.Updated[name], want))
	}
	return out, nil
}

// Worst returns the error with the largest Rel among the tensors that are
// not zero in exact arithmetic: those whose scale exceeds 1e-9 of the
// largest scale (a bias before a BatchNorm has a float64 gradient of
// ~1e-17, relative to which any float32 noise is huge).
func Worst(errs []TensorError) TensorError {
	top := 0.0
	for _, e := range errs {
		top = math.Max(top, e.Scale)
	}
	w := TensorError{Rel: -1}
	for _, e := range errs {
		if e.Rel > w.Rel && e.Scale > 1e-9*top {
			w = e
		}
	}
	return w
}

// Torch32Errors are PyTorch float32's gradient errors (from Err32) as
// TensorErrors, for Summary.
func (ref *F64Step) Torch32Errors() []TensorError {
	var out []TensorError
	for name, g := range ref.Grads {
		scale := 0.0
		for _, v := range g {
			scale = math.Max(scale, math.Abs(float64(v)))
		}
		if scale == 0 {
			scale = 1
		}
		e := TensorError{Name: "grad." + name, Abs: ref.Err32[name], At: -1, Scale: scale}
		e.Rel = e.Abs / scale
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// The judgement of a float32 engine E on one tensor t of the step, against
// the float64 referee: with e(X, t) = max|X's t - float64's t| for an engine
// X, S = max|float64's t| (the tensor's scale), Y = the largest e(X, t) of
// the other float32 engines (cnnctl's CPU engines other than E and, for
// gradients, PyTorch float32) and W = the largest relative error
// e(X, u)/S(u) any of them shows on any tensor u of the model, E passes when
//
//	e(E, t) <= JudgeMultiple*max(Y, W*S) + JudgeFloor*S.
//
// Y is how far float32 arithmetic lands from the truth on this tensor when
// done in another order; W*S is the spread float32 engines demonstrably
// show on this model. Most models are well-conditioned (W ≈ 1e-6): there a
// kernel bug shows as an error far beyond the limit. Some are not at batch
// 8: ReLU and max-pool decisions within rounding of their threshold and
// BatchNorm over channels of near-zero variance flip with the summation
// order, and a flip moves whole chains of gradients — PyTorch float32 is 8%
// off float64 on googlenet and 0.5% on resnet56, and cnnctl's fast CPU
// engine lands 2.7% off on resnet56 with its AVX GEMM kernels but 0.46%
// with the generic one, each flipping a different unit. W gives such a
// model the allowance it has earned, and no more. JudgeMultiple = 8 leaves
// room for an engine that sums in a worse order than the others (their
// errors on one well-conditioned tensor differ by up to ~3x in the
// measured runs). The floor lets E be an ordinary float32 engine where the
// others happened to land closer: 2^-16 = 256 float32 units of the
// tensor's scale, as a float32 reduction of n terms typically errs by
// ~sqrt(n) units (n <= 8*32*32 = 8192 in this step, sqrt ≈ 90) and
// BatchNorm at batch 8 amplifies that a few times; well-conditioned
// tensors of every engine measured 1e-6 to 1.4e-5 of their scale. A bias
// right before a BatchNorm has a zero gradient in exact arithmetic; its
// float32 value is noise of the summands' size, which Y covers.
const (
	JudgeMultiple = 8
	JudgeFloor    = 0x1p-16
)

// Verdict is the judgement of one tensor.
type Verdict struct {
	TensorError         // the judged engine's error
	Yardstick   float64 // max(Y, W*Scale): the other engines' error (absolute)
	Limit       float64 // JudgeMultiple*Yardstick + JudgeFloor*Scale
}

// OK reports whether the error is within the limit.
func (v Verdict) OK() bool { return v.Abs <= v.Limit }

func (v Verdict) String() string {
	return fmt.Sprintf("%v: |Δ| %.3g, limit %.3g (other engines' error %.3g)", v.TensorError, v.Abs, v.Limit, v.Yardstick)
}

// Judge measures engine r against the referee, tensor by tensor, with the
// errors of the other engines as the yardstick (see JudgeMultiple).
func Judge(r *StepResult, others []*StepResult, ref *F64Step) ([]Verdict, error) {
	mine, err := Errors(r, ref)
	if err != nil {
		return nil, err
	}
	theirs := make([][]TensorError, len(others))
	for i, o := range others {
		if theirs[i], err = Errors(o, ref); err != nil {
			return nil, err
		}
	}
	w := Worst(ref.Torch32Errors()).Rel
	for _, t := range theirs {
		w = math.Max(w, Worst(t).Rel)
	}
	out := make([]Verdict, len(mine))
	for i, e := range mine {
		y := w * e.Scale
		for _, t := range theirs {
			if t[i].Name != e.Name {
				return nil, fmt.Errorf("%s: engines differ in their tensors (%s vs %s)", ref.Model, e.Name, t[i].Name)
			}
			y = math.Max(y, t[i].Abs)
		}
		if g, ok := strings.CutPrefix(e.Name, "grad."); ok {
			y = math.Max(y, ref.Err32[g])
		}
		out[i] = Verdict{TensorError: e, Yardstick: y, Limit: JudgeMultiple*y + JudgeFloor*e.Scale}
	}
	return out, nil
}

// Summary is one line for a model's log: the judged engine's worst
// relative error, the closest call (error over limit), and each other
// engine's worst relative error, so the log says which engine is closer to
// the float64 truth.
func Summary(v []Verdict, others map[string][]TensorError) string {
	mine := make([]TensorError, len(v))
	var closest Verdict
	for i, x := range v {
		mine[i] = x.TensorError
		if closest.Name == "" || x.Abs/x.Limit > closest.Abs/closest.Limit {
			closest = x
		}
	}
	worst := Worst(mine)
	var b strings.Builder
	fmt.Fprintf(&b, "worst %.3g (%s); closest call %.2f of its limit (%s)", worst.Rel, worst.Name, closest.Abs/closest.Limit, closest.Name)
	names := make([]string, 0, len(others))
	for n := range others {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		w := Worst(others[n])
		fmt.Fprintf(&b, "; %s worst %.3g (%s)", n, w.Rel, w.Name)
	}
	return b.String()
}
