package gemm

import (
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"
)

// forEachKernel runs f once per supported kernel family, then once per
// micro-kernel of each family on its own, restoring the default after.
func forEachKernel(t *testing.T, f func(t *testing.T)) {
	t.Helper()
	defer active.Store(nil)
	for _, name := range Kernels() {
		t.Run(name, func(t *testing.T) {
			if err := SetKernel(name); err != nil {
				t.Fatal(err)
			}
			f(t)
		})
	}
	for _, fam := range families() {
		if len(fam.kernels) == 1 {
			continue
		}
		for _, kr := range fam.kernels {
			t.Run(kr.name, func(t *testing.T) {
				active.Store(&family{name: kr.name, kernels: []*kernel{kr}})
				f(t)
			})
		}
	}
}

type gemmCase struct {
	transA, transB bool
	m, n, k        int
	padA, padB     int // extra leading-dimension elements
	padC           int
	alpha, beta    float32
}

func (tc gemmCase) String() string {
	return fmt.Sprintf("tA=%v tB=%v m=%d n=%d k=%d pad=%d,%d,%d alpha=%g beta=%g",
		tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.padA, tc.padB, tc.padC, tc.alpha, tc.beta)
}

func randSlice(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = r.Float32()*2 - 1
	}
	return s
}

// runCase checks Sgemm against Reference with tolerance 1e-5 relative to
// Σ|alpha·a·b| + |beta·c| per element.
func runCase(t *testing.T, r *rand.Rand, tc gemmCase) {
	t.Helper()
	ar, ac := tc.m, tc.k
	if tc.transA {
		ar, ac = tc.k, tc.m
	}
	br, bc := tc.k, tc.n
	if tc.transB {
		br, bc = tc.n, tc.k
	}
	lda, ldb, ldc := max(ac, 1)+tc.padA, max(bc, 1)+tc.padB, max(tc.n, 1)+tc.padC
	a := randSlice(r, max(ar*lda, 1))
	b := randSlice(r, max(br*ldb, 1))
	c := randSlice(r, max(tc.m*ldc, 1))
	if tc.beta == 0 {
		for i := range c {
			c[i] = float32(math.NaN())
		}
	}
	want := append([]float32(nil), c...)
	got := append([]float32(nil), c...)
	Reference(tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, a, lda, b, ldb, tc.beta, want, ldc)
	Sgemm(tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, a, lda, b, ldb, tc.beta, got, ldc)
	// Magnitude bound per element: Σ|a||b|, computed with Reference on |a|, |b|.
	absA, absB := abs(a), abs(b)
	bound := make([]float32, len(c))
	Reference(tc.transA, tc.transB, tc.m, tc.n, tc.k, 1, absA, lda, absB, ldb, 0, bound, ldc)
	for i := 0; i < tc.m; i++ {
		for j := 0; j < ldc; j++ {
			idx := i*ldc + j
			g, w := got[idx], want[idx]
			if j >= tc.n { // padding must be untouched
				if math.Float32bits(g) != math.Float32bits(c[idx]) {
					t.Fatalf("%v: padding C[%d,%d] changed to %g", tc, i, j, g)
				}
				continue
			}
			tol := 1e-5 * (float64(abs32(tc.alpha))*float64(bound[idx]) + float64(abs32(tc.beta*c[idx])) + 1e-3)
			if math.IsNaN(float64(g)) || math.Abs(float64(g-w)) > tol {
				t.Fatalf("%v: C[%d,%d] = %g, want %g (tol %g)", tc, i, j, g, w, tol)
			}
		}
	}
}

func abs(s []float32) []float32 {
	o := make([]float32, len(s))
	for i, v := range s {
		o[i] = abs32(v)
	}
	return o
}

func abs32(v float32) float32 { return math.Float32frombits(math.Float32bits(v) &^ (1 << 31)) }

