package layers

import (
	"math/rand"
	"testing"

	"github.com/cnnctl/cnnctl/internal/cpu"
	"github.com/cnnctl/cnnctl/internal/tensor"
)

// toyBatch draws n noisy 1x6x6 images: class 0 is bright on the left half,
// class 1 on the right.
func toyBatch(rng *rand.Rand, n int) (x, y []float32) {
	x = make([]float32, n*36)
	y = make([]float32, n)
	for i := range n {
		c := rng.Intn(2)
		y[i] = float32(c)
		for h := range 6 {
			for w := range 6 {
				v := rng.NormFloat64() * 0.3
				if (w < 3) == (c == 0) {
					v += 1
				}
				x[i*36+h*6+w] = float32(v)
			}
		}
	}
	return x, y
}

// TestTrainToyProblem trains a small conv net with SGD on a separable
// problem and expects the loss to fall and the accuracy to be high.
func TestTrainToyProblem(t *testing.T) {
	be := cpu.New()
	net := NewSequential("",
		conv("features.0", 4, 3, 3, 1, 1, false),
		NewBatchNorm("features.1", DefaultBatchNorm()),
		NewActivation("features.2", tensor.ReLU),
		NewMaxPool2D("features.3", pool(2, 2, 2, 0)),
		NewFlatten("flatten"),
		NewDropout("classifier.0", 0.1),
		NewLinear("classifier.1", 2, true))
	m, err := Build(be, net, tensor.Shape{1, 6, 6}, 1)
	if err != nil {
		t.Fatal(err)
	}
	const n, steps = 16, 50
	rng := rand.New(rand.NewSource(1))
	x, labels := be.New(tensor.Shape{n, 1, 6, 6}), be.New(tensor.Shape{n})
	velocity := be.New(m.Weights.Shape)
	loss := NewLoss(be, 0)
	sgd := tensor.SGDParams{LR: 0.05, Momentum: 0.9, WeightDecay: 5e-4}
	var first, last float32
	for step := range steps {
		xs, ys := toyBatch(rng, n)
		be.Upload(x, xs)
		be.Upload(labels, ys)
		m.Ctx.Step = uint64(step)
		l := loss.Forward(m.Forward(x, true), labels)
		m.Backward(loss.Backward())
		be.SGDUpdate(m.Weights, m.Grads, velocity, sgd)
		if err := be.Err(); err != nil {
			t.Fatalf("step %d: %v", step, err)
		}
		if step == 0 {
			first = l
		}
		last = l
	}
	xs, ys := toyBatch(rng, n)
	be.Upload(x, xs)
	be.Upload(labels, ys)
	out := m.Forward(x, false)
	evalLoss := loss.Forward(out, labels)
	top1, _ := loss.Correct(out, labels)
	t.Logf("loss %.4f at step 0, %.4f at step %d, %.4f in evaluation; %d/%d correct", first, last, steps-1, evalLoss, top1, n)
	if !(last < first/3) || !(evalLoss < first/3) || top1 < n*15/16 {
		t.Errorf("did not learn: loss %.4f at step 0, %.4f at the end, %.4f in evaluation, %d/%d correct",
			first, last, evalLoss, top1, n)
	}
}
