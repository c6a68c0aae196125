package train

import (
	"fmt"

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
	cap  tensor.Capturer
	note func(format string, args ...any)
	warm map[int]bool         // batch sizes that have had their warm-up step
	byN  map[int]tensor.Graph // captured steps by batch size
	off  bool                 // a capture or replay failed: uncaptured from now on
}

// UseGraphs turns on the capture and replay of Run where the backend can
// capture (tensor.Capturer) and reports whether it can. note gets the one
// line that says why graphs were turned off, if a capture fails.
func (s *Step) UseGraphs(note func(format string, args ...any)) bool {
	c, ok := s.be.(tensor.Capturer)
	if !ok {
		return false
	}
	s.graphs = &graphs{cap: c, note: note, warm: map[int]bool{}, byN: map[int]tensor.Graph{}}
	return true
}

// run runs the loaded step as a graph and reports whether it did; false
// leaves the step to be queued uncaptured (graphs off, a warm-up, or a
// failed capture).
func (g *graphs) run(s *Step) bool {
	if g == nil || g.off {
		return false
	}
	n := s.xv.Shape[0]
	if gr, ok := g.byN[n]; ok {
		if err := gr.Replay(); err != nil {
			g.fail("replaying the step of batch %d failed: %v", n, err)
			return false
		}
		s.m.Ctx.Step = uint64(s.Steps) // as enqueue leaves the host's counters
		s.Steps++
		s.opt.Step++
		return true
	}
	if !g.warm[n] {
		g.warm[n] = true
		return false
	}
	steps, optStep := s.Steps, s.opt.Step
	if err := g.cap.BeginCapture(); err != nil {
		g.fail("cannot start capturing the step of batch %d: %v", n, err)
		return false
	}
	s.enqueue()
	gr, err := g.cap.EndCapture()
	if err == nil {
		err = gr.Replay()
		if err != nil {
			gr.Close()
		}
	}
	if err != nil {
		// Nothing of the recorded step ran: count it again as it runs uncaptured.
		s.Steps, s.opt.Step = steps, optStep
		g.fail("capturing the step of batch %d failed: %v", n, err)
		return false
	}
	g.byN[n] = gr
	return true
}

// fail turns graphs off for the rest of the run and says why in one line.
func (g *graphs) fail(format string, args ...any) {
	g.off = true
	g.close()
	if g.note != nil {
		g.note("graphs: %s; training on without graphs (as with --no-graphs)", fmt.Sprintf(format, args...))
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
