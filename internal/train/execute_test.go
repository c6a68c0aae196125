package train

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cnnctl/cnnctl/internal/checkpoint"
	"github.com/cnnctl/cnnctl/internal/cpu"
)

// memSource serves the same batches every epoch; onNext, when set, is
// called with the number of batches handed out so far in the run.
type memSource struct {
	bs     []*Batch
	served int
	onNext func(served int)
}

func (s *memSource) Batches() int { return len(s.bs) }
func (s *memSource) Images() (n int) {
	for _, b := range s.bs {
		n += b.N
	}
	return n
}
func (s *memSource) Epoch(e, skip int) Iterator { return &memIter{s: s, i: skip} }

type memIter struct {
	s *memSource
	i int
}

func (it *memIter) Next() (*Batch, bool) {
	if it.i >= len(it.s.bs) {
		return nil, false
	}
	it.i++
	it.s.served++
	if it.s.onNext != nil {
		it.s.onNext(it.s.served)
	}
	return it.s.bs[it.i-1], true
}
func (it *memIter) Close() {}

type quiet struct{}

func (quiet) StartEpoch(epoch, epochs, batches int)            {}
func (quiet) Step(batch int, loss, top1, imagesPerSec float64) {}
func (quiet) EndEpoch(m EpochMetrics)                          {}
func (quiet) Note(format string, args ...any)                  {}

// execute trains lenet-bn for 2 epochs of 7 batches into out, reading every
// readEvery steps, from resume when it is set; stopAt > 0 cancels the run
// when that many batches have been handed out.
func execute(t *testing.T, out string, readEvery, stopAt int, resume *checkpoint.Checkpoint) (*Result, error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	src := &memSource{bs: batches([]int{4, 4, 4, 4, 4, 4, 3})}
	if stopAt > 0 {
		src.onNext = func(n int) {
			if n == stopAt {
				cancel()
			}
		}
	}
	m := buildModel(t, cpu.New(), "lenet-bn")
	r := &Run{
		Cfg: Config{Epochs: 2, BatchSize: 4, Out: out, NaNCheck: "step", ReadEvery: readEvery, LabelSmoothing: 0.1,
			Optimizer: OptimizerConfig{Kind: "adam", Beta1: 0.9, Beta2: 0.999, Eps: 1e-8},
			Schedule:  Schedule{Kind: "cosine", BaseLR: 0.01, Epochs: 2, WarmupEpochs: 0.5}},
		Model: m, Train: src, Resume: resume, Progress: quiet{},
		Meta: checkpoint.Meta{Model: "lenet-bn", Classes: []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}},
	}
	return r.Execute(ctx)
}

func load(t *testing.T, path string) *checkpoint.Checkpoint {
	t.Helper()
	ck, err := checkpoint.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return ck
}

func sameCheckpoint(t *testing.T, what string, a, b *checkpoint.Checkpoint) {
	t.Helper()
	if a.Epoch != b.Epoch || a.Step != b.Step || a.OptimizerStep != b.OptimizerStep ||
		math.Float64bits(a.EpochLossSum) != math.Float64bits(b.EpochLossSum) || a.EpochCorrect != b.EpochCorrect || a.EpochSeen != b.EpochSeen {
		t.Fatalf("%s: epoch %d/%d step %d/%d optimizer step %d/%d loss sum %v/%v correct %d/%d seen %d/%d", what,
			a.Epoch, b.Epoch, a.Step, b.Step, a.OptimizerStep, b.OptimizerStep, a.EpochLossSum, b.EpochLossSum,
			a.EpochCorrect, b.EpochCorrect, a.EpochSeen, b.EpochSeen)
	}
	for i := range a.State {
		sameBits(t, what+" "+a.State[i].Name, a.State[i].Data, b.State[i].Data)
	}
	for k, v := range a.Optim {
		sameBits(t, what+" optimizer "+k, v, b.Optim[k])
	}
}

// TestExecuteReadEverySameBits: reading the step's metrics every step or
// every 3 gives the same run bit for bit: the checkpoint of an interrupt
// mid-window, and the end of a run resumed from it, which equals the run
// that was never interrupted.
func TestExecuteReadEverySameBits(t *testing.T) {
	dir := t.TempDir()
	whole, err := execute(t, filepath.Join(dir, "whole"), 1, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	var first *checkpoint.Checkpoint // the interrupt's checkpoint, read every step
	for _, k := range []int{1, 3} {
		out := filepath.Join(dir, "k", string(rune('0'+k)))
		// 5 batches into the second epoch: a window of 3 is cut short.
		res, err := execute(t, out, k, 7+5, nil)
		if !errors.Is(err, context.Canceled) || !res.Stopped {
			t.Fatalf("read every %d: interrupt gave %v, stopped %v", k, err, res != nil && res.Stopped)
		}
		stopped := load(t, res.LastPath)
		if stopped.Step != 12 || stopped.EpochSeen != 20 {
			t.Fatalf("read every %d: stopped at step %d with %d images seen, want 12 and 20", k, stopped.Step, stopped.EpochSeen)
		}
		if first == nil {
			first = stopped
		} else {
			sameCheckpoint(t, "interrupted, read every 1 vs 3", first, stopped)
		}
		res, err = execute(t, out, k, 0, stopped)
		if err != nil {
			t.Fatal(err)
		}
		if math.Float64bits(res.Last.TrainLoss) != math.Float64bits(whole.Last.TrainLoss) || res.Last.TrainTop1 != whole.Last.TrainTop1 {
			t.Errorf("read every %d, resumed: loss %v top-1 %v; uninterrupted: %v %v", k, res.Last.TrainLoss, res.Last.TrainTop1, whole.Last.TrainLoss, whole.Last.TrainTop1)
		}
		sameCheckpoint(t, "resumed vs uninterrupted", load(t, whole.LastPath), load(t, res.LastPath))
	}
}

// TestExecuteRefusesUncountableRuns: more steps than the float32 device
// counters hold exactly is refused before anything is written.
func TestExecuteRefusesUncountableRuns(t *testing.T) {
	out := filepath.Join(t.TempDir(), "run")
	r := &Run{Cfg: Config{Epochs: 3_000_000, BatchSize: 4, Out: out, Optimizer: OptimizerConfig{Kind: "sgd"}},
		Model: buildModel(t, cpu.New(), "lenet"), Train: &memSource{bs: batches([]int{4, 4, 4, 4, 4, 4, 4})}, Progress: quiet{}}
	_, err := r.Execute(context.Background())
	if err == nil || !strings.Contains(err.Error(), "21,000,000 steps, more than the 16,777,216") {
		t.Fatalf("err = %v", err)
	}
	if _, serr := os.Stat(out); !os.IsNotExist(serr) {
		t.Errorf("%s was created: %v", out, serr)
	}
}
