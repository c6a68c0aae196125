package train

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/cnnctl/cnnctl/internal/cpu"
	"github.com/cnnctl/cnnctl/internal/layers"
	"github.com/cnnctl/cnnctl/internal/tensor"
	"github.com/cnnctl/cnnctl/internal/zoo"
)

// stepCase is a model and optimiser the step tests train.
type stepCase struct {
	model  string
	opt    OptimizerConfig
	sizes  []int // batch sizes, in order (a smaller last batch included)
	smooth float32
}

var stepCases = []stepCase{
	{"resnet20", OptimizerConfig{Kind: "sgd", Momentum: 0.9, Nesterov: true, WeightDecay: 5e-4}, []int{8, 8, 8, 8, 3}, 0.1},
	{"lenet-bn", OptimizerConfig{Kind: "adam", Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 1e-4}, []int{6, 6, 6, 2}, 0},
	{"nin", OptimizerConfig{Kind: "adamw", Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 1e-2}, []int{2, 2, 1}, 0},
}

// batches draws seeded CIFAR-sized batches with labels in [0, 10).
func batches(sizes []int) []*Batch {
	r := rand.New(rand.NewPCG(7, 11))
	var bs []*Batch
	for _, n := range sizes {
		b := &Batch{X: make([]float32, n*3*32*32), Y: make([]float32, n), N: n}
		for i := range b.X {
			b.X[i] = float32(r.NormFloat64())
		}
		for i := range b.Y {
			b.Y[i] = float32(r.IntN(10))
		}
		bs = append(bs, b)
	}
	return bs
}

func buildModel(t *testing.T, be tensor.Backend, name string) *layers.Model {
	t.Helper()
	spec, err := zoo.Load(name)
	if err != nil {
		t.Fatal(err)
	}
	m, err := zoo.Build(spec, be, tensor.Shape{3, 32, 32}, 10, 1)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// schedule is a warm-up then cosine schedule, so the learning rate
// differs from step to step.
func schedule(steps int) Schedule {
	return Schedule{Kind: "cosine", BaseLR: 0.05, Epochs: 1, WarmupEpochs: 0.5}
}

// trained is what a few steps leave: every parameter and buffer, the
// optimiser's state, and each step's loss and top-1 hits.
type trained struct {
	state   [][]float32
	batches map[string]int64 // each BatchNorm's num_batches_tracked
	optim   map[string][]float32
	losses  []float32
	correct []int
}

// readFrom appends the losses and hits of s's steps since its last read.
func (tr *trained) readFrom(t *testing.T, s *Step) {
	t.Helper()
	got, err := s.Read()
	if err != nil {
		t.Fatal(err)
	}
	tr.losses, tr.correct = append(tr.losses, got.Loss...), append(tr.correct, got.Correct...)
}

func snapshot(t *testing.T, m *layers.Model, opt *Optimizer) trained {
	be := m.Ctx.Backend
	var tr trained
	for _, p := range m.All() {
		v := make([]float32, p.Shape.Numel())
		be.Download(v, p.Value)
		tr.state = append(tr.state, v)
	}
	tr.optim = opt.State()
	tr.batches = map[string]int64{}
	layers.Walk(m.Root, func(l layers.Layer, _ int) {
		if bc, ok := l.(batchCounter); ok {
			tr.batches[l.Name()] = bc.NumBatchesTracked()
		}
	})
	if err := be.Err(); err != nil {
		t.Fatal(err)
	}
	return tr
}

// trainInline trains the way Execute did before train.Step: per step the
// batch is uploaded, the loss downloaded, the backward run, the optimiser
// given the learning rate and Adam's step as host arguments, the backend's
// error checked, and the logits downloaded to count the hits.
func trainInline(t *testing.T, m *layers.Model, c stepCase, bs []*Batch, perStep func()) trained {
	opt, err := NewOptimizer(m, c.opt)
	if err != nil {
		t.Fatal(err)
	}
	st := newStepper(m, c.sizes[0], c.smooth)
	sch := schedule(len(bs))
	var tr trained
	k := m.Out.Numel()
	for i, b := range bs {
		lr := sch.LR(float64(i) / float64(len(bs)))
		m.Ctx.Step = uint64(i)
		loss, _ := st.forward(b, true)
		m.Backward(st.loss.Backward())
		opt.Update(lr)
		if err := m.Ctx.Backend.Err(); err != nil {
			t.Fatal(err)
		}
		correct := 0
		for j := 0; j < b.N; j++ {
			if p, _ := argmaxRank(st.logits[j*k:(j+1)*k], -1); p == int(b.Y[j]) {
				correct++
			}
		}
		tr.losses, tr.correct = append(tr.losses, float32(loss)), append(tr.correct, correct)
		if perStep != nil {
			perStep()
		}
	}
	out := snapshot(t, m, opt)
	out.losses, out.correct = tr.losses, tr.correct
	return out
}

// trainStep trains the same batches through train.Step, reading every
// window steps.
func trainStep(t *testing.T, m *layers.Model, c stepCase, bs []*Batch, window int, perStep func()) trained {
	opt, err := NewOptimizer(m, c.opt)
	if err != nil {
		t.Fatal(err)
	}
	s := NewStep(m, opt, c.sizes[0], len(bs), window, c.smooth)
	defer s.Free()
	sch := schedule(len(bs))
	lrs := make([]float32, len(bs))
	for i := range lrs {
		lrs[i] = float32(sch.LR(float64(i) / float64(len(bs))))
	}
	s.StartEpoch(lrs, 0)
	var tr trained
	read := func() { tr.readFrom(t, s) }
	for _, b := range bs {
		s.Load(b)
		s.Run()
		if perStep != nil {
			perStep()
		}
		if s.Full() {
			read()
		}
	}
	read()
	out := snapshot(t, m, opt)
	out.losses, out.correct = tr.losses, tr.correct
	return out
}

func sameBits(t *testing.T, what string, a, b []float32) {
	t.Helper()
	if d := bitsDiffer(what, a, b); d != "" {
		t.Fatal(d)
	}
}

// bitsDiffer describes the first difference of a and b, "" if none.
func bitsDiffer(what string, a, b []float32) string {
	if len(a) != len(b) {
		return fmt.Sprintf("%s: %d values vs %d", what, len(a), len(b))
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return fmt.Sprintf("%s[%d]: inline %g (%#x), Step %g (%#x)", what, i, a[i], math.Float32bits(a[i]), b[i], math.Float32bits(b[i]))
		}
	}
	return ""
}

