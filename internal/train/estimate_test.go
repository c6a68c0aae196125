package train

import (
	"fmt"
	"strings"
	"testing"

	"github.com/cnnctl/cnnctl/internal/cpu"
	"github.com/cnnctl/cnnctl/internal/layers"
	"github.com/cnnctl/cnnctl/internal/plan"
	"github.com/cnnctl/cnnctl/internal/tensor"
	"github.com/cnnctl/cnnctl/internal/zoo"
)

// counting is the CPU backend (with its fused ops) counting the bytes it
// allocates.
type counting struct {
	*cpu.Backend
	bytes int64
}

func (c *counting) New(s tensor.Shape) *tensor.Tensor { return c.NewTyped(s, tensor.F32) }
func (c *counting) NewTyped(s tensor.Shape, dt tensor.DType) *tensor.Tensor {
	c.bytes += int64(s.Numel() * dt.Size())
	return c.Backend.NewTyped(s, dt)
}

// plainCounting is counting without the fused ops (tensor.Backend only).
type plainCounting struct{ tensor.Backend }

// compiledBytes returns what plan.Compile allocates (read from *count)
// for m and a batch of n, with the plan options of the environment, as
// training and evaluation compile it.
func compiledBytes(t *testing.T, m *layers.Model, count *int64, n int, train bool) int64 {
	t.Helper()
	*count = 0
	p, err := plan.Compile(m, n, train, plan.FromEnv())
	if err != nil {
		t.Fatal(err)
	}
	got := *count
	p.Free()
	return got
}

// TestEstimateIsArena: the memory estimate's per-batch part is the arena
// a real plan.Compile allocates (counted through the backend), for zoo
// models, training and evaluation, batches from 1 to 300, on a backend
// with the fused ops and one without (whose plan keeps the unfused
// sequences' tensors), and with gradient sharing off. The real CPU
// backend is used for small batches; a dry backend (which counts and
// allocates nothing) for large ones.
func TestEstimateIsArena(t *testing.T) {
	type backend struct {
		name  string
		est   tensor.Backend // what the estimate is asked about
		be    tensor.Backend // where Compile runs
		count *int64
		sizes []int
	}
	backends := func() []backend {
		c := &counting{Backend: cpu.New()}
		p := &counting{Backend: cpu.New()}
		d, df := &plan.Dry{}, &plan.Dry{}
		return []backend{
			{"cpu", c, c, &c.bytes, []int{1, 7}},
			{"cpu without fused ops", plainCounting{p}, plainCounting{p}, &p.bytes, []int{1, 7}},
			{"dry fused", cpu.New(), plan.DryFused{Dry: df}, &df.Bytes, []int{128, 300}},
			{"dry plain", plainCounting{cpu.New()}, d, &d.Bytes, []int{128, 300}},
		}
	}
	for _, env := range []string{"1", "0"} {
		t.Setenv("CNNCTL_PLAN_SHARE", env)
		for _, model := range []string{"resnet20", "vgg11-bn", "googlenet", "lenet"} {
			spec, err := zoo.Load(model)
			if err != nil {
				t.Fatal(err)
			}
			for _, b := range backends() {
				m, err := zoo.Build(spec, b.be, tensor.Shape{3, 32, 32}, 10, 1)
				if err != nil {
					t.Fatal(err)
				}
				for _, train := range []bool{true, false} {
					est, err := EstimateMemory(b.est, spec, tensor.Shape{3, 32, 32}, 10, ParamSlots("sgd"), train)
					if err != nil {
						t.Fatal(err)
					}
					if est.Arena == nil {
						t.Fatalf("%s on %s: no arena in the estimate with the plan on", model, b.name)
					}
					for _, n := range b.sizes {
						want := compiledBytes(t, m, b.count, n, train)
						if got := est.Arena(n); got != want || want == 0 {
							t.Errorf("%s on %s, train %v, batch %d, share %s: estimated arena %d bytes, Compile allocated %d",
								model, b.name, train, n, env, got, want)
						}
					}
				}
			}
		}
	}
}

