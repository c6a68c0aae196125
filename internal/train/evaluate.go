package train

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"

	"github.com/cnnctl/cnnctl/internal/layers"
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

// load uploads b and returns its images (N,C,H,W) and labels (N) on the backend.
func (s *stepper) load(b *Batch) (x, y *tensor.Tensor) {
	x = s.x.View(append(tensor.Shape{b.N}, s.m.In...))
	y = s.y.View(tensor.Shape{b.N})
	s.be.Upload(x, b.X[:x.Numel()])
	s.be.Upload(y, b.Y[:b.N])
	return x, y
}

// readLogits copies out (N,K) to s.logits.
func (s *stepper) readLogits(out *tensor.Tensor) {
	if cap(s.logits) < out.Numel() {
		s.logits = make([]float32, out.Numel())
	}
	s.logits = s.logits[:out.Numel()]
	s.be.Download(s.logits, out)
}

// Evaluate runs the model in eval mode over one epoch of src, op by op.
func Evaluate(m *layers.Model, src Source, classes []string, maxBatch int) (*Evaluation, error) {
	return EvaluateWith(m, src, classes, maxBatch, EvalOptions{})
}

// EvaluateWith is Evaluate with options.
func EvaluateWith(m *layers.Model, src Source, classes []string, maxBatch int, o EvalOptions) (*Evaluation, error) {
	k := m.Out.Numel()
	if len(classes) != k {
		return nil, fmt.Errorf("evaluate: model has %d outputs but the data has %d classes", k, len(classes))
	}
	s := newStepper(m, maxBatch, 0)
	defer s.free() // evaluated every epoch: device memory must not pile up
	if p, err := attachPlan(m, maxBatch, false); err != nil {
		return nil, fmt.Errorf("evaluate: %w", err)
	} else if p != nil {
		defer p.Free()
	}
	g := o.graphs(m.Ctx.Backend)
	defer g.close()
	ev := &Evaluation{Classes: classes, Confusion: make([][]int, k)}
	for i := range ev.Confusion {
		ev.Confusion[i] = make([]int, k)
	}
	var lossSum float64
	var top1, top5 int
	lost := make([]int, k) // non-finite rows per true class
	it := src.Epoch(0, 0)
	defer it.Close()
	for {
		b, ok := it.Next()
		if !ok {
			break
		}
		loss := s.evalForward(g, b)
		if err := m.Ctx.Backend.Err(); err != nil {
			return nil, fmt.Errorf("evaluate: %w", err)
		}
		lossSum += loss * float64(b.N)
		for i := 0; i < b.N; i++ {
			row := s.logits[i*k : (i+1)*k]
			label := int(b.Y[i])
			pred, rank := argmaxRank(row, label)
			if label < 0 || label >= k {
				return nil, fmt.Errorf("evaluate: label %d out of range for %d classes", label, k)
			}
			if pred < 0 {
				ev.NonFinite++
				lost[label]++
				continue
			}
			ev.Confusion[label][pred]++
			if rank == 0 {
				top1++
			}
			if rank < 5 {
				top5++
			}
		}
		ev.N += b.N
	}
	if ev.N == 0 {
		return nil, fmt.Errorf("evaluate: the split has no images")
	}
	ev.Loss = lossSum / float64(ev.N)
	ev.Top1 = float64(top1) / float64(ev.N)
	ev.Top5 = float64(top5) / float64(ev.N)
	ev.PerClass = make([]float64, k)
	for c := range ev.Confusion {
		total := lost[c]
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
