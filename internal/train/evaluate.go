package train

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"

	"github.com/cnnctl/cnnctl/internal/layers"
	"github.com/cnnctl/cnnctl/internal/plan"
	"github.com/cnnctl/cnnctl/internal/tensor"
)

// Evaluation is what eval reports for one split.
type Evaluation struct {
	N         int       `json:"n"`
	Loss      float64   `json:"loss"`
	Top1      float64   `json:"top1"`
	Top5      float64   `json:"top5"`
	Classes   []string  `json:"classes"`
	PerClass  []float64 `json:"per_class"`
	Confusion [][]int   `json:"confusion"` // [true][predicted]
	// NonFinite counts images whose logits hold a NaN or an infinity: they
	// are wrong answers, in no column of the confusion matrix, and make
	// Loss non-finite (written as null in JSON).
	NonFinite int `json:"non_finite"`
}

// MarshalJSON writes a non-finite loss as null: a broken model's
// evaluation still parses.
func (e Evaluation) MarshalJSON() ([]byte, error) {
	type plain Evaluation
	out := struct {
		plain
		Loss *float64 `json:"loss"`
	}{plain: plain(e)}
	if !math.IsNaN(e.Loss) && !math.IsInf(e.Loss, 0) {
		out.Loss = &e.Loss
	}
	return json.Marshal(out)
}

// stepper holds the device tensors of a batch, reused across steps.
type stepper struct {
	be     tensor.Backend
	m      *layers.Model
	loss   *layers.Loss
	x, y   *tensor.Tensor
	logits []float32
	outs   map[int][2]*tensor.Tensor // by batch size: logits and per-sample losses (evalForward)

	set      tensor.DataSet    // the held split (a heldSource's), or nil
	setBatch int               // its batch size
	at       *tensor.Tensor    // (1) the batch counter evalPerBatch's gather reads, when set
	dev      [3]*tensor.Tensor // evalDevice's sums, counters and logits (sums), nil before
	pin      *staging          // a streamed split's pinned upload slots (pinned.go); nil: none
}

func newStepper(m *layers.Model, maxN int, smoothing float32) *stepper {
	be := m.Ctx.Backend
	return &stepper{
		be:   be,
		m:    m,
		loss: layers.NewLoss(be, smoothing),
		x:    be.New(append(tensor.Shape{maxN}, m.In...)),
		y:    be.New(tensor.Shape{maxN}),
	}
}

// free releases the stepper's device tensors.
func (s *stepper) free() {
	s.be.Free(s.x)
	s.be.Free(s.y)
	s.pin.free()
	s.pin = nil
	if s.at != nil {
		s.be.Free(s.at)
	}
	for _, t := range s.dev {
		if t != nil {
			s.be.Free(t)
		}
	}
	s.loss.Free()
}

// forward uploads b and runs the model and the loss; it returns the mean
// loss and leaves the logits on the host in s.logits.
func (s *stepper) forward(b *Batch, train bool) (float64, *tensor.Tensor) {
	x, y := s.load(b)
	out := s.m.Forward(x, train)
	loss := s.loss.Forward(out, y)
	s.readLogits(out)
	return float64(loss), out
}

// views are the stepper's input tensors at b's size: images (N,C,H,W) and
// labels (N).
func (s *stepper) views(b *Batch) (x, y *tensor.Tensor) {
	return s.x.View(append(tensor.Shape{b.N}, s.m.In...)), s.y.View(tensor.Shape{b.N})
}

// load uploads b and returns its images (N,C,H,W) and labels (N) on the
// backend: through a pinned slot (and the copy queue) where usePinned set
// them up and one is free, else from ordinary memory.
func (s *stepper) load(b *Batch) (x, y *tensor.Tensor) {
	x, y = s.views(b)
	if !s.pin.upload(x, y, b) {
		s.be.Upload(x, b.X[:x.Numel()])
		s.be.Upload(y, b.Y[:b.N])
	}
	return x, y
}

