// Package plan compiles a built model for one batch size: a rewrite pass
// puts fused nodes (layers/fused.go) in place of the patterns the backends
// have fused ops for, and every per-batch tensor of the layers (outputs,
// gradients, saved statistics) is placed in one arena allocated once, so
// a training step allocates nothing. A smaller batch (an epoch's last)
// runs on views of the same arena; a larger one recompiles the arena.
//
// The plan runs the model's own layers: parameters, their names, batch
// norm counters and checkpoints are those of the model. Without a plan a
// model runs its layers as they are (each allocating its tensors on first
// use); with one (Model.Runner) it runs the plan's tree.
//
// What the plan does is chosen here, in one place: the rewrites in
// rewrite and fuseChain, the sharing rule in share; Options (and the
// environment, FromEnv) switch each off for equivalence tests and
// debugging.
package plan

import (
	"fmt"
	"os"
	"strings"

	"github.com/cnnctl/cnnctl/internal/layers"
	"github.com/cnnctl/cnnctl/internal/tensor"
)

// Options choose what a plan does.
type Options struct {
	// Fuse runs the rewrite pass (fused nodes); off, the plan runs the
	// model's own tree.
	Fuse bool
	// ConvBN (with Fuse) fuses a convolution with the batch norm after it
	// (and the ReLU after that) into conv2d+batchnorm[+relu]: in a
	// training plan the batch statistics are gathered in the
	// convolution's epilogue; in an evaluation plan, on a backend with
	// tensor.ConvBatchNormInfer, the batch norm is applied as the
	// convolution writes. Off, the batch norm fuses with its ReLU alone
	// (batchnorm+relu).
	ConvBN bool
	// Share lets neighbouring layers' input gradients (in evaluation,
	// their outputs) share memory (the rule in share).
	Share bool
	// Wrap, when set, is called with each fused leaf node the rewrite
	// makes (batchnorm+relu, conv2d+relu, conv2d+batchnorm[+relu]; not
	// residual+relu, a container)
	// and the layers it replaces, as they stood in the tree (wrappers
	// included); what it returns takes the node's place. A wrapper must
	// keep the node's Name and Type, delegate Forward and Backward, and
	// have Unwrap (cnnctl bench times each fused node as one row).
	Wrap func(fused layers.Layer, parts []layers.Layer) layers.Layer
}

// FromEnv returns the default options, all on, with CNNCTL_FUSE=0,
// CNNCTL_FUSE_CONVBN=0 and CNNCTL_PLAN_SHARE=0 turning each off
// (CNNCTL_FUSE=0 turns off every rewrite, ConvBN's too).
func FromEnv() Options {
	return Options{Fuse: os.Getenv("CNNCTL_FUSE") != "0", ConvBN: os.Getenv("CNNCTL_FUSE_CONVBN") != "0",
		Share: os.Getenv("CNNCTL_PLAN_SHARE") != "0"}
}

// Enabled reports whether training should compile a plan at all: not with
// CNNCTL_PLAN=0 (then every layer allocates its own tensors, as without
// internal/plan).
func Enabled() bool { return os.Getenv("CNNCTL_PLAN") != "0" }

// Fusion is one rewrite the pass made: the pattern and the layers it
// replaced, by name.
type Fusion struct {
	Pattern string
	Layers  []string
}

// Stats are the arena's accounting, in bytes.
type Stats struct {
	// Slots is the number of per-batch tensors placed.
	Slots int
	// Unshared is what the slots would take each on its own: the bytes
	// the layers of the plan's tree would allocate without the plan.
	Unshared int64
	// Arena is the arena's size (slots rounded up to 256 bytes, shared
	// gradients counted once): its float32 and bf16 parts together.
	Arena int64
	// ArenaByDType splits Arena by dtype (tensor.F32, tensor.BF16): with
	// bf16 activations (layers.Context.Act) outputs and gradients are
	// bf16, half the bytes (layers/precision.go).
	ArenaByDType [2]int64
	// Shared is the number of tensors placed in shared memory (input
	// gradients; outputs in an evaluation plan).
	Shared int
	// Unplanned is what the model's own tree allocates in a step without
	// a plan (its layers' tensors, without the rewrite or sharing).
	Unplanned int64
	// ByKind splits Unshared by what the tensors hold (layers.SlotKind).
	ByKind [3]int64
}

