package cpu_test

import (
	"math"
	"runtime"
	"strings"
	"testing"

	"github.com/cnnctl/cnnctl/internal/cpu"
	"github.com/cnnctl/cnnctl/internal/tensor"
	"github.com/cnnctl/cnnctl/internal/tensor/tensortest"
)

// plainOnly is a backend with the tensor.Backend methods only: a fused
// case run on it takes the plain op sequence.
type plainOnly struct{ tensor.Backend }

// fusedCases are the shared cases of the fused ops.
func fusedCases() []tensortest.Case {
	var cs []tensortest.Case
	for _, c := range tensortest.Cases() {
		if strings.Contains(c.Op, "ReLU") || strings.Contains(c.Op, "Epilogue") || strings.Contains(c.Op, "ConvBatchNorm") || c.Op == "Conv2DBatchNormInfer" {
			cs = append(cs, c)
		}
	}
	return cs
}

// TestFusedSharedCases runs the fused ops' shared cases on the fast engine
// against the reference (whose fused ops are the plain sequences).
func TestFusedSharedCases(t *testing.T) {
	cs := fusedCases()
	if len(cs) < 40 {
		t.Fatalf("%d fused cases: the filter lost some", len(cs))
	}
	tensortest.CheckCases(t, cpu.New(), cs)
}

// TestFusedBitIdentical: on the fast engine each fused op gives exactly
// the bits of the plain op sequence it stands for (outputs NaN-poisoned,
// NaN compared as NaN), which keeps CPU training with internal/plan's
// rewrites bit-identical to training without them. The inputs are the
// shared cases' plus copies with NaN, ±0 and ±Inf planted.
func TestFusedBitIdentical(t *testing.T) {
	fused, plain := cpu.New(), plainOnly{cpu.New()}
	for _, c := range fusedCases() {
		for _, special := range []bool{false, true} {
			if special {
				c = planted(c)
			}
			got, err := tensortest.Outputs(fused, c)
			if err != nil {
				t.Fatal(err)
			}
			want, err := tensortest.Outputs(plain, c)
			if err != nil {
				t.Fatal(err)
			}
			for name, w := range want {
				g := got[name]
				for i := range w {
					if math.Float32bits(g[i]) != math.Float32bits(w[i]) && !(g[i] != g[i] && w[i] != w[i]) {
						t.Fatalf("%v (special %t): %s[%d] = %g fused, %g as the sequence", c, special, name, i, g[i], w[i])
					}
				}
			}
		}
	}
}

// TestConvBatchNormPaths runs the Conv2DBatchNormInfer cases on every
// convolution path (the epilogue is called from each: per image, per
// group, or after the whole batch) with 1 and 2 workers, against the plain
// sequence on the same path, bit for bit.
func TestConvBatchNormPaths(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	defer convModes[0].set().restore()
	n := 0
	for _, mode := range convModes {
		for _, procs := range []int{1, 2} {
			runtime.GOMAXPROCS(procs)
			mode.set()
			for _, c := range fusedCases() {
				if c.Op != "Conv2DBatchNormInfer" {
					continue
				}
				n++
				got, err := tensortest.Outputs(cpu.New(), c)
				if err != nil {
					t.Fatal(err)
				}
				want, err := tensortest.Outputs(plainOnly{cpu.New()}, c)
				if err != nil {
					t.Fatal(err)
				}
				for i, w := range want["y"] {
					if g := got["y"][i]; math.Float32bits(g) != math.Float32bits(w) {
						t.Fatalf("%s, %d workers: %v: y[%d] = %g fused, %g as the sequence", mode.name, procs, c, i, g, w)
					}
				}
			}
		}
	}
	if n == 0 {
		t.Fatal("no Conv2DBatchNormInfer cases")
	}
}

// planted returns c with NaN, ±0 and ±Inf written over the first values
// of its x, a, b and residual inputs (the values fused arithmetic could
// treat differently: ReLU's NaN and -0).
func planted(c tensortest.Case) tensortest.Case {
	in := c.Inputs()
	specials := []float32{float32(math.NaN()), float32(math.Copysign(0, -1)), 0, float32(math.Inf(1)), float32(math.Inf(-1))}
	args := append([]tensortest.Arg(nil), c.Args...)
	for i, a := range args {
		v, ok := in[a.Name]
		if !ok || (a.Name != "a" && a.Name != "b" && a.Name != "residual" && a.Name != "dy") {
			continue
		}
		v = append([]float32(nil), v...)
		for j := 0; j < len(v); j += 7 {
			v[j] = specials[(j/7)%len(specials)]
		}
		args[i].Values = v
	}
	c.Args, c.Name = args, c.Name+" planted"
	return c
}

// BenchmarkFused times each fused op against the plain sequence it stands
// for, on the shared cases at ResNet's and VGG's sizes, e.g.
//
//	go test -run '^$' -bench 'Fused/BatchNormReLU' ./internal/cpu
func BenchmarkFused(b *testing.B) {
	for _, c := range fusedCases() {
		if !strings.Contains(c.Name, "32x16x32x32") && !strings.Contains(c.Name, "33x8x16x16") && !strings.Contains(c.Name, "16x64x8x8") {
			continue
		}
		for _, e := range []struct {
			name string
			be   tensor.Backend
		}{{"fused", cpu.New()}, {"plain", plainOnly{cpu.New()}}} {
			b.Run(c.String()+"/"+e.name, func(b *testing.B) {
				bound := c.Bind(e.be)
				defer bound.Free()
				cpu0 := cpuSeconds()
				for b.Loop() {
					bound.Run()
				}
				if err := e.be.Err(); err != nil {
					b.Fatal(err)
				}
				// CPU time, less disturbed than wall time on a shared machine.
				if used := cpuSeconds() - cpu0; used > 0 {
					b.ReportMetric(used*1e6/float64(b.N), "cpu-us/op")
				}
			})
		}
	}
}