// usePinned sets up the pinned staging of Step.UsePinned for a streamed
// split on a backend with pinned memory (tensor.Pinned), with a slot for
// each of the window batches loaded between two host waits, at most
// maxPinnedBytes of them, and returns the window that fits in the slots:
// the evaluation waits for the device (reads its logits) at least that
// often, so that every batch goes through a slot. Without pinned memory,
// or when pinning fails (note says so), it returns window unchanged and
// batches are uploaded from ordinary memory.
func (s *stepper) usePinned(window int, note func(format string, args ...any)) int {
	if s.pin != nil { // an earlier evaluation's
		return min(window, len(s.pin.slots))
	}
	p, ok := s.be.(tensor.Pinned)
	if !ok || s.set != nil {
		return window
	}
	if note == nil {
		note = func(string, ...any) {}
	}
	per := s.x.Numel() + s.y.Numel()
	slots := max(1, min(window, maxPinnedBytes/(4*per)))
	if s.pin = newStaging(p, s.be, per, slots, note); s.pin == nil {
		return window
	}
	return slots
}

// readLogits copies out (N,K) to s.logits: a host wait, after which every
// pinned slot is free.
func (s *stepper) readLogits(out *tensor.Tensor) {
	if cap(s.logits) < out.Numel() {
		s.logits = make([]float32, out.Numel())
	}
	s.logits = s.logits[:out.Numel()]
	s.be.Download(s.logits, out)
	s.pin.waited()
}

// Evaluate runs the model in eval mode over one epoch of src, op by op.
func Evaluate(m *layers.Model, src Source, classes []string, maxBatch int) (*Evaluation, error) {
	return EvaluateWith(m, src, classes, maxBatch, EvalOptions{})
}

// EvaluateWith is Evaluate with options. src may be a split held by the
// backend (PlaceEval): its batches are then gathered there, in order,
// without augmentation.
//
// Two paths give the same bits. On a backend with tensor.StepOps (both of
// ours) each batch's mean loss and top-1 hits are summed on the device
// (StepOps.StepMetrics into one slot per batch) and its logits copied
// beside the previous batches' (evalDevice): the host reads once per
// evaluation (once per 64 MiB of logits), not per batch, and nothing in a
// batch waits for the device. Elsewhere each batch's loss and logits are
// read back when it is done (evalPerBatch), the plain path the other is
// tested against.
func EvaluateWith(m *layers.Model, src Source, classes []string, maxBatch int, o EvalOptions) (*Evaluation, error) {
	ev, err := newEvaluator(m, src, maxBatch)
	if err != nil {
		return nil, err
	}
	defer ev.free() // one evaluation: its device memory goes back at once
	return ev.run(src, classes, o)
}

// evaluator is an evaluation's state on the backend: the stepper's
// tensors (input, loss, the device sums and logits buffer, the pinned
// staging), the evaluation plan (nil on a training run, which evaluates on
// its step's plan) and the captured graphs. A training run keeps one for
// all its validations (execution.endEpoch): every tensor keeps its
// address from one validation to the next, so the graphs captured in one
// are replayed in the next instead of captured again.
type evaluator struct {
	s    *stepper
	plan *plan.Plan
	g    *graphs
}

// newEvaluator sets up the evaluation of src (a streamed or held split)
// at batches of up to maxBatch.
func newEvaluator(m *layers.Model, src Source, maxBatch int) (*evaluator, error) {
	s := newStepper(m, maxBatch, 0)
	if h, ok := src.(heldSplit); ok {
		if s.set, s.setBatch = h.held(); s.setBatch > maxBatch {
			s.free()
			return nil, fmt.Errorf("evaluate: the held split's batches of %d exceed the evaluation's %d", s.setBatch, maxBatch)
		}
	}
	p, err := attachPlan(m, maxBatch, false)
	if err != nil {
		s.free()
		return nil, fmt.Errorf("evaluate: %w", err)
	}
	return &evaluator{s: s, plan: p}, nil
}

// free releases the evaluator's tensors, plan and graphs.
func (e *evaluator) free() {
	e.g.close()
	e.s.free()
	if e.plan != nil {
		e.plan.Free()
	}
}

