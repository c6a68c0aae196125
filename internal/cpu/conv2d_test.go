package cpu

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/cnnctl/cnnctl/internal/tensor"
)

// convRef is the convolution written out as nested loops in float64, with
// the gradients as scatters from each output: the definition, not im2col.
type convRef struct {
	N, C, H, W, K, R, S int
	p                   tensor.ConvParams
}

func (g convRef) out() (oh, ow int) {
	return (g.H+2*g.p.PadH-g.R)/g.p.StrideH + 1, (g.W+2*g.p.PadW-g.S)/g.p.StrideW + 1
}

// each calls f for every (output, input, weight) triple that multiplies.
func (g convRef) each(f func(yi, xi, wi int)) {
	oh, ow := g.out()
	for n := range g.N {
		for k := range g.K {
			for i := range oh {
				for j := range ow {
					for c := range g.C {
						for r := range g.R {
							for s := range g.S {
								h := i*g.p.StrideH - g.p.PadH + r
								w := j*g.p.StrideW - g.p.PadW + s
								if h < 0 || h >= g.H || w < 0 || w >= g.W {
									continue
								}
								f(((n*g.K+k)*oh+i)*ow+j, ((n*g.C+c)*g.H+h)*g.W+w, ((k*g.C+c)*g.R+r)*g.S+s)
							}
						}
					}
				}
			}
		}
	}
}

func TestConv2DAgainstNestedLoops(t *testing.T) {
	sq := func(stride, pad int) tensor.ConvParams {
		return tensor.ConvParams{StrideH: stride, StrideW: stride, PadH: pad, PadW: pad}
	}
	for _, g := range []convRef{
		{1, 1, 5, 5, 1, 3, 3, sq(1, 0)},
		{2, 3, 7, 6, 4, 1, 1, sq(1, 0)},
		{3, 2, 8, 9, 5, 3, 3, sq(2, 1)},
		{2, 3, 9, 9, 2, 5, 5, sq(1, 2)},
		{2, 2, 10, 7, 3, 2, 2, sq(3, 0)},
		{5, 3, 6, 7, 3, 3, 2, tensor.ConvParams{StrideH: 1, StrideW: 2, PadH: 0, PadW: 1}},
	} {
		t.Run(fmt.Sprintf("%+v", g), func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(g.N*1000+g.C*100+g.R), 3))
			oh, ow := g.out()
			be := New()
			xv, wv, bv := random(r, g.N*g.C*g.H*g.W), random(r, g.K*g.C*g.R*g.S), random(r, g.K)
			dyv := random(r, g.N*g.K*oh*ow)
			x, w, b := from(be, xv, g.N, g.C, g.H, g.W), from(be, wv, g.K, g.C, g.R, g.S), from(be, bv, g.K)
			dy := from(be, dyv, g.N, g.K, oh, ow)
			y, dx := poisoned(be, g.N, g.K, oh, ow), poisoned(be, g.N, g.C, g.H, g.W)
			dw, db := poisoned(be, g.K, g.C, g.R, g.S), poisoned(be, g.K)
			be.Conv2DForward(x, w, b, y, g.p)
			be.Conv2DBackwardData(dy, w, dx, g.p)
			be.Conv2DBackwardFilter(x, dy, dw, db, g.p)
			noErr(t, be)

			wantY := make([]float64, len(dyv))
			for i := range wantY {
				wantY[i] = float64(bv[i/(oh*ow)%g.K])
			}
			wantDX, wantDW := make([]float64, len(xv)), make([]float64, len(wv))
			g.each(func(yi, xi, wi int) {
				wantY[yi] += float64(wv[wi]) * float64(xv[xi])
				wantDX[xi] += float64(wv[wi]) * float64(dyv[yi])
				wantDW[wi] += float64(xv[xi]) * float64(dyv[yi])
			})
			wantDB := make([]float64, g.K)
			for i, v := range dyv {
				wantDB[i/(oh*ow)%g.K] += float64(v)
			}
			expect(t, "y", values(be, y), wantY, 1e-5)
			expect(t, "dx", values(be, dx), wantDX, 1e-5)
			expect(t, "dw", values(be, dw), wantDW, 1e-5)
			expect(t, "db", values(be, db), wantDB, 1e-5)
		})
	}
}

// TestConv2DByHand: x (1,1,3,3) = 1..9, w (1,1,2,2) = [[1,0],[0,-1]].
func TestConv2DByHand(t *testing.T) {
	be := New()
	x := from(be, []float32{1, 2, 3, 4, 5, 6, 7, 8, 9}, 1, 1, 3, 3)
	w := from(be, []float32{1, 0, 0, -1}, 1, 1, 2, 2)

	// No padding: every output is x[i][j] - x[i+1][j+1] = -4.
	y := poisoned(be, 1, 1, 2, 2)
	be.Conv2DForward(x, w, nil, y, tensor.ConvParams{StrideH: 1, StrideW: 1})
	expect(t, "y", values(be, y), []float64{-4, -4, -4, -4}, 0)

	// Padding 1, stride 2, bias 0.5: windows start at (-1,-1), (-1,1), (1,-1), (1,1):
	// 0-1, 0-3, 0-7, 5-9, each + 0.5.
	be.Conv2DForward(x, w, from(be, []float32{0.5}, 1), y, tensor.ConvParams{StrideH: 2, StrideW: 2, PadH: 1, PadW: 1})
	expect(t, "y padded", values(be, y), []float64{-0.5, -2.5, -6.5, -3.5}, 0)

	// Its gradients for dy = [1,2,3,4]: each dy goes to x at the window's
	// top-left (weight 1) and, negated, bottom-right (weight -1), when inside.
	dy := from(be, []float32{1, 2, 3, 4}, 1, 1, 2, 2)
	dx := poisoned(be, 1, 1, 3, 3)
	be.Conv2DBackwardData(dy, w, dx, tensor.ConvParams{StrideH: 2, StrideW: 2, PadH: 1, PadW: 1})
	expect(t, "dx", values(be, dx), []float64{-1, 0, -2, 0, 4, 0, -3, 0, -4}, 0)
	dw, db := poisoned(be, 1, 1, 2, 2), poisoned(be, 1)
	be.Conv2DBackwardFilter(x, dy, dw, db, tensor.ConvParams{StrideH: 2, StrideW: 2, PadH: 1, PadW: 1})
	// dw[r][s] = Σ dy·x at offset (r,s) of each window; the windows start
	// at rows -1, 1 and columns -1, 1:
	// (0,0): x[-1][-1],x[-1][1],x[1][-1],x[1][1] -> 4·5 = 20
	// (0,1): x[-1][0],x[-1][2],x[1][0],x[1][2] -> 3·4 + 4·6 = 36
	// (1,0): x[0][-1],x[0][1],x[2][-1],x[2][1] -> 2·2 + 4·8 = 36
	// (1,1): x[0][0],x[0][2],x[2][0],x[2][2] -> 1 + 2·3 + 3·7 + 4·9 = 64
	expect(t, "dw", values(be, dw), []float64{20, 36, 36, 64}, 0)
	expect(t, "db", values(be, db), []float64{10}, 0)
	noErr(t, be)
}
