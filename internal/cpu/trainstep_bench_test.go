package cpu_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/cnnctl/cnnctl/internal/cpu"
	"github.com/cnnctl/cnnctl/internal/layers"
	"github.com/cnnctl/cnnctl/internal/tensor"
	"github.com/cnnctl/cnnctl/internal/train"
	"github.com/cnnctl/cnnctl/internal/zoo"
)

// BenchmarkTrainStep times one SGD-momentum training step (forward, loss,
// backward, update) at batch 128 of 3x32x32 for the models of issue 8, on
// the fast engine, or on the reference with -bench 'TrainStep/ref/'.
//
//	go test -run '^$' -bench 'TrainStep/fast/lenet$' -benchtime 10x -count 5 ./internal/cpu
func BenchmarkTrainStep(b *testing.B) {
	engines := []struct {
		name string
		new  func() *cpu.Backend
	}{{"fast", cpu.New}, {"ref", cpu.NewReference}}
	for _, e := range engines {
		for _, name := range []string{"lenet", "lenet-bn", "resnet", "resnet20", "alexnet", "nin", "vgg11-bn"} {
			b.Run(e.name+"/"+name, func(b *testing.B) {
				step, be := trainStep(b, e.new(), name, 128)
				step() // warm-up: buffers allocated
				b.ReportAllocs()
				b.ResetTimer()
				cpu0 := cpuSeconds()
				for range b.N {
					step()
				}
				if err := be.Err(); err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(b.Elapsed().Seconds()*1e3/float64(b.N), "ms/step")
				b.ReportMetric(float64(128*b.N)/b.Elapsed().Seconds(), "images/s")
				if used := cpuSeconds() - cpu0; used > 0 {
					b.ReportMetric(used*1e3/float64(b.N), "cpu-ms/step")
				}
			})
		}
	}
}

// trainStep builds model name on be with random data of batch n and
// returns one training step.
func trainStep(tb testing.TB, be *cpu.Backend, name string, n int) (func(), *cpu.Backend) {
	spec, err := zoo.Load(name)
	if err != nil {
		tb.Fatal(err)
	}
	m, err := zoo.Build(spec, be, tensor.Shape{3, 32, 32}, 10, 1)
	if err != nil {
		tb.Fatal(err)
	}
	opt, err := train.NewOptimizer(m, train.OptimizerConfig{Kind: "sgd", Momentum: 0.9})
	if err != nil {
		tb.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	xs := make([]float32, n*3*32*32)
	ys := make([]float32, n)
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
	}, be
}

// BenchmarkInfer times one inference forward pass (no gradients) on the
// fast engine at batch 1, the latency predict users feel, and at batch 128.
//
//	go test -run '^$' -bench 'Infer/1/resnet20$' -benchtime 200x -count 5 ./internal/cpu
func BenchmarkInfer(b *testing.B) {
	for _, n := range []int{1, 128} {
		for _, name := range []string{"lenet", "lenet-bn", "resnet", "resnet20", "alexnet", "nin", "vgg11-bn"} {
			b.Run(fmt.Sprintf("%d/%s", n, name), func(b *testing.B) {
				infer, be := inferStep(b, cpu.New(), name, n)
				infer() // warm-up: buffers allocated
				b.ReportAllocs()
				b.ResetTimer()
				cpu0 := cpuSeconds()
				for range b.N {
					infer()
				}
				if err := be.Err(); err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(b.Elapsed().Seconds()*1e3/float64(b.N), "ms/op")
				if used := cpuSeconds() - cpu0; used > 0 {
					b.ReportMetric(used*1e3/float64(b.N), "cpu-ms/op")
				}
			})
		}
	}
}

// inferStep builds model name on be with random images of batch n and
// returns one inference forward pass.
func inferStep(tb testing.TB, be *cpu.Backend, name string, n int) (func(), *cpu.Backend) {
	spec, err := zoo.Load(name)
	if err != nil {
		tb.Fatal(err)
	}
	m, err := zoo.Build(spec, be, tensor.Shape{3, 32, 32}, 10, 1)
	if err != nil {
		tb.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	xs := make([]float32, n*3*32*32)
	for i := range xs {
		xs[i] = float32(rng.NormFloat64())
	}
	x := be.New(tensor.Shape{n, 3, 32, 32})
	be.Upload(x, xs)
	return func() { m.Forward(x, false) }, be
}
