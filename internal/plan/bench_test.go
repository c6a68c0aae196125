//go:build unix

package plan_test

import (
	"math/rand/v2"
	"sort"
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
// gradients) and without it (the layers as they are), for a side-by-side
// ratio; run the two alternately, e.g.
//
//	go test -c ./internal/plan && for i in 1 2 3 4 5; do for v in plan noplan; do
//	  ./plan.test -test.run '^$' -test.bench "TrainStep/resnet20/^$v\$" -test.benchtime 3x; done; done
func BenchmarkTrainStep(b *testing.B) {
	const n = 128
	for _, name := range []string{"resnet20", "vgg11-bn", "lenet"} {
		for _, v := range []string{"plan", "noplan"} {
			b.Run(name+"/"+v, func(b *testing.B) {
				step := newStep(b, name, n, v == "plan")
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

// BenchmarkTrainStepSideBySide builds a model twice, one attaching the
// step's plan and one without (its Runner set to its own tree, so no plan
// is attached), and runs their steps alternately in one process, timing
// each step's CPU time: the medians and their ratio, free of the drift
// between separate runs on a shared machine.
//
//	go test -run '^$' -bench 'SideBySide/resnet20' -benchtime 10x ./internal/plan
func BenchmarkTrainStepSideBySide(b *testing.B) {
	const n = 128
	for _, name := range []string{"resnet20", "vgg11-bn", "lenet"} {
		b.Run(name, func(b *testing.B) {
			var steps [2]func()
			for i := range steps {
				steps[i] = newStep(b, name, n, i == 0)
				steps[i]() // warm-up
			}
			var cpu [2][]float64
			b.ResetTimer()
			for range b.N {
				for i, step := range steps {
					t0 := cpuSeconds()
					step()
					cpu[i] = append(cpu[i], (cpuSeconds()-t0)*1e3)
				}
			}
			plan, plain := median(cpu[0]), median(cpu[1])
			b.ReportMetric(plan, "plan-cpu-ms/step")
			b.ReportMetric(plain, "noplan-cpu-ms/step")
			b.ReportMetric(plan/plain, "plan/noplan")
		})
	}
}

// newStep builds model name on the fast CPU engine and returns one
// train.Step (load, run, read) on a random batch of n, with the step's
// plan when planned.
func newStep(b *testing.B, name string, n int, planned bool) func() {
	spec, err := zoo.Load(name)
	if err != nil {
		b.Fatal(err)
	}
	m, err := zoo.Build(spec, cpu.New(), tensor.Shape{3, 32, 32}, 10, 1)
	if err != nil {
		b.Fatal(err)
	}
	if !planned {
		m.Runner = m.Root
	}
	opt, err := train.NewOptimizer(m, train.OptimizerConfig{Kind: "sgd", Momentum: 0.9})
	if err != nil {
		b.Fatal(err)
	}
	s := train.NewStep(m, opt, n, 1, 1, 0)
	b.Cleanup(s.Free)
	r := rand.New(rand.NewPCG(1, 2))
	batch := &train.Batch{X: make([]float32, n*3*32*32), Y: make([]float32, n), N: n}
	for i := range batch.X {
		batch.X[i] = float32(r.NormFloat64())
	}
	for i := range batch.Y {
		batch.Y[i] = float32(r.IntN(10))
	}
	return func() {
		s.StartEpoch([]float32{0.01}, 0)
		s.Load(batch)
		s.Run()
		if _, err := s.Read(); err != nil {
			b.Fatal(err)
		}
	}
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
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
