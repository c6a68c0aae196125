package train

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"strings"
	"testing"

	"github.com/cnnctl/cnnctl/internal/cpu"
	"github.com/cnnctl/cnnctl/internal/layers"
	"github.com/cnnctl/cnnctl/internal/tensor"
)

var tenClasses = []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}

// evalBits is an evaluation as a string that holds every field, the
// loss's bits included: equal strings are the same result bit for bit.
func evalBits(t *testing.T) func(ev *Evaluation, err error) string {
	return func(ev *Evaluation, err error) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		b, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		return fmt.Sprintf("%s loss bits %#x", b, math.Float64bits(ev.Loss))
	}
}

// countedSource is a Source that snapshots the recorder's counts at each
// Next: the calls between two snapshots are one batch's work.
type countedSource struct {
	Source
	rec   *recorder
	marks []map[string]int
}

func (c *countedSource) Epoch(e, skip int) Iterator {
	return &countedIter{Iterator: c.Source.Epoch(e, skip), c: c}
}

// countedHeld is countedSource around a held split (heldSplit).
type countedHeld struct {
	*countedSource
	h heldSplit
}

func (c countedHeld) held() (tensor.DataSet, int) { return c.h.held() }

type countedIter struct {
	Iterator
	c *countedSource
}

func (i *countedIter) Next() (*Batch, bool) {
	i.c.marks = append(i.c.marks, maps.Clone(i.c.rec.calls))
	return i.Iterator.Next()
}

// perBatch is the calls of each batch, from the marks.
func (c *countedSource) perBatch() []map[string]int {
	var out []map[string]int
	for i := 1; i < len(c.marks); i++ {
		d := map[string]int{}
		for k, v := range c.marks[i] {
			if v -= c.marks[i-1][k]; v != 0 {
				d[k] = v
			}
		}
		out = append(out, d)
	}
	return out
}

// evalFixture is resnet20 on the capturing fake around the CPU, whose held
// sets' gathers are captured too, and 19 images of the synthetic set for
// evaluation at batch 8 (the last batch of 3), streamed and held.
type evalFixture struct {
	rec      *recorder
	be       graphHoldRecorder
	m        *layers.Model
	streamed Source
	held     Source
}

func newEvalFixture(t *testing.T, base tensor.Backend) *evalFixture {
	t.Helper()
	rec := newRecorder(base)
	be := graphHoldRecorder{stepRecorder{recorder: rec, ops: rec.be.(tensor.StepOps)}}
	f := &evalFixture{rec: rec, be: be, m: buildModel(t, be, "resnet20"), streamed: evalLoader(t, synthSplit(t, 19), 8)}
	held, set, where := placeEval(DataDevice, be, f.streamed, "evaluation set", 0)
	if set == nil {
		t.Fatal(where)
	}
	t.Cleanup(set.Free)
	if where != "on the device (0 MiB: 19 images of 3x32x32)" {
		t.Errorf("placeEval says %q", where)
	}
	f.held = held
	return f
}

// TestEvalOnDeviceSameBits: an evaluation whose batches are gathered from
// the split held by the (CPU) backend, with each batch's loss and hits
// summed on the device and the logits read once, reports the bits of the
// plain path that uploads each batch and reads its loss and logits back:
// loss, top-1, top-5, per-class accuracy, confusion; with and without
// graphs, and with the logits read every two batches.
func TestEvalOnDeviceSameBits(t *testing.T) { evalOnDeviceSameBits(t, newEvalFixture(t, cpu.New())) }

// evalOnDeviceSameBits is TestEvalOnDeviceSameBits on f's backend.
func evalOnDeviceSameBits(t *testing.T, f *evalFixture) {
	var notes []string
	note := func(format string, args ...any) { notes = append(notes, fmt.Sprintf(format, args...)) }
	want := evalBits(t)(EvaluateWith(f.m, f.streamed, tenClasses, 8, EvalOptions{perBatch: true}))
	if f.rec.captures != 0 {
		t.Fatalf("the reference captured %d graphs", f.rec.captures)
	}
	for _, tc := range []struct {
		name string
		src  Source
		o    EvalOptions
	}{
		{"streamed, per batch, graphs", f.streamed, EvalOptions{perBatch: true, Graphs: true, Note: note}},
		{"held, per batch", f.held, EvalOptions{perBatch: true}},
		{"held, per batch, graphs", f.held, EvalOptions{perBatch: true, Graphs: true, Note: note}},
		{"streamed, on the device", f.streamed, EvalOptions{}},
		{"streamed, on the device, graphs", f.streamed, EvalOptions{Graphs: true, Note: note}},
		{"held, on the device", f.held, EvalOptions{}},
		{"held, on the device, graphs", f.held, EvalOptions{Graphs: true, Note: note}},
		{"held, on the device, graphs, read every 2 batches", f.held, EvalOptions{Graphs: true, Note: note, logitBytes: 2 * 8 * 10 * 4}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			captures, replays := f.rec.captures, f.rec.replays
			if got := evalBits(t)(EvaluateWith(f.m, tc.src, tenClasses, 8, tc.o)); got != want {
				t.Fatalf("got\n%s\nwant (streamed, per batch)\n%s", got, want)
			}
			// Batch 8: a warm-up, a capture (replayed once); batch 3: a warm-up.
			if tc.o.Graphs && (f.rec.captures-captures != 1 || f.rec.replays-replays != 1) {
				t.Errorf("%d captures and %d replays, want 1 and 1", f.rec.captures-captures, f.rec.replays-replays)
			}
		})
	}
	if len(notes) != 0 {
		t.Errorf("notes %q", notes)
	}
}