func TestSgemmRandomShapes(t *testing.T) {
	forEachKernel(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(1, 2))
		alphas := []float32{1, -0.5, 2}
		betas := []float32{0, 1, 0.25}
		for it := 0; it < 400; it++ {
			tc := gemmCase{
				transA: it&1 != 0, transB: it&2 != 0,
				m: 1 + r.IntN(70), n: 1 + r.IntN(70), k: 1 + r.IntN(70),
				alpha: alphas[r.IntN(len(alphas))], beta: betas[r.IntN(len(betas))],
			}
			if r.IntN(2) == 0 {
				tc.padA, tc.padB, tc.padC = r.IntN(5), r.IntN(5), r.IntN(5)
			}
			runCase(t, r, tc)
		}
	})
}

func TestSgemmLargeShapes(t *testing.T) {
	cases := []gemmCase{
		{m: 16, n: 1250, k: 150, alpha: 1},
		{m: 64, n: 700, k: 576, alpha: 1, beta: 1},
		{m: 200, n: 300, k: 600, alpha: 0.5, beta: 0, transA: true, padA: 3, padC: 1},
		{m: 300, n: 100, k: 513, alpha: 1, beta: -1, transB: true, padB: 2},
		{m: 257, n: 4100, k: 17, alpha: 1, beta: 0, transA: true, transB: true},
		{m: 33, n: 29, k: 1000, alpha: 1, beta: 0.5},
	}
	forEachKernel(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(3, 4))
		for _, tc := range cases {
			runCase(t, r, tc)
		}
	})
}

func TestSgemmDegenerate(t *testing.T) {
	forEachKernel(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(5, 6))
		for _, tc := range []gemmCase{
			{m: 3, n: 4, k: 0, alpha: 1, beta: 0},
			{m: 3, n: 4, k: 0, alpha: 1, beta: 2},
			{m: 3, n: 4, k: 5, alpha: 0, beta: 0.5},
			{m: 3, n: 4, k: 5, alpha: 0, beta: 0},
			{m: 1, n: 1, k: 1, alpha: 1, beta: 0},
		} {
			runCase(t, r, tc)
		}
		Sgemm(false, false, 0, 5, 5, 1, nil, 5, make([]float32, 25), 5, 0, nil, 5)
	})
}

func TestSgemmSingleAndMultiThread(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	for _, procs := range []int{1, 2, 3} {
		runtime.GOMAXPROCS(procs)
		runCase(t, r, gemmCase{m: 130, n: 517, k: 70, alpha: 1, beta: 0.5})
		runCase(t, r, gemmCase{m: 517, n: 130, k: 70, alpha: 1, beta: 0, transA: true})
	}
}

// TestSgemmSerialSameBits checks that SgemmSerial gives exactly Sgemm's
// result, so callers may pick either without changing their output.
func TestSgemmSerialSameBits(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	runtime.GOMAXPROCS(3)
	for _, d := range [][3]int{{130, 517, 70}, {517, 130, 300}, {64, 1024, 27}} {
		m, n, k := d[0], d[1], d[2]
		a, b := make([]float32, m*k), make([]float32, k*n)
		for i := range a {
			a[i] = r.Float32()*2 - 1
		}
		for i := range b {
			b[i] = r.Float32()*2 - 1
		}
		c1, c2 := make([]float32, m*n), make([]float32, m*n)
		Sgemm(false, false, m, n, k, 1, a, k, b, n, 0, c1, n)
		SgemmSerial(false, false, m, n, k, 1, a, k, b, n, 0, c2, n)
		for i := range c1 {
			if math.Float32bits(c1[i]) != math.Float32bits(c2[i]) {
				t.Fatalf("%dx%dx%d: element %d: Sgemm %v, SgemmSerial %v", m, n, k, i, c1[i], c2[i])
			}
		}
	}
}

func TestSetKernelUnknown(t *testing.T) {
	if err := SetKernel("sse9"); err == nil {
		t.Fatal("SetKernel(sse9) succeeded")
	}
}

func TestSgemmAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items under the race detector")
	}
	r := rand.New(rand.NewPCG(9, 10))
	for _, s := range []struct{ m, n, k int }{{20, 30, 40}, {64, 2048, 576}} {
		a, b, c := randSlice(r, s.m*s.k), randSlice(r, s.k*s.n), make([]float32, s.m*s.n)
		f := func() { Sgemm(false, false, s.m, s.n, s.k, 1, a, s.k, b, s.n, 0, c, s.n) }
		f()
		if n := testing.AllocsPerRun(20, f); n != 0 {
			t.Errorf("m=%d n=%d k=%d: %v allocs per Sgemm, want 0", s.m, s.n, s.k, n)
		}
	}
}

var benchPackB = flag.Bool("packb", false, "benchmarks: always pack B, never read it in place")

var benchMicro = flag.String("micro", "", "benchmarks: force this micro-kernel (e.g. avx512-12x32)")

var benchKC = flag.Int("kc", 0, "benchmarks: override the kc block depth of every micro-kernel")

// benchShapes are conv-as-GEMM products at batch 128 (forward: weights (K,CRS)
// times columns (CRS, N·OH·OW)) and their backward passes.
var benchShapes = []struct {
	name           string
	transA, transB bool
	m, n, k        int
}{
	{"lenet-conv2", false, false, 16, 128 * 10 * 10, 150},
	{"resnet-s3", false, false, 64, 128 * 8 * 8, 576},
	{"resnet-s3-dW", false, true, 64, 576, 128 * 8 * 8},
	{"resnet-s3-dX", true, false, 576, 128 * 8 * 8, 64},
	{"square-ish", false, false, 256, 4096, 256},
	{"512cube", false, false, 512, 512, 512},
}

