package bench

import (
	"fmt"
	"slices"
	"strings"
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

// WrapFused wraps a fused node that a plan's rewrite made of parts (the
// timers of the leaves it replaces) in a timer of its own; it has
// plan.Options.Wrap's type. The node's row is labelled by its first part
// and the last part's own name ("layer1.0.bn1+relu"), placed where its
// first part was; the parts' timers then never run (and have no row).
func (r *Recorder) WrapFused(fused layers.Layer, parts []layers.Layer) layers.Layer {
	var ts []*Timed
	for _, p := range parts {
		if t, ok := p.(*Timed); ok {
			ts = append(ts, t)
		}
	}
	if len(ts) != len(parts) || len(ts) == 0 {
		return fused // parts not built with this recorder: nothing to time them by
	}
	last := ts[len(ts)-1].Name()
	label := ts[0].Label + "+" + last[strings.LastIndex(last, ".")+1:]
	t := &Timed{Layer: fused, rec: r, Label: label, In: ts[0].In, Out: ts[len(ts)-1].Out, Parts: ts}
	i := slices.Index(r.leaves, ts[0])
	r.leaves = slices.Insert(r.leaves, max(i, 0), t)
	return t
}

// Leaves are the timers in the order they were wrapped (the YAML's order;
// a fused node's before its first part's).
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
	// Parts are the timers of the layers a fused node replaced (nil for
	// a layer of the model's own tree): its cost is theirs.
	Parts []*Timed
	// Ran reports whether the layer ran while the recorder was on: a
	// layer replaced by a fused node does not.
	Ran bool

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
	t.Ran = true
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
