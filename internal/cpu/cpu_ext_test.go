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
