package gemm

import "fmt"

// Indirect products: matrix products whose B is not stored as a matrix but
// read through a table of offsets, row p of B being b[offs[p]:]. A stride-1
// convolution over an image whose rows are laid end to end is one: row
// (c, r, s) of its im2col matrix is the image shifted by c*H*W + r*W + s, so
// the product reads the image itself and im2col is never written. The price
// is that output columns past the valid width of each row are computed and
// thrown away (the caller's business), and that B must be readable a little
// past the last offset (Reach).

// indirectKernel computes the MR×NR tile c[i*ldc+j] = Σ_p a[p*MR+i] *
// b[offs[p]+j] over p < k (k ≥ 1), a a packed k×MR panel of A.
type indirectKernel struct {
	name   string
	mr, nr int
	speed  float64
	fn     func(k int, a, b []float32, offs []int, c []float32, ldc int)
	// tails are narrower kernels of the same height (the same packing of
	// A), narrowest first: a product's last columns take the narrowest
	// that covers them instead of a full, mostly wasted tile.
	tails []*indirectKernel
}

// withTails returns kr with the narrower kernels tails (same MR,
// narrowest first).
func withTails(kr *indirectKernel, tails ...*indirectKernel) *indirectKernel {
	for _, t := range tails {
		if t.mr != kr.mr || t.nr >= kr.nr {
			panic(fmt.Sprintf("gemm: %s is no tail of %s", t.name, kr.name))
		}
	}
	kr.tails = tails
	return kr
}

// cover returns the kernel computing the last nn (< NR) columns of a
// product: the narrowest tail at least nn wide, else kr itself.
func (kr *indirectKernel) cover(nn int) *indirectKernel {
	for _, t := range kr.tails {
		if t.nr >= nn {
			return t
		}
	}
	return kr
}

// paddedCols is how many columns kr computes for an n-column product.
func (kr *indirectKernel) paddedCols(n int) int {
	full := n / kr.nr * kr.nr
	if full == n {
		return n
	}
	return full + kr.cover(n-full).nr
}

// dotKernel adds, for i < MR and q < NV, Σ_{s<steps} dy[i*lddy+s*L+l] *
// b[offs[q]+s*L+l] to the vector acc[(i*NV+q)*L+l] (steps ≥ 1), L = lanes.
type dotKernel struct {
	name          string
	mr, nv, lanes int
	fn            func(steps int, dy []float32, lddy int, b []float32, offs []int, acc []float32)
}

// pickIndirect returns the kernel of f computing the fewest padded tile
// elements for an m×n product, over its relative speed.
func (f *family) pickIndirect(m, n int) *indirectKernel {
	var best *indirectKernel
	bestCost := 0.0
	for _, kr := range f.indirect {
		cost := float64(roundUp(m, kr.mr)*kr.paddedCols(n)) / kr.speed
		if best == nil || cost < bestCost {
			best, bestCost = kr, cost
		}
	}
	return best
}

// IndirectA is the A (M×K) of indirect products, packed for one kernel.
type IndirectA struct {
	kr   *indirectKernel
	m, k int
	a    []float32
}

// IndirectSize is the length of the buffer PackIndirect needs for an m×k A
// multiplied into products about n columns wide.
func IndirectSize(m, n, k int) int {
	return roundUp(m, current().pickIndirect(m, n).mr) * k
}

// PackIndirect packs a (m×k, row-major, leading dimension lda) into dst
// (IndirectSize(m, n, k) elements) for products about n columns wide.
func PackIndirect(dst []float32, m, n, k int, a []float32, lda int) IndirectA {
	kr := current().pickIndirect(m, n)
	size := roundUp(m, kr.mr) * k
	if m < 1 || k < 1 || lda < k || len(a) < (m-1)*lda+k || len(dst) < size {
		panic(fmt.Sprintf("gemm: PackIndirect m=%d k=%d lda=%d len(a)=%d len(dst)=%d (want %d)", m, k, lda, len(a), len(dst), size))
	}
	packA(dst, a, lda, false, 0, 0, m, k, kr.mr, 1)
	return IndirectA{kr: kr, m: m, k: k, a: dst[:size]}
}

// IndirectReach is the Reach of the A that PackIndirect packs for an m-row
// product about n columns wide, known before packing.
func IndirectReach(m, n int) int { return roundUp(n, current().pickIndirect(m, n).nr) }

// Reach is how far past each offset Multiply reads B for n columns.
func (p IndirectA) Reach(n int) int { return roundUp(n, p.kr.nr) }