// run evaluates src, the split newEvaluator was given, with the graphs of
// earlier runs where o asks for graphs (and none failed).
func (e *evaluator) run(src Source, classes []string, o EvalOptions) (*Evaluation, error) {
	s := e.s
	if k := s.m.Out.Numel(); len(classes) != k {
		return nil, fmt.Errorf("evaluate: model has %d outputs but the data has %d classes", k, len(classes))
	}
	if !o.Graphs || e.g != nil && e.g.off {
		e.g.close()
		e.g = nil
	}
	if e.g == nil {
		e.g = o.graphs(s.be)
	}
	t := newTally(classes)
	var err error
	if ops, ok := s.be.(tensor.StepOps); ok && !o.perBatch {
		err = s.evalDevice(ops, e.g, src, t, o)
	} else {
		err = s.evalPerBatch(e.g, src, t, o.clock, o.Note)
	}
	if err != nil {
		return nil, err
	}
	return t.evaluation()
}

// evalPerBatch evaluates src reading each batch's loss and logits back
// when it is done.
func (s *stepper) evalPerBatch(g *graphs, src Source, t *tally, c *clock, note func(format string, args ...any)) error {
	if s.set != nil && s.at == nil {
		s.at = s.be.New(tensor.Shape{1})
	}
	s.usePinned(1, note) // each batch waits for the device (readLogits)
	it := src.Epoch(0, 0)
	defer it.Close()
	for bi := 0; ; bi++ {
		b, ok := it.Next()
		if !ok {
			return nil
		}
		if err := t.checkBatch(b, s); err != nil {
			return err
		}
		span := c.begin()
		loss := s.evalForward(g, b, bi)
		c.end(span)
		if err := s.be.Err(); err != nil {
			return fmt.Errorf("evaluate: %w", err)
		}
		t.add(float64(loss), b.N, s.logits, b.Y)
	}
}

// evalForward loads b (batch bi: an upload, or the held set's gather),
// runs the model in eval mode and the loss, as a replay of g's graph for
// b's size where there is one (g nil: op by op), and returns the mean
// loss with the logits in s.logits: the bits of forward(b, false).
func (s *stepper) evalForward(g *graphs, b *Batch, bi int) float64 {
	var x, y *tensor.Tensor
	if b.Held {
		x, y = s.views(b)
		s.be.Fill(s.at, float32(bi))
		s.set.Gather(x, y, s.at, s.setBatch)
	} else {
		x, y = s.load(b)
	}
	if s.outs == nil {
		s.outs = map[int][2]*tensor.Tensor{}
	}
	enqueue := func() {
		out := s.m.Forward(x, false)
		s.outs[b.N] = [2]*tensor.Tensor{out, s.loss.Enqueue(out, y)}
	}
	if !g.do(b.N, enqueue, nil) {
		enqueue()
	}
	t := s.outs[b.N]
	loss := s.loss.Mean(t[1])
	s.readLogits(t[0])
	return float64(loss)
}

// maxEvalLogitBytes bounds the logits an evaluation keeps on the device
// between two reads (a few batches of ImageNet's 1,000 classes; all of
// CIFAR-10's).
const maxEvalLogitBytes = 64 << 20

// evalLogitWindow is the number of batches of up to maxN images whose K
// logits an evaluation of batches batches keeps on the device between two
// reads: as many as limit bytes hold (at least one), at most all of them.
func evalLogitWindow(batches, maxN, k, limit int) int {
	return max(1, min(batches, limit/(4*maxN*k)))
}

// EvalLogitBytes is the device memory an evaluation at batch maxN of a
// model with k outputs allocates for its logits (evalDevice's buffer) on a
// split of images images (0: of any size, the most it can be): a batch's,
// or up to 64 MiB.
func EvalLogitBytes(maxN, k, images int) int64 {
	batches := math.MaxInt32
	if images > 0 {
		batches = (images + maxN - 1) / maxN
	}
	return int64(evalLogitWindow(batches, maxN, k, maxEvalLogitBytes)) * int64(maxN*k) * 4
}

