package bench

import (
	"fmt"
	"time"

	"github.com/cnnctl/cnnctl/internal/layers"
	"github.com/cnnctl/cnnctl/internal/tensor"
)

// Report.Timing for the two ways layer rows are timed.
const (
	TimingWall   = "wall clock; each leaf layer's forward and backward bracketed by the backend's Sync, in a run separate from the step's"
	TimingEvents = "device events (CUDA); each leaf layer's forward and backward between two events on the stream, the end one waited for, in a run separate from the step's (which is wall clock)"
)

// Recorder wraps leaf layers in timers (pass its Wrap to
// zoo.BuildOptions) and collects their times while On. Off, a timer only
// forwards the call: the unhooked step runs the same layers without syncs.
type Recorder struct {
	be tensor.Backend
	// events is be's device timer, nil where it has none.
	events tensor.EventTimer
	// On turns the timers on. Where the backend has device timers
	// (tensor.EventTimer: CUDA events), each timed Forward and Backward is
	// the device time between a mark before and one after its work, and
	// the end is waited for, so nothing overlaps across layers. Elsewhere
	// each is bracketed by be.Sync() and timed with the wall clock.
	On     bool
	leaves []*Timed
	seen   map[string]int
}

// NewRecorder returns a recorder that times layers on be: with be's
// device timers where it has them, else with Sync and the wall clock.
func NewRecorder(be tensor.Backend) *Recorder {
	r := &Recorder{be: be, seen: map[string]int{}}
	r.events, _ = be.(tensor.EventTimer)
	return r
}

// DeviceTimed reports whether layers are timed with device events.
func (r *Recorder) DeviceTimed() bool { return r.events != nil }

// Measure returns how long fn's work takes: device time between two events
// where the backend has them, else wall clock between two syncs.
func (r *Recorder) Measure(fn func()) time.Duration {
	if r.events != nil {
		tm := r.events.StartTimer()
		fn()
		return tm.Stop()
	}
	r.be.Sync()
	start := time.Now()
	fn()
	r.be.Sync()
	return time.Since(start)
}

// Wrap wraps a leaf layer in a timer; it has zoo.BuildOptions.Wrap's type.
func (r *Recorder) Wrap(l layers.Layer) layers.Layer {
	label := l.Name()
	r.seen[label]++
	if n := r.seen[label]; n > 1 {
		// PyTorch's ResNet calls its one relu module twice per block.
		label = fmt.Sprintf("%s#%d", label, n)
	}
	t := &Timed{Layer: l, rec: r, Label: label}
	r.leaves = append(r.leaves, t)
	return t
}

// Leaves are the timers in the order they were wrapped (the YAML's order).
func (r *Recorder) Leaves() []*Timed { return r.leaves }

// EndIter closes one timed iteration: each timer adds up what its layer
// took during it (one entry per iteration, however often it was called).
func (r *Recorder) EndIter() {
	for _, t := range r.leaves {
		t.fwd = append(t.fwd, t.curF)
		if t.bwdCalled {
			t.bwd = append(t.bwd, t.curB)
		}
		t.curF, t.curB, t.bwdCalled = 0, 0, false
	}
}

// Timed is a leaf layer with a timer around Forward and Backward.
type Timed struct {
	layers.Layer
	rec *Recorder
	// Label is the row's name: the layer's, made unique.
	Label   string
	In, Out tensor.Shape // per sample, from Setup

	curF, curB time.Duration
	bwdCalled  bool
	fwd, bwd   []time.Duration // one per timed iteration
}

// Setup sets up the wrapped layer and keeps its shapes.
func (t *Timed) Setup(ctx *layers.Context, in tensor.Shape) (tensor.Shape, error) {
	out, err := t.Layer.Setup(ctx, in)
	if err != nil {
		return nil, err
	}
	t.In, t.Out = in.Clone(), out.Clone()
	return out, nil
}

// Forward times the wrapped Forward while the recorder is on.
func (t *Timed) Forward(x *tensor.Tensor, train bool) *tensor.Tensor {
	if !t.rec.On {
		return t.Layer.Forward(x, train)
	}
	var y *tensor.Tensor
	t.curF += t.rec.Measure(func() { y = t.Layer.Forward(x, train) })
	return y
}

// Backward times the wrapped Backward while the recorder is on.
func (t *Timed) Backward(dy *tensor.Tensor) *tensor.Tensor {
	if !t.rec.On {
		return t.Layer.Backward(dy)
	}
	var dx *tensor.Tensor
	t.curB += t.rec.Measure(func() { dx = t.Layer.Backward(dy) })
	t.bwdCalled = true
	return dx
}

// Unwrap returns the wrapped layer.
func (t *Timed) Unwrap() layers.Layer { return t.Layer }
