package train

import (
	"fmt"
	"testing"

	"github.com/cnnctl/cnnctl/internal/cpu"
	"github.com/cnnctl/cnnctl/internal/tensor"
)

// TestEvalStreamCopyQueue: a streamed evaluation on a backend with a copy
// queue copies each batch there through a pinned slot, never from
// ordinary memory on the op queue; the op queue reads a device slot only
// after awaiting the copy into it, and the copy of batch i into a slot
// waits for the op queue's read of batch i-2 from it, queued before batch
// i-1's work (so it overlaps that work); no pinned slot is rewritten
// before the host has waited; every slot and fence is freed; and the
// result has the bits of the plain path (uploads from ordinary memory,
// each batch read back), with and without graphs, on the device path and
// the per-batch one, with the logits read at the end or every 2 batches.
func TestEvalStreamCopyQueue(t *testing.T) {
	ref := newEvalFixture(t, cpu.New())
	want := evalBits(t)(EvaluateWith(ref.m, ref.streamed, tenClasses, 8, EvalOptions{perBatch: true}))
	for _, tc := range []struct {
		name string
		o    EvalOptions
	}{
		{"on the device", EvalOptions{}},
		{"on the device, graphs", EvalOptions{Graphs: true}},
		{"on the device, graphs, read every 2 batches", EvalOptions{Graphs: true, logitBytes: 2 * 8 * 10 * 4}},
		{"per batch", EvalOptions{perBatch: true}},
		{"per batch, graphs", EvalOptions{perBatch: true, Graphs: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newAsideRecorder()
			m := buildModel(t, a, "resnet20")
			var notes []string
			tc.o.Note = func(format string, args ...any) { notes = append(notes, fmt.Sprintf(format, args...)) }
			a.calls["Upload"] = 0 // the model's weights
			if got := evalBits(t)(EvaluateWith(m, ref.streamed, tenClasses, 8, tc.o)); got != want {
				t.Fatalf("through the copy queue:\n%s\nwant (plain uploads, per batch)\n%s", got, want)
			}
			const loads = 3 // 19 images at batch 8
			if a.calls["UploadAside"] != loads || a.calls["Await"] != loads || a.calls["Signal"] != loads ||
				a.uploads != 0 || a.calls["Upload"] != 0 || len(notes) != 0 {
				t.Errorf("%d copies aside, %d awaits, %d signals (want %d each), %d pinned uploads on the op queue, %d plain uploads (want 0 and 0), notes %q",
					a.calls["UploadAside"], a.calls["Await"], a.calls["Signal"], loads, a.uploads, a.calls["Upload"], notes)
			}
			if len(a.violations) != 0 || len(a.pinnedRecorder.violations) != 0 || len(a.pending) != 0 {
				t.Errorf("violations %q %q, %d copies never awaited", a.violations, a.pinnedRecorder.violations, len(a.pending))
			}
			if len(a.regions) != 2 || a.fences != 0 || a.allocated == 0 || a.allocated != a.freed {
				t.Errorf("%d device slots written (want 2), %d fences left (want 0), %d pinned slots allocated, %d freed",
					len(a.regions), a.fences, a.allocated, a.freed)
			}
			for i, l := range a.asides {
				if i >= 2 && (l.waitSetAt < 0 || l.waitSetAt >= a.asides[i-1].at) {
					t.Errorf("load %d (queued at %d) waits for the op queue at %d, not before load %d's (at %d)",
						i, l.at, l.waitSetAt, i-1, a.asides[i-1].at)
				}
			}
		})
	}
}

