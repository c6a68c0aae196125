package gemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// forEachIndirect runs f with each indirect and dot micro-kernel of every
// supported family active on its own, restoring the default after.
func forEachIndirect(t *testing.T, f func(t *testing.T)) {
	t.Helper()
	defer active.Store(nil)
	for _, fam := range families() {
		for _, ik := range fam.indirect {
			for _, dk := range fam.dot {
				t.Run(ik.name+"+"+dk.name, func(t *testing.T) {
					active.Store(&family{name: fam.name, kernels: fam.kernels,
						indirect: []*indirectKernel{ik}, dot: []*dotKernel{dk}})
					f(t)
				})
			}
		}
	}
}

// randOffsets returns k offsets into a b of length size that leave reach
// elements after each.
func randOffsets(r *rand.Rand, k, size, reach int) []int {
	offs := make([]int, k)
	for i := range offs {
		offs[i] = r.IntN(size - reach + 1)
	}
	return offs
}

func TestIndirectMultiply(t *testing.T) {
	forEachIndirect(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(3, 4))
		for it := 0; it < 300; it++ {
			m, n, k := 1+r.IntN(30), 1+r.IntN(150), 1+r.IntN(40)
			lda, ldc := k+r.IntN(3), n+r.IntN(3)
			a := randSlice(r, (m-1)*lda+k)
			p := PackIndirect(make([]float32, IndirectSize(m, n, k)), m, n, k, a, lda)
			size := p.Reach(n) + r.IntN(200)
			b := randSlice(r, size)
			offs := randOffsets(r, k, size, p.Reach(n))
			c := make([]float32, (m-1)*ldc+n+3)
			for i := range c {
				c[i] = float32(math.NaN())
			}
			p.Multiply(n, b, offs, c, ldc)
			for i := range m {
				for j := range ldc {
					got := c[i*ldc+j]
					if j >= n {
						if !math.IsNaN(float64(got)) && i*ldc+j < len(c) {
							t.Fatalf("m=%d n=%d k=%d: C[%d,%d] past n written", m, n, k, i, j)
						}
						continue
					}
					var want, bound float64
					for q := range k {
						v := float64(a[i*lda+q]) * float64(b[offs[q]+j])
						want += v
						bound += math.Abs(v)
					}
					if math.IsNaN(float64(got)) || math.Abs(float64(got)-want) > 1e-5*(bound+1e-3) {
						t.Fatalf("m=%d n=%d k=%d: C[%d,%d] = %g, want %g", m, n, k, i, j, got, want)
					}
				}
			}
		}
	})
}

func TestDotAccumulate(t *testing.T) {
	forEachIndirect(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(5, 6))
		for it := 0; it < 200; it++ {
			m, n, k := 1+r.IntN(20), 1+r.IntN(100), 1+r.IntN(30)
			d := NewDot(m, k)
			width := (n + d.Lanes() - 1) / d.Lanes() * d.Lanes()
			lddy := width + r.IntN(3)
			calls := 1 + r.IntN(3)
			acc := make([]float32, d.AccSize())
			want := make([]float64, m*k)
			bound := make([]float64, m*k)
			for range calls {
				dy := randSlice(r, (d.Rows()-1)*lddy+width)
				for i := range d.Rows() {
					clear(dy[i*lddy+n : i*lddy+width]) // the zero tail the contract asks for
				}
				size := width + r.IntN(100)
				b := randSlice(r, size)
				offs := randOffsets(r, d.OffsLen(), size, width)
				d.Accumulate(n, dy, lddy, b, offs, acc)
				for i := range m {
					for q := range k {
						for j := range n {
							v := float64(dy[i*lddy+j]) * float64(b[offs[q]+j])
							want[i*k+q] += v
							bound[i*k+q] += math.Abs(v)
						}
					}
				}
			}
			ldd := k + 2
			dst := make([]float32, m*ldd)
			for i := range dst {
				dst[i] = float32(math.NaN())
			}
			d.Sum(acc, dst, ldd)
			for i := range m {
				for q := range ldd {
					got := dst[i*ldd+q]
					if q >= k {
						if !math.IsNaN(float64(got)) {
							t.Fatalf("m=%d k=%d: dst[%d,%d] past k written", m, k, i, q)
						}
						continue
					}
					if w := want[i*k+q]; math.IsNaN(float64(got)) || math.Abs(float64(got)-w) > 1e-5*(bound[i*k+q]+1e-3) {
						t.Fatalf("m=%d n=%d k=%d calls=%d: G[%d,%d] = %g, want %g", m, n, k, calls, i, q, got, w)
					}
				}
			}
		}
	})
}

func TestIndirectBoundsChecked(t *testing.T) {
	a := make([]float32, 4*3)
	p := PackIndirect(make([]float32, IndirectSize(4, 10, 3)), 4, 10, 3, a, 3)
	b := make([]float32, 20)
	defer func() {
		if recover() == nil {
			t.Fatal("an offset reading past b did not panic")
		}
	}()
	p.Multiply(10, b, []int{0, 1, 20 - p.Reach(10) + 1}, make([]float32, 40), 10)
}

// BenchmarkIndirect times IndirectA.Multiply on one thread for ResNet's
// stride-1 3x3 convolutions of one image (M filters, C channels, a W×W
// image padded to W+2), in GFLOP/s of the positions computed, the padded
// columns included: against BenchmarkMicroKernel, what the offset-table
// products lose to their B loads.
func BenchmarkIndirect(b *testing.B) {
	for _, g := range []struct{ m, c, w int }{{16, 16, 32}, {32, 32, 16}, {64, 64, 8}} {
		b.Run(fmt.Sprintf("%dx%dx%d", g.m, g.c, g.w), func(b *testing.B) {
			r := rand.New(rand.NewPCG(1, 1))
			wp, k := g.w+2, g.c*9
			plane := wp * wp
			n := g.w * wp
			offs := make([]int, k)
			for c := range g.c {
				for t := range 9 {
					offs[c*9+t] = c*plane + t/3*wp + t%3
				}
			}
			a := randSlice(r, g.m*k)
			pa := PackIndirect(make([]float32, IndirectSize(g.m, n, k)), g.m, n, k, a, k)
			x := randSlice(r, g.c*plane+pa.Reach(n))
			y := make([]float32, g.m*n)
			cpu0 := cpuSeconds()
			for b.Loop() {
				pa.Multiply(n, x, offs, y, n)
			}
			reportGFLOPs(b, 2*float64(g.m*k*n), cpu0)
		})
	}
}
