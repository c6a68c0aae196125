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
	// Half is Weights rounded to bf16, the weight operands of a model
	// with bf16 activations (SetAct; precision.go), rounded again at
	// every Forward; nil with float32 activations.
	Half *tensor.Tensor

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
	// xin, yout and dyin are the casts at the model's boundary with
	// bf16 activations: the input in bf16, the output in float32 and the
	// output's gradient in bf16 (precision.go).
	xin, yout, dyin, dxout *tensor.Tensor
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

// Forward runs the whole network on a batch x (N, In...). With bf16
// activations (SetAct) it first rounds the weights into Half and x into
// bf16, and returns the output widened to float32 (precision.go).
func (m *Model) Forward(x *tensor.Tensor, train bool) *tensor.Tensor {
	act, be := m.Ctx.Act, m.Ctx.Backend
	if act != tensor.F32 {
		if m.Half != nil {
			be.Cast(m.Half, m.Weights)
		}
		if x.DType != act {
			xin := ensure(be, &m.xin, x.Shape, act)
			be.Cast(xin, x)
			x = xin
		}
	}
	var y *tensor.Tensor
	if m.Runner != nil {
		y = m.Runner.Forward(x, train)
	} else {
		y = m.Root.Forward(x, train)
	}
	if y.DType != tensor.F32 {
		out := ensure(be, &m.yout, y.Shape, tensor.F32)
		be.Cast(out, y)
		y = out
	}
	return y
}

// Backward propagates dy (N, Out...) through the network, filling Grads. It
// returns the gradient of the input (N, In...) when InputGrad is set, and
// otherwise may return nil. With bf16 activations dy is rounded to bf16
// first, and the input's gradient widened to float32.
func (m *Model) Backward(dy *tensor.Tensor) *tensor.Tensor {
	m.SkipInputGrad()
	be := m.Ctx.Backend
	if act := m.Ctx.Act; dy.DType != act {
		d := ensure(be, &m.dyin, dy.Shape, act)
		be.Cast(d, dy)
		dy = d
	}
	var dx *tensor.Tensor
	if m.Runner != nil {
		dx = m.Runner.Backward(dy)
	} else {
		dx = m.Root.Backward(dy)
	}
	if dx != nil && dx.DType != tensor.F32 {
		d := ensure(be, &m.dxout, dx.Shape, tensor.F32)
		be.Cast(d, dx)
		dx = d
	}
	return dx
}

// SetAct makes act the dtype of the model's activations and their
// gradients: tensor.BF16 for mixed precision (allocating Half, the bf16
// weight operands), tensor.F32 (the default) for float32 throughout.
// Call it before the first Forward and before compiling a plan.
func (m *Model) SetAct(act tensor.DType) error {
	if act != tensor.F32 && act != tensor.BF16 {
		return fmt.Errorf("model: activations in %v: want f32 or bf16", act)
	}
	be := m.Ctx.Backend
	for _, t := range []**tensor.Tensor{&m.Half, &m.xin, &m.yout, &m.dyin, &m.dxout} {
		if *t != nil {
			be.Free(*t)
			*t = nil
		}
	}
	for _, p := range m.Params {
		p.Half = nil
	}
	m.Ctx.Act = act
	if act == tensor.F32 || m.Weights == nil {
		return be.Err()
	}
	m.Half = be.NewTyped(m.Weights.Shape, act)
	off := 0
	for _, p := range m.Params {
		p.Half = m.Half.Slice(off, p.Shape)
		off += p.Shape.Numel()
	}
	if err := be.Err(); err != nil {
		return fmt.Errorf("model: activations in %v: %w", act, err)
	}
	return nil
}

// Slots are the tensors of the model's own boundary for a batch of n
// (precision.go): with bf16 activations the input in bf16, the output in
// float32 and, in training, the output's gradient in bf16 (and with
// InputGrad the input's gradient in float32); none with float32
// activations. Their DType is set.
func (m *Model) Slots(n int, train bool) []Slot {
	act := m.Ctx.Act
	if act == tensor.F32 {
		return nil
	}
	s := []Slot{
		{Name: "input", Kind: Output, Shape: batched(n, m.In), T: &m.xin, DType: act},
		{Name: "output", Kind: Output, Shape: batched(n, m.Out), T: &m.yout, DType: tensor.F32},
	}
	if train {
		s = append(s, Slot{Name: "doutput", Kind: Grad, Shape: batched(n, m.Out), T: &m.dyin, DType: act})
		if m.InputGrad {
			s = append(s, Slot{Name: "dinput", Kind: Grad, Shape: batched(n, m.In), T: &m.dxout, DType: tensor.F32})
		}
	}
	return s
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

// ensure makes *t a tensor of shape s and dtype dt on be, reusing its
// buffer when it has that dtype and is large enough (a smaller last batch
// is a view, not a new allocation).
func ensure(be tensor.Backend, t **tensor.Tensor, s tensor.Shape, dt tensor.DType) *tensor.Tensor {
	if *t != nil && (*t).DType == dt && (*t).Buf.Len()-(*t).Off >= s.Numel() {
		if !(*t).Shape.Equal(s) {
			*t = &tensor.Tensor{Shape: s.Clone(), Buf: (*t).Buf, Off: (*t).Off, DType: (*t).DType}
		}
		return *t
	}
	if *t != nil {
		be.Free(*t)
	}
	*t = be.NewTyped(s, dt)
	return *t
}

// batched prepends the batch size n to a per-sample shape.
func batched(n int, s tensor.Shape) tensor.Shape {
	return append(tensor.Shape{n}, s...)
}
