package cpu

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/cnnctl/cnnctl/internal/tensor"
)

// from returns a tensor of shape s holding v.
func from(b *Backend, v []float32, s ...int) *tensor.Tensor {
	t := b.New(s)
	b.Upload(t, v)
	return t
}

// values downloads t.
func values(b *Backend, t *tensor.Tensor) []float32 {
	v := make([]float32, t.Numel())
	b.Download(v, t)
	return v
}

// random returns n values in [-1, 1) from r.
func random(r *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = 2*r.Float32() - 1
	}
	return v
}

// poisoned returns a tensor of shape s filled with NaN.
func poisoned(b *Backend, s ...int) *tensor.Tensor {
	t := b.New(s)
	b.Fill(t, float32(math.NaN()))
	return t
}

// expect fails t unless got[i] is within tol·max(1, |want[i]|) of want[i] for every i.
func expect(t *testing.T, what string, got []float32, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range want {
		if d := math.Abs(float64(got[i]) - want[i]); !(d <= tol*math.Max(1, math.Abs(want[i]))) {
			t.Errorf("%s[%d] = %v, want %v", what, i, got[i], want[i])
			return
		}
	}
}

// f64 widens v.
func f64(v []float32) []float64 {
	w := make([]float64, len(v))
	for i, x := range v {
		w[i] = float64(x)
	}
	return w
}

// noErr fails t if b recorded an error.
func noErr(t *testing.T, b *Backend) {
	t.Helper()
	if err := b.Err(); err != nil {
		t.Fatal(err)
	}
}
