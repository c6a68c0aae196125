package train

import (
	"errors"
	"fmt"
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

// asideRecorder is a pinnedRecorder with a fake tensor.CopyQueue that
// behaves as a second CUDA stream would at its worst: a copy queued with
// UploadAside does not run until the op queue waits for its fence
// (Await), so a step that reads its batch without waiting reads stale
// values; and it checks the ordering a real one cannot: a copy into a
// device region must wait for a fence set after the op queue's last read
// of that region (else it could overwrite a batch still being read), and
// the op queue may read a region only after awaiting the copy that wrote
// it. Positions on the op queue are the recorder's call count.
type asideRecorder struct {
	*pinnedRecorder
	pending    []*asideCopy // queued, not yet run
	regions    []*asideRegion
	asides     []asideLog
	violations []string
	fences     int // live
}

// asideCopy is one copy of the fake copy queue.
type asideCopy struct {
	t         *tensor.Tensor
	src       []float32
	done      *asideFence
	ran       bool
	hostSlots *float32 // the pinned slot it reads
}

// asideRegion is a device region written by the copy queue.
type asideRegion struct {
	t        *tensor.Tensor
	lastRead int        // op-queue position of the last read, -1 none
	written  *asideCopy // the last copy into it
	awaited  bool       // the op queue has awaited written's fence
}

// asideLog is what each UploadAside saw: the op-queue position it was
// queued at and that of the fence it waits for (-1: none, never set).
type asideLog struct{ at, waitSetAt int }

// asideFence is a fence of the fake: set on the op queue at a position,
// or by a copy of the copy queue.
type asideFence struct {
	r     *asideRecorder
	setAt int        // op-queue position of the last Signal, -1 none
	by    *asideCopy // the copy that sets it, when set by the copy queue
	freed bool
}

func (f *asideFence) Free() {
	if !f.freed {
		f.freed = true
		f.r.fences--
	}
}

func newAsideRecorder() *asideRecorder {
	rec := newRecorder(cpu.New())
	p := &pinnedRecorder{stepRecorder: stepRecorder{recorder: rec, ops: rec.be.(tensor.StepOps)}, inFlight: map[*float32]bool{}}
	return &asideRecorder{pinnedRecorder: p}
}

func (a *asideRecorder) NewFence() (tensor.Fence, error) {
	a.fences++
	return &asideFence{r: a, setAt: -1}, nil
}

func (a *asideRecorder) violate(format string, args ...any) {
	a.violations = append(a.violations, fmt.Sprintf(format, args...))
}

// overlaps reports whether x and y share elements of one buffer.
func overlaps(x, y *tensor.Tensor) bool {
	return x.Buf == y.Buf && x.Off < y.Off+y.Numel() && y.Off < x.Off+x.Numel()
}

func (a *asideRecorder) region(t *tensor.Tensor) *asideRegion {
	for _, g := range a.regions {
		if overlaps(g.t, t) {
			return g
		}
	}
	g := &asideRegion{t: t, lastRead: -1}
	a.regions = append(a.regions, g)
	return g
}

func (a *asideRecorder) UploadAside(t *tensor.Tensor, src []float32, wait, done tensor.Fence) {
	a.calls["UploadAside"]++
	g := a.region(t)
	w, _ := wait.(*asideFence)
	setAt := -1
	if w != nil {
		setAt = w.setAt
	}
	a.asides = append(a.asides, asideLog{at: a.total(), waitSetAt: setAt})
	if g.lastRead >= 0 && setAt <= g.lastRead {
		a.violate("a copy into a device slot waits for the op queue at %d, before its read of the slot at %d", setAt, g.lastRead)
	}
	if a.inFlight[&src[0]] {
		a.violate("a pinned buffer was rewritten before the host waited for its copy")
	}
	a.inFlight[&src[0]] = true
	c := &asideCopy{t: t, src: src}
	d := done.(*asideFence)
	d.by, c.done = c, d
	g.written, g.awaited = c, false
	a.pending = append(a.pending, c)
}

// Await runs the copy queue up to the copy that sets f (in order).
func (a *asideRecorder) Await(f tensor.Fence) {
	a.calls["Await"]++
	af := f.(*asideFence)
	if af.by == nil {
		return
	}
	for len(a.pending) > 0 {
		c := a.pending[0]
		a.pending = a.pending[1:]
		a.be.Upload(c.t, c.src)
		c.ran = true
		if c == af.by {
			break
		}
	}
	for _, g := range a.regions {
		if g.written == af.by {
			g.awaited = true
		}
	}
}

func (a *asideRecorder) Signal(f tensor.Fence) {
	a.calls["Signal"]++
	af := f.(*asideFence)
	af.setAt, af.by = a.total(), nil
}

// Copy checks that a read of a region the copy queue writes comes after
// the op queue awaited that copy, and records the read's position.
func (a *asideRecorder) Copy(dst, src *tensor.Tensor) {
	for _, g := range a.regions {
		if overlaps(g.t, src) {
			if !g.awaited {
				a.violate("the op queue reads a device slot before awaiting the copy into it")
			}
			g.lastRead = a.total()
		}
	}
	a.pinnedRecorder.Copy(dst, src)
}

// Download and Sync: a host wait on the op queue frees the pinned buffers
// of the copies that have run (the op queue awaited them); a copy still
// pending is one the op queue never waited for.
func (a *asideRecorder) Download(dst []float32, t *tensor.Tensor) {
	a.pinnedRecorder.Download(dst, t)
	a.hostWaited()
}

func (a *asideRecorder) Sync() error {
	err := a.pinnedRecorder.Sync()
	a.hostWaited()
	return err
}

func (a *asideRecorder) hostWaited() {
	for _, c := range a.pending {
		a.violate("the host waited with a copy the op queue never awaited")
		a.inFlight[&c.src[0]] = true
	}
}

var _ tensor.CopyQueue = (*asideRecorder)(nil)

// asideRun trains stepCases[0] for two epochs through the copy queue fake,
// reading every 3 steps, with or without graphs.
func asideRun(t *testing.T, graphs bool) (trained, *asideRecorder, []string) {
	t.Helper()
	c := stepCases[0]
	bs := batches(c.sizes)
	a := newAsideRecorder()
	m := buildModel(t, a, c.model)
	opt, err := NewOptimizer(m, c.opt)
	if err != nil {
		t.Fatal(err)
	}
	var notes []string
	note := func(format string, args ...any) { notes = append(notes, fmt.Sprintf(format, args...)) }
	s := NewStep(m, opt, c.sizes[0], len(bs), 3, c.smooth)
	if !s.UsePinned(note) {
		t.Fatal("UsePinned refused the fake")
	}
	if graphs && !s.UseGraphs(note) {
		t.Fatal("no graphs")
	}
	sch := Schedule{Kind: "cosine", BaseLR: 0.05, Epochs: 2, WarmupEpochs: 0.5}
	var tr trained
	for e := 0; e < 2; e++ {
		lrs := make([]float32, len(bs))
		for i := range lrs {
			lrs[i] = float32(sch.LR(float64(e) + float64(i)/float64(len(bs))))
		}
		s.StartEpoch(lrs, 0)
		for _, b := range bs {
			s.Load(b)
			s.Run()
			if s.Full() {
				tr.readFrom(t, s)
			}
		}
		tr.readFrom(t, s)
	}
	out := snapshot(t, m, opt)
	out.losses, out.correct = tr.losses, tr.correct
	s.Free()
	return out, a, notes
}

// TestStepCopyQueue: on a backend with a copy queue, each batch is copied
// there (never on the op queue), into one of two device slots, and the
// step copies it out after awaiting that copy; the copy of batch i waits
// only for the op queue's copy out of batch i-2, queued before step i-1,
// so it can run while step i-1 computes; the run trains the bits of
// plain uploads, with and without graphs, and frees its fences.
func TestStepCopyQueue(t *testing.T) {
	c := stepCases[0]
	plain, ps := graphRun(t, c, batches(c.sizes), graphOptions{})
	for _, graphs := range []bool{false, true} {
		got, a, notes := asideRun(t, graphs)
		if d := diff(plain, got); d != "" {
			t.Fatalf("graphs %v: through the copy queue vs plain uploads: %s", graphs, d)
		}
		loads := 2 * len(c.sizes)
		if a.calls["UploadAside"] != loads || a.calls["Await"] != loads || a.calls["Signal"] != loads ||
			a.uploads != 0 || a.calls["Upload"] != ps.uploads-2*loads || len(notes) != 0 {
			t.Errorf("graphs %v: %d copies aside, %d awaits, %d signals (want %d each), %d pinned uploads on the op queue (want 0), %d plain uploads (want the %d that are not batches), notes %q",
				graphs, a.calls["UploadAside"], a.calls["Await"], a.calls["Signal"], loads, a.uploads, a.calls["Upload"], ps.uploads-2*loads, notes)
		}
		if len(a.violations) != 0 || len(a.pinnedRecorder.violations) != 0 || len(a.pending) != 0 {
			t.Errorf("graphs %v: violations %q %q, %d copies never awaited", graphs, a.violations, a.pinnedRecorder.violations, len(a.pending))
		}
		if len(a.regions) != 2 || a.fences != 0 {
			t.Errorf("graphs %v: %d device slots written (want 2), %d fences left (want 0)", graphs, len(a.regions), a.fences)
		}
		for i, l := range a.asides {
			switch {
			case i < 2 && l.waitSetAt != -1:
				t.Errorf("load %d waits for the op queue at %d; the first two slots are free", i, l.waitSetAt)
			case i >= 2 && (l.waitSetAt < 0 || l.waitSetAt >= a.asides[i-1].at):
				t.Errorf("load %d (queued at %d) waits for the op queue at %d, not before load %d's (at %d): it cannot overlap step %d",
					i, l.at, l.waitSetAt, i-1, a.asides[i-1].at, i-1)
			}
		}
	}
}

// TestCopyQueueFakeSeesHazards shows that the fake's checks can fail: a
// copy into a slot without waiting for the op queue's read of it, a read
// before awaiting the copy (which also reads stale values), and a host
// wait with a copy never awaited.
func TestCopyQueueFakeSeesHazards(t *testing.T) {
	a := newAsideRecorder()
	slot, x := a.New(tensor.Shape{4}), a.New(tensor.Shape{4})
	ready, _ := a.NewFence()
	done, _ := a.NewFence()
	buf1, buf2 := []float32{1, 2, 3, 4}, []float32{5, 6, 7, 8}
	a.UploadAside(slot, buf1, done, ready)
	a.Copy(x, slot) // no Await: stale
	got := make([]float32, 4)
	a.Download(got, x)
	if got[0] != 0 || len(a.violations) < 2 {
		t.Fatalf("read before await: x = %v, violations %q", got, a.violations)
	}
	a.violations, a.pending = nil, nil
	a.Await(ready)
	a.Copy(x, slot)
	a.UploadAside(slot, buf2, nil, ready) // no wait for the read just queued
	if len(a.violations) != 1 || !strings.Contains(a.violations[0], "before its read of the slot") {
		t.Fatalf("a copy over a slot being read: violations %q", a.violations)
	}
}