// evalDevice evaluates src with the loss and hits of each batch summed on
// the device and the logits kept there, read at the end (or every 64 MiB
// of them): a batch's work is its load (an upload; nothing for a held
// split, whose gather is in the graph), a graph replay (or its ops) that
// gathers, runs the model, the loss and StepMetrics into the batch's slot
// and advances the batch counter, and a copy of its logits beside the
// previous batches'. After the first batch nothing allocates and, but for
// those reads, nothing waits for the device.
func (s *stepper) evalDevice(ops tensor.StepOps, g *graphs, src Source, t *tally, o EvalOptions) error {
	be, k, maxN, c := s.be, t.k, s.y.Numel(), o.clock
	batches, limit := src.Batches(), o.logitBytes
	if limit <= 0 {
		limit = maxEvalLogitBytes
	}
	window := s.usePinned(evalLogitWindow(batches, maxN, k, limit), o.Note)
	acc, state, logits := s.sums(g, max(batches, 1), window*maxN*k)
	at, flag := state.Slice(0, tensor.Shape{1}), state.Slice(1, tensor.Shape{1})
	be.Fill(state, 0)
	if s.outs == nil {
		s.outs = map[int][2]*tensor.Tensor{}
	}
	host := make([]float32, window*maxN*k)
	labels := make([]float32, 0, window*maxN)
	var sizes []int // of the batches since the last read of the logits
	var all []int   // of every batch
	read := func() error {
		n := len(labels)
		if n == 0 {
			return nil
		}
		be.Download(host[:n*k], logits.View(tensor.Shape{n * k}))
		s.pin.waited()
		if err := be.Err(); err != nil {
			return fmt.Errorf("evaluate: %w", err)
		}
		off := 0
		for _, bn := range sizes {
			t.addLogits(host[off*k:(off+bn)*k], labels[off:off+bn])
			off += bn
		}
		labels, sizes = labels[:0], sizes[:0]
		return nil
	}
	it := src.Epoch(0, 0)
	defer it.Close()
	for bi := 0; ; bi++ {
		b, ok := it.Next()
		if !ok {
			break
		}
		if bi >= batches {
			return fmt.Errorf("evaluate: the split yields more than its %d batches", batches)
		}
		if err := t.checkBatch(b, s); err != nil {
			return err
		}
		if len(sizes) == window {
			if err := read(); err != nil {
				return err
			}
		}
		span := c.begin()
		var x, y *tensor.Tensor
		if b.Held {
			x, y = s.views(b)
		} else {
			x, y = s.load(b)
		}
		enqueue := func() {
			if b.Held {
				s.set.Gather(x, y, at, s.setBatch)
			}
			out := s.m.Forward(x, false)
			loss := s.loss.Enqueue(out, y)
			ops.StepMetrics(loss, out.View(tensor.Shape{b.N, k}), y, acc, at, flag)
			ops.AddScalar(at, 1)
			s.outs[b.N] = [2]*tensor.Tensor{out, loss}
		}
		if !g.do(b.N, enqueue, nil) {
			enqueue()
		}
		off := len(labels) * k
		be.Copy(logits.Slice(off, tensor.Shape{b.N * k}), s.outs[b.N][0].View(tensor.Shape{b.N * k}))
		c.end(span)
		labels = append(labels, b.Y[:b.N]...)
		sizes, all = append(sizes, b.N), append(all, b.N)
	}
	if len(all) == 0 {
		return nil
	}
	got := make([]float32, 2*len(all))
	be.Download(got, acc.View(tensor.Shape{2 * len(all)}))
	if err := read(); err != nil {
		return err
	}
	for i, n := range all {
		t.addMetrics(float64(got[2*i]), n, int(got[2*i+1]))
	}
	return nil
}

// sums returns evalDevice's tensors: acc, the mean loss and hits of each
// of batches batches; state, the batch counter and StepMetrics' flag; and
// the logits buffer of logits floats. An earlier evaluation's are kept
// where their sizes are the same (with g's graphs, which read them);
// else they are allocated afresh and g's graphs, captured on the old
// ones, dropped.
func (s *stepper) sums(g *graphs, batches, logits int) (acc, state, buf *tensor.Tensor) {
	sizes := [3]int{2 * batches, 2, logits}
	same := s.dev[0] != nil
	for i, t := range s.dev {
		same = same && t.Numel() == sizes[i]
	}
	if !same {
		for i, t := range s.dev {
			if t != nil {
				s.be.Free(t)
			}
			s.dev[i] = s.be.New(tensor.Shape{sizes[i]})
		}
		g.reset()
	}
	return s.dev[0], s.dev[1], s.dev[2]
}

