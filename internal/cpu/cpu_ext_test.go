package cpu_test

import (
	"testing"

	"github.com/cnnctl/cnnctl/internal/cpu"
	"github.com/cnnctl/cnnctl/internal/gemm"
	"github.com/cnnctl/cnnctl/internal/tensor/tensortest"
)

// TestSharedCases runs the shared cases on the fast engine, once per gemm
// micro-kernel family the CPU supports and per convolution path (the
// engine's choice, im2col only, indirect wherever it applies), against the
// plain-loop reference. The guard cells and NaN-poisoned outputs check the
// fast kernels' edges.
func TestSharedCases(t *testing.T) {
	defer gemm.SetKernel(gemm.Kernel())
	defer cpu.SetIndirect(cpu.SetIndirect(0))
	for _, k := range gemm.Kernels() {
		for _, mode := range convModes {
			t.Run(k+"/"+mode.name, func(t *testing.T) {
				if err := gemm.SetKernel(k); err != nil {
					t.Fatal(err)
				}
				cpu.SetIndirect(mode.mode)
				tensortest.CheckBackend(t, cpu.New())
			})
		}
	}
}

// convModes are the convolution paths for cpu.SetIndirect.
var convModes = []struct {
	name string
	mode int
}{{"auto", 0}, {"im2col", -1}, {"indirect", 1}}

// TestReferenceSharedCases runs the shared cases on a second reference
// backend: trivially equal, but it exercises the harness and the reference's
// own edges.
func TestReferenceSharedCases(t *testing.T) {
	tensortest.CheckBackend(t, cpu.NewReference())
}

// BenchmarkCases times every shared case on the fast engine, e.g.
// go test -run '^$' -bench 'Cases/Conv2DForward' ./internal/cpu
func BenchmarkCases(b *testing.B) {
	be := cpu.New()
	for _, c := range tensortest.Cases() {
		b.Run(c.String(), func(b *testing.B) {
			bound := c.Bind(be)
			defer bound.Free()
			for b.Loop() {
				bound.Run()
			}
			if err := be.Err(); err != nil {
				b.Fatal(err)
			}
		})
	}
}
