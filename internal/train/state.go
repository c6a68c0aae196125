package train

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/cnnctl/cnnctl/internal/checkpoint"
	"github.com/cnnctl/cnnctl/internal/layers"
	"github.com/cnnctl/cnnctl/internal/tensor"
)

// batchCounter is implemented by BatchNorm layers (PyTorch's num_batches_tracked).
type batchCounter interface {
	NumBatchesTracked() int64
	SetNumBatchesTracked(int64)
}

// Snapshot copies the model's state to the host as a checkpoint carrying meta.
func Snapshot(m *layers.Model, meta checkpoint.Meta) (*checkpoint.Checkpoint, error) {
	be := m.Ctx.Backend
	ck := &checkpoint.Checkpoint{Meta: meta}
	for _, p := range m.All() {
		v := make([]float32, p.Shape.Numel())
		be.Download(v, p.Value)
		ck.State = append(ck.State, checkpoint.Named{Name: p.Name, Shape: p.Shape.Clone(), Data: v})
	}
	ck.NumBatchesTracked = map[string]int64{}
	layers.Walk(m.Root, func(l layers.Layer, _ int) {
		if bc, ok := l.(batchCounter); ok {
			ck.NumBatchesTracked[l.Name()] = bc.NumBatchesTracked()
		}
	})
	if err := be.Err(); err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	return ck, nil
}

// LoadState uploads a checkpoint's state into m, after checking that every
// key is present with the right shape; all mismatches are listed at once.
func LoadState(m *layers.Model, ck *checkpoint.Checkpoint) error {
	state := map[string]checkpoint.Named{}
	for _, t := range ck.State {
		state[t.Name] = t
	}
	if err := LoadTensors(m, state, "checkpoint"); err != nil {
		return err
	}
	ApplyBatchCounts(m, ck.NumBatchesTracked)
	return nil
}

// LoadTensors uploads named host tensors into m. what names the source in errors.
func LoadTensors(m *layers.Model, state map[string]checkpoint.Named, what string) error {
	var missing, shape []string
	want := map[string]bool{}
	for _, p := range m.All() {
		want[p.Name] = true
		t, ok := state[p.Name]
		if !ok {
			missing = append(missing, p.Name)
			continue
		}
		if !tensor.Shape(t.Shape).Equal(p.Shape) || len(t.Data) != p.Shape.Numel() {
			shape = append(shape, fmt.Sprintf("%s: %s has %v, model wants %v", p.Name, what, tensor.Shape(t.Shape), p.Shape))
		}
	}
	var unexpected []string
	for name := range state {
		if !want[name] && !strings.HasSuffix(name, ".num_batches_tracked") {
			unexpected = append(unexpected, name)
		}
	}
	sort.Strings(unexpected)
	if len(missing)+len(shape)+len(unexpected) > 0 {
		var b strings.Builder
		fmt.Fprintf(&b, "%s does not fit the model:", what)
		if len(missing) > 0 {
			fmt.Fprintf(&b, "\n  missing keys (%d): %s", len(missing), strings.Join(missing, ", "))
		}
		if len(unexpected) > 0 {
			fmt.Fprintf(&b, "\n  unexpected keys (%d): %s", len(unexpected), strings.Join(unexpected, ", "))
		}
		for _, s := range shape {
			fmt.Fprintf(&b, "\n  wrong shape: %s", s)
		}
		return fmt.Errorf("%s", b.String())
	}
	be := m.Ctx.Backend
	for _, p := range m.All() {
		be.Upload(p.Value, state[p.Name].Data)
	}
	layers.Walk(m.Root, func(l layers.Layer, _ int) {
		if bc, ok := l.(batchCounter); ok {
			if t, ok := state[l.Name()+".num_batches_tracked"]; ok && len(t.Data) == 1 {
				bc.SetNumBatchesTracked(int64(t.Data[0]))
			}
		}
	})
	return be.Err()
}

// ApplyBatchCounts restores num_batches_tracked from a checkpoint's metadata.
func ApplyBatchCounts(m *layers.Model, counts map[string]int64) {
	layers.Walk(m.Root, func(l layers.Layer, _ int) {
		if bc, ok := l.(batchCounter); ok {
			if n, ok := counts[l.Name()]; ok {
				bc.SetNumBatchesTracked(n)
			}
		}
	})
}

// FirstNonFinite says where a diverged step went non-finite, for the
// error: the first parameter whose value is not finite, else the first
// layer whose output is not (found by running the batch x (N,C,H,W) again
// layer by layer), else the first non-finite gradient of the previous step.
// It changes BatchNorm running statistics: call it only to stop a run.
func FirstNonFinite(m *layers.Model, x *tensor.Tensor) string {
	be := m.Ctx.Backend
	for _, p := range m.All() {
		v := make([]float32, p.Shape.Numel())
		be.Download(v, p.Value)
		if i := nonFinite(v); i >= 0 {
			return fmt.Sprintf("; first non-finite parameter: %s[%d] = %v (the previous update overflowed)", p.Name, i, v[i])
		}
	}
	if act := m.Ctx.Act; act != tensor.F32 && x.DType != act {
		// The layers run as Model.Forward runs them (layers/precision.go):
		// on the input and weights rounded to bf16.
		xa := be.NewTyped(x.Shape, act)
		defer be.Free(xa)
		be.Cast(xa, x)
		if m.Half != nil {
			be.Cast(m.Half, m.Weights)
		}
		x = xa
	}
	if l, i, v, _ := firstNonFiniteOutput(be, m.Root, x); l != nil {
		return fmt.Sprintf("; first non-finite output: layer %s (%s), output[%d] = %v, with finite input and parameters", l.Name(), l.Type(), i, v)
	}
	for _, p := range m.Params {
		v := make([]float32, p.Shape.Numel())
		be.Download(v, p.Grad)
		if i := nonFinite(v); i >= 0 {
			return fmt.Sprintf("; first non-finite gradient (previous step): %s[%d] = %v", p.Name, i, v[i])
		}
	}
	return "; parameters and layer outputs are finite: the loss itself overflowed (the logits are too large)"
}

// firstNonFiniteOutput runs x through l and returns its output y; inside
// a sequential container it runs the children one by one and descends into
// the first that goes non-finite. Other containers (residual, concat) are
// reported whole.
func firstNonFiniteOutput(be tensor.Backend, l layers.Layer, x *tensor.Tensor) (bad layers.Layer, i int, v float32, y *tensor.Tensor) {
	if seq, ok := l.(*layers.Sequential); ok {
		for _, c := range seq.Layers {
			if bad, i, v, x = firstNonFiniteOutput(be, c, x); bad != nil {
				return bad, i, v, x
			}
		}
		return nil, 0, 0, x
	}
	y = l.Forward(x, true)
	h := make([]float32, y.Numel())
	if y.DType != tensor.F32 {
		w := be.New(y.Shape)
		defer be.Free(w)
		be.Cast(w, y)
		be.Download(h, w)
	} else {
		be.Download(h, y)
	}
	if i := nonFinite(h); i >= 0 {
		return l, i, h[i], y
	}
	return nil, 0, 0, y
}

func nonFinite(v []float32) int {
	for i, x := range v {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return i
		}
	}
	return -1
}