func compare(t *testing.T, inline, step trained) {
	t.Helper()
	if d := diff(inline, step); d != "" {
		t.Fatal(d)
	}
}

// diff describes the first difference between two trainings, "" if they
// agree bit for bit (or "nothing trained").
func diff(inline, step trained) string {
	if d := bitsDiffer("losses", inline.losses, step.losses); d != "" {
		return d
	}
	for i := range inline.correct {
		if inline.correct[i] != step.correct[i] {
			return fmt.Sprintf("step %d: %d hits inline, %d through Step", i, inline.correct[i], step.correct[i])
		}
	}
	for i := range inline.state {
		if d := bitsDiffer("state tensor", inline.state[i], step.state[i]); d != "" {
			return d
		}
	}
	for k, v := range inline.optim {
		if d := bitsDiffer("optimizer "+k, v, step.optim[k]); d != "" {
			return d
		}
	}
	for k, v := range inline.batches {
		if step.batches[k] != v {
			return fmt.Sprintf("%s.num_batches_tracked: inline %d, Step %d", k, v, step.batches[k])
		}
	}
	if len(inline.losses) == 0 || len(inline.state) == 0 {
		return "nothing trained"
	}
	return ""
}

// TestStepBitIdenticalToInline trains the same batches the old way (the
// loop Execute ran before train.Step) and through Step, on the CPU's own
// StepOps and through the host fallback, and compares every bit.
func TestStepBitIdenticalToInline(t *testing.T) {
	for _, c := range stepCases {
		t.Run(c.model+"/"+c.opt.Kind, func(t *testing.T) {
			bs := batches(c.sizes)
			inline := trainInline(t, buildModel(t, cpu.New(), c.model), c, bs, nil)
			for _, window := range []int{1, 3} {
				compare(t, inline, trainStep(t, buildModel(t, cpu.New(), c.model), c, bs, window, nil))
			}
			// A backend without StepOps: hostOps reads the scalars back.
			compare(t, inline, trainStep(t, buildModel(t, newRecorder(cpu.New()), c.model), c, bs, 2, nil))
		})
	}
}

