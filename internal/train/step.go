package train

import (
	"fmt"
	"math"

	"github.com/cnnctl/cnnctl/internal/layers"
	"github.com/cnnctl/cnnctl/internal/plan"
	"github.com/cnnctl/cnnctl/internal/tensor"
)

// Step is one training step as an object: Load queues a batch's copy to
// the device, Run queues forward, loss, metrics, backward and the
// optimiser update, and reads nothing back. The step's scalars live on the
// backend: the epoch's learning rates (a table indexed by the batch
// counter), the counters, Adam's step, the metric slots and the
// non-finite flag. The host reads them with Read, every few steps or at
// the epoch's end.
//
// On a backend with tensor.StepOps every op of Run reads its scalars on
// the device, so Run makes no host synchronisation and, after the first
// step, no allocation; other backends get the same ops through hostOps,
// which read the scalars back (and so synchronise).
type Step struct {
	m    *layers.Model
	be   tensor.Backend
	ops  tensor.StepOps
	opt  *Optimizer
	loss *layers.Loss
	plan *plan.Plan // nil: the model runs its own tree
	perr error      // why no plan could be compiled, reported by Read

	x, y *tensor.Tensor // the largest batch: (B,C,H,W), (B)
	xv   *tensor.Tensor // x viewed at the loaded batch's size
	yv   *tensor.Tensor
	lrs  *tensor.Tensor // (batches) this epoch's learning rates

	state                      *tensor.Tensor // at, slot, count, adam step, flag
	at, slot, count, adam, bad *tensor.Tensor // views of state; count is Steps (the dropout counter)
	counters                   *tensor.Tensor // at, slot and count: state[0:3], +1 per step
	graphs                     *graphs        // captured steps (graph.go); nil: none
	pin                        *staging       // pinned upload slots (pinned.go); nil: none
	acc                        *tensor.Tensor // (2*window): loss, correct per step

	set      tensor.DataSet // the held training set (Hold), or nil
	setBatch int            // its batch size
	gather   bool           // the loaded batch is Held: Run gathers it from set

	window int   // steps between reads, at most
	sizes  []int // batch size of each slot since the last read
	host   []float32
	// Steps counts the steps run (the dropout counter of the next one).
	Steps int64
}

// StepResult is what Read found: one entry per step since the last read.
type StepResult struct {
	Loss    []float32 // mean loss of each step, as the loss op computed it
	Correct []int     // top-1 hits of each step
	N       []int     // batch size of each step
	// Bad is the index of the first step whose loss is not finite, -1 if none.
	Bad int
}

// NewStep allocates a step for batches of up to maxN images, an epoch of
// up to batches batches, read at least every window steps.
func NewStep(m *layers.Model, opt *Optimizer, maxN, batches, window int, smoothing float32) *Step {
	be := m.Ctx.Backend
	ops, ok := be.(tensor.StepOps)
	if !ok {
		ops = &hostOps{be: be}
	}
	s := &Step{m: m, be: be, ops: ops, opt: opt, loss: layers.NewLoss(be, smoothing), window: max(window, 1)}
	s.x = be.New(append(tensor.Shape{maxN}, m.In...))
	s.y = be.New(tensor.Shape{maxN})
	s.lrs = be.New(tensor.Shape{max(batches, 1)})
	s.state = be.New(tensor.Shape{5})
	s.at, s.slot, s.count = s.state.Slice(0, tensor.Shape{1}), s.state.Slice(1, tensor.Shape{1}), s.state.Slice(2, tensor.Shape{1})
	s.adam, s.bad = s.state.Slice(3, tensor.Shape{1}), s.state.Slice(4, tensor.Shape{1})
	s.counters = s.state.Slice(0, tensor.Shape{3})
	m.Ctx.Counter = s.count
	s.acc = be.New(tensor.Shape{2 * s.window})
	s.sizes = make([]int, 0, s.window)
	s.host = make([]float32, 2*s.window)
	s.plan, s.perr = attachPlan(m, maxN, true)
	return s
}

