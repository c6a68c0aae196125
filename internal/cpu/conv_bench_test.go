package cpu_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/cnnctl/cnnctl/internal/cpu"
	"github.com/cnnctl/cnnctl/internal/tensor"
)

// benchConvs are convolution layers of the zoo models at batch 128 (b1: 1):
// x (N,C,H,W), w (K,C,R,S), stride 1, padding pad.
var benchConvs = []struct {
	name                string
	N, C, H, K, R, P, S int // S: stride, 0 for 1
}{
	{"lenet1", 128, 3, 32, 6, 5, 0, 1},
	{"lenet2", 128, 6, 14, 16, 5, 0, 1},
	{"resnet16x32", 128, 16, 32, 16, 3, 1, 1},
	{"resnet32x16", 128, 32, 16, 32, 3, 1, 1},
	{"resnet64x8", 128, 64, 8, 64, 3, 1, 1},
	{"resnet64x32", 128, 64, 32, 64, 3, 1, 1},
	{"resnet128x16", 128, 128, 16, 128, 3, 1, 1},
	{"vgg3x32", 128, 3, 32, 64, 3, 1, 1},
	{"vgg128x16", 128, 64, 16, 128, 3, 1, 1},
	{"vgg256x8", 128, 256, 8, 256, 3, 1, 1},
	{"alex192x4", 128, 192, 4, 384, 3, 1, 1},
	{"vgg512x4", 128, 512, 4, 512, 3, 1, 1},
	{"vgg512x2", 128, 512, 2, 512, 3, 1, 1},
	{"vgg512x4b1", 1, 512, 4, 512, 3, 1, 1}, // batch 1: latency
	{"vgg512x2b1", 1, 512, 2, 512, 3, 1, 1},
	{"nin5x5", 128, 3, 32, 192, 5, 2, 1},
	{"nin1x1", 128, 192, 32, 160, 1, 0, 1},
	{"alex3s2", 128, 3, 32, 64, 3, 1, 2},
	{"resnet16s2", 128, 16, 32, 32, 3, 1, 2},
	{"resnet32s2", 128, 32, 16, 64, 3, 1, 2},
}

// BenchmarkConv times the fast engine's convolution forward, backward-data
// and backward-filter on benchConvs, in GFLOP/s (2·N·K·OH·OW·C·R·S per op),
// on each convolution path (auto = the engine's choice).
//
//	go test -run '^$' -bench 'Conv/lenet1/(im2col|indirect)/' -count 5 ./internal/cpu
func BenchmarkConv(b *testing.B) {
	be := cpu.New()
	r := rand.New(rand.NewPCG(1, 2))
	for _, g := range benchConvs {
		stride := max(g.S, 1)
		oh := (g.H+2*g.P-g.R)/stride + 1
		p := tensor.ConvParams{StrideH: stride, StrideW: stride, PadH: g.P, PadW: g.P}
		fill := func(s ...int) *tensor.Tensor {
			t := be.New(s)
			v := make([]float32, t.Numel())
			for i := range v {
				v[i] = 2*r.Float32() - 1
			}
			be.Upload(t, v)
			return t
		}
		x, w, bias := fill(g.N, g.C, g.H, g.H), fill(g.K, g.C, g.R, g.R), fill(g.K)
		y, dy := fill(g.N, g.K, oh, oh), fill(g.N, g.K, oh, oh)
		dx, dw, db := fill(g.N, g.C, g.H, g.H), fill(g.K, g.C, g.R, g.R), fill(g.K)
		flop := 2 * float64(g.N*g.K*oh*oh*g.C*g.R*g.R)
		for _, op := range []struct {
			name string
			run  func()
		}{
			{"fwd", func() { be.Conv2DForward(x, w, bias, y, p) }},
			{"bwddata", func() { be.Conv2DBackwardData(dy, w, dx, p) }},
			{"bwdfilter", func() { be.Conv2DBackwardFilter(x, dy, dw, db, p) }},
		} {
			for _, mode := range convModes {
				b.Run(fmt.Sprintf("%s/%s/%s", g.name, mode.name, op.name), func(b *testing.B) {
					defer mode.set().restore()
					op.run()
					b.ResetTimer()
					cpu0 := cpuSeconds()
					for range b.N {
						op.run()
					}
					b.ReportMetric(flop*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
					if used := cpuSeconds() - cpu0; used > 0 {
						b.ReportMetric(flop*float64(b.N)/used/1e9, "GFLOP/cpu-s")
					}
				})
			}
		}
		for _, t := range []*tensor.Tensor{x, w, bias, y, dy, dx, dw, db} {
			be.Free(t)
		}
	}
	if err := be.Err(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkLinear times the fast engine's linear forward and backward at
// batch 128 in GFLOP/s.
func BenchmarkLinear(b *testing.B) {
	be := cpu.New()
	for _, g := range []struct{ I, O int }{{400, 120}, {4096, 4096}, {512, 10}} {
		const n = 128
		x, w, bias, y := be.New(tensor.Shape{n, g.I}), be.New(tensor.Shape{g.O, g.I}), be.New(tensor.Shape{g.O}), be.New(tensor.Shape{n, g.O})
		dy, dx, dw, db := be.New(tensor.Shape{n, g.O}), be.New(tensor.Shape{n, g.I}), be.New(tensor.Shape{g.O, g.I}), be.New(tensor.Shape{g.O})
		flop := 2 * float64(n*g.I*g.O)
		// fwd: the engine's choice; fwd-narrow and fwd-wide force x · wᵀ
		// and w · xᵀ.
		for _, mode := range []struct {
			name string
			wide int
		}{{"fwd", 0}, {"fwd-narrow", -1}, {"fwd-wide", 1}} {
			b.Run(fmt.Sprintf("%dx%d/%s", g.I, g.O, mode.name), func(b *testing.B) {
				defer cpu.SetLinearWide(cpu.SetLinearWide(mode.wide))
				be.LinearForward(x, w, bias, y)
				cpu0 := cpuSeconds()
				for b.Loop() {
					be.LinearForward(x, w, bias, y)
				}
				b.ReportMetric(flop*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
				if used := cpuSeconds() - cpu0; used > 0 {
					b.ReportMetric(flop*float64(b.N)/used/1e9, "GFLOP/cpu-s")
				}
			})
		}
		b.Run(fmt.Sprintf("%dx%d/bwd", g.I, g.O), func(b *testing.B) {
			for range b.N {
				be.LinearBackward(x, w, dy, dx, dw, db)
			}
			b.ReportMetric(2*flop*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
	if err := be.Err(); err != nil {
		b.Fatal(err)
	}
}