// Plan is a model compiled for batches of up to N samples.
type Plan struct {
	// Root is the tree the plan runs: the model's, rewritten.
	Root    layers.Layer
	Fusions []Fusion
	N       int
	Train   bool
	Opts    Options
	Stats   Stats

	m     *layers.Model
	be    tensor.Backend
	arena *tensor.Tensor // the float32 slots
	half  *tensor.Tensor // the bf16 slots (bf16 activations only)
	slots []layers.Slot
}

// alignBytes is the arena's alignment of each slot: 256 bytes.
const alignBytes = 256

// Compile rewrites m's tree (with opts.Fuse) and places the per-batch
// tensors of batches of n samples (those of training when train) in one
// arena on m's backend. It does not attach the plan: set m.Runner to it
// (Attach does both). A model's layers hold one compiled plan's tensors at
// a time: Free a plan before compiling another for the same model.
func Compile(m *layers.Model, n int, train bool, opts Options) (*Plan, error) {
	if m != nil {
		if _, ok := m.Runner.(*Plan); ok {
			return nil, fmt.Errorf("plan: the model already runs a plan; Free it first")
		}
	}
	p, err := Describe(m, n, train, opts)
	if err != nil {
		return nil, err
	}
	p.place(n)
	if err := p.be.Err(); err != nil {
		p.unbind()
		return nil, fmt.Errorf("plan: %w", err)
	}
	return p, nil
}

// Describe is Compile without the arena: the rewrites and the layout's
// sizes (Stats) for a batch of n, with nothing allocated or bound (for a
// summary of what a plan would do).
func Describe(m *layers.Model, n int, train bool, opts Options) (*Plan, error) {
	if m == nil || m.Root == nil {
		return nil, fmt.Errorf("plan: no model")
	}
	if n < 1 {
		return nil, fmt.Errorf("plan: batch size %d, want >= 1", n)
	}
	p := &Plan{Root: m.Root, Train: train, Opts: opts, m: m, be: m.Ctx.Backend}
	if opts.Fuse {
		p.Root = p.rewrite(m.Root)
	}
	bare := &Plan{Root: m.Root, Train: train, m: m, be: p.be}
	bare.layout(n)
	p.layout(n)
	p.Stats.Unplanned = bare.Stats.Unshared
	return p, nil
}

// ArenaBytes is the size in bytes of the arena a plan like p (same model,
// options and training or evaluation) lays out for batches of n samples:
// what Compile allocates for n, computed without allocating or binding
// anything. p itself is unchanged.
func (p *Plan) ArenaBytes(n int) int64 {
	q := *p
	q.layout(n)
	return q.Stats.Arena
}

// Attach compiles a plan for m and makes it m's Runner.
func Attach(m *layers.Model, n int, train bool, opts Options) (*Plan, error) {
	p, err := Compile(m, n, train, opts)
	if err != nil {
		return nil, err
	}
	m.Runner = p
	return p, nil
}

// Forward runs the plan's tree on x (N, In...). A batch larger than the
// plan's grows the arena, and a training forward on an evaluation plan
// (whose outputs may share memory) first lays it out again for training:
// both a new allocation.
func (p *Plan) Forward(x *tensor.Tensor, train bool) *tensor.Tensor {
	if n := x.Shape[0]; n > p.N || train && !p.Train {
		p.Train = p.Train || train
		p.place(max(n, p.N))
	}
	return p.Root.Forward(x, train)
}

// Backward runs the plan's tree backwards (Model.Backward calls it after
// telling the first layer whether to skip its input gradient).
func (p *Plan) Backward(dy *tensor.Tensor) *tensor.Tensor { return p.Root.Backward(dy) }

// Free detaches the plan from its model (if attached), releases the arena
// and leaves every layer's tensors unset, so that the model runs on, each
// layer allocating its own.
func (p *Plan) Free() {
	if p.m.Runner == p {
		p.m.Runner = nil
	}
	p.unbind()
}

// unbind sets every placed slot to nil and frees the arena.
func (p *Plan) unbind() {
	for _, s := range p.slots {
		*s.T = nil
	}
	p.slots = nil
	for _, a := range []**tensor.Tensor{&p.arena, &p.half} {
		if *a != nil {
			p.be.Free(*a)
			*a = nil
		}
	}
}

// isReLU reports whether l is a ReLU layer (or a wrapper of one).
func isReLU(l layers.Layer) (*layers.Activation, bool) {
	a, ok := unwrap(l).(*layers.Activation)
	return a, ok && a.A == tensor.ReLU
}

