package layers

import (
	"fmt"
	"math/rand"

	"github.com/cnnctl/cnnctl/internal/tensor"
)

// Model is a built network: the root layer set up for one per-sample input
// shape, with all trainable parameters in one contiguous buffer (so an
// optimiser update is one op) and all buffers (running statistics) in another.
type Model struct {
	Root Layer
	Ctx  *Context
	In   tensor.Shape // per sample, e.g. 3x32x32
	Out  tensor.Shape // per sample, e.g. 10

	Params  []*Param // trainable, in declaration order
	Buffers []*Param // saved, not trained

	Weights *tensor.Tensor // all trainable values, contiguous
	Grads   *tensor.Tensor // their gradients, same layout
	State   *tensor.Tensor // all buffers, contiguous (may be nil)

	// InputGrad makes Backward compute and return the gradient of the
	// network's input. Training never needs it, so by default the first
	// layer, when it can, skips that work and Backward returns nil.
	InputGrad bool

	// Runner, when set, runs Forward and Backward in place of Root: a
	// compiled plan (internal/plan), with its fused nodes and its arena.
	// It runs the same layers (and so the same parameters and counters).
	Runner Runner

	// first is the model's first leaf when it can skip its input gradient.
	first inputGradSkipper
}

// Runner runs a model's forward and backward: Root itself, or a plan
// compiled from it.
type Runner interface {
	Forward(x *tensor.Tensor, train bool) *tensor.Tensor
	Backward(dy *tensor.Tensor) *tensor.Tensor
}

// inputGradSkipper is a layer that can leave out the gradient of its input
// (Backward then returns nil) when nothing before it needs one.
type inputGradSkipper interface {
	Layer
	SetSkipInputGrad(skip bool)
}

// firstLeaf returns the layer that sees the network's input first, looking
// through Sequentials and wrappers (such as cnnctl bench's timers); nil when
// that layer cannot skip its input gradient. Containers that feed the input
// to several branches (Residual, Concat) are not looked into: their inner
// layers' dx are summed or needed.
func firstLeaf(l Layer) inputGradSkipper {
	for {
		switch v := l.(type) {
		case *Sequential:
			if len(v.Layers) == 0 {
				return nil
			}
			l = v.Layers[0]
		case interface{ Unwrap() Layer }:
			l = v.Unwrap()
		case inputGradSkipper:
			return v
		default:
			return nil
		}
	}
}

// noData is a backend whose tensors hold no data (plan.Dry, which sizes
// a model's plan without allocating it): Build makes no initial values for
// it.
type noData interface{ NoData() }

// Build sets up root for the per-sample input shape in, allocates the
// parameters on be and initialises them from seed (on the host, so every
// backend starts from the same weights; not on a backend whose tensors
// hold no data).
func Build(be tensor.Backend, root Layer, in tensor.Shape, seed int64) (*Model, error) {
	ctx := &Context{Backend: be, Seed: uint64(seed)}
	out, err := root.Setup(ctx, in)
	if err != nil {
		return nil, err
	}
	m := &Model{Root: root, Ctx: ctx, In: in.Clone(), Out: out, first: firstLeaf(root)}
	seen := map[string]bool{}
	var nw, ns int
	for _, p := range ctx.params {
		if seen[p.Name] {
			return nil, fmt.Errorf("build model: two parameters are named %q: give the layers distinct names", p.Name)
		}
		seen[p.Name] = true
		if p.Buffer {
			m.Buffers = append(m.Buffers, p)
			ns += p.Shape.Numel()
		} else {
			m.Params = append(m.Params, p)
			nw += p.Shape.Numel()
		}
	}
	if nw > 0 {
		m.Weights = be.New(tensor.Shape{nw})
		m.Grads = be.New(tensor.Shape{nw})
	}
	if ns > 0 {
		m.State = be.New(tensor.Shape{ns})
	}
	rng := rand.New(rand.NewSource(seed))
	off := 0
	for _, p := range m.Params {
		p.Value = m.Weights.Slice(off, p.Shape)
		p.Grad = m.Grads.Slice(off, p.Shape)
		off += p.Shape.Numel()
	}
	off = 0
	for _, p := range m.Buffers {
		p.Value = m.State.Slice(off, p.Shape)
		off += p.Shape.Numel()
	}
	if _, dry := be.(noData); dry {
		return m, nil
	}
	for _, p := range ctx.params {
		if p.Init == nil {
			continue
		}
		v := make([]float32, p.Shape.Numel())
		p.Init(rng, v)
		be.Upload(p.Value, v)
	}
	if err := be.Err(); err != nil {
		return nil, fmt.Errorf("build model: %w", err)
	}
	return m, nil
}

// Forward runs the whole network on a batch x (N, In...).
func (m *Model) Forward(x *tensor.Tensor, train bool) *tensor.Tensor {
	if m.Runner != nil {
		return m.Runner.Forward(x, train)
	}
	return m.Root.Forward(x, train)
}

// Backward propagates dy (N, Out...) through the network, filling Grads. It
// returns the gradient of the input (N, In...) when InputGrad is set, and
// otherwise may return nil.
func (m *Model) Backward(dy *tensor.Tensor) *tensor.Tensor {
	m.SkipInputGrad()
	if m.Runner != nil {
		return m.Runner.Backward(dy)
	}
	return m.Root.Backward(dy)
}

// SkipInputGrad tells the first layer whether to leave out the gradient
// of the network's input (when InputGrad is not set), as Backward does
// before it starts; a plan calls it before it lists the layers' tensors.
func (m *Model) SkipInputGrad() {
	if m.first != nil {
		m.first.SetSkipInputGrad(!m.InputGrad)
	}
}

// NumParams counts trainable parameters (what PyTorch's
// sum(p.numel() for p in model.parameters()) reports).
func (m *Model) NumParams() int64 {
	var n int64
	for _, p := range m.Params {
		n += int64(p.Shape.Numel())
	}
	return n
}

// MACs is the per-sample multiply-accumulate count of the forward.
func (m *Model) MACs() int64 { return m.Root.MACs() }

// All returns parameters then buffers, in declaration order: the order of
// a PyTorch state_dict for the same module tree.
func (m *Model) All() []*Param {
	all := make([]*Param, 0, len(m.Params)+len(m.Buffers))
	byName := map[*Param]bool{}
	for _, p := range m.Ctx.params {
		if !byName[p] {
			all = append(all, p)
			byName[p] = true
		}
	}
	return all
}

// Walk visits every layer depth-first, containers before their children.
func Walk(l Layer, fn func(l Layer, depth int)) {
	var walk func(l Layer, d int)
	walk = func(l Layer, d int) {
		fn(l, d)
		for _, c := range l.Children() {
			walk(c, d+1)
		}
	}
	walk(l, 0)
}

// ensure makes *t a tensor of shape s on be, reusing its buffer when it is
// large enough (a smaller last batch is a view, not a new allocation).
func ensure(be tensor.Backend, t **tensor.Tensor, s tensor.Shape) *tensor.Tensor {
	if *t != nil && (*t).Buf.Len()-(*t).Off >= s.Numel() {
		if !(*t).Shape.Equal(s) {
			*t = &tensor.Tensor{Shape: s.Clone(), Buf: (*t).Buf, Off: (*t).Off, DType: (*t).DType}
		}
		return *t
	}
	if *t != nil {
		be.Free(*t)
	}
	*t = be.New(s)
	return *t
}

// batched prepends the batch size n to a per-sample shape.
func batched(n int, s tensor.Shape) tensor.Shape {
	return append(tensor.Shape{n}, s...)
}
