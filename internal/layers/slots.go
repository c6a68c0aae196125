package layers

import (
	"fmt"

	"github.com/cnnctl/cnnctl/internal/tensor"
)

// Slots: the per-batch tensors a layer keeps (its output, the gradient of
// its input, the statistics a backward needs), declared so that a compiled
// plan (internal/plan) can place them all in one arena before the first
// step. A slot that a plan has bound holds a view of the arena; ensure then
// finds it large enough and allocates nothing, and a smaller batch takes a
// smaller view of the same memory. Without a plan the fields start nil and
// ensure allocates them on first use, as it always has.

// SlotKind says what a slot holds, for the plan's accounting.
type SlotKind int

const (
	// Output is a layer's forward output (kept for the next layer's
	// backward).
	Output SlotKind = iota
	// Grad is a gradient the layer writes in its backward.
	Grad
	// Saved is what a forward keeps for its backward besides the output
	// (batch norm's mean and inverse deviation, dropout's mask).
	Saved
)

// String is the kind's word: output, grad or saved.
func (k SlotKind) String() string {
	switch k {
	case Output:
		return "output"
	case Grad:
		return "grad"
	case Saved:
		return "saved"
	}
	return "slot kind?"
}

// Slot is one per-batch tensor of a layer: T points at the layer's field,
// Shape is its shape for the batch the plan is for.
type Slot struct {
	Layer Layer
	Name  string // the field, e.g. "y", "dx"
	Kind  SlotKind
	Shape tensor.Shape
	T     **tensor.Tensor
	// InputGrad marks the gradient the layer's Backward returns (its dx),
	// and Returned the output its Forward returns (its y): the tensors a
	// plan may share between layers by liveness.
	InputGrad, Returned bool
}

// Planner is a layer that declares its per-batch tensors. Slots lists them
// for a batch of n samples; with train false, only those an evaluation
// forward uses. Containers list their own tensors, not their children's.
type Planner interface {
	Slots(n int, train bool) []Slot
}

// slot is a Slot of layer l.
func slot(l Layer, name string, kind SlotKind, s tensor.Shape, t **tensor.Tensor) Slot {
	return Slot{Layer: l, Name: name, Kind: kind, Shape: s, T: t}
}

// inputGrad is the slot of the gradient l's Backward returns.
func inputGrad(l Layer, s tensor.Shape, t **tensor.Tensor) Slot {
	return Slot{Layer: l, Name: "dx", Kind: Grad, Shape: s, T: t, InputGrad: true}
}

// outGrad is y's slot, then dx's when training.
func outGrad(l Layer, train bool, y tensor.Shape, yt **tensor.Tensor, dx tensor.Shape, dxt **tensor.Tensor) []Slot {
	s := []Slot{{Layer: l, Name: "y", Kind: Output, Shape: y, T: yt, Returned: true}}
	if train {
		s = append(s, inputGrad(l, dx, dxt))
	}
	return s
}

// Slots: y and dx, both of the input's shape.
func (l *Activation) Slots(n int, train bool) []Slot {
	s := batched(n, l.in)
	return outGrad(l, train, s, &l.y, s, &l.dx)
}

// Slots: y and, in training, the saved statistics and dx. The tensors of a
// backward after an evaluation forward are not planned (ensure makes them).
func (l *BatchNorm) Slots(n int, train bool) []Slot {
	s := batched(n, l.in)
	out := outGrad(l, train, s, &l.y, s, &l.dx)
	if train {
		c := tensor.Shape{l.C}
		out = append(out, slot(l, "saveMean", Saved, c, &l.saveMean), slot(l, "saveInvStd", Saved, c, &l.saveInvStd))
	}
	return out
}

// Slots: y and dx; without dx when the layer skips its input gradient.
func (l *Conv2D) Slots(n int, train bool) []Slot {
	return outGrad(l, train && !l.skipDX, batched(n, l.out), &l.y, batched(n, l.in), &l.dx)
}

// Slots: y (N,O) and dx (N,I).
func (l *Linear) Slots(n int, train bool) []Slot {
	return outGrad(l, train, tensor.Shape{n, l.O}, &l.y, tensor.Shape{n, l.I}, &l.dx)
}

// Slots: y and dx.
func (l *Pool2D) Slots(n int, train bool) []Slot {
	return outGrad(l, train, batched(n, l.out), &l.y, batched(n, l.in), &l.dx)
}

// Slots: y (N,C,1,1) and dx.
func (l *GlobalAvgPool) Slots(n int, train bool) []Slot {
	return outGrad(l, train, tensor.Shape{n, l.in[0], 1, 1}, &l.y, batched(n, l.in), &l.dx)
}

// Slots: y and dx.
func (l *ShortcutPad) Slots(n int, train bool) []Slot {
	return outGrad(l, train, batched(n, l.out), &l.y, batched(n, l.in), &l.dx)
}

// Slots: in training (with P > 0) the mask, y and dx; nothing in
// evaluation, where the layer passes its input through.
func (l *Dropout) Slots(n int, train bool) []Slot {
	if !train || l.P == 0 {
		return nil
	}
	s := batched(n, l.in)
	return []Slot{slot(l, "mask", Saved, s, &l.mask), {Layer: l, Name: "y", Kind: Output, Shape: s, T: &l.y, Returned: true}, inputGrad(l, s, &l.dx)}
}

// Slots: nothing (a flatten is a view).
func (l *Flatten) Slots(n int, train bool) []Slot { return nil }

// Slots: nothing (a sequential holds no tensors of its own).
func (l *Sequential) Slots(n int, train bool) []Slot { return nil }

// Slots: the sum and dx.
func (l *Residual) Slots(n int, train bool) []Slot {
	return outGrad(l, train, batched(n, l.out), &l.sum, batched(n, l.in), &l.dx)
}

// Slots: y, dx and each branch's channels of dy.
func (l *Concat) Slots(n int, train bool) []Slot {
	out := outGrad(l, train, batched(n, l.out), &l.y, batched(n, l.in), &l.dx)
	if train {
		for i := range l.Branches {
			out = append(out, slot(l, fmt.Sprintf("dy%d", i), Grad, batched(n, l.outs[i]), &l.dys[i]))
		}
	}
	return out
}

// Consumes reports whether l is a layer whose Backward reads its dy only
// while it runs, writes a gradient of its own (never returns dy or a view
// of it) and runs no other layer's code but its own parts', and whose
// evaluation Forward does the same with x and its output: the rule by
// which a plan may let the gradients (or, in evaluation, the outputs) of
// two such neighbours share memory.
func Consumes(l Layer) bool {
	// Not Dropout (it returns dy itself after an evaluation forward), nor
	// Flatten (a view of dy), nor containers or wrappers.
	switch l.(type) {
	case *Conv2D, *Linear, *BatchNorm, *Activation, *Pool2D, *GlobalAvgPool, *ShortcutPad,
		*BatchNormReLU, *ConvReLU, *ConvBatchNorm:
		return true
	}
	return false
}

var (
	_ Planner = (*Activation)(nil)
	_ Planner = (*BatchNorm)(nil)
	_ Planner = (*Conv2D)(nil)
	_ Planner = (*Linear)(nil)
	_ Planner = (*Pool2D)(nil)
	_ Planner = (*GlobalAvgPool)(nil)
	_ Planner = (*ShortcutPad)(nil)
	_ Planner = (*Dropout)(nil)
	_ Planner = (*Flatten)(nil)
	_ Planner = (*Sequential)(nil)
	_ Planner = (*Residual)(nil)
	_ Planner = (*Concat)(nil)
)