// unwrap returns the layer a wrapper (a layer with Unwrap, such as cnnctl
// bench's timers) holds, through any number of wrappers; l itself when
// it is no wrapper. The plan looks through wrappers: it fuses, places and
// shares the tensors of the layers inside them.
func unwrap(l layers.Layer) layers.Layer {
	for {
		w, ok := l.(interface{ Unwrap() layers.Layer })
		if !ok {
			return l
		}
		l = w.Unwrap()
	}
}

// wrap applies Options.Wrap to a fused leaf node made of parts.
func (p *Plan) wrap(fused layers.Layer, parts ...layers.Layer) layers.Layer {
	if p.Opts.Wrap == nil {
		return fused
	}
	return p.Opts.Wrap(fused, parts)
}

// rewrite returns l with the known patterns in its subtree replaced by
// fused nodes: a residual block whose post is a ReLU (residual+relu), and
// in each sequential the pairs of fuseChain (looking through wrappers of
// leaves). Containers are copied with their rewritten children; leaves,
// wrappers and unknown layers are returned as they are.
func (p *Plan) rewrite(l layers.Layer) layers.Layer {
	kids := l.Children()
	if len(kids) == 0 {
		return l
	}
	if r, ok := l.(*layers.Residual); ok {
		if _, relu := isReLU(r.Post); relu {
			var sc layers.Layer
			if r.Shortcut != nil {
				sc = p.rewrite(r.Shortcut)
			}
			p.Fusions = append(p.Fusions, Fusion{"residual+relu", []string{r.Name(), r.Post.Name()}})
			return layers.FuseResidualReLU(r, p.rewrite(r.Body), sc)
		}
	}
	out := make([]layers.Layer, len(kids))
	for i, k := range kids {
		out[i] = p.rewrite(k)
	}
	if s, ok := l.(*layers.Sequential); ok {
		return layers.NewSequential(s.Name(), p.fuseChain(out)...)
	}
	if c, ok := layers.WithChildren(l, out); ok {
		return c
	}
	return l
}

// fuseChain replaces, in a sequential's children, a batch norm followed by
// a ReLU (batchnorm+relu) and a convolution followed by a ReLU
// (conv2d+relu: the ReLU as the convolution's epilogue). With
// Options.ConvBN (convBN says where), a convolution followed by a batch
// norm, and the ReLU after that if there is one, fuse into
// conv2d+batchnorm[+relu]: in training the batch statistics gathered in
// the convolution's epilogue, in evaluation the batch norm applied as the
// convolution writes; otherwise in conv, BN, ReLU the batch norm and the
// ReLU fuse and the convolution stays.
func (p *Plan) fuseChain(kids []layers.Layer) []layers.Layer {
	var out []layers.Layer
	for i := 0; i < len(kids); i++ {
		if n := p.convBN(kids[i:]); n > 0 {
			conv, bn := unwrap(kids[i]).(*layers.Conv2D), unwrap(kids[i+1]).(*layers.BatchNorm)
			var relu *layers.Activation
			names := []string{conv.Name(), bn.Name()}
			if n == 3 {
				relu, _ = isReLU(kids[i+2])
				names = append(names, relu.Name())
			}
			f := layers.FuseConvBatchNorm(conv, bn, relu)
			out = append(out, p.wrap(f, kids[i:i+n]...))
			p.Fusions = append(p.Fusions, Fusion{f.Type(), names})
			i += n - 1
			continue
		}
		if i+1 < len(kids) {
			if relu, ok := isReLU(kids[i+1]); ok {
				switch v := unwrap(kids[i]).(type) {
				case *layers.BatchNorm:
					out = append(out, p.wrap(layers.FuseBatchNormReLU(v, relu), kids[i], kids[i+1]))
					p.Fusions = append(p.Fusions, Fusion{"batchnorm+relu", []string{v.Name(), relu.Name()}})
					i++
					continue
				case *layers.Conv2D:
					out = append(out, p.wrap(layers.FuseConvReLU(v, relu), kids[i], kids[i+1]))
					p.Fusions = append(p.Fusions, Fusion{"conv2d+relu", []string{v.Name(), relu.Name()}})
					i++
					continue
				}
			}
		}
		out = append(out, kids[i])
	}
	return out
}