// Free releases the step's tensors and graphs.
func (s *Step) Free() {
	s.graphs.close()
	s.pin.free()
	s.pin = nil
	if s.m.Ctx.Counter == s.count {
		s.m.Ctx.Counter = nil
	}
	for _, t := range []*tensor.Tensor{s.x, s.y, s.lrs, s.state, s.acc} {
		s.be.Free(t)
	}
	s.loss.Free()
	if s.plan != nil {
		s.plan.Free()
	}
}

// StartEpoch uploads the epoch's learning rates (lrs[i] for batch i) and
// sets the batch counter to first (a resumed epoch skips batches).
func (s *Step) StartEpoch(lrs []float32, first int) {
	s.be.Upload(s.lrs.View(tensor.Shape{len(lrs)}), lrs)
	s.be.Fill(s.at, float32(first))
	s.be.Fill(s.slot, 0)
	s.be.Fill(s.count, float32(s.Steps))
	s.be.Fill(s.adam, float32(s.opt.Step))
	s.sizes = s.sizes[:0]
}

// Full reports whether window steps have run since the last Read.
func (s *Step) Full() bool { return len(s.sizes) == s.window }

// Load queues the copy of batch b to the step's input tensors, through a
// pinned slot where UsePinned set them up (pinned.go); a Held batch copies
// nothing: Run gathers it from the set given to Hold.
func (s *Step) Load(b *Batch) {
	s.xv = s.x.View(append(tensor.Shape{b.N}, s.m.In...))
	s.yv = s.y.View(tensor.Shape{b.N})
	s.sizes = append(s.sizes, b.N)
	if s.gather = b.Held; b.Held {
		return
	}
	if !s.pin.upload(s.xv, s.yv, b) {
		s.be.Upload(s.xv, b.X[:s.xv.Numel()])
		s.be.Upload(s.yv, b.Y[:b.N])
	}
}

// Run queues the step on the loaded batch: the gather of a Held batch,
// forward, loss, metrics into the next slot, backward, and the update
// (skipped once the flag is set); with graphs on (UseGraphs), as a replay
// of the step captured for the batch's size (the gather reads the batch
// index from the device, so a replay gathers the next batch).
func (s *Step) Run() {
	if s.graphs.run(s) {
		return
	}
	s.enqueue()
}

// enqueue queues the step's ops one by one, advancing the host's counters
// (Steps, the optimiser's Step) as the device's advance.
func (s *Step) enqueue() {
	if s.gather {
		s.set.Gather(s.xv, s.yv, s.at, s.setBatch)
	}
	s.m.Ctx.Step = uint64(s.Steps)
	out := s.m.Forward(s.xv, true)
	loss := s.loss.Enqueue(out, s.yv)
	n := out.Shape[0]
	s.ops.StepMetrics(loss, out.View(tensor.Shape{n, out.Numel() / n}), s.yv, s.acc, s.slot, s.bad)
	s.m.Backward(s.loss.Backward())
	s.opt.enqueue(s.ops, s.lrs, s.at, s.adam, s.bad)
	s.ops.AddScalar(s.counters, 1)
	s.Steps++
}

// Read copies the metrics of the steps since the last read to the host,
// clears the slots and returns the backend's first error, if any. The
// flag stays set once tripped.
func (s *Step) Read() (StepResult, error) {
	k := len(s.sizes)
	r := StepResult{Bad: -1}
	if k > 0 {
		s.be.Download(s.host[:2*k], s.acc.View(tensor.Shape{2 * k}))
		s.pin.waited() // the Download waited for every queued upload
	}
	if err := s.be.Err(); err != nil {
		return r, err
	}
	if s.perr != nil {
		return r, s.perr
	}
	if h, ok := s.ops.(*hostOps); ok && h.err != nil {
		return r, h.err
	}
	r.Loss, r.Correct = make([]float32, k), make([]int, k)
	for j := 0; j < k; j++ {
		r.Loss[j], r.Correct[j] = s.host[2*j], int(s.host[2*j+1])
		if f := float64(r.Loss[j]); r.Bad < 0 && (math.IsNaN(f) || math.IsInf(f, 0)) {
			r.Bad = j
		}
	}
	r.N = append([]int(nil), s.sizes...)
	s.sizes = s.sizes[:0]
	s.be.Fill(s.slot, 0)
	return r, nil
}

