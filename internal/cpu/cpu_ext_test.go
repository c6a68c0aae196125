package cpu_test

import (
	"testing"

	"github.com/cnnctl/cnnctl/internal/cpu"
	"github.com/cnnctl/cnnctl/internal/gemm"
	"github.com/cnnctl/cnnctl/internal/tensor"
	"github.com/cnnctl/cnnctl/internal/tensor/tensortest"
)

// TestSharedCases runs the shared cases on the fast engine, once per gemm
// micro-kernel family the CPU supports and per convolution path (the
// engine's choice, then im2col, indirect, per-pixel, row-dot and per-tap wherever each
// applies), against the
// plain-loop reference. The guard cells and NaN-poisoned outputs check the
// fast kernels' edges.
func TestSharedCases(t *testing.T) {
	defer gemm.SetKernel(gemm.Kernel())
	defer cpu.SetIndirect(cpu.SetIndirect(0))
	defer cpu.SetPixel(cpu.SetPixel(0))
	defer cpu.SetRowDot(cpu.SetRowDot(0))
	defer cpu.SetTap(cpu.SetTap(0))
	for _, k := range gemm.Kernels() {
		for _, mode := range convModes {
			t.Run(k+"/"+mode.name, func(t *testing.T) {
				if err := gemm.SetKernel(k); err != nil {
					t.Fatal(err)
				}
				cpu.SetIndirect(mode.indirect)
				cpu.SetPixel(mode.pixel)
				cpu.SetRowDot(mode.rowDot)
				cpu.SetTap(mode.tap)
				tensortest.CheckBackend(t, cpu.New())
			})
		}
	}
}

// convModes are the convolution paths, as cpu.SetIndirect, cpu.SetPixel,
// cpu.SetRowDot and cpu.SetTap modes: the engine's choice, then each path wherever it applies.
var convModes = []struct {
	name                         string
	indirect, pixel, rowDot, tap int
}{{"auto", 0, 0, 0, 0}, {"im2col", -1, -1, -1, -1}, {"indirect", 1, -1, -1, -1}, {"pixel", -1, 1, -1, -1}, {"rowdot", -1, -1, 1, -1}, {"tap", -1, -1, -1, 1}}

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

// TestDTypes: both engines refuse bf16 tensors in every op but Cast and
// the copies, naming the op and the dtype.
func TestDTypes(t *testing.T) {
	tensortest.CheckDTypes(t, func() tensor.Backend { return cpu.New() })
	tensortest.CheckDTypes(t, func() tensor.Backend { return cpu.NewReference() })
}