// convBN is the number of layers at the start of kids that fuse into
// conv2d+batchnorm (2) or conv2d+batchnorm+relu (3), or 0: a convolution,
// a batch norm and maybe a ReLU, with Options.ConvBN, in a training plan,
// or in an evaluation plan on a backend with tensor.ConvBatchNormInfer
// and float32 activations (elsewhere the node would run the same ops as
// the layers in evaluation, so conv, BN, ReLU fuses as before: the
// convolution, then batchnorm+relu).
func (p *Plan) convBN(kids []layers.Layer) int {
	if !p.Opts.ConvBN || len(kids) < 2 {
		return 0
	}
	if !p.Train {
		if _, ok := p.be.(tensor.ConvBatchNormInfer); !ok || p.m.Ctx.Act != tensor.F32 {
			return 0
		}
	}
	_, conv := unwrap(kids[0]).(*layers.Conv2D)
	_, bn := unwrap(kids[1]).(*layers.BatchNorm)
	if !conv || !bn {
		return 0
	}
	if len(kids) > 2 {
		if _, relu := isReLU(kids[2]); relu {
			return 3
		}
	}
	return 2
}

// place lists the per-batch tensors of the plan's tree for batches of n,
// lays them out in one arena and binds each layer's field to its view.
//
// The layers' tensors belong to one plan at a time: a tensor a layer holds
// when the plan binds it (one it allocated itself) is freed.
func (p *Plan) place(n int) {
	p.unbind()
	slots, offs, totals := p.layout(n)
	arenas := [2]*tensor.Tensor{}
	for dt, total := range totals {
		if total > 0 {
			arenas[dt] = p.be.NewTyped(tensor.Shape{total}, tensor.DType(dt))
		}
	}
	p.arena, p.half = arenas[tensor.F32], arenas[tensor.BF16]
	for i, s := range slots {
		if t := *s.T; t != nil {
			p.be.Free(t) // a tensor the layer allocated itself before the plan
		}
		*s.T = arenas[s.DType].Slice(offs[i], s.Shape)
	}
	p.slots = slots
}

// layout lists the per-batch tensors of the plan's tree (and of the
// model's boundary, Model.Slots) for batches of n, each with its dtype
// (layers.SlotDType), and returns them with their offsets in the arena of
// their dtype, totals[dtype] elements each; it sets N and Stats.
func (p *Plan) layout(n int) (slots []layers.Slot, offs []int, totals [2]int) {
	p.N = n
	p.m.SkipInputGrad() // the first layer's dx is then not listed
	byLayer := map[layers.Layer][]int{}
	seen := map[**tensor.Tensor]int{}                                // a layer met twice lists its fields once, at the larger shape
	visited, dup := map[layers.Layer]bool{}, map[layers.Layer]bool{} // ... and shares nothing
	layers.Walk(p.Root, func(l layers.Layer, _ int) {
		l = unwrap(l)
		pl, ok := l.(layers.Planner)
		if !ok {
			return
		}
		if visited[l] {
			dup[l] = true
		}
		visited[l] = true
		for _, s := range pl.Slots(n, p.Train) {
			s.DType = layers.SlotDType(s.Kind, p.m.Ctx.Act)
			if i, ok := seen[s.T]; ok {
				if s.Shape.Numel() > slots[i].Shape.Numel() {
					slots[i].Shape = s.Shape
				}
				continue
			}
			seen[s.T] = len(slots)
			byLayer[l] = append(byLayer[l], len(slots))
			slots = append(slots, s)
		}
	})
	slots = append(slots, p.m.Slots(n, p.Train)...)
	color := map[int]int{} // slot index -> shared buffer 0, 1 or 2 (scratch), of its dtype
	if p.Opts.Share {
		color = share(p.Root, slots, byLayer, dup, p.Train)
	}
	// In each dtype's arena: unshared slots first, each aligned, then
	// the three shared buffers.
	offs = make([]int, len(slots))
	shared := [2][3]int{} // [dtype][buffer]
	p.Stats = Stats{Slots: len(slots), Shared: len(color)}
	for i, s := range slots {
		size, bytes := s.Shape.Numel(), int64(s.Shape.Numel()*s.DType.Size())
		p.Stats.Unshared += bytes
		p.Stats.ByKind[s.Kind] += bytes
		if c, ok := color[i]; ok {
			shared[s.DType][c] = max(shared[s.DType][c], size)
			continue
		}
		offs[i] = totals[s.DType]
		totals[s.DType] += roundUp(size, s.DType)
	}
	var base [2][3]int
	for dt := range totals {
		d := tensor.DType(dt)
		base[dt][0] = totals[dt]
		base[dt][1] = base[dt][0] + roundUp(shared[dt][0], d)
		base[dt][2] = base[dt][1] + roundUp(shared[dt][1], d)
		totals[dt] = base[dt][2] + roundUp(shared[dt][2], d)
		p.Stats.ArenaByDType[dt] = int64(totals[dt] * d.Size())
		p.Stats.Arena += p.Stats.ArenaByDType[dt]
	}
	for i, c := range color {
		offs[i] = base[slots[i].DType][c]
	}
	return slots, offs, totals
}

