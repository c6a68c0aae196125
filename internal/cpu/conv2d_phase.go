package cpu

import (
	"slices"

	"github.com/cnnctl/cnnctl/internal/gemm"
)

// The per-phase backward data of strided convolutions (ResNet's
// downsampling layers). With stride sh×sw an input pixel h = i*sh + a
// (phase a, 0 ≤ a < sh) receives gradient only from the kernel rows r with
// r ≡ a + PadH (mod sh), each from output row oh = i + dr, dr = (a + PadH -
// r)/sh; likewise for columns. So each of the sh·sw phases of dx is a
// stride-1 correlation of dy with the taps of its phase:
//
//	dx[c][i*sh+a][j*sw+b] = Σ_k Σ_t w[k][c][r_t][s_t] · dy[k][i+dr_t][j+ds_t]
//
// which the indirect product computes from dy zero-padded once per image
// (rows and columns outside dy read zeros), as the stride-1 backward data
// is the forward of dy with the kernels flipped. col2im, the im2col path,
// multiplies K-deep products into a C·R·S-tall matrix and adds it back
// pixel by pixel; here each product is K·|taps| deep and no matrix is
// written. The bits of each dx value do not depend on the thread count:
// every image is computed whole by one worker.

// phaseMode forces the per-phase backward data on (1, wherever it applies,
// stride 1 included) or off (-1) for tests and benchmarks; 0 lets
// phaseData decide.
var phaseMode = 0

// phaseData reports whether g's backward data runs per phase: strided
// convolutions into at least 16 channels. BenchmarkConv, batch 128, 2
// threads, two alternating runs, per-phase time over im2col's: ResNet's
// 16→32 stride-2 layer 0.46-0.48, 32→64 0.63-0.68; 3→64 (AlexNet's
// first layer, whose data gradient training never asks for) 1.07-1.35,
// the products only 3 rows tall.
func (g *conv2D) phaseData() bool {
	if phaseMode != 0 {
		return phaseMode > 0
	}
	return (g.p.StrideH > 1 || g.p.StrideW > 1) && g.C >= 16
}

// dataPhase is one phase (a, b) of dx: its rows h = i*sh+a (i < rows) and
// columns w = j*sw+b (j < cols), and its taps: taps[t] = r*S+s, offs[t]
// the offset of dy[i+dr][j+ds] from position i*wp+j of the padded plane.
type dataPhase struct {
	a, b, rows, cols int
	taps, offs       []int
	out              int // where its product starts in a worker's buffer
}

// phasePlan is g's phases and the padded dy plane they read: hp×wp, dy's
// pixel (oh, ow) at (oh+top)*wp + ow+left.
type phasePlan struct {
	hp, wp, top, left int
	phases            []dataPhase
	maxTaps, maxPos   int // the most taps of a phase, the longest rows*wp
	// koffs[i] is phase i's offset table for the indirect product, entry
	// k*|taps|+t: channel k's plane, then tap t's shift.
	koffs  [][]int
	packed []gemm.IndirectA // each phase's weights, packed per call
	// index[a*sw+b] is phase (a, b)'s place in phases; outSize the length
	// of a worker's products, phase i's C × rows×wp at phases[i].out.
	index   []int
	outSize int
}

// split returns, for one dimension (size in, out, kernel, stride, pad),
// each phase's length and the taps and shifts (d = (a+pad-r)/stride) of
// its kernel rows.
func phaseSplit(in, out, kernel, stride, pad int) (n []int, taps, shift [][]int, lo, hi int) {
	n = make([]int, stride)
	taps, shift = make([][]int, stride), make([][]int, stride)
	for a := range stride {
		if a < in {
			n[a] = (in - a + stride - 1) / stride
		}
		for r := range kernel {
			if d := a + pad - r; d%stride == 0 {
				taps[a] = append(taps[a], r)
				shift[a] = append(shift[a], d/stride)
				if n[a] > 0 {
					lo = min(lo, d/stride)
					hi = max(hi, n[a]-1+d/stride-(out-1))
				}
			}
		}
	}
	return n, taps, shift, -lo, hi
}

// phasePlan returns g's plan, computed once per geometry.
func (b *Backend) phasePlan(g *conv2D) *phasePlan {
	if p, ok := b.phasePlans[*g]; ok {
		return p
	}
	rows, rt, rd, top, bottom := phaseSplit(g.H, g.OH, g.R, g.p.StrideH, g.p.PadH)
	cols, st, sd, left, right := phaseSplit(g.W, g.OW, g.S, g.p.StrideW, g.p.PadW)
	p := &phasePlan{hp: top + g.OH + bottom, wp: left + g.OW + right, top: top, left: left}
	p.index = make([]int, len(rows)*len(cols))
	for a := range rows {
		for bb := range cols {
			ph := dataPhase{a: a, b: bb, rows: rows[a], cols: cols[bb]}
			if ph.rows == 0 || ph.cols == 0 {
				p.index[a*len(cols)+bb] = -1
				continue
			}
			p.index[a*len(cols)+bb] = len(p.phases)
			ph.out = p.outSize
			p.outSize += g.C * ph.rows * p.wp
			for i, r := range rt[a] {
				for j, s := range st[bb] {
					ph.taps = append(ph.taps, r*g.S+s)
					ph.offs = append(ph.offs, (rd[a][i]+top)*p.wp+sd[bb][j]+left)
				}
			}
			p.maxTaps = max(p.maxTaps, len(ph.taps))
			p.maxPos = max(p.maxPos, ph.rows*p.wp)
			p.phases = append(p.phases, ph)
		}
	}
	plane := p.hp * p.wp
	for _, ph := range p.phases {
		nt := len(ph.taps)
		o := make([]int, g.K*nt)
		for k := range g.K {
			for t, off := range ph.offs {
				o[k*nt+t] = k*plane + off
			}
		}
		p.koffs = append(p.koffs, o)
	}
	p.packed = make([]gemm.IndirectA, len(p.phases))
	if b.phasePlans == nil {
		b.phasePlans = map[conv2D]*phasePlan{}
	}
	b.phasePlans[*g] = p
	return p
}

