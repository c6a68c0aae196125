package train

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/cnnctl/cnnctl/internal/checkpoint"
	"github.com/cnnctl/cnnctl/internal/layers"
	"github.com/cnnctl/cnnctl/internal/tensor"
)

// Config is a training run's recipe once flags, recipe file and defaults
// have been resolved.
type Config struct {
	Epochs         int
	BatchSize      int
	Optimizer      OptimizerConfig
	Schedule       Schedule
	LabelSmoothing float64
	Out            string
	// NaNCheck is off, step (loss each step) or layer (also name the
	// first layer with a non-finite output or gradient on failure).
	NaNCheck string
	// KeepGoingOnSaveError trains on when a checkpoint cannot be written.
	KeepGoingOnSaveError bool
}

// Progress receives what a user wants to see while training.
type Progress interface {
	StartEpoch(epoch, epochs, batches int)
	Step(batch int, loss, top1, imagesPerSec float64)
	EndEpoch(m EpochMetrics)
	Note(format string, args ...any)
}

// Run is one training run.
type Run struct {
	Cfg   Config
	Model *layers.Model
	Train Source
	Val   Source // nil: no validation
	// Meta is the static part of every checkpoint (model, classes,
	// normalisation, data, recipe); epoch, step and scores are filled in.
	Meta     checkpoint.Meta
	Resume   *checkpoint.Checkpoint
	Progress Progress
}

// ErrNonFinite is wrapped by the error that stops a diverged run.
var ErrNonFinite = errors.New("non-finite loss")

// Result summarises a finished (or stopped) run.
type Result struct {
	Epochs   int
	Best     float64
	Last     EpochMetrics
	Stopped  bool // interrupted; OUT/last holds the state
	LastPath string
	BestPath string
}

