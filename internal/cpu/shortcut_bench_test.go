package cpu_test

import (
	"fmt"
	"testing"

	"github.com/cnnctl/cnnctl/internal/cpu"
	"github.com/cnnctl/cnnctl/internal/tensor"
)

// BenchmarkShortcut times the shortcut at ResNet-20's two downsamplings,
// batch 128, on the fast engine and the reference: GB/s of y (forward) or
// dx (backward) written, per wall second and per CPU second.
func BenchmarkShortcut(b *testing.B) {
	for _, g := range []struct{ C, H, K int }{{16, 32, 32}, {32, 16, 64}} {
		for _, eng := range []struct {
			name string
			be   tensor.Backend
		}{{"fast", cpu.New()}, {"reference", cpu.NewReference()}} {
			be := eng.be
			x, y := be.New(tensor.Shape{128, g.C, g.H, g.H}), be.New(tensor.Shape{128, g.K, g.H / 2, g.H / 2})
			for _, op := range []struct {
				name string
				out  *tensor.Tensor
				run  func()
			}{
				{"fwd", y, func() { be.ShortcutPadForward(x, y, 2) }},
				{"bwd", x, func() { be.ShortcutPadBackward(y, x, 2) }},
			} {
				b.Run(fmt.Sprintf("C%d-%dx%d-K%d/%s/%s", g.C, g.H, g.H, g.K, eng.name, op.name), func(b *testing.B) {
					op.run()
					cpu0 := cpuSeconds()
					for b.Loop() {
						op.run()
					}
					bytes := 4 * float64(op.out.Numel()) * float64(b.N)
					b.ReportMetric(bytes/b.Elapsed().Seconds()/1e9, "GB/s")
					if used := cpuSeconds() - cpu0; used > 0 {
						b.ReportMetric(bytes/used/1e9, "GB/cpu-s")
					}
				})
			}
			if err := be.Err(); err != nil {
				b.Fatal(err)
			}
		}
	}
}