// tally adds up an evaluation on the host.
type tally struct {
	ev      *Evaluation
	k       int
	lossSum float64
	top1    int
	top5    int
	lost    []int // non-finite rows per true class
}

func newTally(classes []string) *tally {
	k := len(classes)
	t := &tally{ev: &Evaluation{Classes: classes, Confusion: make([][]int, k)}, k: k, lost: make([]int, k)}
	for i := range t.ev.Confusion {
		t.ev.Confusion[i] = make([]int, k)
	}
	return t
}

// checkBatch refuses a held batch without a held set, and a batch with
// a label that is not a class index.
func (t *tally) checkBatch(b *Batch, s *stepper) error {
	if b.Held && s.set == nil {
		return fmt.Errorf("evaluate: a held batch from a source that holds no set")
	}
	for _, l := range b.Y[:b.N] {
		if label := int(l); label < 0 || label >= t.k {
			return fmt.Errorf("evaluate: label %d out of range for %d classes", label, t.k)
		}
	}
	return nil
}

// add counts a batch of n from its mean loss, its logits (n,K) and labels (n).
func (t *tally) add(loss float64, n int, logits, labels []float32) {
	t.addMetrics(loss, n, t.addLogits(logits, labels[:n]))
}

// addLogits counts the top-5 hits, the confusion and the non-finite rows
// of logits (n,K) with their labels (n), and returns the top-1 hits.
func (t *tally) addLogits(logits, labels []float32) (top1 int) {
	for i, l := range labels {
		label := int(l)
		pred, rank := argmaxRank(logits[i*t.k:(i+1)*t.k], label)
		if pred < 0 {
			t.ev.NonFinite++
			t.lost[label]++
			continue
		}
		t.ev.Confusion[label][pred]++
		if rank == 0 {
			top1++
		}
		if rank < 5 {
			t.top5++
		}
	}
	return top1
}

// addMetrics counts a batch of n from its mean loss and top-1 hits as
// StepOps.StepMetrics computed them on the device.
func (t *tally) addMetrics(loss float64, n, top1 int) {
	t.lossSum += loss * float64(n)
	t.top1 += top1
	t.ev.N += n
}

// evaluation is the tally's result.
func (t *tally) evaluation() (*Evaluation, error) {
	ev := t.ev
	if ev.N == 0 {
		return nil, fmt.Errorf("evaluate: the split has no images")
	}
	ev.Loss = t.lossSum / float64(ev.N)
	ev.Top1 = float64(t.top1) / float64(ev.N)
	ev.Top5 = float64(t.top5) / float64(ev.N)
	ev.PerClass = make([]float64, t.k)
	for c := range ev.Confusion {
		total := t.lost[c]
		for _, v := range ev.Confusion[c] {
			total += v
		}
		if total > 0 { // a class absent from the split reports 0
			ev.PerClass[c] = float64(ev.Confusion[c][c]) / float64(total)
		}
	}
	return ev, nil
}

// argmaxRank returns the predicted class and the rank of label among the
// scores (0 = top-1). Ties rank in index order, as torch.topk does. A row
// with a NaN or an infinity predicts nothing: pred -1, rank len(row).
func argmaxRank(row []float32, label int) (pred, rank int) {
	if nonFinite(row) >= 0 {
		return -1, len(row)
	}
	for i, v := range row {
		if v > row[pred] {
			pred = i
		}
		if label >= 0 && label < len(row) && i != label && (v > row[label] || (v == row[label] && i < label)) {
			rank++
		}
	}
	return pred, rank
}

// TopK returns the k best class indices of row, best first.
func TopK(row []float32, k int) []int {
	idx := make([]int, len(row))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return row[idx[a]] > row[idx[b]] })
	if k > len(idx) {
		k = len(idx)
	}
	return idx[:k]
}
