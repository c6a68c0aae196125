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

// FirstNonFinite names the first parameter whose value or gradient is not
// finite, or, failing that, says the output is; for the diverged-run error.
func FirstNonFinite(m *layers.Model, out *tensor.Tensor) string {
	be := m.Ctx.Backend
	for _, p := range m.Params {
		v := make([]float32, p.Shape.Numel())
		be.Download(v, p.Value)
		if i := nonFinite(v); i >= 0 {
			return fmt.Sprintf("; first non-finite parameter: %s[%d] = %v", p.Name, i, v[i])
		}
		be.Download(v, p.Grad)
		if i := nonFinite(v); i >= 0 {
			return fmt.Sprintf("; first non-finite gradient (previous step): %s[%d] = %v", p.Name, i, v[i])
		}
	}
	return "; all parameters are finite: the activations overflowed (the logits went non-finite)"
}

func nonFinite(v []float32) int {
	for i, x := range v {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return i
		}
	}
	return -1
}
