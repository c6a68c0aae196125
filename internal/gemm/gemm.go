// Package gemm is a single-precision matrix multiply for the CPU backend.
//
// Sgemm follows BLAS sgemm with row-major storage. It packs panels of A and B
// (the GotoBLAS/BLIS design), blocks for the caches, and runs a register-blocked
// micro-kernel: AVX-512 or AVX2+FMA assembly on amd64, chosen at run time, or a
// portable Go kernel elsewhere. Large products are split across
// runtime.GOMAXPROCS threads by the worker pool of internal/parallel.
//
// Dimension letters: C is M×N, op(A) is M×K, op(B) is K×N.
package gemm

//go:generate go run asm_gen.go

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/cnnctl/cnnctl/internal/parallel"
)

// Reference computes C = alpha*op(A)*op(B) + beta*C with plain loops. It is the
// specification Sgemm is tested against. beta == 0 ignores the contents of C.
func Reference(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s float32
			for p := 0; p < k; p++ {
				var av, bv float32
				if transA {
					av = a[p*lda+i]
				} else {
					av = a[i*lda+p]
				}
				if transB {
					bv = b[j*ldb+p]
				} else {
					bv = b[p*ldb+j]
				}
				s += av * bv
			}
			if beta == 0 {
				c[i*ldc+j] = alpha * s
			} else {
				c[i*ldc+j] = alpha*s + beta*c[i*ldc+j]
			}
		}
	}
}

// microKernel computes the MR×NR tile acc = Σ_p a[p*MR+i]*b[p*ldb+j] for p < k
// (k ≥ 1) and stores c[i*ldc+j] = acc, or acc + beta*c[i*ldc+j] when loadC.
// a is a packed k×MR micro-panel of A; b is a packed k×NR micro-panel of B
// (ldb == NR) or a k×NR window of B itself. pf, laid out like b, is the panel
// the next call will read: a hint to prefetch, which kernels may ignore.
type microKernel func(k int, a, b, pf []float32, ldb int, c []float32, ldc int, loadC bool, beta float32)

// kernel is one micro-kernel with its tile and cache-block sizes.
type kernel struct {
	name   string
	mr, nr int
	mc     int     // rows of A packed per block (L2), a multiple of mr
	kc     int     // depth of a packed block (a kc×nr B micro-panel stays in L1)
	nc     int     // columns of B packed per block (L3), a multiple of nr
	speed  float64 // FLOP rate of full tiles relative to the family's best
	fn     microKernel
}

// family is a set of micro-kernels for one instruction set; Sgemm picks the
// tile height that wastes the fewest rows of M.
type family struct {
	name     string
	kernels  []*kernel
	indirect []*indirectKernel // for IndirectA.Multiply
	dot      []*dotKernel      // for Dot.Accumulate
	// rowDot are the kernels of the row-dot path (rowdot.go), tallest
	// first; none where the family has no such path.
	rowDot []*dotKernel
}

var active atomic.Pointer[family]

// SetKernel forces the micro-kernel family: "generic" (portable Go), "avx2"
// or "avx512". It returns an error if the CPU or build does not support it.
// It is meant for tests and benchmarks; the default is the fastest supported.
func SetKernel(name string) error {
	for _, f := range families() {
		if f.name == name {
			active.Store(f)
			return nil
		}
	}
	return fmt.Errorf("gemm: kernel %q not supported on this CPU or build (have %v)", name, Kernels())
}

// Kernel reports the name of the micro-kernel family Sgemm uses.
func Kernel() string { return current().name }

// Kernels lists the supported micro-kernel families, fastest last.
func Kernels() []string {
	var names []string
	for _, f := range families() {
		names = append(names, f.name)
	}
	return names
}

func current() *family {
	if f := active.Load(); f != nil {
		return f
	}
	// No sync.Once: tests reset active to nil to restore the default, and
	// the default must then be chosen again.
	fs := families()
	active.CompareAndSwap(nil, fs[len(fs)-1])
	return active.Load()
}

// families returns the generic family first, then the assembly ones the CPU supports.
func families() []*family {
	return append([]*family{genericFamily}, asmFamilies()...)
}

