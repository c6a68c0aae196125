package bench

import (
	"testing"
	"time"

	"github.com/cnnctl/cnnctl/internal/cpu"
	"github.com/cnnctl/cnnctl/internal/tensor"
	"github.com/cnnctl/cnnctl/internal/zoo"
)

// fakeEvents is the CPU backend with a device timer that says every
// interval took 3 ms, as a GPU backend's CUDA events would say how long.
type fakeEvents struct {
	*cpu.Backend
	started, stopped int
}

type fakeTimer struct{ f *fakeEvents }

func (f *fakeEvents) StartTimer() tensor.Timer { f.started++; return fakeTimer{f} }

func (t fakeTimer) Stop() time.Duration { t.f.stopped++; return 3 * time.Millisecond }

// TestEventTiming checks that a backend with device timers times every
// layer, the loss and the update with them, and says so in the report.
func TestEventTiming(t *testing.T) {
	spec, err := zoo.Load("lenet")
	if err != nil {
		t.Fatal(err)
	}
	be := &fakeEvents{Backend: cpu.New()}
	r, err := Run(spec, be, Config{Batch: 2, Iters: 2, Warmup: 1, Mode: "train", Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if r.Timing != TimingEvents {
		t.Errorf("timing %q, want %q", r.Timing, TimingEvents)
	}
	if be.started != be.stopped || be.started == 0 {
		t.Errorf("%d timers started, %d stopped", be.started, be.stopped)
	}
	for _, l := range r.Layers {
		if l.Forward.MedianMS != 3 || l.Backward == nil || l.Backward.MedianMS != 3 {
			t.Errorf("layer %s: forward %v backward %+v, want 3 ms each from the device timer", l.Name, l.Forward.MedianMS, l.Backward)
		}
	}
	if r.Step.LossMS != 3 || r.Step.UpdateMS != 3 {
		t.Errorf("loss %v ms, update %v ms, want 3 each", r.Step.LossMS, r.Step.UpdateMS)
	}
	if want := 2 * 3 * float64(len(r.Layers)); r.Step.LayersSumMS != want {
		t.Errorf("layers sum %v ms, want %v", r.Step.LayersSumMS, want)
	}
	// The CPU backend has no device timer: wall clock.
	if r, _ := runModel(t, "lenet", "train"); r.Timing != TimingWall {
		t.Errorf("cpu timing %q, want %q", r.Timing, TimingWall)
	}
}
