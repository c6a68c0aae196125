package bench

import (
	"errors"
	"strings"
	"testing"

	"github.com/cnnctl/cnnctl/internal/cpu"
	"github.com/cnnctl/cnnctl/internal/tensor"
	"github.com/cnnctl/cnnctl/internal/zoo"
)

// fakeDevice is the CPU backend claiming a device of its own that cannot
// capture: HostEnqueue measures the op-by-op side and says why the replay
// is missing.
type fakeDevice struct{ *cpu.Backend }

func (fakeDevice) DeviceMemory() (free, total int64, name string) { return 1 << 30, 1 << 30, "fake" }
func (fakeDevice) BeginCapture() error                            { return errors.New("driver too old") }
func (fakeDevice) EndCapture() (tensor.Graph, error)              { return nil, errors.New("not capturing") }

// TestHostEnqueue: train mode reports the host's time to queue a step: n/a
// on the CPU; on a device, the op-by-op time, and the replay's or why not.
func TestHostEnqueue(t *testing.T) {
	spec, err := zoo.Load("lenet")
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Batch: 2, Iters: 2, Mode: "train", StepOnly: true}
	r, err := Run(spec, cpu.New(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if h := r.Step.HostEnqueue; h == nil || h.EagerUS != nil || h.ReplayUS != nil || !strings.HasPrefix(h.Note, "n/a on the cpu") {
		t.Errorf("cpu: %+v", h)
	}
	var table strings.Builder
	r.WriteTable(&table)
	if !strings.Contains(table.String(), "op by op n/a, graph replay n/a (n/a on the cpu") {
		t.Errorf("cpu table:\n%s", table.String())
	}
	for _, tc := range []struct {
		noGraphs bool
		note     string
	}{{false, "replay not measured: graphs: cannot start capturing the step of batch 2: driver too old"}, {true, "replay not measured: --no-graphs"}} {
		cfg.NoGraphs = tc.noGraphs
		r, err = Run(spec, fakeDevice{cpu.New()}, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if h := r.Step.HostEnqueue; h == nil || h.EagerUS == nil || !(*h.EagerUS > 0) || h.ReplayUS != nil || !strings.HasPrefix(h.Note, tc.note) {
			t.Errorf("device, no-graphs %v: %+v", tc.noGraphs, h)
		}
	}
	if r, err = Run(spec, cpu.New(), Config{Batch: 2, Iters: 1, Mode: "infer", StepOnly: true}); err != nil || r.Step.HostEnqueue != nil {
		t.Errorf("infer mode: %v, %+v", err, r.Step.HostEnqueue)
	}
}
