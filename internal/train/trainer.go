package train

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
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
	// ReadEvery is the number of steps queued between two reads of their
	// metrics; 0 chooses: 1 with NaNCheck layer (the sentinel needs the
	// failing batch) or on a backend that uses the host's memory (a read
	// is a copy), 8 on a device (tensor.MemInfo), where a read waits for
	// the queue. Training is the same bits whatever it is.
	ReadEvery int
	// DataOn is where the training and validation batches are made:
	// DataAuto (or ""), DataDevice or DataHost (devdata.go); the
	// validation split is held when the training set is and it fits too.
	DataOn string
	// DeviceReserve is the device memory the run itself needs (its
	// memory plan), kept free beside a training set held on the device.
	DeviceReserve int64
	// NoGraphs runs every step op by op; otherwise a backend that can
	// capture (tensor.Capturer) replays each batch size's captured step.
	NoGraphs bool
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
	// Summary is this invocation's time and throughput (summary.go),
	// filled in whenever Execute returns a Result.
	Summary Summary
}

// execution is the state of one Execute: what the epoch loop, the reads
// of the step's metrics and the checkpoint writes share.
type execution struct {
	r    *Run
	opt  *Optimizer
	step *Step
	res  *Result
	meta checkpoint.Meta
	// carry is the unfinished epoch's sums of a mid-epoch checkpoint.
	carry      checkpoint.Meta
	startEpoch int
	skip       int   // batches of startEpoch already trained
	steps      int64 // steps done, as the host has read them
	saved      int   // the epoch of the newest checkpoint in OUT/last (-1: none)
	// evalGraphsOff: a capture of the validation failed once (graph.go).
	evalGraphsOff bool
	clock         *clock // the run's wall and device time (summary.go)

	lossSum float64 // this epoch's sums so far
	correct int
	seen    int

	// train is where the training batches come from: Run.Train, or the
	// set held by the backend (set, nil when none); val and valSet the
	// same for Run.Val.
	train, val  Source
	set, valSet tensor.DataSet
	// eval is the validation's state on the backend (evaluate.go), kept
	// from one epoch's validation to the next with its graphs; nil before
	// the first.
	eval *evaluator
}

// readEvery is Config.ReadEvery, chosen where it is 0.
func readEvery(cfg Config, be tensor.Backend) int {
	if _, device := be.(tensor.MemInfo); cfg.NaNCheck == "layer" || cfg.ReadEvery <= 0 && !device {
		return 1
	} else if cfg.ReadEvery <= 0 {
		return 8
	}
	return cfg.ReadEvery
}

// Execute trains until Cfg.Epochs epochs are done or ctx is cancelled, in
// which case it finishes the current step, saves OUT/last and returns
// ctx's error.
func (r *Run) Execute(ctx context.Context) (*Result, error) {
	e, err := r.start()
	if err != nil {
		return nil, err
	}
	defer e.free()
	defer func() { e.res.Summary = e.clock.summary(r.Train.Batches()) }()
	for epoch := e.startEpoch; epoch < r.Cfg.Epochs; epoch++ {
		em, err := e.trainEpoch(ctx, epoch)
		if err != nil || e.res.Stopped {
			return e.res, err
		}
		if err := e.endEpoch(epoch, em); err != nil {
			return e.res, err
		}
	}
	return e.res, nil
}

