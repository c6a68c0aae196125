package bench

import (
	"fmt"
	"time"

	"github.com/cnnctl/cnnctl/internal/layers"
	"github.com/cnnctl/cnnctl/internal/tensor"
)

// Recorder wraps leaf layers in timers (pass its Wrap to
// zoo.BuildOptions) and collects their times while On. Off, a timer only
// forwards the call: the unhooked step runs the same layers without syncs.
type Recorder struct {
	be tensor.Backend
	// On turns the timers on. Each timed Forward and Backward is bracketed
	// by be.Sync(), so on an asynchronous device (CUDA) it measures the
	// layer's kernels and launches, and nothing overlaps across layers.
	On     bool
	leaves []*Timed
	seen   map[string]int
}

// NewRecorder returns a recorder whose timers sync be.
func NewRecorder(be tensor.Backend) *Recorder {
	return &Recorder{be: be, seen: map[string]int{}}
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
	t.rec.be.Sync()
	start := time.Now()
	y := t.Layer.Forward(x, train)
	t.rec.be.Sync()
	t.curF += time.Since(start)
	return y
}

// Backward times the wrapped Backward while the recorder is on.
func (t *Timed) Backward(dy *tensor.Tensor) *tensor.Tensor {
	if !t.rec.On {
		return t.Layer.Backward(dy)
	}
	t.rec.be.Sync()
	start := time.Now()
	dx := t.Layer.Backward(dy)
	t.rec.be.Sync()
	t.curB += time.Since(start)
	t.bwdCalled = true
	return dx
}

// Unwrap returns the wrapped layer.
func (t *Timed) Unwrap() layers.Layer { return t.Layer }
