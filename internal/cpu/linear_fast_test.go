package cpu_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/cnnctl/cnnctl/internal/cpu"
	"github.com/cnnctl/cnnctl/internal/tensor"
)

// TestLinearWideSameBits checks that the w · xᵀ form of the linear forward
// gives exactly the bits of the x · wᵀ form (so training is unchanged) on
// shapes with ragged tiles, several K slices, with and without bias, at 1,
// 2 and 3 workers; the outputs are NaN-poisoned first.
func TestLinearWideSameBits(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	defer cpu.SetLinearWide(cpu.SetLinearWide(0))
	r := rand.New(rand.NewPCG(21, 22))
	for _, g := range []struct {
		N, I, O int
		bias    bool
	}{{128, 300, 1030, true}, {7, 513, 1024, false}, {129, 40, 2000, true}, {5, 17, 1100, true}, {33, 1000, 70, false}} {
		for _, procs := range []int{1, 2, 3} {
			t.Run(fmt.Sprintf("N%d I%d O%d bias=%v procs%d", g.N, g.I, g.O, g.bias, procs), func(t *testing.T) {
				runtime.GOMAXPROCS(procs)
				be := cpu.New()
				up := func(s ...int) *tensor.Tensor {
					x := be.New(s)
					v := make([]float32, x.Numel())
					for i := range v {
						v[i] = 2*r.Float32() - 1
					}
					be.Upload(x, v)
					return x
				}
				x, w := up(g.N, g.I), up(g.O, g.I)
				var b *tensor.Tensor
				if g.bias {
					b = up(g.O)
				}
				run := func(mode int) []float32 {
					cpu.SetLinearWide(mode)
					y := be.New(tensor.Shape{g.N, g.O})
					nan := make([]float32, y.Numel())
					for i := range nan {
						nan[i] = float32(math.NaN())
					}
					be.Upload(y, nan)
					be.LinearForward(x, w, b, y)
					out := make([]float32, y.Numel())
					be.Download(out, y)
					return out
				}
				narrow, wide := run(-1), run(1)
				if err := be.Err(); err != nil {
					t.Fatal(err)
				}
				for i := range narrow {
					if math.Float32bits(narrow[i]) != math.Float32bits(wide[i]) || math.IsNaN(float64(wide[i])) {
						t.Fatalf("y[%d, %d]: x·wᵀ %v, w·xᵀ %v", i/g.O, i%g.O, narrow[i], wide[i])
					}
				}
			})
		}
	}
}
