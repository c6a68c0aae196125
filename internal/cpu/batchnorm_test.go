package cpu

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/cnnctl/cnnctl/internal/tensor"
)

// bnRef is batch normalisation in float64 over x (N,C,L), written for
// finite differences: it returns y and the per-channel mean and biased variance.
func bnRef(x, gamma, beta []float64, n, c, l int) (y, mean, variance []float64) {
	y, mean, variance = make([]float64, len(x)), make([]float64, c), make([]float64, c)
	m := float64(n * l)
	for i, v := range x {
		mean[i/l%c] += v / m
	}
	for i, v := range x {
		ch := i / l % c
		variance[ch] += (v - mean[ch]) * (v - mean[ch]) / m
	}
	for i, v := range x {
		ch := i / l % c
		y[i] = gamma[ch]*(v-mean[ch])/math.Sqrt(variance[ch]+1e-5) + beta[ch]
	}
	return y, mean, variance
}

func TestBatchNormTrain(t *testing.T) {
	for _, s := range []tensor.Shape{{4, 3, 5, 5}, {1, 2, 3, 4}, {16, 5}} {
		t.Run(s.String(), func(t *testing.T) {
			r := rand.New(rand.NewPCG(6, uint64(s.Numel())))
			n, c, l := s[0], s[1], s.Numel()/(s[0]*s[1])
			be := New()
			xv := random(r, s.Numel())
			for i := range xv {
				xv[i] = 3*xv[i] + 2 // mean 2, spread 3
			}
			x := from(be, xv, s...)
			gamma, beta := from(be, []float32{1, 1, 1, 1, 1}[:c], c), be.New(tensor.Shape{c})
			rm0, rv0 := random(r, c), make([]float32, c)
			for i := range rv0 {
				rv0[i] = 1 + rm0[i]/2
			}
			rm, rv := from(be, rm0, c), from(be, rv0, c)
			y, sm, si := poisoned(be, s...), poisoned(be, c), poisoned(be, c)
			p := tensor.BatchNormParams{Momentum: 0.1, Eps: 1e-5}
			be.BatchNormForwardTrain(x, gamma, beta, rm, rv, y, sm, si, p)
			noErr(t, be)

			// With gamma 1, beta 0 each channel of y has mean 0 and biased variance ≈ 1.
			_, yMean, yVar := bnRef(f64(values(be, y)), make([]float64, c), make([]float64, c), n, c, l)
			for ch := range c {
				wantVar := 1 - 1e-5/(1e-5+varOf(xv, n, c, l, ch)) // eps shrinks it a little
				if math.Abs(yMean[ch]) > 1e-5 || math.Abs(yVar[ch]-wantVar) > 1e-4 {
					t.Errorf("channel %d of y: mean %g, variance %g, want 0, %g", ch, yMean[ch], yVar[ch], wantVar)
				}
			}
			// The running statistics follow (1-m)·running + m·batch, the variance unbiased.
			_, mean, variance := bnRef(f64(xv), make([]float64, c), make([]float64, c), n, c, l)
			m := float64(n * l)
			wantRM, wantRV, wantInv := make([]float64, c), make([]float64, c), make([]float64, c)
			for ch := range c {
				wantRM[ch] = 0.9*float64(rm0[ch]) + 0.1*mean[ch]
				wantRV[ch] = 0.9*float64(rv0[ch]) + 0.1*variance[ch]*m/(m-1)
				wantInv[ch] = 1 / math.Sqrt(variance[ch]+1e-5)
			}
			expect(t, "running mean", values(be, rm), wantRM, 1e-6)
			expect(t, "running var", values(be, rv), wantRV, 1e-6)
			expect(t, "save mean", values(be, sm), mean, 1e-6)
			expect(t, "save invstd", values(be, si), wantInv, 1e-6)
		})
	}
}

// varOf is the biased variance of channel ch of x (N,C,L).
func varOf(x []float32, n, c, l, ch int) float64 {
	var vals []float64
	for i := range n {
		for _, v := range x[(i*c+ch)*l : (i*c+ch+1)*l] {
			vals = append(vals, float64(v))
		}
	}
	var mean, sq float64
	for _, v := range vals {
		mean += v / float64(len(vals))
	}
	for _, v := range vals {
		sq += (v - mean) * (v - mean) / float64(len(vals))
	}
	return sq
}

