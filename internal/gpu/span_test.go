//go:build cuda

package gpu

import (
	"math"
	"testing"
	"time"

	"github.com/cnnctl/cnnctl/internal/tensor"
)

// TestSpans times convolutions with spans that are ended without waiting
// and read after a Sync: each positive, together no longer than the wall
// clock around them, and their events back on the free list after.
func TestSpans(t *testing.T) {
	be := newBackend(t)
	conv := timedConv(t, be)
	start := time.Now()
	var spans []tensor.Span
	for range 4 {
		s := be.StartSpan()
		conv()
		s.End()
		spans = append(spans, s)
	}
	if err := be.Sync(); err != nil {
		t.Fatal(err)
	}
	wall := time.Since(start)
	var sum time.Duration
	for i, s := range spans {
		d := s.Elapsed()
		if d <= 0 {
			t.Errorf("span %d: %v", i, d)
		}
		sum += d
	}
	if err := be.Err(); err != nil {
		t.Fatal(err)
	}
	if sum > wall {
		t.Errorf("spans add up to %v, more than the %v wall clock", sum, wall)
	}
	if n := len(be.events); n < 8 {
		t.Errorf("%d events on the free list after 4 spans, want >= 8 (given back)", n)
	}
	t.Logf("4 convolutions: %v of spans in %v wall clock", sum, wall)
}

// TestPinnedUpload: a batch copied from pinned memory with UploadPinned
// arrives bit for bit once the host has waited; FreePinned gives it back.
func TestPinnedUpload(t *testing.T) {
	be := newBackend(t)
	const n = 1 << 20
	buf, err := be.PinnedFloats(n)
	if err != nil {
		t.Fatal(err)
	}
	defer be.FreePinned(buf)
	want := random(n, 7)
	copy(buf, want)
	x := be.New(tensor.Shape{n})
	be.UploadPinned(x, buf)
	got := make([]float32, n)
	be.Download(got, x) // waits for the queue
	if err := be.Err(); err != nil {
		t.Fatal(err)
	}
	for i := range want {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("x[%d] = %g, want %g", i, got[i], want[i])
		}
	}
}
