package train

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cnnctl/cnnctl/internal/checkpoint"
	"github.com/cnnctl/cnnctl/internal/cpu"
	"github.com/cnnctl/cnnctl/internal/tensor"
)

// graphOptions is how graphRun trains.
type graphOptions struct {
	graphs  bool   // Step.UseGraphs
	frozen  string // stepRecorder.frozen: a mutant that passes a per-step value by value
	endErr  error  // what the fake's EndCapture fails with
	hostOps bool   // the plain recorder: no StepOps, so Run reads scalars back (uncapturable)
	pinned  bool   // a tensor.Pinned fake (pinnedRecorder) and Step.UsePinned
	pinErr  error  // what its PinnedFloats fails with
	// backend, when set, replaces the fakes (a GPU): graphs and pinned
	// then use its own tensor.Capturer and tensor.Pinned.
	backend tensor.Backend
}

// graphStats is what graphRun saw besides the trained state.
type graphStats struct {
	captures, replays int
	notes             []string
	pin               *pinnedRecorder // with graphOptions.pinned
	uploads           int             // calls of Upload (not UploadPinned)
	graphs            int             // graphs held at the end (one per batch size captured)
	steps             int64           // Step.Steps at the end
	optSteps          int             // the optimiser's Step at the end
}

// graphRun trains bs for two epochs through Step on the capturing fake
// around the CPU (recorder), with a warm-up then cosine schedule, so that
// the learning rate changes every step, and reads every 3 steps.
func graphRun(t *testing.T, c stepCase, bs []*Batch, o graphOptions) (trained, graphStats) {
	t.Helper()
	const epochs = 2
	rec := newRecorder(cpu.New())
	rec.endErr = o.endErr
	var be tensor.Backend = stepRecorder{recorder: rec, ops: rec.be.(tensor.StepOps), frozen: o.frozen}
	if o.hostOps {
		be = rec
	}
	var st graphStats
	if o.backend != nil {
		be = o.backend
	} else if o.pinned {
		st.pin = &pinnedRecorder{stepRecorder: be.(stepRecorder), fail: o.pinErr, inFlight: map[*float32]bool{}}
		be = st.pin
	}
	m := buildModel(t, be, c.model)
	opt, err := NewOptimizer(m, c.opt)
	if err != nil {
		t.Fatal(err)
	}
	s := NewStep(m, opt, c.sizes[0], len(bs), 3, c.smooth)
	note := func(format string, args ...any) { st.notes = append(st.notes, fmt.Sprintf(format, args...)) }
	if o.pinned && s.UsePinned(note) != (o.pinErr == nil) && o.backend == nil {
		t.Fatalf("UsePinned with PinnedFloats failing with %v: %v", o.pinErr, o.pinErr == nil)
	}
	defer s.Free()
	if o.graphs && !s.UseGraphs(note) {
		t.Fatal("the recorder is not a tensor.Capturer")
	}
	sch := Schedule{Kind: "cosine", BaseLR: 0.05, Epochs: epochs, WarmupEpochs: 0.5}
	var tr trained
	read := func() { tr.readFrom(t, s) }
	for e := 0; e < epochs; e++ {
		lrs := make([]float32, len(bs))
		for i := range lrs {
			lrs[i] = float32(sch.LR(float64(e) + float64(i)/float64(len(bs))))
		}
		s.StartEpoch(lrs, 0)
		for _, b := range bs {
			s.Load(b)
			s.Run()
			if s.Full() {
				read()
			}
		}
		read()
	}
	out := snapshot(t, m, opt)
	out.losses, out.correct = tr.losses, tr.correct
	st.captures, st.replays, st.steps, st.optSteps, st.uploads = rec.captures, rec.replays, s.Steps, opt.Step, rec.calls["Upload"]
	if s.graphs != nil {
		st.graphs = len(s.graphs.byN)
	}
	return out, st
}

// distinct is the number of different batch sizes in sizes.
func distinct(sizes []int) int {
	seen := map[int]bool{}
	for _, n := range sizes {
		seen[n] = true
	}
	return len(seen)
}