// TestBatchNormBackwardFiniteDifferences compares the backward with central
// differences of L = Σ dy·y through bnRef.
func TestBatchNormBackwardFiniteDifferences(t *testing.T) {
	for _, s := range []tensor.Shape{{3, 2, 2, 3}, {5, 3}} {
		t.Run(s.String(), func(t *testing.T) {
			r := rand.New(rand.NewPCG(7, uint64(s.Numel())))
			n, c, l := s[0], s[1], s.Numel()/(s[0]*s[1])
			be := New()
			xv, dyv, gv, bv := random(r, s.Numel()), random(r, s.Numel()), random(r, c), random(r, c)
			x, gamma := from(be, xv, s...), from(be, gv, c)
			sm, si := be.New(tensor.Shape{c}), be.New(tensor.Shape{c})
			p := tensor.BatchNormParams{Momentum: 0.1, Eps: 1e-5}
			be.BatchNormForwardTrain(x, gamma, from(be, bv, c), be.New(tensor.Shape{c}), be.New(tensor.Shape{c}), be.New(s), sm, si, p)
			dx, dg, db := poisoned(be, s...), poisoned(be, c), poisoned(be, c)
			be.BatchNormBackward(x, from(be, dyv, s...), gamma, sm, si, dx, dg, db)
			noErr(t, be)

			loss := func(x, g, b []float64) float64 {
				y, _, _ := bnRef(x, g, b, n, c, l)
				var sum float64
				for i := range y {
					sum += float64(dyv[i]) * y[i]
				}
				return sum
			}
			grad := func(v []float64, at func(v []float64) float64) []float64 {
				d := make([]float64, len(v))
				for i := range v {
					const h = 1e-6
					old := v[i]
					v[i] = old + h
					up := at(v)
					v[i] = old - h
					down := at(v)
					v[i] = old
					d[i] = (up - down) / (2 * h)
				}
				return d
			}
			xs, gs, bs := f64(xv), f64(gv), f64(bv)
			expect(t, "dx", values(be, dx), grad(xs, func(v []float64) float64 { return loss(v, gs, bs) }), 1e-4)
			expect(t, "dgamma", values(be, dg), grad(gs, func(v []float64) float64 { return loss(xs, v, bs) }), 1e-4)
			expect(t, "dbeta", values(be, db), grad(bs, func(v []float64) float64 { return loss(xs, gs, v) }), 1e-4)
		})
	}
}

func TestBatchNormInfer(t *testing.T) {
	be := New()
	// x (1,2,1,2); channel 0 with running mean 1, var 4-eps; channel 1 with 0, 1-eps.
	x := from(be, []float32{3, 5, 1, -1}, 1, 2, 1, 2)
	eps := float32(1e-5)
	y := poisoned(be, 1, 2, 1, 2)
	be.BatchNormForwardInfer(x, from(be, []float32{2, 1}, 2), from(be, []float32{0, 0.5}, 2),
		from(be, []float32{1, 0}, 2), from(be, []float32{4 - eps, 1 - eps}, 2), y, tensor.BatchNormParams{Momentum: 0.1, Eps: eps})
	// channel 0: 2·(x-1)/2; channel 1: (x-0)/1 + 0.5.
	expect(t, "y", values(be, y), []float64{2, 4, 1.5, -0.5}, 1e-6)
	noErr(t, be)
}

func TestBatchNormNeedsMoreThanOneValue(t *testing.T) {
	be := New()
	c := tensor.Shape{3}
	be.BatchNormForwardTrain(be.New(tensor.Shape{1, 3}), be.New(c), be.New(c), be.New(c), be.New(c), be.New(tensor.Shape{1, 3}),
		be.New(c), be.New(c), tensor.BatchNormParams{Momentum: 0.1, Eps: 1e-5})
	if be.Err() == nil {
		t.Error("batch of one (N,C): no error")
	}
}
