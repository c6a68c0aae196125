package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/cnnctl/cnnctl/internal/tensor"
)

// TestFastBatchNormLarge checks the fast BatchNorm against the reference on
// tensors big enough to run in parallel, with a mean far from 0 (the
// shifted sums), with 1, 2 and 3 workers.
func TestFastBatchNormLarge(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	p := tensor.BatchNormParams{Momentum: 0.1, Eps: 1e-5}
	for _, procs := range []int{1, 2, 3} {
		runtime.GOMAXPROCS(procs)
		for _, s := range [][]int{{64, 16, 16, 16}, {32, 7, 13, 11}, {512, 100}} {
			name := fmt.Sprintf("procs%d %v", procs, s)
			r := rand.New(rand.NewPCG(uint64(len(s)), 3))
			numel := tensor.Shape(s).Numel()
			c := s[1]
			xs := random(r, numel)
			for i := range xs {
				xs[i] = 40 + 3*xs[i]
			}
			dys, gs, bs := random(r, numel), random(r, c), random(r, c)
			var outs [2][][]float32
			for e, b := range []*Backend{New(), NewReference()} {
				x, dy := from(b, xs, s...), from(b, dys, s...)
				gamma, beta := from(b, gs, c), from(b, bs, c)
				rm, rv := from(b, make([]float32, c), c), from(b, make([]float32, c), c)
				y, dx := poisoned(b, s...), poisoned(b, s...)
				sm, si, dg, db := poisoned(b, c), poisoned(b, c), poisoned(b, c), poisoned(b, c)
				b.BatchNormForwardTrain(x, gamma, beta, rm, rv, y, sm, si, p)
				b.BatchNormBackward(x, dy, gamma, sm, si, dx, dg, db)
				yi := poisoned(b, s...)
				b.BatchNormForwardInfer(x, gamma, beta, rm, rv, yi, p)
				noErr(t, b)
				for _, o := range []*tensor.Tensor{y, sm, si, rm, rv, dx, dg, db, yi} {
					outs[e] = append(outs[e], values(b, o))
				}
			}
			for o, what := range []string{"y", "saveMean", "saveInvStd", "runMean", "runVar", "dx", "dgamma", "dbeta", "y infer"} {
				expect(t, name+" "+what, outs[0][o], f64(outs[1][o]), 1e-4)
			}
		}
	}
}

// TestNormalizeVector checks that normalizeReLU (assembly prefix, Go tail)
// gives the bits of the plain loops, (x-mean)*scale + beta rounded at each
// step, then max(y, 0) with NaN kept, for every length up to 80 and
// special values (NaN, ±Inf, -0, denormals) at every position, in place
// and not, with and without the ReLU.
func TestNormalizeVector(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	special := []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.Copysign(0, -1)), 1e-40, -1e-40, 0}
	for n := 0; n <= 80; n++ {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(rng.NormFloat64() * 3)
			if rng.IntN(5) == 0 {
				x[i] = special[rng.IntN(len(special))]
			}
		}
		mean, scale, beta := float32(rng.NormFloat64()), float32(rng.NormFloat64()*2), float32(rng.NormFloat64())
		for _, relu := range []bool{false, true} {
			want := make([]float32, n)
			for i, v := range x {
				w := (v-mean)*scale + beta
				if relu {
					w = max(w, 0)
				}
				want[i] = w
			}
			got := make([]float32, n)
			for i := range got {
				got[i] = float32(math.NaN()) // poisoned: every element must be written
			}
			normalizeReLU(x, got, mean, scale, beta, relu)
			inPlace := append([]float32(nil), x...)
			normalizeReLU(inPlace, inPlace, mean, scale, beta, relu)
			for i := range want {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) || math.Float32bits(inPlace[i]) != math.Float32bits(want[i]) {
					t.Fatalf("n=%d relu=%v: element %d of x=%v: got %v (in place %v), want %v", n, relu, i, x[i], got[i], inPlace[i], want[i])
				}
			}
		}
	}
}

// TestCopyRows checks copyRows (assembly and Go) on every width up to 20
// and a few strides: the rows copied, nothing else written.
func TestCopyRows(t *testing.T) {
	defer func() { vectorOff = false }()
	for _, off := range []bool{false, true} {
		vectorOff = off
		for w := 1; w <= 20; w++ {
			for _, rows := range []int{1, 3} {
				lds, ldd := w+2, w+5
				src := make([]float32, (rows-1)*lds+w)
				for i := range src {
					src[i] = float32(i) + 0.5
				}
				dst := make([]float32, rows*ldd+3)
				for i := range dst {
					dst[i] = -1
				}
				copyRows(src, dst, rows, w, lds, ldd)
				for i, v := range dst {
					r, c := i/ldd, i%ldd
					want := float32(-1)
					if r < rows && c < w {
						want = src[r*lds+c]
					}
					if v != want {
						t.Fatalf("vector off=%v w=%d rows=%d: dst[%d] = %v, want %v", off, w, rows, i, v, want)
					}
				}
			}
		}
	}
}

