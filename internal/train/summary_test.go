package train

import (
	"context"
	"math"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/cnnctl/cnnctl/internal/checkpoint"
	"github.com/cnnctl/cnnctl/internal/cpu"
	"github.com/cnnctl/cnnctl/internal/tensor"
)

// deviceRecorder is a stepRecorder that claims a device of its own
// (tensor.MemInfo) whose every span lasts a millisecond.
type deviceRecorder struct {
	stepRecorder
	spans, elapsed int
}

func (d *deviceRecorder) DeviceMemory() (free, total int64, name string) {
	return 1 << 30, 1 << 30, "fake"
}
func (d *deviceRecorder) StartSpan() tensor.Span {
	d.spans++
	return &fakeSpan{d: d}
}

type fakeSpan struct {
	d     *deviceRecorder
	ended bool
}

func (s *fakeSpan) End() { s.ended = true }
func (s *fakeSpan) Elapsed() time.Duration {
	if !s.ended {
		return 0
	}
	s.d.elapsed++
	return time.Millisecond
}

// TestExecuteSummary: the summary of a run counts its epochs and images;
// on a backend with a device, the busy time is the sum of the spans of
// every step and validation batch (not of a whole validation, whose host
// work between batches is the device's idle time), each read once; on the
// CPU there is no idle share.
func TestExecuteSummary(t *testing.T) {
	dir := t.TempDir()
	run := func(be tensor.Backend, name string) *Result {
		src := &memSource{bs: batches([]int{4, 4, 4, 4, 3})}
		r := &Run{
			Cfg: Config{Epochs: 2, BatchSize: 4, Out: filepath.Join(dir, name), NaNCheck: "step", ReadEvery: 2,
				Optimizer: OptimizerConfig{Kind: "sgd", Momentum: 0.9}, Schedule: Schedule{Kind: "constant", BaseLR: 0.01, Epochs: 2}},
			Model: buildModel(t, be, "lenet-bn"), Train: src, Val: &memSource{bs: batches([]int{4, 2})}, Progress: quiet{},
			Meta: checkpoint.Meta{Model: "lenet-bn", Classes: []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}},
		}
		res, err := r.Execute(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	s := run(cpu.New(), "cpu").Summary
	if s.Epochs != 2 || s.Images != 2*19 || s.DeviceIdle != nil || !(s.WallSeconds > 0) || s.SecondsPerEpoch != s.WallSeconds/2 {
		t.Fatalf("cpu summary %+v", s)
	}
	if !regexp.MustCompile(`^run: \S+ wall, \S+ s/epoch over 2 epochs, [0-9,]+ img/s, GPU idle: cpu \(no device to wait for\)$`).MatchString(s.Line()) {
		t.Errorf("cpu line %q", s.Line())
	}

	rec := newRecorder(cpu.New())
	d := &deviceRecorder{stepRecorder: stepRecorder{recorder: rec, ops: rec.be.(tensor.StepOps)}}
	s = run(d, "device").Summary
	// 10 steps and 2 validations of 2 batches, each a span read once.
	if d.spans != 14 || d.elapsed != 14 || s.DeviceIdle == nil {
		t.Fatalf("%d spans, %d read; idle %v", d.spans, d.elapsed, s.DeviceIdle)
	}
	if busy := (1 - *s.DeviceIdle) * s.WallSeconds; math.Abs(busy-0.014) > 1e-9 {
		t.Errorf("busy %g s from idle share %g of %g s, want the spans' 0.014 s", busy, *s.DeviceIdle, s.WallSeconds)
	}
	if !regexp.MustCompile(`, GPU idle [0-9.]+%$`).MatchString(s.Line()) {
		t.Errorf("device line %q", s.Line())
	}
}
