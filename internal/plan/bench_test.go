package plan_test

import (
	"math/rand/v2"
	"testing"

	"github.com/cnnctl/cnnctl/internal/cpu"
	"github.com/cnnctl/cnnctl/internal/layers"
	"github.com/cnnctl/cnnctl/internal/plan"
	"github.com/cnnctl/cnnctl/internal/tensor"
	"github.com/cnnctl/cnnctl/internal/train"
	"github.com/cnnctl/cnnctl/internal/zoo"
)

// BenchmarkTrainStep times one SGD training step (forward, loss, backward,
// update) at batch 128 on the fast CPU engine, with a plan (fused nodes,
// one arena, shared gradients) and without (the layers as they are), for
// a side-by-side ratio; run the two alternately, e.g.
//
//	go test -c ./internal/plan && for i in 1 2 3 4 5; do for v in plan noplan; do
//	  ./plan.test -test.run '^$' -test.bench "TrainStep/resnet20/$v\$" -test.benchtime 3x; done; done
func BenchmarkTrainStep(b *testing.B) {
	for _, name := range []string{"resnet20", "vgg11-bn", "lenet"} {
		for _, planned := range []bool{true, false} {
			v := "noplan"
			if planned {
				v = "plan"
			}
			b.Run(name+"/"+v, func(b *testing.B) {
				be := cpu.New()
				step := trainStep(b, be, name, 128, planned)
				step() // warm-up: buffers allocated
				b.ReportAllocs()
				b.ResetTimer()
				for range b.N {
					step()
				}
				if err := be.Err(); err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(b.Elapsed().Seconds()*1e3/float64(b.N), "ms/step")
			})
		}
	}
}

// trainStep builds model name on be with random data of batch n, with a
// plan attached when planned, and returns one training step.
func trainStep(tb testing.TB, be tensor.Backend, name string, n int, planned bool) func() {
	spec, err := zoo.Load(name)
	if err != nil {
		tb.Fatal(err)
	}
	m, err := zoo.Build(spec, be, tensor.Shape{3, 32, 32}, 10, 1)
	if err != nil {
		tb.Fatal(err)
	}
	if planned {
		if _, err := plan.Attach(m, n, true, plan.Options{Fuse: true, Share: true}); err != nil {
			tb.Fatal(err)
		}
	}
	opt, err := train.NewOptimizer(m, train.OptimizerConfig{Kind: "sgd", Momentum: 0.9})
	if err != nil {
		tb.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	xs, ys := make([]float32, n*3*32*32), make([]float32, n)
	for i := range xs {
		xs[i] = float32(rng.NormFloat64())
	}
	for i := range ys {
		ys[i] = float32(rng.IntN(10))
	}
	x, y := be.New(tensor.Shape{n, 3, 32, 32}), be.New(tensor.Shape{n})
	be.Upload(x, xs)
	be.Upload(y, ys)
	loss := layers.NewLoss(be, 0)
	return func() {
		loss.Forward(m.Forward(x, true), y)
		m.Backward(loss.Backward())
		opt.Update(0.01)
	}
}