func BenchmarkSgemm(b *testing.B) {
	defer active.Store(nil)
	if *benchPackB {
		defer func(v int) { directMaxM = v }(directMaxM)
		directMaxM = 0
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	for _, kname := range Kernels() {
		for _, procs := range []int{1, 2} {
			for _, s := range benchShapes {
				b.Run(fmt.Sprintf("%s/%s/threads=%d", kname, s.name, procs), func(b *testing.B) {
					if err := SetKernel(kname); err != nil {
						b.Fatal(err)
					}
					fam := current()
					if *benchMicro != "" || *benchKC != 0 {
						var ks []*kernel
						for _, kr := range fam.kernels {
							if *benchMicro == "" || kr.name == *benchMicro {
								kr2 := *kr
								if *benchKC != 0 {
									kr2.kc = *benchKC
								}
								ks = append(ks, &kr2)
							}
						}
						active.Store(&family{name: fam.name, kernels: ks})
					}
					runtime.GOMAXPROCS(procs)
					r := rand.New(rand.NewPCG(1, 1))
					a, bm, c := randSlice(r, s.m*s.k), randSlice(r, s.k*s.n), make([]float32, s.m*s.n)
					lda, ldb := s.k, s.n
					if s.transA {
						lda = s.m
					}
					if s.transB {
						ldb = s.k
					}
					cpu0 := cpuSeconds()
					for b.Loop() {
						Sgemm(s.transA, s.transB, s.m, s.n, s.k, 1, a, lda, bm, ldb, 0, c, s.n)
					}
					reportGFLOPs(b, 2*float64(s.m)*float64(s.n)*float64(s.k), cpu0)
				})
			}
		}
	}
}

// BenchmarkMicroKernel times each micro-kernel alone on L1-resident panels:
// the ceiling for Sgemm on one core.
func BenchmarkMicroKernel(b *testing.B) {
	const kc = 256
	for _, f := range families() {
		for _, kr := range f.kernels {
			b.Run(kr.name, func(b *testing.B) {
				r := rand.New(rand.NewPCG(1, 1))
				pa, pb, c := randSlice(r, kr.mr*kc), randSlice(r, kr.nr*kc), make([]float32, kr.mr*kr.nr)
				cpu0 := cpuSeconds()
				for b.Loop() {
					kr.fn(kc, pa, pb, pb, kr.nr, c, kr.nr, true, 1)
				}
				reportGFLOPs(b, 2*float64(kr.mr*kr.nr*kc), cpu0)
			})
			// The same on every core at once: the machine's attainable peak.
			b.Run(kr.name+"/parallel", func(b *testing.B) {
				b.RunParallel(func(p *testing.PB) {
					r := rand.New(rand.NewPCG(1, 1))
					pa, pb, c := randSlice(r, kr.mr*kc), randSlice(r, kr.nr*kc), make([]float32, kr.mr*kr.nr)
					for p.Next() {
						kr.fn(kc, pa, pb, pb, kr.nr, c, kr.nr, true, 1)
					}
				})
				b.ReportMetric(2*float64(kr.mr*kr.nr*kc)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}

// reportGFLOPs reports wall-clock GFLOP/s and, where CPU time is measurable,
// GFLOP per CPU-second per core used ("GFLOP/cpu-s"), which the load of other
// processes on a shared machine disturbs less.
func reportGFLOPs(b *testing.B, flopsPerOp float64, cpu0 float64) {
	flops := flopsPerOp * float64(b.N)
	b.ReportMetric(flops/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	if cpu := cpuSeconds() - cpu0; cpu0 > 0 && cpu > 0 {
		b.ReportMetric(flops/cpu/1e9, "GFLOP/cpu-s")
	}
}

// TestPackT8 checks the transposing pack of eight columns (assembly
// prefix, Go tail; and the Go loop alone) for every depth up to 40 with
// scattered column starts: each value in place, nothing else written.
func TestPackT8(t *testing.T) {
	defer func() { packVectorOff = false }()
	r := rand.New(rand.NewPCG(9, 10))
	for _, off := range []bool{false, true} {
		packVectorOff = off
		for kb := 1; kb <= 40; kb++ {
			b := randSlice(r, 400)
			var offs [8]int
			for i := range offs {
				offs[i] = r.IntN(len(b) - kb + 1)
			}
			const ldd = 11
			dst := make([]float32, kb*ldd+5)
			for i := range dst {
				dst[i] = float32(math.NaN())
			}
			packT8(b, &offs, kb, dst, ldd)
			for i, v := range dst {
				p, c := i/ldd, i%ldd
				if p < kb && c < 8 {
					if v != b[offs[c]+p] {
						t.Fatalf("vector off=%v kb=%d: dst[%d,%d] = %v, want %v", off, kb, p, c, v, b[offs[c]+p])
					}
				} else if !math.IsNaN(float64(v)) {
					t.Fatalf("vector off=%v kb=%d: dst[%d] written outside the panel", off, kb, i)
				}
			}
		}
	}
}

// TestSgemmOffsetsB checks C = A·op(B) + beta·C, column j of op(B) read at
// b[offs[j]:], against Reference on op(B) written out, on every kernel
// family, for random shapes (depths across the K blocking) and betas.
func TestSgemmOffsetsB(t *testing.T) {
	defer active.Store(nil)
	for _, fam := range families() {
		active.Store(fam)
		r := rand.New(rand.NewPCG(11, 12))
		for it := 0; it < 60; it++ {
			m, n, k := 1+r.IntN(40), 1+r.IntN(70), 1+r.IntN(600)
			lda, ldc := k+r.IntN(3), n+r.IntN(3)
			a := randSlice(r, (m-1)*lda+k)
			b := randSlice(r, k+r.IntN(300))
			offs := randOffsets(r, n, len(b), k)
			bt := make([]float32, n*k) // op(B) transposed: row j = column j
			for j := range n {
				copy(bt[j*k:(j+1)*k], b[offs[j]:])
			}
			beta := []float32{0, 1, 0.5}[r.IntN(3)]
			c := randSlice(r, (m-1)*ldc+n)
			want := append([]float32(nil), c...)
			Reference(false, true, m, n, k, 1, a, lda, bt, k, beta, want, ldc)
			SgemmOffsetsB(m, n, k, a, lda, b, offs, beta, c, ldc)
			for i := range m {
				for j := range n {
					got, w := c[i*ldc+j], want[i*ldc+j]
					if d := math.Abs(float64(got - w)); d > 1e-4*float64(k) || math.IsNaN(float64(got)) {
						t.Fatalf("%s m=%d n=%d k=%d beta=%v: C[%d,%d] = %g, want %g", fam.name, m, n, k, beta, i, j, got, w)
					}
				}
			}
		}
	}
}
