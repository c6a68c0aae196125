package cpu

import (
	"math"
	"testing"

	"github.com/cnnctl/cnnctl/internal/tensor"
)

func TestActivations(t *testing.T) {
	xs := []float32{-2, -0.5, 0, 0.5, 3}
	for _, tt := range []struct {
		a        tensor.Activation
		f, deriv func(y float64) float64 // f of x; f' as a function of x
	}{
		{tensor.ReLU, func(x float64) float64 { return math.Max(x, 0) }, func(x float64) float64 {
			if x > 0 {
				return 1
			}
			return 0
		}},
		{tensor.Sigmoid, func(x float64) float64 { return 1 / (1 + math.Exp(-x)) }, func(x float64) float64 {
			return math.Exp(-x) / ((1 + math.Exp(-x)) * (1 + math.Exp(-x)))
		}},
		{tensor.Tanh, math.Tanh, func(x float64) float64 { return 1 / (math.Cosh(x) * math.Cosh(x)) }},
	} {
		be := New()
		x := from(be, xs, len(xs))
		y := poisoned(be, len(xs))
		be.ActivationForward(tt.a, x, y)
		wantY, wantDX := make([]float64, len(xs)), make([]float64, len(xs))
		for i, v := range xs {
			wantY[i] = tt.f(float64(v))
			wantDX[i] = 2 * tt.deriv(float64(v)) // dy = 2
		}
		expect(t, tt.a.String()+" y", values(be, y), wantY, 1e-6)

		// In place: dx written over dy.
		dy := from(be, []float32{2, 2, 2, 2, 2}, len(xs))
		be.ActivationBackward(tt.a, y, dy, dy)
		expect(t, tt.a.String()+" dx", values(be, dy), wantDX, 1e-6)

		// In place forward.
		be.ActivationForward(tt.a, x, x)
		expect(t, tt.a.String()+" y in place", values(be, x), wantY, 1e-6)
		noErr(t, be)
	}
}