// TestEstimateResNet20: at batch 128 the estimate is the plan's (about 400
// MiB for resnet20's training arena, against 660 without a plan) plus the
// step's per-image tensors; the step allocates what the estimate says.
func TestEstimateResNet20(t *testing.T) {
	spec, err := zoo.Load("resnet20")
	if err != nil {
		t.Fatal(err)
	}
	in := tensor.Shape{3, 32, 32}
	est, err := EstimateMemory(nil, spec, in, 10, ParamSlots("sgd"), true)
	if err != nil {
		t.Fatal(err)
	}
	old, err := PlanMemory(spec, in, 10, ParamSlots("sgd"), 2)
	if err != nil {
		t.Fatal(err)
	}
	if est.ParamBytes != old.ParamBytes || est.Params != old.Params {
		t.Errorf("parameters: %d bytes, want %d as without a plan", est.ParamBytes, old.ParamBytes)
	}
	if want := int64(3*32*32+2+10) * 4; est.ActPerImage != want {
		t.Errorf("per image outside the arena: %d bytes, want %d (input, label, loss, loss gradient)", est.ActPerImage, want)
	}
	a, o := est.Activations(128), old.Activations(128)
	t.Logf("resnet20 batch 128 activations: %.1f MiB with the plan, %.1f MiB without", MiB(a), MiB(o))
	if a >= o {
		t.Errorf("the plan's estimate %d is not below the unplanned %d", a, o)
	}

	// A step for batches of 7 on a counting CPU allocates, besides its
	// learning rates and counters, the estimate's activations less the
	// loss's two tensors (allocated at the first step).
	be := &counting{Backend: cpu.New()}
	m, err := zoo.Build(spec, be, in, 10, 1)
	if err != nil {
		t.Fatal(err)
	}
	be.bytes = 0
	const n, batches, window = 7, 3, 4
	s := NewStep(m, nil, n, batches, window, 0)
	defer s.Free()
	if s.perr != nil {
		t.Fatal(s.perr)
	}
	fixed := int64(batches+5+2*window) * 4 // lrs, state, acc
	loss := int64(n*(1+10)) * 4            // losses and their gradient
	if got, want := be.bytes-fixed, est.Activations(n)-loss; got != want {
		t.Errorf("NewStep allocated %d bytes of per-batch tensors, the estimate says %d", got, want)
	}
}

// TestLargestBatchWithArena: the largest batch that fits is exact for an
// arena (searched for, not linear), and CheckMemory's message names it.
func TestLargestBatchWithArena(t *testing.T) {
	spec, err := zoo.Load("resnet20")
	if err != nil {
		t.Fatal(err)
	}
	p, err := EstimateMemory(nil, spec, tensor.Shape{3, 32, 32}, 10, ParamSlots("sgd"), true)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []int{1, 2, 5, 100, 128, 1000} {
		if got := p.LargestBatch(p.Bytes(k)); got != int64(k) {
			t.Errorf("in exactly batch %d's bytes: largest batch %d", k, got)
		}
		if got := p.LargestBatch(p.Bytes(k) - 1); got != int64(k-1) {
			t.Errorf("one byte less than batch %d's: largest batch %d, want %d", k, got, k-1)
		}
	}
	if got := p.LargestBatch(p.ParamBytes); got != 0 {
		t.Errorf("no room for activations: %d, want 0", got)
	}
	be := fakeGPU{cpu.New(), p.Bytes(100)}
	err = CheckMemory(be, p, 128, 0)
	if err == nil || !strings.Contains(err.Error(), "try --batch-size 100") ||
		!strings.Contains(err.Error(), fmt.Sprintf("%.0f MiB activations", MiB(p.Activations(128)))) {
		t.Errorf("batch 128 in batch 100's memory: %v", err)
	}
	if err := CheckMemory(be, p, 100, 0); err != nil && strings.Contains(err.Error(), "GPU") {
		t.Errorf("batch 100 in its own memory: %v", err)
	}
}