// TestGraphStepBitIdentical: two epochs with each batch size's step
// captured after its warm-up and replayed give the same weights, buffers,
// optimiser state, losses and hits, bit for bit, as the same steps queued
// op by op: resnet20 with SGD, lenet-bn with Adam, nin (dropout) with
// AdamW, each with a smaller last batch that gets its own graph.
func TestGraphStepBitIdentical(t *testing.T) {
	for _, c := range stepCases {
		t.Run(c.model+"/"+c.opt.Kind, func(t *testing.T) {
			bs := batches(c.sizes)
			plain, ps := graphRun(t, c, bs, graphOptions{})
			got, gs := graphRun(t, c, bs, graphOptions{graphs: true})
			if d := diff(plain, got); d != "" {
				t.Fatalf("replayed graphs vs op by op: %s", d)
			}
			// Each size: a warm-up step, a captured one (replayed once), then replays.
			if want := distinct(c.sizes); gs.captures != want || gs.replays != 2*len(bs)-want || gs.graphs != want {
				t.Errorf("%d captures, %d replays and %d graphs held, want %d, %d and %d", gs.captures, gs.replays, gs.graphs, want, 2*len(bs)-want, want)
			}
			if ps.captures != 0 || ps.replays != 0 || len(gs.notes) != 0 {
				t.Errorf("without graphs: %d captures, %d replays; with: notes %q", ps.captures, ps.replays, gs.notes)
			}
			if gs.steps != ps.steps || gs.optSteps != ps.optSteps || gs.steps != int64(2*len(bs)) {
				t.Errorf("steps %d/%d, optimiser steps %d/%d (graphs/plain), want %d", gs.steps, ps.steps, gs.optSteps, ps.optSteps, 2*len(bs))
			}
		})
	}
}

// TestGraphCatchesFrozenArgument shows that the comparison above can
// fail: a mutant op that reads a per-step value on the host and passes it
// by value (the learning rate; dropout's counter) trains exactly like the
// correct one op by op, but under capture every replay reuses the value
// of the captured step, and the weights differ.
func TestGraphCatchesFrozenArgument(t *testing.T) {
	for _, tc := range []struct {
		c      stepCase
		frozen string
	}{{stepCases[0], "lr"}, {stepCases[2], "dropout"}} {
		t.Run(tc.frozen, func(t *testing.T) {
			bs := batches(tc.c.sizes)
			plain, _ := graphRun(t, tc.c, bs, graphOptions{})
			mutantPlain, _ := graphRun(t, tc.c, bs, graphOptions{frozen: tc.frozen})
			if d := diff(plain, mutantPlain); d != "" {
				t.Fatalf("the %s mutant differs even op by op (%s): it tests nothing about capture", tc.frozen, d)
			}
			mutant, st := graphRun(t, tc.c, bs, graphOptions{graphs: true, frozen: tc.frozen})
			if st.replays == 0 {
				t.Fatal("nothing was replayed")
			}
			d := diff(plain, mutant)
			if d == "" {
				t.Fatalf("a frozen %s under capture gave the same bits: the graph test cannot see a frozen argument", tc.frozen)
			}
			t.Logf("frozen %s caught: %s", tc.frozen, d)
		})
	}
}