// pick returns the kernel of f with the least estimated time for m rows:
// rows computed (m rounded up to the tile height) over relative tile speed.
func (f *family) pick(m int) *kernel {
	var best *kernel
	bestCost := 0.0
	for _, kr := range f.kernels {
		cost := float64(roundUp(m, kr.mr)) / kr.speed
		if best == nil || cost < bestCost {
			best, bestCost = kr, cost
		}
	}
	return best
}

// parallelMinWork is the m*n*k below which Sgemm stays on one goroutine:
// about 2 MFLOP, tens of microseconds, where spawning would not pay.
const parallelMinWork = 1 << 20

// workspace holds one worker's packing buffers.
type workspace struct {
	a, b []float32
	tile []float32
}

var workspaces = sync.Pool{New: func() any { return new(workspace) }}

// Sgemm computes C = alpha*op(A)*op(B) + beta*C, op(X) = X or Xᵀ, row-major.
// A is M×K (K×M if transA) with leading dimension lda; B is K×N (N×K if
// transB) with ldb; C is M×N with ldc. beta == 0 ignores the contents of C.
// Invalid arguments panic, as out-of-range slice indexing would.
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	sgemm(runtime.GOMAXPROCS(0), transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// SgemmSerial is Sgemm on the calling goroutine alone, for callers that run
// several products at once (one per image of a batch) and parallelise
// around it. Each element of C gets the same bits as from Sgemm.
func SgemmSerial(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	sgemm(1, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

func sgemm(workers int, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	checkArgs(transA, transB, m, n, k, a, lda, b, ldb, c, ldc)
	if m == 0 || n == 0 {
		return
	}
	if k == 0 || alpha == 0 {
		scale(m, n, beta, c, ldc)
		return
	}
	f := current()
	if f.useRowDot(transA, transB, m, k) {
		rowDots(f, workers, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	kr := f.pick(m)

	if m*n*k < parallelMinWork {
		workers = 1
	}
	// Split the longer of M and N into tile-aligned chunks, one per worker.
	splitN := n >= m
	tiles, tile := (n+kr.nr-1)/kr.nr, kr.nr
	if !splitN {
		tiles, tile = (m+kr.mr-1)/kr.mr, kr.mr
	}
	workers = min(workers, tiles)
	if workers <= 1 {
		ws := workspaces.Get().(*workspace)
		blocked(ws, kr, transA, transB, m, n, k, alpha, a, lda, b, ldb, nil, beta, c, ldc)
		workspaces.Put(ws)
		return
	}
	per := (tiles + workers - 1) / workers * tile
	chunks := (tiles*tile + per - 1) / per
	t := tasks.Get().(*task)
	*t = task{f: f, kr: kr, splitN: splitN, per: per, transA: transA, transB: transB, m: m, n: n, k: k,
		alpha: alpha, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc}
	parallel.Split(chunks, chunks, t)
	*t = task{}
	tasks.Put(t)
}

// SgemmOffsetsB computes C = A·op(B) + beta·C on the calling goroutine,
// A m×k (lda), where column j of op(B) (k×n) is the contiguous run
// b[offs[j] : offs[j]+k]: a convolution's filter gradient, dy times the
// im2col matrix read from the padded image, whose row (c, r, s) is the
// image at a fixed shift: no im2col written. beta == 0 ignores the
// contents of C.
func SgemmOffsetsB(m, n, k int, a []float32, lda int, b []float32, offs []int, beta float32, c []float32, ldc int) {
	if m < 0 || n < 0 || k < 0 || len(offs) < n || lda < max(k, 1) || ldc < max(n, 1) ||
		m > 0 && k > 0 && len(a) < (m-1)*lda+k || m > 0 && n > 0 && len(c) < (m-1)*ldc+n {
		panic(fmt.Sprintf("gemm: SgemmOffsetsB m=%d n=%d k=%d lda=%d ldc=%d len(a)=%d len(c)=%d len(offs)=%d", m, n, k, lda, ldc, len(a), len(c), len(offs)))
	}
	if n > 0 {
		checkOffsets("SgemmOffsetsB", b, offs[:n], k)
	}
	if m == 0 || n == 0 {
		return
	}
	if k == 0 {
		scale(m, n, beta, c, ldc)
		return
	}
	kr := current().pick(m)
	ws := workspaces.Get().(*workspace)
	blocked(ws, kr, false, true, m, n, k, 1, a, lda, b, 0, offs, beta, c, ldc)
	workspaces.Put(ws)
}

// task is one parallel product's arguments: piece w of parallel.Split is
// chunk w of per columns (rows if !splitN) of C, or of the row-dot path's
// per rows of B. Tasks are reused, so a parallel product allocates nothing.
type task struct {
	f              *family
	kr             *kernel // nil: the row-dot path
	splitN         bool
	per            int
	transA, transB bool
	m, n, k        int
	alpha, beta    float32
	a, b, c        []float32
	lda, ldb, ldc  int
}

var tasks = sync.Pool{New: func() any { return new(task) }}

// Run computes chunk w (parallel.Body; lo and hi are w and w+1).
func (t *task) Run(w, _, _ int) {
	lo, hi := w*t.per, (w+1)*t.per
	if t.kr == nil {
		rowDotRange(t.f, lo, min(t.n, hi), t.m, t.k, t.alpha, t.a, t.lda, t.b, t.ldb, t.beta, t.c, t.ldc)
		return
	}
	chunk(t.kr, t.splitN, lo, hi, t.transA, t.transB, t.m, t.n, t.k, t.alpha, t.a, t.lda, t.b, t.ldb, t.beta, t.c, t.ldc)
}

// chunk computes columns [lo, hi) of C (rows if !splitN) on the calling goroutine.
func chunk(kr *kernel, splitN bool, lo, hi int, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	ws := workspaces.Get().(*workspace)
	if splitN {
		hi = min(hi, n)
		var bs []float32
		if transB {
			bs = b[lo*ldb:]
		} else {
			bs = b[lo:]
		}
		blocked(ws, kr, transA, transB, m, hi-lo, k, alpha, a, lda, bs, ldb, nil, beta, c[lo:], ldc)
	} else {
		hi = min(hi, m)
		var as []float32
		if transA {
			as = a[lo:]
		} else {
			as = a[lo*lda:]
		}
		blocked(ws, kr, transA, transB, hi-lo, n, k, alpha, as, lda, b, ldb, nil, beta, c[lo*ldc:], ldc)
	}
	workspaces.Put(ws)
}

func checkArgs(transA, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	if m < 0 || n < 0 || k < 0 {
		panic(fmt.Sprintf("gemm: negative dimension m=%d n=%d k=%d", m, n, k))
	}
	ar, ac := m, k
	if transA {
		ar, ac = k, m
	}
	br, bc := k, n
	if transB {
		br, bc = n, k
	}
	check := func(name string, x []float32, rows, cols, ld int) {
		if ld < max(cols, 1) {
			panic(fmt.Sprintf("gemm: ld%s=%d < %d", name, ld, cols))
		}
		if rows > 0 && cols > 0 && len(x) < (rows-1)*ld+cols {
			panic(fmt.Sprintf("gemm: len(%s)=%d < %d", name, len(x), (rows-1)*ld+cols))
		}
	}
	check("a", a, ar, ac, lda)
	check("b", b, br, bc, ldb)
	check("c", c, m, n, ldc)
}

// scale sets C = beta*C, or C = 0 when beta == 0.
func scale(m, n int, beta float32, c []float32, ldc int) {
	for i := 0; i < m; i++ {
		row := c[i*ldc : i*ldc+n]
		if beta == 0 {
			clear(row)
			continue
		}
		for j := range row {
			row[j] *= beta
		}
	}
}

// blocked runs the GotoBLAS loop nest on one goroutine: for each nc-wide block
// of columns and kc-deep slice of K, pack B (kc×nc), then for each mc-tall block
// of rows pack alpha*A (mc×kc) and sweep the micro-kernel over the tiles.
//
// With boffs (transB), column j of op(B) starts at b[boffs[j]] instead of
// b[j*ldb] (SgemmOffsetsB).
func blocked(ws *workspace, kr *kernel, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, boffs []int, beta float32, c []float32, ldc int) {
	mr, nr := kr.mr, kr.nr
	kc := min(kr.kc, k)
	// Balance the K slices so the last one is not tiny.
	if slices := (k + kc - 1) / kc; slices > 1 {
		kc = (k + slices - 1) / slices
	}
	nc := min(kr.nc, roundUp(n, nr))
	mc := min(kr.mc, roundUp(m, mr))
	ws.a = grow(ws.a, mc*kc)
	// Without transB, the micro-kernel reads full panels of B in place: for
	// the short, wide products of convolutions, packing B would cost about
	// as much as the multiply. Only a ragged last panel is packed.
	direct := !transB && m <= directMaxM
	if direct {
		ws.b = grow(ws.b, nr*kc)
	} else {
		ws.b = grow(ws.b, nc*kc)
	}
	ws.tile = grow(ws.tile, mr*nr)
	for jc := 0; jc < n; jc += nc {
		nb := min(nc, n-jc)
		for pc := 0; pc < k; pc += kc {
			kb := min(kc, k-pc)
			var bsrc []float32 // B block in place, or nil when packed
			if direct {
				bsrc = b[pc*ldb+jc:]
				if full := nb / nr * nr; full < nb {
					packB(ws.b, b, ldb, false, nil, pc, jc+full, kb, nb-full, nr)
				}
			} else {
				packB(ws.b, b, ldb, transB, boffs, pc, jc, kb, nb, nr)
			}
			bet, loadC := beta, beta != 0
			if pc > 0 {
				bet, loadC = 1, true
			}
			for ic := 0; ic < m; ic += mc {
				mb := min(mc, m-ic)
				packA(ws.a, a, lda, transA, ic, pc, mb, kb, mr, alpha)
				macro(kr, mb, nb, kb, ws.a, bsrc, ldb, ws.b, c[ic*ldc+jc:], ldc, loadC, bet, ws.tile)
			}
		}
	}
}

// directMaxM is the largest M for which Sgemm reads B in place rather than
// packing it. A variable so benchmarks can compare both.
var directMaxM = 1 << 30

// macro sweeps the micro-kernel over an mb×nb block of C from packed A and
// either B in place (bsrc with leading dimension ldb; full panels only) or
// packed B (pb; with bsrc, pb holds just the ragged last panel).
func macro(kr *kernel, mb, nb, kb int, pa, bsrc []float32, ldb int, pb, c []float32, ldc int, loadC bool, beta float32, tile []float32) {
	mr, nr := kr.mr, kr.nr
	for jr := 0; jr < nb; jr += nr {
		nn := min(nr, nb-jr)
		var bp []float32
		bstride := nr
		switch {
		case bsrc == nil:
			bp = pb[jr*kb:]
		case nn == nr:
			bp, bstride = bsrc[jr:], ldb
		default:
			bp = pb
		}
		// The next panel of the same layout, to prefetch; bp itself at the end.
		pf := bp
		switch {
		case bsrc == nil && jr+nr < nb:
			pf = pb[(jr+nr)*kb:]
		case bsrc != nil && jr+2*nr <= nb:
			pf = bsrc[jr+nr:]
		}
		for ir := 0; ir < mb; ir += mr {
			mm := min(mr, mb-ir)
			ap := pa[ir*kb:]
			if mm == mr && nn == nr {
				kr.fn(kb, ap, bp, pf, bstride, c[ir*ldc+jr:], ldc, loadC, beta)
				continue
			}
			kr.fn(kb, ap, bp, pf, bstride, tile, nr, false, 0)
			for i := 0; i < mm; i++ {
				row := c[(ir+i)*ldc+jr : (ir+i)*ldc+jr+nn]
				t := tile[i*nr : i*nr+nn]
				if loadC {
					for j := range row {
						row[j] = t[j] + beta*row[j]
					}
				} else {
					copy(row, t)
				}
			}
		}
	}
}

// packA packs alpha*op(A)[ic:ic+mb, pc:pc+kb] into micro-panels of mr rows:
// panel r holds, for each p, the mr values of rows r*mr.., zero-padded past mb.
func packA(dst, a []float32, lda int, transA bool, ic, pc, mb, kb, mr int, alpha float32) {
	for ir := 0; ir < mb; ir += mr {
		mm := min(mr, mb-ir)
		panel := dst[ir*kb : ir*kb+mr*kb]
		if transA {
			// op(A)[i,p] = a[p*lda+i]: each p reads mm contiguous values.
			for p := 0; p < kb; p++ {
				src := a[(pc+p)*lda+ic+ir:]
				d := panel[p*mr : p*mr+mr]
				for i := 0; i < mm; i++ {
					d[i] = alpha * src[i]
				}
				clear(d[mm:])
			}
			continue
		}
		// Four rows at a time, so each p writes four adjacent values.
		i := 0
		for ; i+4 <= mm; i += 4 {
			off := (ic+ir+i)*lda + pc
			s0 := a[off : off+kb]
			s1 := a[off+lda : off+lda+kb]
			s2 := a[off+2*lda : off+2*lda+kb]
			s3 := a[off+3*lda : off+3*lda+kb]
			for p := range s0 {
				d := panel[p*mr+i : p*mr+i+4 : p*mr+i+4]
				d[0], d[1], d[2], d[3] = alpha*s0[p], alpha*s1[p], alpha*s2[p], alpha*s3[p]
			}
		}
		for ; i < mm; i++ {
			src := a[(ic+ir+i)*lda+pc : (ic+ir+i)*lda+pc+kb]
			for p, v := range src {
				panel[p*mr+i] = alpha * v
			}
		}
		if mm < mr {
			for p := 0; p < kb; p++ {
				clear(panel[p*mr+mm : p*mr+mr])
			}
		}
	}
}

// packB packs op(B)[pc:pc+kb, jc:jc+nb] into micro-panels of nr columns:
// panel j holds, for each p, the nr values of columns j*nr.., zero-padded past nb.
// With boffs (transB only), column j of op(B) starts at b[boffs[j]].
func packB(dst, b []float32, ldb int, transB bool, boffs []int, pc, jc, kb, nb, nr int) {
	start := func(j int) int { // where column j of op(B) starts in b (transB)
		if boffs != nil {
			return boffs[j]
		}
		return j * ldb
	}
	for jr := 0; jr < nb; jr += nr {
		nn := min(nr, nb-jr)
		panel := dst[jr*kb : jr*kb+nr*kb]
		if !transB {
			for p := 0; p < kb; p++ {
				src := b[(pc+p)*ldb+jc+jr:]
				d := panel[p*nr : p*nr+nr]
				copy(d[:nn], src[:nn])
				clear(d[nn:])
			}
			continue
		}
		// op(B)[p,j] = b[j*ldb+p]: column j of op(B) is contiguous. Read
		// eight columns at a time so each p writes eight adjacent values.
		j := 0
		for ; j+8 <= nn; j += 8 {
			var offs [8]int
			for i := range offs {
				offs[i] = start(jc+jr+j+i) + pc
			}
			packT8(b, &offs, kb, panel[j:], nr)
		}
		for ; j < nn; j++ {
			src := b[start(jc+jr+j)+pc:][:kb]
			for p, v := range src {
				panel[p*nr+j] = v
			}
		}
		if nn < nr {
			for p := 0; p < kb; p++ {
				clear(panel[p*nr+nn : p*nr+nr])
			}
		}
	}
}

// packT8Go sets dst[p*ldd+i] = b[offs[i]+p] for i < 8 and from <= p < kb.
func packT8Go(b []float32, offs *[8]int, from, kb int, dst []float32, ldd int) {
	if from >= kb {
		return
	}
	s0 := b[offs[0] : offs[0]+kb]
	s1 := b[offs[1] : offs[1]+kb]
	s2 := b[offs[2] : offs[2]+kb]
	s3 := b[offs[3] : offs[3]+kb]
	s4 := b[offs[4] : offs[4]+kb]
	s5 := b[offs[5] : offs[5]+kb]
	s6 := b[offs[6] : offs[6]+kb]
	s7 := b[offs[7] : offs[7]+kb]
	for p := from; p < kb; p++ {
		d := dst[p*ldd : p*ldd+8 : p*ldd+8]
		d[0], d[1], d[2], d[3] = s0[p], s1[p], s2[p], s3[p]
		d[4], d[5], d[6], d[7] = s4[p], s5[p], s6[p], s7[p]
	}
}

func roundUp(x, m int) int { return (x + m - 1) / m * m }

func grow(s []float32, n int) []float32 {
	if cap(s) < n {
		return make([]float32, n)
	}
	return s[:n]
}
