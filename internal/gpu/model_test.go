//go:build cuda

package gpu

import (
	"math"
	"math/rand"
	"testing"

	"github.com/cnnctl/cnnctl/internal/cpu"
	"github.com/cnnctl/cnnctl/internal/layers"
	"github.com/cnnctl/cnnctl/internal/tensor"
	"github.com/cnnctl/cnnctl/internal/train"
	"github.com/cnnctl/cnnctl/internal/zoo"
)

// TestModelStep runs one training step of every zoo model on the GPU and on
// the CPU engine from the same weights (both built from one seed on the
// host) and the same batch: the loss, every gradient and the updated
// weights must agree within 1e-3 relative to each tensor's scale.
func TestModelStep(t *testing.T) {
	g := newBackend(t)
	const n = 8
	rng := rand.New(rand.NewSource(7))
	xs := make([]float32, n*3*32*32)
	ys := make([]float32, n)
	for i := range xs {
		xs[i] = float32(rng.NormFloat64())
	}
	for i := range ys {
		ys[i] = float32(rng.Intn(10))
	}
	for _, name := range zoo.Names() {
		t.Run(name, func(t *testing.T) {
			spec, err := zoo.Load(name)
			if err != nil {
				t.Fatal(err)
			}
			type result struct {
				loss           float32
				grads, weights []float32
			}
			step := func(be tensor.Backend) result {
				m, err := zoo.Build(spec, be, tensor.Shape{3, 32, 32}, 10, 1)
				if err != nil {
					t.Fatal(err)
				}
				x, y := be.New(tensor.Shape{n, 3, 32, 32}), be.New(tensor.Shape{n})
				be.Upload(x, xs)
				be.Upload(y, ys)
				lossL := layers.NewLoss(be, 0.1)
				opt, err := train.NewOptimizer(m, train.OptimizerConfig{Kind: "sgd", Momentum: 0.9, WeightDecay: 5e-4})
				if err != nil {
					t.Fatal(err)
				}
				loss := lossL.Forward(m.Forward(x, true), y)
				m.Backward(lossL.Backward())
				r := result{loss: loss, grads: make([]float32, m.Grads.Numel()), weights: make([]float32, m.Weights.Numel())}
				be.Download(r.grads, m.Grads)
				opt.Update(0.05)
				be.Download(r.weights, m.Weights)
				if err := be.Sync(); err != nil {
					t.Fatal(err)
				}
				return r
			}
			want := step(cpu.New())
			got := step(g)
			if d := math.Abs(float64(got.loss - want.loss)); d > 1e-3*math.Max(1, math.Abs(float64(want.loss))) {
				t.Errorf("loss: GPU %v, CPU %v", got.loss, want.loss)
			}
			for _, c := range []struct {
				what      string
				got, want []float32
			}{{"gradients", got.grads, want.grads}, {"updated weights", got.weights, want.weights}} {
				scale := 0.0
				for _, v := range c.want {
					scale = math.Max(scale, math.Abs(float64(v)))
				}
				worst, at := 0.0, -1
				for i := range c.want {
					d := math.Abs(float64(c.got[i] - c.want[i]))
					if math.IsNaN(float64(c.got[i])) {
						d = math.Inf(1)
					}
					if d > worst {
						worst, at = d, i
					}
				}
				if worst > 1e-3*math.Max(1e-3, scale) {
					t.Errorf("%s: worst |Δ| %.3g at %d (GPU %v, CPU %v), scale %.3g", c.what, worst, at, c.got[at], c.want[at], scale)
				} else {
					t.Logf("%s: worst |Δ| %.3g, scale %.3g", c.what, worst, scale)
				}
			}
		})
	}
}