// Input is the loaded batch on the backend (N,C,H,W).
func (s *Step) Input() *tensor.Tensor { return s.xv }

// enqueue queues the update with the learning rate and Adam's step read on
// the device; the host keeps Step in step with the device's count.
func (o *Optimizer) enqueue(ops tensor.StepOps, lrs, at, adam, skip *tensor.Tensor) {
	o.Step++
	switch o.cfg.Kind {
	case "sgd":
		ops.SGDUpdateAt(o.m.Weights, o.m.Grads, o.slot[0], lrs, at, skip, tensor.SGDParams{
			Momentum: float32(o.cfg.Momentum), WeightDecay: float32(o.cfg.WeightDecay), Nesterov: o.cfg.Nesterov,
		})
	default:
		ops.AddScalar(adam, 1)
		ops.AdamUpdateAt(o.m.Weights, o.m.Grads, o.slot[0], o.slot[1], lrs, at, adam, skip, tensor.AdamParams{
			Beta1: float32(o.cfg.Beta1), Beta2: float32(o.cfg.Beta2), Eps: float32(o.cfg.Eps),
			WeightDecay: float32(o.cfg.WeightDecay), Decoupled: o.cfg.Kind == "adamw",
		})
	}
}

// hostOps gives a backend without tensor.StepOps the same ops, computed
// from its plain ops with the scalars read back to the host: correct,
// but each op synchronises. Its first failure is reported by Step.Read.
type hostOps struct {
	be  tensor.Backend
	err error
}

func (h *hostOps) scalar(t *tensor.Tensor) float32 {
	v := make([]float32, 1)
	h.be.Download(v, t)
	return v[0]
}

// lr is lrs[at[0]]; ok is false (and the failure recorded) outside the table.
func (h *hostOps) lr(lrs, at *tensor.Tensor) (lr float32, ok bool) {
	i := int(h.scalar(at))
	if i < 0 || i >= lrs.Numel() {
		if h.err == nil {
			h.err = fmt.Errorf("train: batch counter %d outside the %d learning rates", i, lrs.Numel())
		}
		return 0, false
	}
	return h.scalar(lrs.Slice(i, tensor.Shape{1})), true
}

func (h *hostOps) SGDUpdateAt(w, g, v, lrs, at, skip *tensor.Tensor, p tensor.SGDParams) {
	if h.scalar(skip) != 0 {
		return
	}
	var ok bool
	if p.LR, ok = h.lr(lrs, at); ok {
		h.be.SGDUpdate(w, g, v, p)
	}
}

func (h *hostOps) AdamUpdateAt(w, g, m, v, lrs, at, step, skip *tensor.Tensor, p tensor.AdamParams) {
	if h.scalar(skip) != 0 {
		return
	}
	var ok bool
	if p.LR, ok = h.lr(lrs, at); ok {
		p.Step = int(h.scalar(step))
		h.be.AdamUpdate(w, g, m, v, p)
	}
}

func (h *hostOps) StepMetrics(loss, logits, labels, acc, at, flag *tensor.Tensor) {
	n, k := logits.Shape[0], logits.Shape[1]
	l, z, y := make([]float32, n), make([]float32, n*k), make([]float32, n)
	h.be.Download(l, loss)
	h.be.Download(z, logits)
	h.be.Download(y, labels)
	mean, correct := tensor.StepMetrics(l, z, y)
	slot := int(h.scalar(at))
	h.be.Upload(acc.Slice(2*slot, tensor.Shape{2}), []float32{mean, float32(correct)})
	if f := float64(mean); math.IsNaN(f) || math.IsInf(f, 0) {
		h.be.Fill(flag, 1)
	}
}

func (h *hostOps) AddScalar(t *tensor.Tensor, v float32) {
	x := make([]float32, t.Numel())
	h.be.Download(x, t)
	for i := range x {
		x[i] += v
	}
	h.be.Upload(t, x)
}