// TestGraphCaptureFailureFallsBack: a capture that fails, because the
// driver cannot instantiate the graph or because the step holds an op
// that waits for the host (a backend without StepOps reads its scalars
// back), turns graphs off with one line naming the cause, and the run
// goes on op by op: the step being captured runs exactly once, and the
// result is the bits of a run without graphs.
func TestGraphCaptureFailureFallsBack(t *testing.T) {
	c := stepCases[1]
	bs := batches(c.sizes)
	for _, tc := range []struct {
		name string
		o    graphOptions
		why  string
	}{
		{"end capture fails", graphOptions{endErr: errors.New("CUDA_ERROR_NOT_SUPPORTED: driver too old")}, "driver too old"},
		{"host sync in the step", graphOptions{hostOps: true}, "Download waits for the device"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plain, ps := graphRun(t, c, bs, tc.o)
			tc.o.graphs = true
			got, gs := graphRun(t, c, bs, tc.o)
			if d := diff(plain, got); d != "" {
				t.Fatalf("after the failed capture: %s", d)
			}
			if len(gs.notes) != 1 || !strings.Contains(gs.notes[0], tc.why) || !strings.HasPrefix(gs.notes[0], "warning: graphs: ") {
				t.Fatalf("notes %q, want one line saying %q", gs.notes, tc.why)
			}
			t.Logf("note: %s", gs.notes[0])
			if gs.captures != 0 || gs.replays != 0 || gs.steps != ps.steps || gs.optSteps != ps.optSteps {
				t.Errorf("%d captures, %d replays, steps %d/%d, optimiser steps %d/%d (graphs/plain)",
					gs.captures, gs.replays, gs.steps, ps.steps, gs.optSteps, ps.optSteps)
			}
		})
	}
}

// TestExecuteNoGraphs: Execute replays captured steps on a backend that
// can capture, and Config.NoGraphs (--no-graphs) runs every step op by
// op; both train the same bits.
func TestExecuteNoGraphs(t *testing.T) {
	dir := t.TempDir()
	run := func(noGraphs bool) (*Result, *recorder) {
		rec := newRecorder(cpu.New())
		m := buildModel(t, stepRecorder{recorder: rec, ops: rec.be.(tensor.StepOps)}, "lenet-bn")
		r := &Run{
			Cfg: Config{Epochs: 2, BatchSize: 4, Out: filepath.Join(dir, fmt.Sprint(noGraphs)), NaNCheck: "step", ReadEvery: 3, NoGraphs: noGraphs,
				Optimizer: OptimizerConfig{Kind: "sgd", Momentum: 0.9},
				Schedule:  Schedule{Kind: "cosine", BaseLR: 0.01, Epochs: 2, WarmupEpochs: 0.5}},
			Model: m, Train: &memSource{bs: batches([]int{4, 4, 4, 4, 3})}, Progress: quiet{},
			Meta: checkpoint.Meta{Model: "lenet-bn", Classes: []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}},
		}
		res, err := r.Execute(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return res, rec
	}
	off, recOff := run(true)
	on, recOn := run(false)
	if recOff.captures != 0 || recOff.replays != 0 || recOff.calls["Conv2DForward"] != 2*2*5 {
		t.Errorf("--no-graphs: %d captures, %d replays, %d convolutions queued, want 0, 0, 20", recOff.captures, recOff.replays, recOff.calls["Conv2DForward"])
	}
	if recOn.captures != 2 || recOn.replays != 8 {
		t.Errorf("graphs: %d captures and %d replays, want 2 and 8", recOn.captures, recOn.replays)
	}
	sameCheckpoint(t, "graphs vs --no-graphs", load(t, off.LastPath), load(t, on.LastPath))
}

// TestEvaluateGraphsSameBits: an evaluation whose forward and loss are
// captured per batch size and replayed reports the bits of one run op by
// op; a failed capture falls back with one line and the same result.
func TestEvaluateGraphsSameBits(t *testing.T) {
	rec := newRecorder(cpu.New())
	m := buildModel(t, stepRecorder{recorder: rec, ops: rec.be.(tensor.StepOps)}, "lenet-bn")
	src := &memSource{bs: batches([]int{4, 4, 4, 4, 3})}
	classes := []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}
	var notes []string
	note := func(format string, args ...any) { notes = append(notes, fmt.Sprintf(format, args...)) }
	eval := func(o EvalOptions) string {
		ev, err := EvaluateWith(m, src, classes, 4, o)
		if err != nil {
			t.Fatal(err)
		}
		b, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		return fmt.Sprintf("%s loss bits %#x", b, math.Float64bits(ev.Loss))
	}
	plain := eval(EvalOptions{})
	if rec.captures != 0 {
		t.Fatalf("op by op: %d captures", rec.captures)
	}
	if got := eval(EvalOptions{Graphs: true, Note: note}); got != plain {
		t.Fatalf("with graphs:\n%s\nop by op:\n%s", got, plain)
	}
	// Batch 4: warm-up, capture (replayed once), two replays; batch 3: warm-up.
	if rec.captures != 1 || rec.replays != 3 || len(notes) != 0 {
		t.Errorf("%d captures, %d replays, notes %q; want 1, 3, none", rec.captures, rec.replays, notes)
	}
	rec.endErr = errors.New("driver too old")
	if got := eval(EvalOptions{Graphs: true, Note: note}); got != plain {
		t.Fatalf("after a failed capture:\n%s\nop by op:\n%s", got, plain)
	}
	if len(notes) != 1 || !strings.Contains(notes[0], "capturing the evaluation of batch 4 failed: driver too old") {
		t.Errorf("notes %q", notes)
	}
}

