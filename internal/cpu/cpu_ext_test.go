package cpu_test

import (
	"testing"

	"github.com/cnnctl/cnnctl/internal/cpu"
	"github.com/cnnctl/cnnctl/internal/tensor/tensortest"
)

// TestSharedCases runs the shared cases on a second CPU backend: the results
// are trivially equal, but it exercises every case and the harness, and the
// guard cells and NaN-poisoned outputs check the CPU ops themselves.
func TestSharedCases(t *testing.T) {
	tensortest.CheckBackend(t, cpu.New())
}

// BenchmarkCases times every shared case on the CPU backend, e.g.
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