// Multiply sets c[i*ldc+j] = Σ_p A[i][p] * b[offs[p]+j] for i < M, j < n.
// offs has K entries; b must hold b[offs[p] : offs[p]+Reach(n)].
func (p IndirectA) Multiply(n int, b []float32, offs []int, c []float32, ldc int) {
	if n < 1 {
		return
	}
	checkOffsets("Multiply", b, offs[:p.k], p.Reach(n))
	if ldc < n || len(c) < (p.m-1)*ldc+n {
		panic(fmt.Sprintf("gemm: Multiply ldc=%d len(c)=%d for %d×%d", ldc, len(c), p.m, n))
	}
	kr, k := p.kr, p.k
	mr, nr := kr.mr, kr.nr
	ws := workspaces.Get().(*workspace)
	ws.tile = grow(ws.tile, mr*nr)
	// Columns outside, so the k×NR window of B stays in cache for all rows.
	for j := 0; j < n; j += nr {
		nn := min(nr, n-j)
		kj := kr
		if nn < nr {
			kj = kr.cover(nn) // the last columns: a narrower tile
		}
		for i := 0; i < p.m; i += mr {
			mm := min(mr, p.m-i)
			ap := p.a[i*k:]
			if mm == mr && nn == kj.nr {
				kj.fn(k, ap, b[j:], offs, c[i*ldc+j:], ldc)
				continue
			}
			kj.fn(k, ap, b[j:], offs, ws.tile, kj.nr)
			for r := range mm {
				copy(c[(i+r)*ldc+j:(i+r)*ldc+j+nn], ws.tile[r*kj.nr:r*kj.nr+nn])
			}
		}
	}
	workspaces.Put(ws)
}

// checkOffsets panics unless b[off : off+reach] is in range for every offset.
func checkOffsets(op string, b []float32, offs []int, reach int) {
	lo, hi := 0, 0
	for i, o := range offs {
		if i == 0 || o < lo {
			lo = o
		}
		if i == 0 || o > hi {
			hi = o
		}
	}
	if lo < 0 || hi+reach > len(b) {
		panic(fmt.Sprintf("gemm: %s reads b[%d : %d], len(b) = %d", op, lo, hi+reach, len(b)))
	}
}

// Dot accumulates indirect dot products: G (M×K) += dy (M×n) · Bᵀ with
// Bᵀ[j][q] = b[offs[q]+j], the filter gradient of a convolution. Partial
// sums are kept as vectors in an accumulator (AccSize elements, zeroed by
// the caller) across any number of Accumulate calls; Sum reduces them.
type Dot struct {
	kr   *dotKernel
	m, k int
}

// NewDot returns the Dot for an M×K result on the current kernel family.
func NewDot(m, k int) Dot {
	var best *dotKernel
	bestCost := 0
	for _, kr := range current().dot {
		cost := roundUp(m, kr.mr) * roundUp(k, kr.nv)
		if best == nil || cost < bestCost {
			best, bestCost = kr, cost
		}
	}
	return Dot{kr: best, m: m, k: k}
}

// Lanes is the vector width: dy's rows are read in whole vectors, and the
// columns from n up to the next multiple of Lanes must be zero.
func (d Dot) Lanes() int { return d.kr.lanes }

// Rows is how many rows of dy Accumulate reads (M rounded up to the
// kernel's tile); the rows past M may hold anything.
func (d Dot) Rows() int { return roundUp(d.m, d.kr.mr) }

// OffsLen is the length offs must have: K rounded up to the kernel's tile,
// the entries past K any offsets valid in b.
func (d Dot) OffsLen() int { return roundUp(d.k, d.kr.nv) }

// AccSize is the length of the accumulator.
func (d Dot) AccSize() int { return d.Rows() * d.OffsLen() * d.kr.lanes }

// Accumulate adds dy (Rows()×n, leading dimension lddy) · Bᵀ to acc.
func (d Dot) Accumulate(n int, dy []float32, lddy int, b []float32, offs []int, acc []float32) {
	if n < 1 {
		return
	}
	kr := d.kr
	steps := (n + kr.lanes - 1) / kr.lanes
	width := steps * kr.lanes
	rows, ko := d.Rows(), d.OffsLen()
	if len(offs) < ko || lddy < width || len(dy) < (rows-1)*lddy+width || len(acc) < d.AccSize() {
		panic(fmt.Sprintf("gemm: Dot.Accumulate n=%d lddy=%d len(dy)=%d len(offs)=%d len(acc)=%d for %d×%d",
			n, lddy, len(dy), len(offs), len(acc), d.m, d.k))
	}
	checkOffsets("Dot.Accumulate", b, offs[:ko], width)
	tile := kr.mr * kr.nv * kr.lanes
	t := 0
	for i := 0; i < rows; i += kr.mr {
		for q := 0; q < ko; q += kr.nv {
			kr.fn(steps, dy[i*lddy:], lddy, b, offs[q:], acc[t*tile:])
			t++
		}
	}
}

// Sum writes G[i][q] = the sum of acc's lanes to dst[i*ldd+q] (M×K).
func (d Dot) Sum(acc, dst []float32, ldd int) {
	kr := d.kr
	ko := d.OffsLen()
	for i := range d.m {
		ib, ir := i/kr.mr, i%kr.mr
		for q := range d.k {
			qb, qr := q/kr.nv, q%kr.nv
			t := ib*(ko/kr.nv) + qb
			v := acc[((t*kr.mr+ir)*kr.nv+qr)*kr.lanes:][:kr.lanes]
			var s float32
			for _, x := range v {
				s += x
			}
			dst[i*ldd+q] = s
		}
	}
}
