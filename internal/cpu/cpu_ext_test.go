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
// engine's choice, then im2col, indirect, per-pixel, row-dot, per-tap and
// per-phase wherever each applies), against the
// plain-loop reference. The guard cells and NaN-poisoned outputs check the
// fast kernels' edges.
func TestSharedCases(t *testing.T) {
	defer gemm.SetKernel(gemm.Kernel())
	defer convModes[0].set().restore()
	for _, k := range gemm.Kernels() {
		for _, mode := range convModes {
			t.Run(k+"/"+mode.name, func(t *testing.T) {
				if err := gemm.SetKernel(k); err != nil {
					t.Fatal(err)
				}
				mode.set()
				tensortest.CheckBackend(t, cpu.New())
			})
		}
	}
}

// convMode is a choice of convolution paths, as cpu.SetIndirect,
// cpu.SetPixel, cpu.SetRowDot, cpu.SetTap and cpu.SetPhase modes.
type convMode struct {
	name                                       string
	indirect, pixel, rowDot, tap, phase, shift int
}

// set switches the engine to m's paths and returns the previous choice.
func (m convMode) set() convMode {
	return convMode{"previous", cpu.SetIndirect(m.indirect), cpu.SetPixel(m.pixel), cpu.SetRowDot(m.rowDot), cpu.SetTap(m.tap), cpu.SetPhase(m.phase), cpu.SetShift(m.shift)}
}

// restore is set without the result, for defer.
func (m convMode) restore() { m.set() }

// convModes are the convolution paths: the engine's choice, then each path
// wherever it applies (im2col: none of the others).
var convModes = []convMode{
	{"auto", 0, 0, 0, 0, 0, 0}, {"im2col", -1, -1, -1, -1, -1, -1}, {"indirect", 1, -1, -1, -1, -1, -1}, {"pixel", -1, 1, -1, -1, -1, -1},
	{"rowdot", -1, -1, 1, -1, -1, -1}, {"tap", -1, -1, -1, 1, -1, -1}, {"phase", -1, -1, -1, -1, 1, -1}, {"shift", 0, -1, -1, -1, -1, 1},
}

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