// valLog is a Progress that keeps each epoch's validation metrics, bits
// included, and the notes.
type valLog struct {
	quiet
	vals  []string
	notes []string
}

func (v *valLog) EndEpoch(m EpochMetrics) {
	v.vals = append(v.vals, fmt.Sprintf("loss %#x top1 %v top5 %v", math.Float64bits(m.ValLoss), m.ValTop1, m.ValTop5))
}
func (v *valLog) Note(format string, args ...any) {
	v.notes = append(v.notes, fmt.Sprintf(format, args...))
}

// TestValidationKeepsGraphs: a training run's validations share their
// buffers and graphs, so each validation batch size is captured once in
// the run, not once per epoch: over 3 epochs with validation batches of
// 4, 4 and 3, the validation captures batch 4 in the first epoch (after
// its warm-up) and batch 3 in the second, and replays them after: 4
// captures in all with the training step's 2 (where graphs that lived
// for one validation made 5: batch 4 captured every epoch, batch 3
// never). Each epoch's validation metrics have the bits of --no-graphs.
func TestValidationKeepsGraphs(t *testing.T) {
	dir := t.TempDir()
	run := func(noGraphs bool) (*valLog, *recorder) {
		rec := newRecorder(cpu.New())
		m := buildModel(t, stepRecorder{recorder: rec, ops: rec.be.(tensor.StepOps)}, "lenet-bn")
		log := &valLog{}
		r := &Run{
			Cfg: Config{Epochs: 3, BatchSize: 4, Out: filepath.Join(dir, fmt.Sprint(noGraphs)), NaNCheck: "step", ReadEvery: 3, NoGraphs: noGraphs,
				Optimizer: OptimizerConfig{Kind: "sgd", Momentum: 0.9},
				Schedule:  Schedule{Kind: "cosine", BaseLR: 0.01, Epochs: 3, WarmupEpochs: 0.5}},
			Model: m, Train: &memSource{bs: batches([]int{4, 4, 4, 4, 3})}, Val: &memSource{bs: batches([]int{4, 4, 3})}, Progress: log,
			Meta: checkpoint.Meta{Model: "lenet-bn", Classes: []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}},
		}
		if _, err := r.Execute(context.Background()); err != nil {
			t.Fatal(err)
		}
		return log, rec
	}
	off, recOff := run(true)
	on, recOn := run(false)
	if recOff.captures != 0 {
		t.Errorf("--no-graphs: %d captures", recOff.captures)
	}
	// Training: 15 steps, 2 warm-ups, 2 captures (each replayed once), 11
	// replays; validation: 9 batches, 2 warm-ups, 2 captures, 5 replays.
	if recOn.captures != 4 || recOn.replays != 2+11+2+5 {
		t.Errorf("graphs: %d captures and %d replays, want 4 and %d", recOn.captures, recOn.replays, 2+11+2+5)
	}
	if len(on.vals) != 3 || strings.Join(on.vals, "\n") != strings.Join(off.vals, "\n") {
		t.Errorf("validation with graphs:\n%s\nwith --no-graphs:\n%s", strings.Join(on.vals, "\n"), strings.Join(off.vals, "\n"))
	}
	for _, n := range on.notes {
		if strings.Contains(n, "graphs") {
			t.Errorf("note %q", n)
		}
	}
}