// TestEvalStreamPinned: on a backend with pinned memory but no copy queue,
// a streamed evaluation uploads each batch from a pinned slot on the op
// queue, never rewriting a slot before the host has waited for its copy,
// with the plain path's bits; the device path pins a slot per batch
// between two reads of the logits (3, or 2 when read every 2 batches),
// the per-batch path one (it waits every batch); a held split pins
// nothing.
func TestEvalStreamPinned(t *testing.T) {
	ref := newEvalFixture(t, cpu.New())
	want := evalBits(t)(EvaluateWith(ref.m, ref.streamed, tenClasses, 8, EvalOptions{perBatch: true}))
	for _, tc := range []struct {
		name  string
		o     EvalOptions
		slots int
	}{
		{"on the device, graphs", EvalOptions{Graphs: true}, 3},
		{"on the device, read every 2 batches", EvalOptions{logitBytes: 2 * 8 * 10 * 4}, 2},
		{"per batch, graphs", EvalOptions{perBatch: true, Graphs: true}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := newRecorder(cpu.New())
			p := &pinnedRecorder{stepRecorder: stepRecorder{recorder: rec, ops: rec.be.(tensor.StepOps)}, inFlight: map[*float32]bool{}}
			m := buildModel(t, p, "resnet20")
			rec.calls["Upload"] = 0 // the model's weights
			if got := evalBits(t)(EvaluateWith(m, ref.streamed, tenClasses, 8, tc.o)); got != want {
				t.Fatalf("through pinned slots:\n%s\nwant (plain uploads, per batch)\n%s", got, want)
			}
			if p.uploads != 2*3 || rec.calls["Upload"] != 0 || len(p.violations) != 0 {
				t.Errorf("%d pinned uploads (want 6), %d plain uploads (want 0), violations %q", p.uploads, rec.calls["Upload"], p.violations)
			}
			if p.allocated != tc.slots || p.freed != tc.slots {
				t.Errorf("%d slots allocated, %d freed; want %d", p.allocated, p.freed, tc.slots)
			}
		})
	}
	t.Run("held", func(t *testing.T) {
		rec := newRecorder(cpu.New())
		p := &pinnedRecorder{stepRecorder: stepRecorder{recorder: rec, ops: rec.be.(tensor.StepOps)}, inFlight: map[*float32]bool{}}
		m := buildModel(t, p, "resnet20")
		if got := evalBits(t)(EvaluateWith(m, ref.held, tenClasses, 8, EvalOptions{})); got != want {
			t.Fatalf("held:\n%s\nwant\n%s", got, want)
		}
		if p.allocated != 0 || p.uploads != 0 {
			t.Errorf("a held split pinned %d slots and made %d pinned uploads", p.allocated, p.uploads)
		}
	})
}

// TestEvaluatorReuse: one evaluator run again and again (a training run's
// validations) on the copy queue fake gives the plain path's bits each
// time; it pins its slots once, captures each batch size once (batch 8
// in the first run, batch 3, warmed up there, in the second) and replays
// after; a run whose logits buffer has another size allocates it afresh
// and drops the graphs captured on the old one (warm-up and capture
// again); the copy queue's ordering holds throughout, and free gives
// every slot and fence back.
func TestEvaluatorReuse(t *testing.T) {
	ref := newEvalFixture(t, cpu.New())
	want := evalBits(t)(EvaluateWith(ref.m, ref.streamed, tenClasses, 8, EvalOptions{perBatch: true}))
	a := newAsideRecorder()
	m := buildModel(t, a, "resnet20")
	e, err := newEvaluator(m, ref.streamed, 8)
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range []struct {
		logitBytes                  int
		captures, replays, newSlots int
	}{
		{0, 1, 1, 3},              // 8: warm-up, capture; 3: warm-up
		{0, 1, 3, 0},              // 8, 8: replays; 3: capture
		{0, 0, 3, 0},              // replays
		{2 * 8 * 10 * 4, 1, 1, 0}, // new logits buffer: 8: warm-up, capture; 3: warm-up
	} {
		captures, replays, slots := a.captures, a.replays, a.allocated
		got := evalBits(t)(e.run(ref.streamed, tenClasses, EvalOptions{Graphs: true, logitBytes: c.logitBytes}))
		if got != want {
			t.Fatalf("run %d:\n%s\nwant\n%s", i, got, want)
		}
		if a.captures-captures != c.captures || a.replays-replays != c.replays || a.allocated-slots != c.newSlots {
			t.Errorf("run %d: %d captures, %d replays, %d slots pinned; want %d, %d, %d",
				i, a.captures-captures, a.replays-replays, a.allocated-slots, c.captures, c.replays, c.newSlots)
		}
	}
	e.free()
	if len(a.violations) != 0 || len(a.pinnedRecorder.violations) != 0 || len(a.pending) != 0 || a.fences != 0 || a.freed != a.allocated {
		t.Errorf("violations %q %q, %d copies never awaited, %d fences left, %d of %d slots freed",
			a.violations, a.pinnedRecorder.violations, len(a.pending), a.fences, a.freed, a.allocated)
	}
}
