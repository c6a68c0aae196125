//go:build unix

package plan_test

import (
	"math/rand/v2"
	"syscall"
	"testing"

	"github.com/cnnctl/cnnctl/internal/cpu"
	"github.com/cnnctl/cnnctl/internal/tensor"
	"github.com/cnnctl/cnnctl/internal/train"
	"github.com/cnnctl/cnnctl/internal/zoo"
)

// BenchmarkTrainStep times train.Step (load, forward, loss, backward,
// update, and a read of the metrics) at batch 128 on the fast CPU engine,
// with the plan the step attaches (fused nodes, one arena, shared
// gradients) and without it (CNNCTL_PLAN=0: the layers as they are), for
// a side-by-side ratio; run the two alternately, e.g.
//
//	go test -c ./internal/plan && for i in 1 2 3 4 5; do for v in plan noplan; do
//	  ./plan.test -test.run '^$' -test.bench "TrainStep/resnet20/$v\$" -test.benchtime 3x; done; done
func BenchmarkTrainStep(b *testing.B) {
	const n = 128
	for _, name := range []string{"resnet20", "vgg11-bn", "lenet"} {
		for _, v := range []string{"plan", "noplan"} {
			b.Run(name+"/"+v, func(b *testing.B) {
				if v == "noplan" {
					b.Setenv("CNNCTL_PLAN", "0")
				}
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
				s := train.NewStep(m, opt, n, 1, 1, 0)
				defer s.Free()
				r := rand.New(rand.NewPCG(1, 2))
				batch := &train.Batch{X: make([]float32, n*3*32*32), Y: make([]float32, n), N: n}
				for i := range batch.X {
					batch.X[i] = float32(r.NormFloat64())
				}
				for i := range batch.Y {
					batch.Y[i] = float32(r.IntN(10))
				}
				step := func() {
					s.StartEpoch([]float32{0.01}, 0)
					s.Load(batch)
					s.Run()
					if _, err := s.Read(); err != nil {
						b.Fatal(err)
					}
				}
				step() // warm-up: the loss's buffers (and without a plan every layer's) allocated
				b.ReportAllocs()
				b.ResetTimer()
				cpu0 := cpuSeconds()
				for range b.N {
					step()
				}
				b.ReportMetric(b.Elapsed().Seconds()*1e3/float64(b.N), "ms/step")
				b.ReportMetric((cpuSeconds()-cpu0)*1e3/float64(b.N), "cpu-ms/step")
			})
		}
	}
}

// cpuSeconds is the process's user+system CPU time: on a shared machine
// it measures the code more than the neighbours' load does.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}