// start prepares the output folder, the optimiser and the step, and
// restores the state of r.Resume.
func (r *Run) start() (*execution, error) {
	cfg, m := r.Cfg, r.Model
	// The step counters are float32 on the backend: whole numbers are
	// exact up to 2^24.
	if total := int64(cfg.Epochs) * int64(r.Train.Batches()); total > 1<<24 {
		return nil, fmt.Errorf("train: %d epochs of %d batches are %s steps, more than the %s a run can count; train fewer epochs or use a larger --batch-size",
			cfg.Epochs, r.Train.Batches(), Commas(total), Commas(1<<24))
	}
	if err := os.MkdirAll(cfg.Out, 0o755); err != nil {
		return nil, fmt.Errorf("train: cannot create the output folder %s (--out): %w", cfg.Out, err)
	}
	removeStaleTemps(cfg.Out, r.Progress)
	opt, err := NewOptimizer(m, cfg.Optimizer)
	if err != nil {
		return nil, err
	}
	e := &execution{r: r, opt: opt, meta: r.Meta, saved: -1, clock: newClock(m.Ctx.Backend),
		res: &Result{LastPath: filepath.Join(cfg.Out, "last"), BestPath: filepath.Join(cfg.Out, "best"), Best: math.Inf(-1)}}
	if err := e.resume(); err != nil {
		return nil, err
	}
	e.step = NewStep(m, opt, cfg.BatchSize, r.Train.Batches(), readEvery(cfg, m.Ctx.Backend), float32(cfg.LabelSmoothing))
	var note string
	e.train, e.set, note = placeData(cfg, m.Ctx.Backend, r.Train)
	if e.set != nil {
		e.step.Hold(e.set, e.train.(heldSource).batchSize())
	}
	e.val = r.Val
	if r.Val != nil {
		beside, trainWhy := cfg.DeviceReserve, ""
		if e.set != nil {
			beside += e.set.Params().Bytes()
		} else {
			trainWhy = strings.TrimPrefix(note, "data: ")
		}
		var where string
		e.val, e.valSet, where = placeEval(cfg.DataOn, m.Ctx.Backend, r.Val, "validation set", beside)
		if where == trainWhy {
			where = "too"
		}
		note += "; validation " + where
	}
	r.Progress.Note("%s", note)
	e.step.Steps = e.steps // the dropout counter of a resumed run goes on
	if !cfg.NoGraphs {
		e.step.UseGraphs(r.Progress.Note)
	}
	if e.set == nil { // a held set uploads nothing per step
		e.step.UsePinned(r.Progress.Note)
	}
	return e, nil
}

// free releases the validation's state, the step and the held sets.
func (e *execution) free() {
	if e.eval != nil {
		e.eval.free()
	}
	e.step.Free()
	for _, set := range []tensor.DataSet{e.set, e.valSet} {
		if set != nil {
			set.Free()
		}
	}
}

// resume restores model, optimiser, counters and metrics of r.Resume (or
// starts the metrics afresh without one).
func (e *execution) resume() error {
	r, ck := e.r, e.r.Resume
	if ck == nil {
		return truncateMetrics(r.Cfg.Out, 0)
	}
	if err := LoadState(r.Model, ck); err != nil {
		return err
	}
	if len(ck.Optim) > 0 {
		if err := e.opt.SetState(ck.Optim, ck.OptimizerStep); err != nil {
			return fmt.Errorf("resume: %w", err)
		}
	}
	e.startEpoch, e.steps, e.saved = ck.Epoch, ck.Step, ck.Epoch
	e.skip = int(ck.Step) - ck.Epoch*r.Train.Batches()
	if e.skip < 0 || e.skip >= r.Train.Batches() {
		e.skip = 0
	}
	if e.skip > 0 {
		e.carry = ck.Meta
	}
	if ck.BestTop1 > 0 || ck.Epoch > 0 {
		e.res.Best = ck.BestTop1
	}
	if _, torn, _ := readMetrics(r.Cfg.Out); torn {
		r.Progress.Note("metrics.jsonl ended in a line cut short (a kill during its write): it is dropped")
	}
	if err := truncateMetrics(r.Cfg.Out, ck.Epoch); err != nil {
		return fmt.Errorf("resume: %w", err)
	}
	r.Progress.Note("resuming from epoch %d, step %d", ck.Epoch, ck.Step)
	return nil
}

// lr is the learning rate of batch bi of epoch.
func (e *execution) lr(epoch, bi int) float64 {
	return e.r.Cfg.Schedule.LR(float64(epoch) + float64(bi)/float64(e.r.Train.Batches()))
}