// TestEstimateWithoutPlan: with CNNCTL_PLAN=0 the estimate is today's
// (PlanMemory: every layer's tensors), for training and evaluation (with
// its logits buffer beside).
func TestEstimateWithoutPlan(t *testing.T) {
	t.Setenv("CNNCTL_PLAN", "0")
	spec, err := zoo.Load("vgg11-bn")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		train       bool
		slots, acts int64
	}{{true, ParamSlots("adam"), 2}, {false, 1, 1}} {
		got, err := EstimateMemory(cpu.New(), spec, tensor.Shape{3, 32, 32}, 10, c.slots, c.train)
		if err != nil {
			t.Fatal(err)
		}
		want, err := PlanMemory(spec, tensor.Shape{3, 32, 32}, 10, c.slots, c.acts)
		if err != nil {
			t.Fatal(err)
		}
		var logits int64 // an evaluation's logits buffer, beside the model
		if !c.train {
			logits = EvalLogitBytes(64, 10, 0)
		}
		if got.Arena != nil || got.Bytes(64) != want.Bytes(64)+logits || got.ActPerImage != want.ActPerImage {
			t.Errorf("train %v: estimate %d bytes at batch 64 (arena %v), want PlanMemory's %d + %d of logits", c.train, got.Bytes(64), got.Arena != nil, want.Bytes(64), logits)
		}
	}
}

// addReLUOnly is the CPU backend with one of its fused ops, AddReLU.
type addReLUOnly struct {
	tensor.Backend // the plain ops only
	c              *cpu.Backend
}

func (a addReLUOnly) AddReLU(x, y, z *tensor.Tensor) { a.c.AddReLU(x, y, z) }

// TestEstimateMixedFusedOps: a backend with some of the fused ops but not
// all has no dry twin (plan.NewDryLike), so its estimate is PlanMemory's,
// every layer's tensors (an over-estimate), not a plan of another backend.
func TestEstimateMixedFusedOps(t *testing.T) {
	spec, err := zoo.Load("resnet20")
	if err != nil {
		t.Fatal(err)
	}
	c := cpu.New()
	mixed := addReLUOnly{c, c}
	if _, ok := plan.NewDryLike(mixed); ok {
		t.Fatal("NewDryLike made a dry backend for a mix of fused ops")
	}
	got, err := EstimateMemory(mixed, spec, tensor.Shape{3, 32, 32}, 10, ParamSlots("sgd"), true)
	if err != nil {
		t.Fatal(err)
	}
	want, err := PlanMemory(spec, tensor.Shape{3, 32, 32}, 10, ParamSlots("sgd"), 2)
	if err != nil {
		t.Fatal(err)
	}
	if got.Arena != nil || got.Bytes(32) != want.Bytes(32) {
		t.Errorf("estimate %d bytes at batch 32, want PlanMemory's %d", got.Bytes(32), want.Bytes(32))
	}
}

// countingAside is the copy queue fake (asideRecorder) around a counting
// CPU: every device allocation of a run on it, the copy queue's slots
// included, is counted in the returned bytes.
func countingAside() (*asideRecorder, *int64) {
	c := &counting{Backend: cpu.New()}
	rec := newRecorder(c)
	p := &pinnedRecorder{stepRecorder: stepRecorder{recorder: rec, ops: c}, inFlight: map[*float32]bool{}}
	return &asideRecorder{pinnedRecorder: p}, &c.bytes
}