// TestEvalOnDeviceNoHostSyncPerBatch: on the device path each batch after
// the first waits for nothing, allocates nothing and (held) copies nothing
// from the host: the evaluation's reads are the two at its end (the sums,
// the logits). The per-batch path, run the same way, waits in every batch,
// which shows that the count can see a wait.
func TestEvalOnDeviceNoHostSyncPerBatch(t *testing.T) {
	evalOnDeviceNoHostSync(t, newEvalFixture(t, cpu.New()))
}

// evalOnDeviceNoHostSync is TestEvalOnDeviceNoHostSyncPerBatch on f's backend.
func evalOnDeviceNoHostSync(t *testing.T, f *evalFixture) {
	for _, tc := range []struct {
		name      string
		src       Source
		o         EvalOptions
		uploads   bool // a batch uploads its images and labels
		perBatch  bool // a batch waits for the device
		endWaits  int  // Downloads after the last batch
		batchSeen int
	}{
		{"held, graphs", f.held, EvalOptions{Graphs: true}, false, false, 2, 3},
		{"held", f.held, EvalOptions{}, false, false, 2, 3},
		{"streamed, graphs", f.streamed, EvalOptions{Graphs: true}, true, false, 2, 3},
		{"held, per batch", f.held, EvalOptions{Graphs: true, perBatch: true}, false, true, 0, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cs := &countedSource{Source: tc.src, rec: f.rec}
			var src Source = cs
			if h, ok := tc.src.(heldSplit); ok {
				src = countedHeld{cs, h}
			}
			before := maps.Clone(f.rec.calls)
			if _, err := EvaluateWith(f.m, src, tenClasses, 8, tc.o); err != nil {
				t.Fatal(err)
			}
			batches := cs.perBatch()
			if len(batches) != tc.batchSeen {
				t.Fatalf("%d batches, want %d", len(batches), tc.batchSeen)
			}
			for i, c := range batches {
				syncs := c["Download"] + c["Sync"] + c["Err"]
				if tc.perBatch != (syncs > 0) {
					t.Errorf("batch %d: %d host syncs: %v", i, syncs, c)
				}
				if ups := c["Upload"]; tc.uploads != (ups > 0) {
					t.Errorf("batch %d: %d uploads: %v", i, ups, c)
				}
				if i > 0 && c["New"] != 0 {
					t.Errorf("batch %d: allocated %d tensors: %v", i, c["New"], c)
				}
			}
			if !tc.perBatch {
				last := cs.marks[len(cs.marks)-1]
				if n := f.rec.calls["Download"] - last["Download"]; n != tc.endWaits {
					t.Errorf("%d downloads after the last batch, want %d", n, tc.endWaits)
				}
				if n := f.rec.calls["Download"] - before["Download"]; n != tc.endWaits {
					t.Errorf("%d downloads in the evaluation, want %d", n, tc.endWaits)
				}
			}
		})
	}
}

// TestPlaceEval: cnnctl eval's placement line, held and streamed, and the
// release of the held set.
func TestPlaceEval(t *testing.T) {
	src := evalLoader(t, synthSplit(t, 100), 8)
	need := int64(100*3*32*32 + 20*100 + 8*3)
	for _, tc := range []struct {
		name   string
		be     tensor.Backend
		place  string
		beside int64
		held   bool
		line   string
	}{
		{"auto on a device", memBackend{cpu.New(), 1 << 30}, DataAuto, 1 << 20, true, "data: on the device (0 MiB: 100 images of 3x32x32)"},
		{"auto on the CPU", cpu.New(), DataAuto, 0, false, "data: streamed from the host: the backend (" + cpu.New().Name() + ") uses the host's memory"},
		{"host", memBackend{cpu.New(), 1 << 30}, DataHost, 0, false, "data: streamed from the host: asked for (--data-on host)"},
		{"a byte short", memBackend{cpu.New(), need + 999}, DataDevice, 1000, false,
			"data: streamed from the host: the evaluation set's 0 MiB and the 0 MiB the run needs beside it do not fit the 0 MiB free on fake GPU"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, release, line := PlaceEval(tc.place, tc.be, src, tc.beside)
			defer release()
			if !strings.HasPrefix(line, tc.line) {
				t.Errorf("line %q, want %q", line, tc.line)
			}
			if _, held := got.(heldSplit); held != tc.held {
				t.Errorf("held %v, want %v", held, tc.held)
			}
		})
	}
}