// trainEpoch runs one epoch's steps, reading their metrics every few
// steps; on ctx's cancellation it saves OUT/last and sets res.Stopped.
func (e *execution) trainEpoch(ctx context.Context, epoch int) (EpochMetrics, error) {
	r, batches := e.r, e.r.Train.Batches()
	r.Progress.StartEpoch(epoch, r.Cfg.Epochs, batches)
	t0 := time.Now().Add(-time.Duration(e.carry.EpochSeconds * float64(time.Second)))
	e.lossSum, e.correct, e.seen = e.carry.EpochLossSum, e.carry.EpochCorrect, e.carry.EpochSeen
	e.carry = checkpoint.Meta{}
	bi := e.skip
	lrs := make([]float32, batches)
	for i := range lrs {
		lrs[i] = float32(e.lr(epoch, i))
	}
	e.step.StartEpoch(lrs, bi)
	it := e.train.Epoch(epoch, bi)
	defer it.Close()
	e.skip = 0
	for {
		b, ok := it.Next()
		if !ok {
			break
		}
		span := e.clock.begin()
		e.step.Load(b)
		e.step.Run()
		e.clock.end(span)
		bi++
		stop := ctx.Err() != nil
		if e.step.Full() || stop {
			if err := e.read(epoch, bi, t0); err != nil {
				return EpochMetrics{}, err
			}
		}
		if stop {
			return EpochMetrics{}, e.interrupt(ctx, epoch, t0)
		}
	}
	if err := e.read(epoch, bi, t0); err != nil {
		return EpochMetrics{}, err
	}
	secs := time.Since(t0).Seconds()
	em := EpochMetrics{Epoch: epoch + 1, Step: e.steps, Seconds: secs}
	if bi > 0 {
		em.LR = e.lr(epoch, bi-1)
	}
	if e.seen > 0 {
		em.TrainLoss, em.TrainTop1, em.ImagesPS = e.lossSum/float64(e.seen), float64(e.correct)/float64(e.seen), float64(e.seen)/secs
	}
	return em, nil
}

// read adds the metrics of the steps run since the last read to the
// epoch's sums, stops at the first non-finite loss (unless --nan-check
// off) and shows the progress at batch bi.
func (e *execution) read(epoch, bi int, t0 time.Time) error {
	r := e.r
	got, err := e.step.Read()
	if err != nil {
		return fmt.Errorf("epoch %d step %d: %w", epoch+1, e.steps, err)
	}
	e.clock.collect()
	for j, loss := range got.Loss {
		if j == got.Bad && r.Cfg.NaNCheck != "off" {
			where := ""
			if r.Cfg.NaNCheck == "layer" {
				where = FirstNonFinite(r.Model, e.step.Input())
			}
			return e.diverged(epoch, float64(loss), where)
		}
		e.lossSum += float64(loss) * float64(got.N[j])
		e.correct += got.Correct[j]
		e.seen += got.N[j]
		e.steps++
		e.clock.steps++
		e.clock.images += int64(got.N[j])
	}
	if len(got.Loss) > 0 {
		r.Progress.Step(bi, e.lossSum/float64(e.seen), float64(e.correct)/float64(e.seen), float64(e.seen)/time.Since(t0).Seconds())
	}
	return nil
}

// interrupt saves OUT/last mid-epoch after ctx's cancellation. Stopped is
// claimed only once the state is on disk; an interrupt never trains on
// past a failed save.
func (e *execution) interrupt(ctx context.Context, epoch int, t0 time.Time) error {
	e.meta.EpochLossSum, e.meta.EpochCorrect, e.meta.EpochSeen, e.meta.EpochSeconds = e.lossSum, e.correct, e.seen, time.Since(t0).Seconds()
	if err := e.write(e.res.LastPath, epoch, 0); err != nil {
		kept := "nothing of this run is saved"
		if e.saved >= 0 {
			kept = fmt.Sprintf("%s still holds epoch %d", e.res.LastPath, e.saved)
		}
		return fmt.Errorf("interrupted at epoch %d step %d, and saving %s failed: %w; %s", epoch+1, e.steps, e.res.LastPath, err, kept)
	}
	e.res.Stopped = true
	return ctx.Err()
}

