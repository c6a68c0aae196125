package train_test

import (
	"math/rand"
	"testing"

	"github.com/cnnctl/cnnctl/internal/cpu"
	"github.com/cnnctl/cnnctl/internal/layers"
	"github.com/cnnctl/cnnctl/internal/tensor"
	"github.com/cnnctl/cnnctl/internal/train"
	"github.com/cnnctl/cnnctl/internal/zoo"
)

// BenchmarkTrainCPU reports training images/s of one SGD step (forward,
// loss, backward, update) at batch 128 of 3x32x32 on the CPU engine.
//
//	go test -run '^$' -bench TrainCPU -benchtime 5x ./internal/train/
func BenchmarkTrainCPU(b *testing.B) {
	for _, name := range []string{"lenet", "resnet"} {
		b.Run(name, func(b *testing.B) {
			const n = 128
			spec, err := zoo.Load(name)
			if err != nil {
				b.Fatal(err)
			}
			be := cpu.New()
			m, err := zoo.Build(spec, be, tensor.Shape{3, 32, 32}, 10, 1)
			if err != nil {
				b.Fatal(err)
			}
			opt, err := train.NewOptimizer(m, train.OptimizerConfig{Kind: "sgd", Momentum: 0.9})
			if err != nil {
				b.Fatal(err)
			}
			rng := rand.New(rand.NewSource(1))
			xs := make([]float32, n*3*32*32)
			ys := make([]float32, n)
			for i := range xs {
				xs[i] = float32(rng.NormFloat64())
			}
			for i := range ys {
				ys[i] = float32(rng.Intn(10))
			}
			x, y := be.New(tensor.Shape{n, 3, 32, 32}), be.New(tensor.Shape{n})
			be.Upload(x, xs)
			be.Upload(y, ys)
			loss := layers.NewLoss(be, 0)
			step := func() {
				loss.Forward(m.Forward(x, true), y)
				m.Backward(loss.Backward())
				opt.Update(0.01)
			}
			step() // warm-up: buffers allocated
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				step()
			}
			if err := be.Err(); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "images/s")
			b.ReportMetric(b.Elapsed().Seconds()*1e3/float64(b.N), "ms/step")
		})
	}
}
