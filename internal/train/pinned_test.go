package train

import (
	"errors"
	"strings"
	"testing"

	"github.com/cnnctl/cnnctl/internal/cpu"
	"github.com/cnnctl/cnnctl/internal/tensor"
)

// pinnedRecorder is a stepRecorder with a fake tensor.Pinned: its pinned
// memory is ordinary memory, and it checks the contract a real one
// cannot: a buffer handed to UploadPinned is not handed over again (its
// host copy rewritten) before the host has waited for the device
// (Download or Sync), when a real asynchronous copy might still be
// reading it.
type pinnedRecorder struct {
	stepRecorder
	fail       error // PinnedFloats' failure
	inFlight   map[*float32]bool
	allocated  int
	freed      int
	uploads    int
	violations []string
}

func (p *pinnedRecorder) PinnedFloats(n int) ([]float32, error) {
	if p.fail != nil {
		return nil, p.fail
	}
	p.allocated++
	return make([]float32, n), nil
}

func (p *pinnedRecorder) FreePinned(buf []float32) { p.freed++ }

func (p *pinnedRecorder) UploadPinned(t *tensor.Tensor, src []float32) {
	if p.inFlight[&src[0]] {
		p.violations = append(p.violations, "a pinned buffer was rewritten before the host waited for its copy")
	}
	p.inFlight[&src[0]] = true
	p.uploads++
	p.op("UploadPinned", func() { p.be.Upload(t, src) })
}

func (p *pinnedRecorder) Download(dst []float32, t *tensor.Tensor) {
	p.stepRecorder.Download(dst, t)
	clear(p.inFlight)
}

func (p *pinnedRecorder) Sync() error {
	clear(p.inFlight)
	return p.stepRecorder.Sync()
}

var _ tensor.Pinned = (*pinnedRecorder)(nil)

// TestStepPinnedUploads: batches copied through the pinned slots train
// the bits of plain uploads, with and without graphs; every load of the
// run goes through a slot, no slot is rewritten before a read has waited
// for its copy, and Free gives every slot back.
func TestStepPinnedUploads(t *testing.T) {
	c := stepCases[0]
	bs := batches(c.sizes)
	plain, ps := graphRun(t, c, bs, graphOptions{})
	for _, graphs := range []bool{false, true} {
		got, st := graphRun(t, c, bs, graphOptions{pinned: true, graphs: graphs})
		if d := diff(plain, got); d != "" {
			t.Fatalf("pinned uploads (graphs %v) vs plain: %s", graphs, d)
		}
		p := st.pin
		// Two epochs, each load an upload of images and one of labels.
		if p.uploads != 2*2*len(bs) || st.uploads != ps.uploads-p.uploads || len(p.violations) != 0 || len(st.notes) != 0 {
			t.Errorf("graphs %v: %d pinned uploads (want %d), %d plain uploads (want %d), violations %q, notes %q",
				graphs, p.uploads, 2*2*len(bs), st.uploads, ps.uploads-2*2*len(bs), p.violations, st.notes)
		}
		if p.allocated != 3 || p.freed != 3 {
			t.Errorf("%d slots allocated, %d freed; want 3 (the read window) and 3", p.allocated, p.freed)
		}
	}
}

// TestStepPinnedReuseNeedsARead: loads beyond the slots free since the
// last read go through plain uploads, never through a slot still in
// flight.
func TestStepPinnedReuseNeedsARead(t *testing.T) {
	c := stepCases[1]
	rec := newRecorder(cpu.New())
	p := &pinnedRecorder{stepRecorder: stepRecorder{recorder: rec, ops: rec.be.(tensor.StepOps)}, inFlight: map[*float32]bool{}}
	m := buildModel(t, p, c.model)
	opt, err := NewOptimizer(m, c.opt)
	if err != nil {
		t.Fatal(err)
	}
	bs := batches([]int{6, 6, 6, 6, 6})
	s := NewStep(m, opt, 6, len(bs), 2, 0)
	defer s.Free()
	if !s.UsePinned(t.Logf) {
		t.Fatal("UsePinned refused the fake")
	}
	s.StartEpoch([]float32{0.1, 0.1, 0.1, 0.1, 0.1}, 0)
	for i, b := range bs {
		s.Load(b)
		s.Run()
		if i == 2 {
			// A new epoch without a read: the slots are still in flight.
			s.StartEpoch([]float32{0.1, 0.1, 0.1, 0.1, 0.1}, 0)
		}
	}
	// Loads 0 and 1 fill the two slots; 2, 3 and 4 find none free (no read).
	if len(p.violations) != 0 || p.uploads != 2*2 {
		t.Errorf("violations %q, %d pinned uploads; want none and 4", p.violations, p.uploads)
	}
}

// TestStepPinnedFallback: when the backend cannot pin, one line says so
// and the batches go through plain uploads, with the same bits.
func TestStepPinnedFallback(t *testing.T) {
	c := stepCases[1]
	bs := batches(c.sizes)
	plain, _ := graphRun(t, c, bs, graphOptions{})
	got, st := graphRun(t, c, bs, graphOptions{pinned: true, pinErr: errors.New("gpu: pin 123 bytes of host memory: CUDA_ERROR_OUT_OF_MEMORY")})
	if d := diff(plain, got); d != "" {
		t.Fatalf("after the failed pinning: %s", d)
	}
	if len(st.notes) != 1 || !strings.HasPrefix(st.notes[0], "warning: pinned: gpu: pin 123 bytes") || !strings.Contains(st.notes[0], "pageable") || st.pin.uploads != 0 {
		t.Errorf("notes %q, %d pinned uploads", st.notes, st.pin.uploads)
	}
}
