package train

import (
	"strings"
	"testing"

	"github.com/cnnctl/cnnctl/internal/cpu"
	"github.com/cnnctl/cnnctl/internal/tensor"
	"github.com/cnnctl/cnnctl/internal/zoo"
)

func TestMemoryPlan(t *testing.T) {
	spec, err := zoo.Load("lenet")
	if err != nil {
		t.Fatal(err)
	}
	p, err := PlanMemory(spec, []int{3, 32, 32}, 10, ParamSlots("sgd"), 2)
	if err != nil {
		t.Fatal(err)
	}
	if p.Params != 62006 || p.ParamBytes != 62006*4*3 {
		t.Errorf("params %d (%d bytes), want 62006 (weights, grads, momentum)", p.Params, p.ParamBytes)
	}
	free := p.Bytes(100)
	if got := p.LargestBatch(free); got != 100 {
		t.Errorf("largest batch in exactly the plan of batch 100: %d", got)
	}
	if got := p.LargestBatch(free - 1); got != 99 {
		t.Errorf("one byte less: %d, want 99", got)
	}
	if got := p.LargestBatch(p.ParamBytes); got != 0 {
		t.Errorf("no room for activations: %d, want 0", got)
	}
}

// fakeGPU is the CPU backend claiming memory of its own, as a GPU does.
type fakeGPU struct {
	tensor.Backend
	free int64
}

func (f fakeGPU) DeviceMemory() (int64, int64, string) { return f.free, 2 * f.free, "Fake GPU" }

// TestCheckMemoryUsesMemInfo: a backend with tensor.MemInfo is checked
// against its own free memory, with the largest batch that fits.
func TestCheckMemoryUsesMemInfo(t *testing.T) {
	p := MemoryPlan{Params: 10, ParamBytes: 1 << 20, ActPerImage: 1 << 20}
	be := fakeGPU{cpu.New(), 11 << 20}
	if err := CheckMemory(be, p, 10, 0); err != nil {
		t.Errorf("batch 10 in 11 MiB: %v", err)
	}
	err := CheckMemory(be, p, 11, 0)
	if err == nil || !strings.Contains(err.Error(), "out of GPU memory") || !strings.Contains(err.Error(), "Fake GPU has 11 MiB free") || !strings.Contains(err.Error(), "try --batch-size 10") {
		t.Errorf("batch 11 in 11 MiB: %v", err)
	}
	// The CPU backend has no memory of its own: only the host is checked.
	if err := CheckMemory(cpu.New(), p, 11, 0); err != nil && strings.Contains(err.Error(), "GPU") {
		t.Errorf("the CPU backend was checked as a GPU: %v", err)
	}
}

func TestCommas(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", -1234567: "-1,234,567", 62006: "62,006"} {
		if got := Commas(n); got != want {
			t.Errorf("Commas(%d) = %q, want %q", n, got, want)
		}
	}
}
