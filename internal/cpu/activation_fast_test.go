package cpu

import (
	"math"
	"math/rand"
	"testing"
)

// TestFastSigmoidTanh checks the float32-exp activations against float64
// math over the whole useful range and the special values, with the
// assembly sigmoid and with the Go loop alone.
func TestFastSigmoidTanh(t *testing.T) {
	defer func() { vectorOff = false }()
	for _, off := range []bool{false, true} {
		vectorOff = off
		checkSigmoidTanh(t)
	}
}

func checkSigmoidTanh(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	xs := []float32{0, float32(math.Copysign(0, -1)), 1e-8, -1e-8, 0.1249, 0.125, -0.125, 1, -1, 20, -20, 87, -87, 88, -88, 89, -89, 1e4, -1e4,
		float32(math.Inf(1)), float32(math.Inf(-1))}
	for i := 0; i < 200000; i++ {
		xs = append(xs, float32(rng.NormFloat64()*8))
	}
	ys := make([]float32, len(xs))
	for _, c := range []struct {
		name string
		f    func(x, y []float32)
		ref  func(float64) float64
	}{
		{"sigmoid", sigmoidForward, func(x float64) float64 { return 1 / (1 + math.Exp(-x)) }},
		{"tanh", tanhForward, math.Tanh},
	} {
		c.f(xs, ys)
		worst, at := 0.0, 0
		for i, x := range xs {
			want := c.ref(float64(x))
			err := math.Abs(float64(ys[i])-want) / math.Max(math.Abs(want), 1e-30)
			if math.Abs(want) < 1e-30 {
				err = math.Abs(float64(ys[i]))
			}
			if err > worst {
				worst, at = err, i
			}
		}
		// 1e-6 relative: well inside the 1e-4 the backends are held to.
		if worst > 1e-6 {
			t.Errorf("%s: worst relative error %.3g at x=%v (got %v, want %v)", c.name, worst, xs[at], ys[at], c.ref(float64(xs[at])))
		} else {
			t.Logf("%s: worst relative error %.3g", c.name, worst)
		}
		// NaN inside a run the vector code takes, and in the tail.
		nan := make([]float32, 19)
		nan[3], nan[17] = float32(math.NaN()), float32(math.NaN())
		c.f(nan, nan)
		for i, v := range nan {
			if isNaN := v != v; isNaN != (i == 3 || i == 17) {
				t.Errorf("%s: element %d = %v; want NaN exactly at 3 and 17", c.name, i, v)
			}
		}
	}
}

func BenchmarkSigmoid(b *testing.B) {
	x := make([]float32, 1<<16)
	for i := range x {
		x[i] = float32(i%200-100) / 10
	}
	y := make([]float32, len(x))
	b.Run("fast", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			sigmoidForward(x, y)
		}
		b.ReportMetric(float64(len(x)*b.N)/b.Elapsed().Seconds()/1e6, "Melem/s")
	})
	b.Run("go", func(b *testing.B) {
		vectorOff = true
		defer func() { vectorOff = false }()
		for i := 0; i < b.N; i++ {
			sigmoidForward(x, y)
		}
		b.ReportMetric(float64(len(x)*b.N)/b.Elapsed().Seconds()/1e6, "Melem/s")
	})
	b.Run("float64", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			for j, v := range x {
				y[j] = float32(1 / (1 + math.Exp(-float64(v))))
			}
		}
		b.ReportMetric(float64(len(x)*b.N)/b.Elapsed().Seconds()/1e6, "Melem/s")
	})
}

// TestReluVector checks the assembly relu and its gradient against the Go
// loops bit for bit (NaN as NaN), on special values spread over the vector
// part and the tail.
func TestReluVector(t *testing.T) {
	defer func() { vectorOff = false }()
	rng := rand.New(rand.NewSource(2))
	specials := []float32{0, float32(math.Copysign(0, -1)), float32(math.NaN()), float32(math.Inf(1)),
		float32(math.Inf(-1)), math.SmallestNonzeroFloat32, -math.SmallestNonzeroFloat32, 1, -1}
	const n = 32*5 + 7
	x, dy := make([]float32, n), make([]float32, n)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
		dy[i] = float32(rng.NormFloat64())
		if i%5 == 0 {
			x[i] = specials[(i/5)%len(specials)]
		}
	}
	run := func(off bool) (y, dx []float32) {
		vectorOff = off
		y, dx = make([]float32, n), make([]float32, n)
		reluForward(x, y)
		reluBackward(x, dy, dx)
		return y, dx
	}
	wantY, wantDX := run(true)
	gotY, gotDX := run(false)
	same := func(a, b float32) bool {
		return a != a && b != b || math.Float32bits(a) == math.Float32bits(b)
	}
	for i := range x {
		if !same(gotY[i], wantY[i]) || !same(gotDX[i], wantDX[i]) {
			t.Fatalf("x[%d] = %v: relu %v (Go %v), gradient %v (Go %v)", i, x[i], gotY[i], wantY[i], gotDX[i], wantDX[i])
		}
	}
	if !(wantY[10] != wantY[10]) || math.Float32bits(wantY[5]) != 0 {
		t.Fatalf("the Go loop itself: relu(NaN) = %v, relu(-0) bits %08x", wantY[10], math.Float32bits(wantY[5]))
	}
}