// TestEstimateEvalAllocates: what an evaluation allocates on the device is
// its memory estimate for the split (EstimateMemory, EvalSplit): the
// plan's arena, the stepper's per-image tensors, the copy queue's two
// device slots of a batch and the logits buffer, plus its per-batch metric
// slots and counters (8 bytes a batch and 8); on a backend without a copy
// queue, the same less the slots; and a split held on the device allocates
// no slots (the estimate, made before the placement, is then over by them).
func TestEstimateEvalAllocates(t *testing.T) {
	spec, err := zoo.Load("resnet20")
	if err != nil {
		t.Fatal(err)
	}
	in := tensor.Shape{3, 32, 32}
	ref := newEvalFixture(t, cpu.New())
	const n, images, batches = 8, 19, 3
	fixed := int64(2*batches+2) * 4
	aside, asideBytes := countingAside()
	plain := &counting{Backend: cpu.New()}
	for _, tc := range []struct {
		name  string
		be    tensor.Backend
		count *int64
		src   Source
		over  int64 // what the estimate counts that the run does not allocate
	}{
		{"copy queue, streamed", aside, asideBytes, ref.streamed, 0},
		{"copy queue, held", aside, asideBytes, ref.held, copySlotBytes(in, n)},
		{"no copy queue, streamed", plain, &plain.bytes, ref.streamed, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := buildModel(t, tc.be, "resnet20")
			est, err := EstimateMemory(tc.be, spec, in, 10, 1, false)
			if err != nil {
				t.Fatal(err)
			}
			est = est.EvalSplit(images)
			*tc.count = 0
			if _, err := EvaluateWith(m, tc.src, tenClasses, n, EvalOptions{Graphs: true}); err != nil {
				t.Fatal(err)
			}
			if got, want := *tc.count, est.Activations(n)+fixed-tc.over; got != want {
				t.Errorf("the evaluation allocated %d bytes, the estimate says %d (+%d fixed, -%d not allocated)", got, est.Activations(n), fixed, tc.over)
			}
			if logits := int64(batches*n*10) * 4; est.Beside(n) != logits {
				t.Errorf("logits buffer %d bytes in the estimate, want %d", est.Beside(n), logits)
			}
		})
	}
}

// TestEstimateValidationAllocates: a training step on a backend with a
// copy queue allocates its estimate less the validation's part (and the
// loss's two tensors, allocated at its first step), the copy queue's slots
// included; a validation after it (on the step's plan) allocates the
// validation's part, WithValidation's Beside, plus its metric slots and
// counters.
func TestEstimateValidationAllocates(t *testing.T) {
	spec, err := zoo.Load("resnet20")
	if err != nil {
		t.Fatal(err)
	}
	in := tensor.Shape{3, 32, 32}
	ref := newEvalFixture(t, cpu.New())
	const n, images, batches, window = 8, 19, 3, 4
	a, count := countingAside()
	m := buildModel(t, a, "resnet20")
	est, err := EstimateMemory(a, spec, in, 10, ParamSlots("sgd"), true)
	if err != nil {
		t.Fatal(err)
	}
	est = est.WithValidation(images)
	*count = 0
	s := NewStep(m, nil, n, batches, window, 0)
	defer s.Free()
	if s.perr != nil {
		t.Fatal(s.perr)
	}
	if !s.UsePinned(t.Logf) || s.pin.q == nil {
		t.Fatal("no copy queue")
	}
	stepFixed := int64(batches+5+2*window) * 4 // lrs, state, acc
	loss := int64(n*(1+10)) * 4                // losses and their gradient
	if got, want := *count-stepFixed, est.Activations(n)-est.Beside(n)-loss; got != want {
		t.Errorf("the step allocated %d bytes of per-batch tensors, the estimate says %d", got, want)
	}
	*count = 0
	if _, err := EvaluateWith(m, ref.streamed, tenClasses, n, EvalOptions{}); err != nil {
		t.Fatal(err)
	}
	if got, want := *count, est.Beside(n)+int64(2*batches+2)*4; got != want {
		t.Errorf("the validation allocated %d bytes, the estimate's validation part is %d (+%d fixed)", got, est.Beside(n), int64(2*batches+2)*4)
	}
}

// TestEvalLogitBytes: the logits buffer holds the split's batches, up to
// 64 MiB of them, at least one batch.
func TestEvalLogitBytes(t *testing.T) {
	for _, c := range []struct {
		n, k, images int
		want         int64
	}{
		{8, 10, 19, 3 * 8 * 10 * 4},
		{8, 10, 16, 2 * 8 * 10 * 4},
		{8, 10, 0, (64 << 20) / (8 * 10 * 4) * (8 * 10 * 4)},
		{128, 1000, 50000, 131 * 128 * 1000 * 4},
		{20000, 1000, 0, 20000 * 1000 * 4},
	} {
		if got := EvalLogitBytes(c.n, c.k, c.images); got != c.want {
			t.Errorf("EvalLogitBytes(%d, %d, %d) = %d, want %d", c.n, c.k, c.images, got, c.want)
		}
	}
}