// TestBatchNormSums checks the batch norm's run sums: sumShifted and
// sumDot give the bits of sumLanes' order (then the tail in order) with
// the assembly and without it, for every length up to 130, and stay
// within a float32 summation's error of the float64 sums.
func TestBatchNormSums(t *testing.T) {
	defer func() { vectorOff = false }()
	rng := rand.New(rand.NewPCG(5, 6))
	for n := 0; n <= 130; n++ {
		x, dy := make([]float32, n), make([]float32, n)
		for i := range x {
			x[i], dy[i] = float32(rng.NormFloat64()*3+1), float32(rng.NormFloat64())
		}
		s := float32(rng.NormFloat64())
		var want [4]float32 // sumLanes, then the tail in order
		a, q, done := sumLanes(x, nil, s)
		b, p, _ := sumLanes(x, dy, s)
		var exact [4]float64
		for i := range x {
			d := x[i] - s
			if i >= done {
				a += d
				q += float32(d * d)
				b += dy[i]
				p += float32(dy[i] * d)
			}
			dd := float64(x[i]) - float64(s)
			exact[0] += dd
			exact[1] += dd * dd
			exact[2] += float64(dy[i])
			exact[3] += float64(dy[i]) * dd
		}
		want = [4]float32{a, q, b, p}
		var abs [4]float64 // Σ|terms|: the error bound's scale
		for i := range x {
			dd := math.Abs(float64(x[i]) - float64(s))
			abs[0] += dd
			abs[1] += dd * dd
			abs[2] += math.Abs(float64(dy[i]))
			abs[3] += math.Abs(float64(dy[i])) * dd
		}
		for _, off := range []bool{false, true} {
			vectorOff = off
			s0, s1 := sumShifted(x, s)
			d0, d1 := sumDot(x, dy, s)
			got := [4]float64{s0, s1, d0, d1}
			for i := range got {
				if math.Float32bits(float32(got[i])) != math.Float32bits(want[i]) {
					t.Fatalf("n=%d vector off=%v: sum %d = %v, want sumLanes' %v", n, off, i, got[i], want[i])
				}
				// float32 sums of n terms: each term's rounding plus
				// the additions', at most ~(n+2)·2⁻²⁴·Σ|terms|.
				if bound := float64(n+2) * 0x1p-24 * 2 * abs[i]; math.Abs(got[i]-exact[i]) > bound {
					t.Fatalf("n=%d: sum %d = %v, float64 %v: off by more than %g", n, i, got[i], exact[i], bound)
				}
			}
		}
	}
}

// TestBatchNormBackwardVector checks finishBackward's loop (assembly
// prefix, Go tail) against the plain expression, bit for bit, for every
// length up to 40, in place (dx over dy) and not.
func TestBatchNormBackwardVector(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for n := 1; n <= 40; n++ {
		g := batchNorm{N: 1, C: 1, L: n}
		x, dy := make([]float32, n), make([]float32, n)
		for i := range x {
			x[i], dy[i] = float32(rng.NormFloat64()*2), float32(rng.NormFloat64())
		}
		mean, gamma := float32(rng.NormFloat64()), []float32{float32(rng.NormFloat64())}
		invstd, sdy, sdx := 0.7+rng.Float64(), rng.NormFloat64(), rng.NormFloat64()
		m := float64(n)
		k := float64(gamma[0]) * invstd / m
		a, b, c := float32(k*m), float32(-k*invstd*(sdx*invstd)), float32(-k*sdy)
		got, dg, db := make([]float32, n), []float32{0}, []float32{0}
		for i := range got {
			got[i] = float32(math.NaN())
		}
		g.finishBackward(x, dy, got, gamma, dg, db, 0, mean, invstd, sdy, sdx, m)
		inPlace := append([]float32(nil), dy...)
		g.finishBackward(x, inPlace, inPlace, gamma, dg, db, 0, mean, invstd, sdy, sdx, m)
		for i := range x {
			want := float32(a*dy[i]) + float32(b*(x[i]-mean)) + c
			if math.Float32bits(got[i]) != math.Float32bits(want) || math.Float32bits(inPlace[i]) != math.Float32bits(want) {
				t.Fatalf("n=%d: dx[%d] = %v (in place %v), want %v", n, i, got[i], inPlace[i], want)
			}
		}
	}
}

