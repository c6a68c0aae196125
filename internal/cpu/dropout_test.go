package cpu

import (
	"math"
	"strings"
	"testing"
)

func TestDropout(t *testing.T) {
	const n, p = 100_000, float32(0.3)
	be := New()
	xv := make([]float32, n)
	for i := range xv {
		xv[i] = float32(i%7) - 3
	}
	x := from(be, xv, n)
	mask, y := poisoned(be, n), poisoned(be, n)
	be.DropoutForward(x, mask, y, p, 0x1234_5678_9abc, 1<<33+7)
	noErr(t, be)
	mv, yv := values(be, mask), values(be, y)
	scale := 1 / (1 - p)
	dropped := 0
	for i := range mv {
		// Element i follows the recipe of philox.go.
		keep := philoxUniform(0x1234_5678_9abc, 1<<33+7, uint64(i)) >= p
		switch {
		case keep && mv[i] != scale, !keep && mv[i] != 0:
			t.Fatalf("mask[%d] = %v, want keep=%v", i, mv[i], keep)
		case yv[i] != xv[i]*mv[i]:
			t.Fatalf("y[%d] = %v, want %v·%v", i, yv[i], xv[i], mv[i])
		}
		if !keep {
			dropped++
		}
	}
	// The dropped fraction is binomial: std sqrt(p(1-p)/n) ≈ 0.0014.
	if frac := float64(dropped) / n; math.Abs(frac-float64(p)) > 0.01 {
		t.Errorf("dropped %.4f of the elements, want %.2f", frac, p)
	}

	// The same seed and counter give the same mask; another counter another.
	mask2 := poisoned(be, n)
	be.DropoutForward(x, mask2, y, p, 0x1234_5678_9abc, 1<<33+7)
	if m2 := values(be, mask2); !equal(m2, mv) {
		t.Error("the same seed and counter gave another mask")
	}
	be.DropoutForward(x, mask2, y, p, 0x1234_5678_9abc, 1<<33+8)
	if m2 := values(be, mask2); equal(m2, mv) {
		t.Error("the next counter gave the same mask")
	}
}

func TestDropoutExtremes(t *testing.T) {
	be := New()
	x := from(be, []float32{1, 2, 3, 4, 5}, 5)
	mask, y := poisoned(be, 5), poisoned(be, 5)
	be.DropoutForward(x, mask, y, 0, 1, 2)
	expect(t, "p=0 mask", values(be, mask), []float64{1, 1, 1, 1, 1}, 0)
	expect(t, "p=0 y", values(be, y), []float64{1, 2, 3, 4, 5}, 0)
	be.DropoutForward(x, mask, y, 1, 1, 2)
	expect(t, "p=1 mask", values(be, mask), []float64{0, 0, 0, 0, 0}, 0)
	expect(t, "p=1 y", values(be, y), []float64{0, 0, 0, 0, 0}, 0)
	noErr(t, be)
}

func equal(a, b []float32) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return len(a) == len(b)
}

// TestDropoutForwardAt: the counter read from a tensor gives the bits of
// DropoutForward with that counter passed by value (outputs poisoned).
func TestDropoutForwardAt(t *testing.T) {
	const n, p, seed = 4097, float32(0.4), 0xfeed_beef
	be := New()
	xv := make([]float32, n)
	for i := range xv {
		xv[i] = float32(i%11) - 5
	}
	x := from(be, xv, n)
	for _, counter := range []uint64{0, 7, 1 << 24} {
		m1, y1, m2, y2 := poisoned(be, n), poisoned(be, n), poisoned(be, n), poisoned(be, n)
		be.DropoutForward(x, m1, y1, p, seed, counter)
		be.DropoutForwardAt(x, m2, y2, p, seed, from(be, []float32{float32(counter)}, 1))
		noErr(t, be)
		if !equal(values(be, m1), values(be, m2)) || !equal(values(be, y1), values(be, y2)) {
			t.Fatalf("counter %d: DropoutForwardAt differs from DropoutForward", counter)
		}
	}
	be.DropoutForwardAt(x, poisoned(be, n), poisoned(be, n), p, seed, from(be, []float32{2.5}, 1))
	if err := be.Err(); err == nil || !strings.Contains(err.Error(), "counter = 2.5") {
		t.Errorf("a counter of 2.5: %v", err)
	}
}
