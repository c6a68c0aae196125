//go:build cuda

package gpu

import (
	"math"
	"testing"

	"github.com/cnnctl/cnnctl/internal/tensor"
)

// TestCaptureReplay captures relu then an add into a CUDA graph, changes
// the input and replays: the result must be the eager one on the new input,
// bit for bit; a Download inside a capture must fail the capture, not the
// backend.
func TestCaptureReplay(t *testing.T) {
	be := newBackend(t)
	const n = 4097
	x, y, z := be.New(tensor.Shape{n}), be.New(tensor.Shape{n}), be.New(tensor.Shape{n})
	run := func() {
		be.ActivationForward(tensor.ReLU, x, y)
		be.Add(y, x, z)
	}
	be.Upload(x, random(n, 5))
	if err := be.BeginCapture(); err != nil {
		t.Fatal(err)
	}
	if !be.Capturing() {
		t.Error("Capturing() is false inside a capture")
	}
	run()
	g, err := be.EndCapture()
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	second := random(n, 6)
	be.Upload(x, second)
	if err := g.Replay(); err != nil {
		t.Fatal(err)
	}
	got := make([]float32, n)
	be.Download(got, z)
	if err := be.Sync(); err != nil {
		t.Fatal(err)
	}
	for i, v := range second {
		if want := max(v, 0) + v; math.Float32bits(got[i]) != math.Float32bits(want) {
			t.Fatalf("replayed z[%d] = %g, want %g", i, got[i], want)
		}
	}

	// A host wait cannot be captured: the capture fails, the backend lives on.
	if err := be.BeginCapture(); err != nil {
		t.Fatal(err)
	}
	be.Download(got, z)
	if _, err := be.EndCapture(); err == nil {
		t.Error("a capture with a Download in it succeeded")
	} else {
		t.Logf("capture with a Download: %v", err)
	}
	if err := be.Err(); err != nil {
		t.Fatalf("a failed capture stopped the backend: %v", err)
	}
	run()
	be.Download(got, z)
	if err := be.Sync(); err != nil {
		t.Fatalf("after a failed capture: %v", err)
	}
}

// TestCaptureKeepsScratch: the scratch blocks of captured kernels (the
// batch norm's partial sums) stay out of the pool while the graph lives,
// so no allocation can be handed memory a replay writes, and return to it
// on Close.
func TestCaptureKeepsScratch(t *testing.T) {
	be := newBackend(t)
	x, y := be.New(tensor.Shape{32, 16, 8, 8}), be.New(tensor.Shape{32, 16, 8, 8})
	c := tensor.Shape{16}
	gamma, beta, rm, rv, sm, si := be.New(c), be.New(c), be.New(c), be.New(c), be.New(c), be.New(c)
	be.Upload(x, random(x.Numel(), 3))
	p := tensor.BatchNormParams{Momentum: 0.1, Eps: 1e-5}
	if err := be.BeginCapture(); err != nil {
		t.Fatal(err)
	}
	be.BatchNormForwardTrain(x, gamma, beta, rm, rv, y, sm, si, p)
	g, err := be.EndCapture()
	if err != nil {
		t.Fatal(err)
	}
	held := g.(*graph).scratch
	idle := func() map[uintptr]bool {
		m := map[uintptr]bool{}
		be.do("pool", func() {
			for _, list := range be.pool.idle {
				for _, ptr := range list {
					m[ptr] = true
				}
			}
		})
		return m
	}
	n := 0
	for _, list := range held {
		for _, ptr := range list {
			n++
			if idle()[ptr] {
				t.Errorf("scratch block %#x of a live graph is in the pool", ptr)
			}
		}
	}
	if n == 0 {
		t.Fatal("the captured batch norm used no scratch: the test sees nothing")
	}
	if err := g.Replay(); err != nil {
		t.Fatal(err)
	}
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	back := idle()
	for _, list := range held {
		for _, ptr := range list {
			if !back[ptr] {
				t.Errorf("scratch block %#x did not return to the pool on Close", ptr)
			}
		}
	}
	if err := be.Sync(); err != nil {
		t.Fatal(err)
	}
}