// Execute trains until Cfg.Epochs epochs are done or ctx is cancelled, in
// which case it finishes the current step, saves OUT/last and returns
// ctx's error.
func (r *Run) Execute(ctx context.Context) (*Result, error) {
	cfg := r.Cfg
	m := r.Model
	be := m.Ctx.Backend
	if err := os.MkdirAll(cfg.Out, 0o755); err != nil {
		return nil, fmt.Errorf("train: cannot create the output folder %s (--out): %w", cfg.Out, err)
	}
	removeStaleTemps(cfg.Out, r.Progress)
	opt, err := NewOptimizer(m, cfg.Optimizer)
	if err != nil {
		return nil, err
	}
	meta := r.Meta
	startEpoch, skip := 0, 0
	// carry is the unfinished epoch's sums of a mid-epoch checkpoint.
	var carry checkpoint.Meta
	var step int64
	best := math.Inf(-1)
	if ck := r.Resume; ck != nil {
		if err := LoadState(m, ck); err != nil {
			return nil, err
		}
		if len(ck.Optim) > 0 {
			if err := opt.SetState(ck.Optim, ck.OptimizerStep); err != nil {
				return nil, fmt.Errorf("resume: %w", err)
			}
		}
		startEpoch, step = ck.Epoch, ck.Step
		skip = int(ck.Step) - ck.Epoch*r.Train.Batches()
		if skip < 0 || skip >= r.Train.Batches() {
			skip = 0
		}
		if skip > 0 {
			carry = ck.Meta
		}
		if ck.BestTop1 > 0 || ck.Epoch > 0 {
			best = ck.BestTop1
		}
		if _, torn, _ := readMetrics(cfg.Out); torn {
			r.Progress.Note("metrics.jsonl ended in a line cut short (a kill during its write): it is dropped")
		}
		if err := truncateMetrics(cfg.Out, ck.Epoch); err != nil {
			return nil, fmt.Errorf("resume: %w", err)
		}
		r.Progress.Note("resuming from epoch %d, step %d", ck.Epoch, ck.Step)
	} else if err := truncateMetrics(cfg.Out, 0); err != nil {
		return nil, err
	}
	st := newStepper(m, cfg.BatchSize, float32(cfg.LabelSmoothing))
	res := &Result{LastPath: filepath.Join(cfg.Out, "last"), BestPath: filepath.Join(cfg.Out, "best"), Best: best}
	batches := r.Train.Batches()
	k := m.Out.Numel()

	// saved is the epoch of the newest checkpoint in OUT/last (-1: none).
	saved := -1
	if r.Resume != nil {
		saved = r.Resume.Epoch
	}
	// write saves a checkpoint of the current state to path.
	write := func(path string, epoch int, valTop1 float64) error {
		ck, err := Snapshot(m, meta)
		if err != nil {
			return err
		}
		ck.Epoch, ck.Step, ck.OptimizerStep = epoch, step, opt.Step
		// Before the first validation there is no best score yet (-Inf,
		// which JSON cannot hold): 0 with epoch 0 reads back as "none".
		ck.BestTop1, ck.ValTop1 = res.Best, valTop1
		if math.IsInf(res.Best, -1) {
			ck.BestTop1 = 0
		}
		ck.Optim = opt.State()
		if err := checkpoint.Save(path, ck); err != nil {
			return err
		}
		if path == res.LastPath {
			saved = epoch
		}
		return nil
	}
	save := func(path string, epoch int, valTop1 float64) error {
		if err := write(path, epoch, valTop1); err != nil {
			kept := "no earlier checkpoint was written"
			if _, serr := os.Stat(path); serr == nil {
				kept = path + " still holds the previous checkpoint"
			}
			if cfg.KeepGoingOnSaveError {
				r.Progress.Note("warning: %v; %s (training goes on: --keep-going-on-save-error)", err, kept)
				return nil
			}
			return fmt.Errorf("%w; %s; free some space or pick a writable --out, then run again with --resume auto (or pass --keep-going-on-save-error to train on without checkpoints)", err, kept)
		}
		return nil
	}
	// diverged is the error for a non-finite loss.
	diverged := func(epoch int, loss float64, where string) error {
		kept := "no checkpoint had been written yet"
		if saved >= 0 {
			kept = fmt.Sprintf("%s keeps the last good state (epoch %d)", res.LastPath, saved)
		}
		return fmt.Errorf("epoch %d step %d: %w (%v)%s; %s; try a lower --lr (e.g. a tenth) or --warmup-epochs 1, and --nan-check layer to name the layer", epoch+1, step, ErrNonFinite, loss, where, kept)
	}

	for epoch := startEpoch; epoch < cfg.Epochs; epoch++ {
		r.Progress.StartEpoch(epoch, cfg.Epochs, batches)
		t0 := time.Now().Add(-time.Duration(carry.EpochSeconds * float64(time.Second)))
		lossSum, correct, seen := carry.EpochLossSum, carry.EpochCorrect, carry.EpochSeen
		carry = checkpoint.Meta{}
		it := r.Train.Epoch(epoch, skip)
		bi := skip
		skip = 0
		var lr float64
		for {
			b, ok := it.Next()
			if !ok {
				break
			}
			lr = cfg.Schedule.LR(float64(epoch) + float64(bi)/float64(batches))
			m.Ctx.Step = uint64(step)
			loss, _ := st.forward(b, true)
			if cfg.NaNCheck != "off" && (math.IsNaN(loss) || math.IsInf(loss, 0)) {
				it.Close()
				where := ""
				if cfg.NaNCheck == "layer" {
					where = FirstNonFinite(m, st.x.View(append(tensor.Shape{b.N}, m.In...)))
				}
				return res, diverged(epoch, loss, where)
			}
			m.Backward(st.loss.Backward())
			opt.Update(lr)
			if err := be.Err(); err != nil {
				it.Close()
				return res, fmt.Errorf("epoch %d step %d: %w", epoch+1, step, err)
			}
			step++
			bi++
			lossSum += loss * float64(b.N)
			for i := 0; i < b.N; i++ {
				if p, _ := argmaxRank(st.logits[i*k:(i+1)*k], -1); p == int(b.Y[i]) {
					correct++
				}
			}
			seen += b.N
			r.Progress.Step(bi, lossSum/float64(seen), float64(correct)/float64(seen), float64(seen)/time.Since(t0).Seconds())
			if ctx.Err() != nil {
				it.Close()
				// Stopped is claimed only once the state is on disk; an
				// interrupt never trains on past a failed save.
				meta.EpochLossSum, meta.EpochCorrect, meta.EpochSeen, meta.EpochSeconds = lossSum, correct, seen, time.Since(t0).Seconds()
				if err := write(res.LastPath, epoch, 0); err != nil {
					kept := "nothing of this run is saved"
					if saved >= 0 {
						kept = fmt.Sprintf("%s still holds epoch %d", res.LastPath, saved)
					}
					return res, fmt.Errorf("interrupted at epoch %d step %d, and saving %s failed: %w; %s", epoch+1, step, res.LastPath, err, kept)
				}
				res.Stopped = true
				return res, ctx.Err()
			}
		}
		it.Close()
		secs := time.Since(t0).Seconds()
		em := EpochMetrics{Epoch: epoch + 1, Step: step, LR: lr, Seconds: secs}
		if seen > 0 {
			em.TrainLoss, em.TrainTop1, em.ImagesPS = lossSum/float64(seen), float64(correct)/float64(seen), float64(seen)/secs
		}
		// Whatever --nan-check says, a non-finite epoch loss never reaches
		// the metrics or overwrites a good checkpoint.
		if math.IsNaN(em.TrainLoss) || math.IsInf(em.TrainLoss, 0) {
			return res, diverged(epoch, em.TrainLoss, " (found at the end of the epoch: --nan-check step stops at the step)")
		}
		score := em.TrainTop1
		if r.Val != nil {
			ev, err := Evaluate(m, r.Val, meta.Classes, cfg.BatchSize)
			if err != nil {
				return res, err
			}
			em.HasVal, em.ValLoss, em.ValTop1, em.ValTop5 = true, ev.Loss, ev.Top1, ev.Top5
			score = ev.Top1
		}
		em.RSSMiB = releaseMemory()
		if err := appendMetrics(cfg.Out, em); err != nil {
			return res, err
		}
		r.Progress.EndEpoch(em)
		improved := score > res.Best
		if improved {
			res.Best = score
		}
		// best before last: a crash between the two leaves last one epoch
		// behind, and the resumed run redoes that epoch and rewrites best.
		// The other order would leave a last whose best_top1 no best holds.
		if improved {
			if err := save(res.BestPath, epoch+1, score); err != nil {
				return res, err
			}
		}
		if err := save(res.LastPath, epoch+1, score); err != nil {
			return res, err
		}
		res.Last = em
		res.Epochs = epoch + 1
	}
	return res, nil
}

// removeStaleTemps deletes the temporary files of checkpoint writes that a
// crash (kill -9, power loss) interrupted; they are never read.
func removeStaleTemps(dir string, p Progress) {
	for _, pat := range []string{".last.tmp-*", ".best.tmp-*", ".metrics.tmp-*"} {
		names, _ := filepath.Glob(filepath.Join(dir, pat))
		for _, n := range names {
			if os.RemoveAll(n) == nil {
				p.Note("removed %s, left by an interrupted checkpoint write", n)
			}
		}
	}
}
