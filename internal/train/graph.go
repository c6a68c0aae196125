package train

import (
	"fmt"

	"github.com/cnnctl/cnnctl/internal/layers"
	"github.com/cnnctl/cnnctl/internal/tensor"
)

// graphs replays captured training steps (CUDA graphs on the GPU), one
// graph per batch size: the host then queues a whole step with one call
// instead of ~150.
//
// A batch size's first step runs uncaptured (its warm-up: layers allocate
// their buffers, kernels load), its second is captured and then replayed,
// and every later one is a replay. A capture records the work without
// running it, so the captured step is run by replaying the graph once;
// when the capture fails the recorded work is dropped, the host's counters
// are set back, and the step runs uncaptured: it happens exactly once
// either way. After a failure, graphs stay off for the run, with one line
// saying why.
//
// A replay reads every tensor afresh but keeps every host argument as it
// was captured: everything that changes from step to step (the batch, the
// learning rate, the counters, the dropout counter, the metric slot) is in
// tensors whose addresses do not change (Step's and the layers' buffers
// are allocated once, at the largest batch).
type graphs struct {
	what string // "step" or "evaluation", for the note
	cap  tensor.Capturer
	note func(format string, args ...any)
	warm map[int]bool         // batch sizes that have had their warm-up step
	byN  map[int]tensor.Graph // captured steps by batch size
	off  bool                 // a capture or replay failed: uncaptured from now on
	host *stepHost            // a training step's host side (nil for an evaluation)
}

// UseGraphs turns on the capture and replay of Run where the backend can
// capture (tensor.Capturer) and reports whether it can. note gets the one
// line that says why graphs were turned off, if a capture fails.
func (s *Step) UseGraphs(note func(format string, args ...any)) bool {
	c, ok := s.be.(tensor.Capturer)
	if !ok {
		return false
	}
	s.graphs = newGraphs(c, "step", note)
	return true
}

func newGraphs(c tensor.Capturer, what string, note func(format string, args ...any)) *graphs {
	return &graphs{what: what, cap: c, note: note, warm: map[int]bool{}, byN: map[int]tensor.Graph{}}
}

// run runs the loaded step as a graph and reports whether it did; false
// leaves the step to be queued uncaptured (graphs off, a warm-up, or a
// failed capture).
func (g *graphs) run(s *Step) bool {
	if g == nil || g.off {
		return false
	}
	if g.host == nil {
		g.host = newStepHost(s)
	}
	return g.do(s.xv.Shape[0], s.enqueue, g.host)
}

// hostSide is what a captured piece of work does on the host besides
// queueing ops (counters), which a replay must do too.
type hostSide interface {
	save()          // before a capture
	restore()       // after a failed one: the host as save found it
	captured(n int) // after a successful one (batch n): learn what it did
	replayed(n int) // after each replay of batch n's graph: do it again
}

// stepHost is a training step's host side: Step.Steps, the optimiser's
// Step, and each BatchNorm's num_batches_tracked, which Forward counts on
// the host and a checkpoint saves.
type stepHost struct {
	s        *Step
	counters []batchCounter
	steps    int64 // saved
	optStep  int
	before   []int64
	deltas   map[int][]int64 // what a step of batch n adds to each counter
}

func newStepHost(s *Step) *stepHost {
	h := &stepHost{s: s, deltas: map[int][]int64{}}
	layers.Walk(s.m.Root, func(l layers.Layer, _ int) {
		if bc, ok := l.(batchCounter); ok {
			h.counters = append(h.counters, bc)
		}
	})
	return h
}

func (h *stepHost) save() {
	h.steps, h.optStep = h.s.Steps, h.s.opt.Step
	h.before = h.before[:0]
	for _, c := range h.counters {
		h.before = append(h.before, c.NumBatchesTracked())
	}
}

func (h *stepHost) restore() {
	h.s.Steps, h.s.opt.Step = h.steps, h.optStep
	for i, c := range h.counters {
		c.SetNumBatchesTracked(h.before[i])
	}
}

func (h *stepHost) captured(n int) {
	d := make([]int64, len(h.counters))
	for i, c := range h.counters {
		d[i] = c.NumBatchesTracked() - h.before[i]
	}
	h.deltas[n] = d
}