// TestStepRunMakesNoHostSync counts, with a recording backend around the
// CPU, the backend calls of one ResNet-20 training step the old way and
// through Step.Run: Run makes no Download, Sync or Err and, after the
// first step, allocates nothing.
func TestStepRunMakesNoHostSync(t *testing.T) {
	c := stepCases[0]
	bs := batches([]int{8, 8, 8, 8})
	rec := newRecorder(cpu.New())
	var inlineCalls, inlineSyncs []int
	trainInline(t, buildModel(t, rec, c.model), c, bs, func() {
		inlineCalls, inlineSyncs = append(inlineCalls, rec.total()), append(inlineSyncs, rec.syncs())
		rec.reset()
	})

	rec = newRecorder(cpu.New())
	sr := stepRecorder{recorder: rec, ops: rec.be.(tensor.StepOps)}
	m := buildModel(t, sr, c.model)
	opt, err := NewOptimizer(m, c.opt)
	if err != nil {
		t.Fatal(err)
	}
	s := NewStep(m, opt, 8, len(bs), len(bs), 0)
	s.StartEpoch([]float32{0.1, 0.1, 0.1, 0.1}, 0)
	runChecked(t, s, rec, bs, func(i int) {
		if i == len(bs)-1 {
			t.Logf("ResNet-20 step, batch 8: inline %d backend calls, %d host syncs (Download/Sync/Err); Step.Run %d calls, %d host syncs, plus Load's %d uploads",
				inlineCalls[i], inlineSyncs[i], rec.total(), rec.syncs(), 2)
			if inlineSyncs[i] == 0 {
				t.Error("the inline step counted no host syncs: the recorder sees nothing")
			}
		}
	})
	rec.reset()
	got, err := s.Read()
	if err != nil || len(got.Loss) != len(bs) {
		t.Fatalf("read: %v, %d losses", err, len(got.Loss))
	}
	if rec.syncs() != 2 {
		t.Errorf("a read of %d steps made %d host syncs, want 2 (one Download, one Err): %v", len(bs), rec.syncs(), rec.calls)
	}
}

// runChecked loads and runs each batch through s, failing t for a host
// sync that Run makes through rec, or an allocation after the first step;
// after, when set, sees rec's counts of step i.
func runChecked(t *testing.T, s *Step, rec *recorder, bs []*Batch, after func(i int)) {
	t.Helper()
	for i, b := range bs {
		s.Load(b)
		rec.reset()
		s.Run()
		if n := rec.syncs(); n != 0 {
			t.Errorf("step %d: Run made %d host syncs: %v", i, n, rec.calls)
		}
		if i > 0 && rec.calls["New"] != 0 {
			t.Errorf("step %d: Run allocated %d tensors", i, rec.calls["New"])
		}
		if after != nil {
			after(i)
		}
	}
}

// TestStepFlagSkipsUpdate: a non-finite loss sets the flag, Read names the
// step, and the update of that step and the following ones is skipped.
func TestStepFlagSkipsUpdate(t *testing.T) {
	c := stepCases[1]
	bs := batches([]int{4, 4, 4})
	bs[1].X[5] = float32(math.NaN())
	m := buildModel(t, cpu.New(), c.model)
	opt, _ := NewOptimizer(m, c.opt)
	s := NewStep(m, opt, 4, 3, 3, 0)
	s.StartEpoch([]float32{0.01, 0.01, 0.01}, 0)
	var after1 trained
	for i, b := range bs {
		s.Load(b)
		s.Run()
		if i == 0 {
			after1 = snapshot(t, m, opt)
		}
	}
	got, err := s.Read()
	if err != nil {
		t.Fatal(err)
	}
	if got.Bad != 1 {
		t.Fatalf("Bad = %d, want 1 (losses %v)", got.Bad, got.Loss)
	}
	if !(float64(got.Loss[0]) < math.Inf(1)) || !math.IsNaN(float64(got.Loss[1])) {
		t.Fatalf("losses %v, want finite then NaN", got.Loss)
	}
	now := snapshot(t, m, opt)
	sameBits(t, "weights after the skipped updates", after1.state[0], now.state[0])
	if FirstNonFinite(m, s.Input()) == "" {
		t.Error("FirstNonFinite names nothing for the NaN batch")
	}
}