// roundUp rounds n elements of dtype dt up to the arena's alignment.
func roundUp(n int, dt tensor.DType) int {
	align := alignBytes / dt.Size()
	return (n + align - 1) / align * align
}

// share chooses the tensors that may share memory and returns each one's
// buffer (0 or 1; 2 for scratch) by slot index: in training the input gradients, in
// evaluation the outputs (training keeps every output for the backward).
//
// The rule for gradients: in a sequential, the gradient that child i
// (i >= 1) returns is read by child i-1's Backward and by nothing else,
// and is dead once that Backward returns, provided both children consume
// their dy (layers.Consumes: plain layers and fused nodes that read dy
// only while they run, write a gradient of their own and run no other
// layer's code). Between child i's Backward writing it and child i-1's
// returning, no other layer runs, so the only other shared gradient alive
// is child i-1's own, which gets the other buffer (by the parity of i).
// The first child's gradient leaves the sequential and is never shared;
// so is any gradient next to a container, a flatten or a dropout.
//
// The rule for outputs in evaluation is the same forwards: the output of
// child i (i before the last) is read by child i+1's Forward only, when
// both consume (in evaluation no layer keeps its input past its
// Forward); the last child's output leaves the sequential.
//
// Scratch gradients (layers.Slot.Scratch: alive only inside their leaf's
// Backward, which runs no other layer of the tree) all share buffer 2:
// no two leaves' Backwards overlap.
func share(root layers.Layer, slots []layers.Slot, byLayer map[layers.Layer][]int, dup map[layers.Layer]bool, train bool) map[int]int {
	color := map[int]int{}
	for l, idx := range byLayer {
		for _, si := range idx {
			if train && slots[si].Scratch && layers.Consumes(l) && !dup[l] {
				color[si] = 2
			}
		}
	}
	layers.Walk(root, func(l layers.Layer, _ int) {
		seq, ok := l.(*layers.Sequential)
		if !ok {
			return
		}
		for i, c := range seq.Layers {
			c = unwrap(c)
			j := i + 1 // the neighbour that reads c's tensor
			if train {
				j = i - 1
			}
			if j < 0 || j >= len(seq.Layers) || !layers.Consumes(c) || !layers.Consumes(unwrap(seq.Layers[j])) || dup[c] {
				continue
			}
			for _, si := range byLayer[c] {
				if train && slots[si].InputGrad || !train && slots[si].Returned {
					color[si] = i % 2
				}
			}
		}
	})
	return color
}

// String lists the rewrites and the arena, one line each.
func (p *Plan) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "plan: batch %d, %d tensors in a %s arena (the layers allocate %s without a plan), %d tensors sharing memory\n",
		p.N, p.Stats.Slots, mib(p.Stats.Arena), mib(p.Stats.Unplanned), p.Stats.Shared)
	if bf := p.Stats.ArenaByDType[tensor.BF16]; bf > 0 {
		fmt.Fprintf(&b, "  bf16 activations and gradients: %s bf16, %s f32 (saved statistics, masks, the float32 output)\n",
			mib(bf), mib(p.Stats.ArenaByDType[tensor.F32]))
	}
	fmt.Fprintf(&b, "  before sharing: %s %s, %s %s, %s %s\n", mib(p.Stats.ByKind[layers.Output]), layers.Output,
		mib(p.Stats.ByKind[layers.Grad]), layers.Grad, mib(p.Stats.ByKind[layers.Saved]), layers.Saved)
	for _, f := range p.Fusions {
		fmt.Fprintf(&b, "  fused %-21s %s\n", f.Pattern, strings.Join(f.Layers, " + "))
	}
	return b.String()
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
