package gemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"
)

// rowDotCases hit the row-dot path (A of 1 to 4 rows times Bᵀ): every
// kernel height and its remainders, rows of B not a multiple of NV, K not
// a multiple of the lanes and shorter than two vectors, padded leading
// dimensions, and products large enough to be split over workers.
var rowDotCases = []gemmCase{
	{m: 1, n: 1, k: 16, transB: true, alpha: 1},
	{m: 1, n: 5, k: 17, transB: true, alpha: 1, beta: 1},
	{m: 2, n: 7, k: 31, transB: true, alpha: -0.5, beta: 0.25, padA: 3, padB: 1, padC: 2},
	{m: 3, n: 13, k: 100, transB: true, alpha: 2},
	{m: 4, n: 9, k: 64, transB: true, alpha: 1, beta: 1, padB: 5},
	{m: 5, n: 9, k: 40, transB: true, alpha: 1}, // one row past the path: blocked
	{m: 1, n: 1030, k: 1100, transB: true, alpha: 1},
	{m: 3, n: 1027, k: 1031, transB: true, alpha: 1, beta: 0.5, padA: 1, padC: 3},
	{m: 4, n: 4096, k: 257, transB: true, alpha: 1},
	{m: 1, n: 10, k: 4096, transB: true, alpha: 1, beta: 1},
}

// TestSgemmRowDot checks the row-dot path against Reference on every
// kernel family (C NaN-poisoned where beta is 0).
func TestSgemmRowDot(t *testing.T) {
	forEachKernel(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(11, 12))
		for _, tc := range rowDotCases {
			runCase(t, r, tc)
		}
	})
}

// TestSgemmRowDotTaken checks that the cases above do reach the row-dot
// path where the default family has one, so TestSgemmRowDot tests it.
func TestSgemmRowDotTaken(t *testing.T) {
	f := current()
	if len(f.rowDot) == 0 {
		t.Skipf("kernel family %s has no row-dot path", f.name)
	}
	for _, tc := range rowDotCases {
		if got, want := f.useRowDot(tc.transA, tc.transB, tc.m, tc.k), tc.m <= rowDotMaxM; got != want {
			t.Errorf("%v: row-dot path %v, want %v", tc, got, want)
		}
	}
}

// TestSgemmRowDotThreads checks that the row-dot path gives the same bits
// at 1, 2 and 3 workers.
func TestSgemmRowDotThreads(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	r := rand.New(rand.NewPCG(13, 14))
	for _, s := range [][3]int{{1, 1030, 1100}, {3, 2050, 700}, {4, 4097, 300}} {
		m, n, k := s[0], s[1], s[2]
		a, b := randSlice(r, m*k), randSlice(r, n*k)
		var first []float32
		for _, procs := range []int{1, 2, 3} {
			runtime.GOMAXPROCS(procs)
			c := make([]float32, m*n)
			Sgemm(false, true, m, n, k, 1, a, k, b, k, 0, c, n)
			if first == nil {
				first = c
				continue
			}
			for i := range c {
				if math.Float32bits(c[i]) != math.Float32bits(first[i]) {
					t.Fatalf("%dx%dx%d at %d threads: element %d is %v, at 1 thread %v", m, n, k, procs, i, c[i], first[i])
				}
			}
		}
	}
}

// BenchmarkRowDot compares the row-dot path with the blocked path
// (rowdot=off) on the linear layers at batch 1 to 4 (x · Wᵀ, W 4096×4096
// as in the MLP and AlexNet, 64 MB: streamed from memory), at 1 thread.
func BenchmarkRowDot(b *testing.B) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	runtime.GOMAXPROCS(1)
	defer func(v int) { rowDotMaxM = v }(rowDotMaxM)
	for _, m := range []int{1, 2, 4} {
		for _, path := range []string{"on", "off"} {
			b.Run(fmt.Sprintf("m=%d/n=4096/k=4096/rowdot=%s", m, path), func(b *testing.B) {
				rowDotMaxM = 4
				if path == "off" {
					rowDotMaxM = 0
				}
				const n, k = 4096, 4096
				r := rand.New(rand.NewPCG(1, 1))
				a, w, c := randSlice(r, m*k), randSlice(r, n*k), make([]float32, m*n)
				cpu0 := cpuSeconds()
				for b.Loop() {
					Sgemm(false, true, m, n, k, 1, a, k, w, k, 0, c, n)
				}
				reportGFLOPs(b, 2*float64(m*n*k), cpu0)
				b.ReportMetric(4*float64(n*k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
			})
		}
	}
}
