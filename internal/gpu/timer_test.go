//go:build cuda

package gpu

import (
	"testing"
	"time"

	"github.com/cnnctl/cnnctl/internal/tensor"
)

// TestEventTimer times a convolution with CUDA events: the device time must
// be positive and no longer than the wall clock around it, an empty
// interval short, and the events must be reused.
func TestEventTimer(t *testing.T) {
	be := newBackend(t)
	conv := timedConv(t, be)
	for i := range 3 {
		start := time.Now()
		tm := be.StartTimer()
		conv()
		d := tm.Stop()
		wall := time.Since(start)
		if err := be.Err(); err != nil {
			t.Fatal(err)
		}
		if d <= 0 || d > wall {
			t.Errorf("run %d: device time %v, wall clock %v: want 0 < device <= wall", i, d, wall)
		}
		t.Logf("run %d: conv 64x32x32x32 3x3: %v on the device, %v wall clock", i, d, wall)
	}
	empty := be.StartTimer().Stop()
	if empty < 0 || empty > time.Millisecond {
		t.Errorf("an empty interval took %v", empty)
	}
	if n := len(be.events); n != 2 {
		t.Errorf("%d events on the free list after sequential timers, want 2 (reused)", n)
	}
	if err := be.Sync(); err != nil {
		t.Fatal(err)
	}
}

// timedConv returns a warmed-up convolution (64x32x32x32, 3x3) that queues
// itself once per call: work to time.
func timedConv(t *testing.T, be *Backend) func() {
	t.Helper()
	x, w, y := be.New(tensor.Shape{64, 32, 32, 32}), be.New(tensor.Shape{32, 32, 3, 3}), be.New(tensor.Shape{64, 32, 32, 32})
	be.Upload(x, random(x.Numel(), 1))
	p := tensor.ConvParams{StrideH: 1, StrideW: 1, PadH: 1, PadW: 1}
	conv := func() { be.Conv2DForward(x, w, nil, y, p) }
	conv() // warm up
	if err := be.Sync(); err != nil {
		t.Fatal(err)
	}
	return conv
}