// endEpoch validates, records the epoch's metrics and writes best and last.
func (e *execution) endEpoch(epoch int, em EpochMetrics) error {
	r, res := e.r, e.res
	// Whatever --nan-check says, a non-finite epoch loss never reaches
	// the metrics or overwrites a good checkpoint.
	if math.IsNaN(em.TrainLoss) || math.IsInf(em.TrainLoss, 0) {
		return e.diverged(epoch, em.TrainLoss, " (found at the end of the epoch: --nan-check step stops at the step)")
	}
	score := em.TrainTop1
	if e.val != nil {
		if e.eval == nil {
			var err error
			if e.eval, err = newEvaluator(r.Model, e.val, r.Cfg.BatchSize); err != nil {
				return err
			}
		}
		ev, err := e.eval.run(e.val, e.meta.Classes, e.evalOptions())
		if err != nil {
			return err
		}
		em.HasVal, em.ValLoss, em.ValTop1, em.ValTop5 = true, ev.Loss, ev.Top1, ev.Top5
		score = ev.Top1
	}
	em.RSSMiB = releaseMemory()
	if err := appendMetrics(r.Cfg.Out, em); err != nil {
		return err
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
		if err := e.save(res.BestPath, epoch+1, score); err != nil {
			return err
		}
	}
	if err := e.save(res.LastPath, epoch+1, score); err != nil {
		return err
	}
	res.Last, res.Epochs = em, epoch+1
	return nil
}

// write saves a checkpoint of the current state to path.
func (e *execution) write(path string, epoch int, valTop1 float64) error {
	ck, err := Snapshot(e.r.Model, e.meta)
	if err != nil {
		return err
	}
	ck.Epoch, ck.Step, ck.OptimizerStep = epoch, e.steps, e.opt.Step
	// Before the first validation there is no best score yet (-Inf,
	// which JSON cannot hold): 0 with epoch 0 reads back as "none".
	ck.BestTop1, ck.ValTop1 = e.res.Best, valTop1
	if math.IsInf(e.res.Best, -1) {
		ck.BestTop1 = 0
	}
	ck.Optim = e.opt.State()
	if err := checkpoint.Save(path, ck); err != nil {
		return err
	}
	if path == e.res.LastPath {
		e.saved = epoch
	}
	return nil
}

// save is write with the error a user can act on, or only a warning with
// --keep-going-on-save-error.
func (e *execution) save(path string, epoch int, valTop1 float64) error {
	err := e.write(path, epoch, valTop1)
	if err == nil {
		return nil
	}
	kept := "no earlier checkpoint was written"
	if _, serr := os.Stat(path); serr == nil {
		kept = path + " still holds the previous checkpoint"
	}
	if e.r.Cfg.KeepGoingOnSaveError {
		e.r.Progress.Note("warning: %v; %s (training goes on: --keep-going-on-save-error)", err, kept)
		return nil
	}
	return fmt.Errorf("%w; %s; free some space or pick a writable --out, then run again with --resume auto (or pass --keep-going-on-save-error to train on without checkpoints)", err, kept)
}

// diverged is the error for a non-finite loss.
func (e *execution) diverged(epoch int, loss float64, where string) error {
	kept := "no checkpoint had been written yet"
	if e.saved >= 0 {
		kept = fmt.Sprintf("%s keeps the last good state (epoch %d)", e.res.LastPath, e.saved)
	}
	return fmt.Errorf("epoch %d step %d: %w (%v)%s; %s; try a lower --lr (e.g. a tenth) or --warmup-epochs 1, and --nan-check layer to name the layer", epoch+1, e.steps, ErrNonFinite, loss, where, kept)
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
