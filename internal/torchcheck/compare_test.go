package torchcheck

import (
	"math"
	"testing"
)

func TestCompare(t *testing.T) {
	nan := float32(math.NaN())
	for _, c := range []struct {
		got, ref []float32
		rel      float64
		at       int
	}{
		{[]float32{1, 2}, []float32{1, 2}, 0, 0},
		{[]float32{0.5, 0.2}, []float32{0.5, 0.1}, 0.1, 1},    // scale 1 below |ref| 1
		{[]float32{10, -21}, []float32{10, -20}, 1.0 / 20, 1}, // scale max|ref|
		{[]float32{1, nan}, []float32{1, 2}, math.Inf(1), 1},
		{[]float32{1}, []float32{1, 2}, math.Inf(1), 0},
	} {
		d := Compare(c.got, c.ref)
		if math.Abs(d.Rel-c.rel) > 1e-6 && !(math.IsInf(c.rel, 1) && math.IsInf(d.Rel, 1)) || d.At != c.at {
			t.Errorf("Compare(%v, %v) = %v, want relative %g at %d", c.got, c.ref, d, c.rel, c.at)
		}
	}
}