func (h *stepHost) replayed(n int) {
	s := h.s
	s.m.Ctx.Step = uint64(s.Steps) // as enqueue leaves the host's counters
	s.Steps++
	s.opt.Step++
	for i, c := range h.counters {
		c.SetNumBatchesTracked(c.NumBatchesTracked() + h.deltas[n][i])
	}
}

// do runs the work of a batch of n as a replay, or captures enqueue and
// replays it, and reports whether it did; false leaves the work to be
// queued op by op (graphs off, a warm-up, or a failed capture). enqueue
// queues the work and does its host side, which host (nil: none) repeats
// after each replay and sets back after a dropped capture.
func (g *graphs) do(n int, enqueue func(), host hostSide) bool {
	if g == nil || g.off {
		return false
	}
	if gr, ok := g.byN[n]; ok {
		if err := gr.Replay(); err != nil {
			g.fail("replaying the %s of batch %d failed: %v", g.what, n, err)
			return false
		}
		if host != nil {
			host.replayed(n)
		}
		return true
	}
	if !g.warm[n] {
		g.warm[n] = true
		return false
	}
	if host != nil {
		host.save()
	}
	if err := g.cap.BeginCapture(); err != nil {
		g.fail("cannot start capturing the %s of batch %d: %v", g.what, n, err)
		return false
	}
	enqueue()
	gr, err := g.cap.EndCapture()
	if err == nil {
		if err = gr.Replay(); err != nil {
			gr.Close()
		}
	}
	if err != nil {
		// Nothing of the recorded work ran: it runs again, op by op.
		if host != nil {
			host.restore()
		}
		g.fail("capturing the %s of batch %d failed: %v", g.what, n, err)
		return false
	}
	if host != nil {
		host.captured(n)
	}
	g.byN[n] = gr
	return true
}

// fail turns graphs off for the rest of the run and says why in one line.
func (g *graphs) fail(format string, args ...any) {
	g.off = true
	g.close()
	if g.note != nil {
		g.note("warning: graphs: %s; going on without graphs (as with --no-graphs)", fmt.Sprintf(format, args...))
	}
}

// reset frees the captured graphs and forgets the warm-ups: the next
// batch of each size runs uncaptured, as the first ever did.
func (g *graphs) reset() {
	if g != nil {
		g.close()
		clear(g.warm)
	}
}

// close frees the captured graphs.
func (g *graphs) close() {
	if g == nil {
		return
	}
	for n, gr := range g.byN {
		gr.Close()
		delete(g.byN, n)
	}
}

// EvalOptions are EvaluateWith's settings.
type EvalOptions struct {
	// Graphs captures the forward and loss of each batch size once and
	// replays it, where the backend can capture (tensor.Capturer); the
	// graphs live for one evaluation (its input buffers are its own), or
	// for a training run's validations.
	Graphs bool
	// Note gets the one line that says why graphs were turned off.
	Note func(format string, args ...any)

	clock    *clock // times each batch's device work for a run's Summary (nil: none)
	perBatch bool   // read each batch back (evalPerBatch) even where StepOps allow not to
	// logitBytes bounds the logits kept on the device between reads (0:
	// maxEvalLogitBytes).
	logitBytes int
}

// graphs is the evaluation's graphs, nil when off or not possible.
func (o EvalOptions) graphs(be tensor.Backend) *graphs {
	c, ok := be.(tensor.Capturer)
	if !o.Graphs || !ok {
		return nil
	}
	return newGraphs(c, "evaluation", o.Note)
}

// evalOptions are the validation's options: graphs unless --no-graphs or
// a capture (of the training step or of an earlier validation) failed, and
// each batch's device work timed for the run's Summary.
func (e *execution) evalOptions() EvalOptions {
	return EvalOptions{
		clock:  e.clock,
		Graphs: !e.r.Cfg.NoGraphs && !e.evalGraphsOff && (e.step.graphs == nil || !e.step.graphs.off),
		Note: func(format string, args ...any) {
			e.evalGraphsOff = true
			e.r.Progress.Note(format, args...)
		},
	}
}