// conv2DPhaseData: dy (N,K,OH,OW), w (K,C,R,S) -> dx (N,C,H,W), per phase.
func (b *Backend) conv2DPhaseData(g *conv2D, dyd, wd, dxd []float32) {
	p := b.phasePlan(g)
	rs, ohw, hw, plane := g.R*g.S, g.OH*g.OW, g.H*g.W, p.hp*p.wp
	// Each phase's A (C × K·|taps|): A[c][k*|taps|+t] = w[k][c][taps[t]],
	// packed for the indirect product, and its offset table into the
	// padded dy: channel k's plane, then the tap's shift.
	bufs := b.bufs(slotPacked, max(1, len(p.phases)), gemm.IndirectSize(g.C, p.maxPos, g.K*max(1, p.maxTaps)))
	tmp := b.bufs(slotWeights, 1, g.C*g.K*max(1, p.maxTaps))[0]
	need := g.K * plane // and what the products read past their last offset
	for i, ph := range p.phases {
		nt := len(ph.taps)
		if nt == 0 {
			continue
		}
		need = max(need, (g.K-1)*plane+slices.Max(ph.offs)+gemm.IndirectReach(g.C, ph.rows*p.wp))
		depth := g.K * nt
		for c := range g.C {
			for k := range g.K {
				src := wd[(k*g.C+c)*rs:]
				dst := tmp[c*depth+k*nt:]
				for t, tap := range ph.taps {
					dst[t] = src[tap]
				}
			}
		}
		p.packed[i] = gemm.PackIndirect(bufs[i], g.C, ph.rows*p.wp, depth, tmp, depth)
	}
	nw := workers(g.N)
	dys := b.bufs(slotCol, nw, need)
	for _, d := range dys {
		clear(d) // the padding stays zero: only dy's own pixels are written
	}
	outs := b.bufs(slotGather, nw, p.outSize)
	sh, sw := g.p.StrideH, g.p.StrideW
	parallelFor(g.N, func(worker, lo, hi int) {
		dyp, out := dys[worker], outs[worker]
		for _, ph := range p.phases {
			if len(ph.taps) == 0 {
				clear(out[ph.out:][:g.C*ph.rows*p.wp]) // a phase no dy reaches
			}
		}
		for n := lo; n < hi; n++ {
			dyn := dyd[n*g.K*ohw : (n+1)*g.K*ohw]
			for k := range g.K {
				copyRows(dyn[k*ohw:], dyp[k*plane+p.top*p.wp+p.left:], g.OH, g.OW, g.OW, p.wp)
			}
			for i, ph := range p.phases {
				if len(ph.taps) > 0 {
					pos := ph.rows * p.wp
					p.packed[i].Multiply(pos, dyp, p.koffs[i], out[ph.out:], pos)
				}
			}
			// dx row h = i*sh+a is the rows i of the phases (a, b),
			// interleaved.
			dxn := dxd[n*g.C*hw : (n+1)*g.C*hw]
			for c := range g.C {
				for h := range g.H {
					a, i := h%sh, h/sh
					row := dxn[(c*g.H+h)*g.W:][:g.W]
					ph := p.index[a*sw:][:sw]
					src := func(b int) []float32 {
						q := &p.phases[ph[b]]
						return out[q.out+(c*q.rows+i)*p.wp:][:q.cols]
					}
					switch {
					case sw == 1:
						copy(row, src(0))
					case sw == 2 && g.W >= 2:
						interleaveRow(src(0), src(1), row)
					default:
						for b := range min(sw, g.W) {
							for j, v := range src(b) {
								row[j*sw+b] = v
							}
						}
					}
				}
			}
		}
	})
}

// interleaveRow sets row[2j] = even[j] and row[2j+1] = odd[j]; even has
// (len(row)+1)/2 elements, odd len(row)/2.
func interleaveRow(even, odd, row []float32) {
	for j := interleaveVector(even, odd, row); j < len(odd); j++ {
		pair := row[2*j : 2*j+2 : 2*j+2]
		pair[0], pair[1] = even[j], odd[j]
	}
	if len(row)%2 == 1 {
		row[len(row)-1] = even[len(even)-1]
	}
}