// TestEpilogueVector checks convEpilogue.apply (assembly prefix, Go tail)
// against the plain steps, x + bias, (v-mean)*scale + beta, max(v, 0),
// each rounded, for every combination of the three, every length up to
// 40 and special values, in place and not.
func TestEpilogueVector(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	special := []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.Copysign(0, -1)), 1e-40, 0}
	for flags := range 8 {
		for n := 0; n <= 40; n++ {
			x := make([]float32, n)
			for i := range x {
				x[i] = float32(rng.NormFloat64() * 3)
				if rng.IntN(5) == 0 {
					x[i] = special[rng.IntN(len(special))]
				}
			}
			const k = 1
			e := &convEpilogue{relu: flags&4 != 0}
			if flags&2 != 0 {
				e.mean = []float32{0, float32(rng.NormFloat64())}
				e.scale = []float32{0, float32(rng.NormFloat64() * 2)}
				e.beta = []float32{0, float32(rng.NormFloat64())}
			}
			bias := float32(rng.NormFloat64())
			want := make([]float32, n)
			for i, v := range x {
				if flags&1 != 0 {
					v += bias
				}
				if flags&2 != 0 {
					v = (v-e.mean[k])*e.scale[k] + e.beta[k]
				}
				if flags&4 != 0 {
					v = max(v, 0)
				}
				want[i] = v
			}
			got := make([]float32, n)
			for i := range got {
				got[i] = float32(math.NaN())
			}
			e.apply(x, got, k, flags&1 != 0, bias)
			inPlace := append([]float32(nil), x...)
			e.apply(inPlace, inPlace, k, flags&1 != 0, bias)
			for i := range want {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) || math.Float32bits(inPlace[i]) != math.Float32bits(want[i]) {
					t.Fatalf("flags %b n=%d: element %d of x=%v: got %v (in place %v), want %v", flags, n, i, x[i], got[i], inPlace[i], want[i])
				}
			}
		}
	}
}

// TestDeinterleaveVector checks the stride-2 input split (assembly prefix,
// Go tail as indirectInput runs them) for every length up to 40, the odd
// lengths' last even element included, with NaN-poisoned outputs.
func TestDeinterleaveVector(t *testing.T) {
	for w := 0; w <= 40; w++ {
		row := make([]float32, w)
		for i := range row {
			row[i] = float32(i) + 0.5
		}
		even, odd := make([]float32, (w+1)/2), make([]float32, w/2)
		for i := range even {
			even[i] = float32(math.NaN())
		}
		for i := range odd {
			odd[i] = float32(math.NaN())
		}
		for i := deinterleaveVector(row, even, odd); i < len(odd); i++ {
			even[i], odd[i] = row[2*i], row[2*i+1]
		}
		if w%2 == 1 {
			even[w/2] = row[w-1]
		}
		for i, v := range row {
			got := odd
			if i%2 == 0 {
				got = even
			}
			if got[i/2] != v {
				t.Fatalf("width %d: element %d went to %v, want %v", w, i, got[i/2], v)
			}
		}
	}
}

// TestInterleaveRow checks interleaveRow (assembly prefix, Go tail) for
// every length up to 40, odd lengths' last element included, with a
// NaN-poisoned row.
func TestInterleaveRow(t *testing.T) {
	for w := 0; w <= 40; w++ {
		even, odd := make([]float32, (w+1)/2), make([]float32, w/2)
		for i := range even {
			even[i] = float32(2*i) + 0.5
		}
		for i := range odd {
			odd[i] = float32(2*i+1) + 0.5
		}
		row := make([]float32, w)
		for i := range row {
			row[i] = float32(math.NaN())
		}
		interleaveRow(even, odd, row)
		for i, v := range row {
			if want := float32(i) + 0.5; v != want {
				t.Fatalf("width %d: row[%d] = %v, want %v", w, i, v, want)
			}
		}
	}
}

// TestAddVector checks addRange and addReLURange (assembly prefix, Go
// tail) against the plain loops, a + b then max(v, 0), for every length up
// to 40 with special values, into y and in place over a and over b: the
// same bits, a NaN where the loops give one.
func TestAddVector(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	special := []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.Copysign(0, -1)), 0}
	draw := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(rng.NormFloat64())
			if rng.IntN(4) == 0 {
				v[i] = special[rng.IntN(len(special))]
			}
		}
		return v
	}
	for n := 0; n <= 40; n++ {
		a, b := draw(n), draw(n)
		for _, relu := range []bool{false, true} {
			f := addRange
			if relu {
				f = addReLURange
			}
			want := make([]float32, n)
			for i := range a {
				want[i] = a[i] + b[i]
				if relu {
					want[i] = max(want[i], 0)
				}
			}
			y := make([]float32, n)
			for i := range y {
				y[i] = float32(math.NaN())
			}
			overA, overB := append([]float32(nil), a...), append([]float32(nil), b...)
			f(a, b, y)
			f(overA, b, overA)
			f(a, overB, overB)
			for i := range want {
				for _, got := range [][]float32{y, overA, overB} {
					// Any NaN for a NaN: Go's max and the vector mask keep
					// different NaN payloads, as reluForward's two loops do.
					if math.Float32bits(got[i]) != math.Float32bits(want[i]) && !(got[i] != got[i] && want[i] != want[i]) {
						t.Fatalf("n=%d relu=%v: element %d (%v + %v) = %v, want %v", n, relu, i, a[i], b[i], got[i], want[i])
					}
				}
			}
		}
	}
}
