package cpu

import (
	"math/rand/v2"
	"testing"
)

func TestLinearByHand(t *testing.T) {
	be := New()
	// x (2,2), w (3,2), b (3): y = x·wᵀ + b.
	x := from(be, []float32{1, 2, 3, 4}, 2, 2)
	w := from(be, []float32{1, 0, 0, 1, 1, 1}, 3, 2)
	y := poisoned(be, 2, 3)
	be.LinearForward(x, w, from(be, []float32{0, 1, 2}, 3), y)
	expect(t, "y", values(be, y), []float64{1, 3, 5, 3, 5, 9}, 0)

	dy := from(be, []float32{1, 0, 2, 0, 1, -1}, 2, 3)
	dx, dw, db := poisoned(be, 2, 2), poisoned(be, 3, 2), poisoned(be, 3)
	be.LinearBackward(x, w, dy, dx, dw, db)
	// dx[n] = Σ_o dy[n][o]·w[o]: [1·(1,0) + 2·(1,1)], [1·(0,1) - 1·(1,1)]
	expect(t, "dx", values(be, dx), []float64{3, 2, -1, 0}, 0)
	// dw[o] = Σ_n dy[n][o]·x[n]: [1·(1,2)], [1·(3,4)], [2·(1,2) - (3,4)]
	expect(t, "dw", values(be, dw), []float64{1, 2, 3, 4, -1, 0}, 0)
	expect(t, "db", values(be, db), []float64{1, 1, 1}, 0)
	noErr(t, be)
}

func TestLinearAgainstFloat64(t *testing.T) {
	r := rand.New(rand.NewPCG(4, 5))
	for _, g := range []struct{ N, I, O int }{{1, 1, 1}, {7, 13, 5}, {37, 40, 11}} {
		be := New()
		xv, wv, bv, dyv := random(r, g.N*g.I), random(r, g.O*g.I), random(r, g.O), random(r, g.N*g.O)
		x, w := from(be, xv, g.N, g.I), from(be, wv, g.O, g.I)
		y := poisoned(be, g.N, g.O)
		be.LinearForward(x, w, from(be, bv, g.O), y)
		dx, dw := poisoned(be, g.N, g.I), poisoned(be, g.O, g.I)
		be.LinearBackward(x, w, from(be, dyv, g.N, g.O), dx, dw, nil)
		noErr(t, be)

		wantY, wantDX, wantDW := make([]float64, g.N*g.O), make([]float64, g.N*g.I), make([]float64, g.O*g.I)
		for n := range g.N {
			for o := range g.O {
				wantY[n*g.O+o] = float64(bv[o])
				for i := range g.I {
					wantY[n*g.O+o] += float64(xv[n*g.I+i]) * float64(wv[o*g.I+i])
					wantDX[n*g.I+i] += float64(dyv[n*g.O+o]) * float64(wv[o*g.I+i])
					wantDW[o*g.I+i] += float64(dyv[n*g.O+o]) * float64(xv[n*g.I+i])
				}
			}
		}
		expect(t, "y", values(be, y), wantY, 1e-5)
		expect(t, "dx", values(be, dx), wantDX, 1e-5)
		expect(t, "dw", values(be, dw), wantDW, 1e-5)
	}
}
