package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/cnnctl/cnnctl/internal/tensor"
)

// TestFastPoolSameBits checks the fast pooling against the reference bit for
// bit on inputs with ties, infinities and NaNs, on geometries big enough to
// run in parallel, with 1, 2 and 3 workers.
func TestFastPoolSameBits(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	sq := func(size, stride, pad int) tensor.PoolParams {
		return tensor.PoolParams{R: size, S: size, StrideH: stride, StrideW: stride, PadH: pad, PadW: pad}
	}
	geoms := []struct {
		N, C, H, W int
		p          tensor.PoolParams
	}{
		{16, 6, 28, 28, sq(2, 2, 0)},
		{9, 7, 13, 11, sq(2, 2, 0)},
		{8, 5, 15, 15, sq(3, 2, 1)},
		{8, 9, 13, 13, sq(3, 2, 0)},
		{64, 4, 8, 8, sq(8, 8, 0)},
		{4, 40, 9, 10, tensor.PoolParams{R: 3, S: 2, StrideH: 3, StrideW: 1, PadH: 1, PadW: 1}},
	}
	special := []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), 0, float32(math.Copysign(0, -1)), 0.5}
	for _, procs := range []int{1, 2, 3} {
		runtime.GOMAXPROCS(procs)
		for _, g := range geoms {
			name := fmt.Sprintf("procs%d N%d C%d %dx%d %+v", procs, g.N, g.C, g.H, g.W, g.p)
			r := rand.New(rand.NewPCG(uint64(g.H), uint64(g.C)))
			xs := random(r, g.N*g.C*g.H*g.W)
			for i := range xs {
				if r.IntN(8) == 0 {
					xs[i] = special[r.IntN(len(special))]
				}
			}
			p := g.p
			oh := (g.H+2*p.PadH-p.R)/p.StrideH + 1
			ow := (g.W+2*p.PadW-p.S)/p.StrideW + 1
			dys := random(r, g.N*g.C*oh*ow)
			var got [2][4][]float32
			for e, b := range []*Backend{New(), NewReference()} {
				x := from(b, xs, g.N, g.C, g.H, g.W)
				dy := from(b, dys, g.N, g.C, oh, ow)
				y, dx := poisoned(b, g.N, g.C, oh, ow), poisoned(b, g.N, g.C, g.H, g.W)
				b.MaxPool2DForward(x, y, p)
				b.MaxPool2DBackward(x, dy, dx, p)
				got[e][0], got[e][1] = values(b, y), values(b, dx)
				b.AvgPool2DForward(x, y, p)
				b.AvgPool2DBackward(dy, dx, p)
				got[e][2], got[e][3] = values(b, y), values(b, dx)
				noErr(t, b)
			}
			for o, op := range []string{"max forward", "max backward", "avg forward", "avg backward"} {
				for i, v := range got[0][o] {
					if w := got[1][o][i]; math.Float32bits(v) != math.Float32bits(w) {
						t.Errorf("%s: %s[%d] = %v, reference %v", name, op, i, v, w)
						break
					}
				}
			}
		}
	}
}
