package cpu

import (
	"github.com/cnnctl/cnnctl/internal/gemm"
)

// The indirect convolutions: convolutions computed from the image itself,
// without im2col. With stride 1 and the input plane zero-padded to Hp×Wp,
// its rows laid end to end, output pixel (oh, ow) at position p = oh*Wp+ow
// is Σ w[k][c][r][s] · x[c*Hp*Wp + r*Wp + s + p]: a product whose B row
// (c, r, s) is the padded image shifted by a fixed offset (gemm.IndirectA).
// Positions with ow ≥ OW wrap into the next row and are computed and
// dropped: (Wp-OW)/Wp of the work (LeNet: 4/32 and 4/14). Larger strides
// read the image split into phases (see phases below). The filter gradient
// is the matching dot product of dy, laid out the same way with zeros at
// the dropped positions, against the shifted image (gemm.Dot).
//
// They pay where im2col's copies cost as much as the product: few input
// channels or few filters (LeNet's 3→6 and 6→16, where the im2col path ran
// at 25 GFLOP/s), and large images. BenchmarkConv, batch 128, 2 threads,
// time indirect/im2col: forward 0.23 (LeNet conv1) to 0.85-0.96 (ResNet
// and VGG at 8x8 to 32x32), 0.66 for ResNet's 16→32 stride-2 layer, but
// 1.7-2.8 at 4x4 and 2x2 and 1.08 for 3 input channels into 64 filters;
// filter gradient 0.15-0.4 (LeNet, 16 channels at 32x32), 0.67-0.76 (64
// channels at 32x32, stride-2 layers with C*K <= 1024), 1.1-1.3 for 64-128
// channels at 8x8 and 16x16 and far worse below. The rules below follow
// those measurements. The backward data of a strided convolution stays on
// im2col (col2im).

// indirectMode forces the choice for tests and benchmarks: 0 lets the
// measured rules decide, 1 takes the indirect path wherever it applies
// (stride 1), -1 never.
var indirectMode = 0

// indirectForward reports whether g's forward (or the backward data of the
// convolution g is the flipped form of) runs on the indirect path.
func (g *conv2D) indirectForward() bool {
	if !g.indirectApplies() {
		return false
	}
	if indirectMode > 0 {
		return true
	}
	return !g.pointwise() && g.OH*g.OW >= 64 && g.K >= 4 && (g.C*g.R*g.S >= 64 || g.K < 16)
}

// indirectFilter reports whether g's filter gradient runs on the indirect path.
func (g *conv2D) indirectFilter() bool {
	if !g.indirectApplies() {
		return false
	}
	if indirectMode > 0 {
		return true
	}
	return !g.pointwise() && (g.OH*g.OW >= 1024 || g.C*g.K <= 1024)
}

// indirectApplies reports whether the indirect path can compute g at all
// and is not switched off.
func (g *conv2D) indirectApplies() bool { return indirectMode >= 0 }

// The input as the indirect products read it. With stride 1 that is the
// zero-padded image, Hp×Wp per channel. With stride sh×sw it is split into
// its sh·sw phases: phase (a, b) of channel c holds the padded pixels
// (hq*sh+a, wq*sw+b), Hq×Wq of them, so that kernel tap (r, s) reads phase
// (r%sh, s%sw) shifted by (r/sh, s/sw) and a strided convolution becomes a
// sum of stride-1 ones over the phases: the same offset table form.

// phases returns the size of one phase plane, Hq×Wq; output pixel (oh, ow)
// is position oh*Wq+ow of the products.
func (g *conv2D) phases() (hq, wq int) {
	sh, sw := g.p.StrideH, g.p.StrideW
	return (g.H + 2*g.p.PadH + sh - 1) / sh, (g.W + 2*g.p.PadW + sw - 1) / sw
}

// inputSize is the number of elements of the rearranged input of one image.
func (g *conv2D) inputSize() int {
	hq, wq := g.phases()
	return g.C * g.p.StrideH * g.p.StrideW * hq * wq
}

// indirectOffsets fills offs[(c*R+r)*S+s] with the offset of tap (r, s) of
// channel c in the rearranged input and sets the entries past C*R*S to 0.
// It returns the largest offset.
func (g *conv2D) indirectOffsets(offs []int) int {
	sh, sw := g.p.StrideH, g.p.StrideW
	hq, wq := g.phases()
	i, most := 0, 0
	for c := range g.C {
		for r := range g.R {
			for s := range g.S {
				offs[i] = ((c*sh+r%sh)*sw+s%sw)*hq*wq + r/sh*wq + s/sw
				most = max(most, offs[i])
				i++
			}
		}
	}
	clear(offs[i:])
	return most
}

// indirectInput returns image n of x rearranged for the indirect products:
// x itself for stride 1 without padding when reach elements past the last
// offset stay inside xd, else a copy into the worker's scratch xs, whose
// padding the caller has cleared (only the image's own pixels are written).
func (g *conv2D) indirectInput(xd []float32, n int, xs []float32, need int) []float32 {
	chw := g.C * g.H * g.W
	img := xd[n*chw : (n+1)*chw]
	sh, sw, ph, pw := g.p.StrideH, g.p.StrideW, g.p.PadH, g.p.PadW
	if sh == 1 && sw == 1 {
		if ph == 0 && pw == 0 {
			if src := xd[n*chw:]; len(src) >= need {
				return src
			}
			copy(xs, img)
			return xs
		}
		hp, wp := g.phases()
		for c := range g.C {
			copyRows(img[c*g.H*g.W:], xs[c*hp*wp+ph*wp+pw:], g.H, g.W, g.W, wp)
		}
		return xs
	}
	hq, wq := g.phases()
	for c := range g.C {
		for h := range g.H {
			row := img[(c*g.H+h)*g.W:][:g.W]
			a, hq0 := (h+ph)%sh, (h+ph)/sh
			plane := xs[(c*sh+a)*sw*hq*wq+hq0*wq:]
			if sw == 2 {
				// Even columns to one phase, odd to the other.
				pe, po := pw%2, (1+pw)%2
				de := plane[pe*hq*wq+pw/2:][:(g.W+1)/2]
				do := plane[po*hq*wq+(1+pw)/2:][:g.W/2]
				for i := deinterleaveVector(row, de, do); i < len(do); i++ {
					pair := row[2*i : 2*i+2 : 2*i+2]
					de[i], do[i] = pair[0], pair[1]
				}
				if g.W%2 == 1 {
					de[g.W/2] = row[g.W-1]
				}
				continue
			}
			// Phase b of the row holds the columns w ≡ b - pw (mod sw),
			// from w0 on, at consecutive positions from (w0+pw)/sw:
			// no division per pixel.
			for b := range sw {
				w0 := ((b-pw)%sw + sw) % sw
				if w0 >= g.W {
					continue
				}
				dst := plane[b*hq*wq+(w0+pw)/sw:]
				dst = dst[:(g.W-w0+sw-1)/sw]
				for j := range dst {
					dst[j] = row[w0+j*sw]
				}
			}
		}
	}
	return xs
}

// indirectScratch returns the workers' input copies with their padding
// cleared.
func (b *Backend) indirectScratch(g *conv2D, nw, need int) [][]float32 {
	xs := b.bufs(slotCol, nw, max(need, g.inputSize()))
	for _, x := range xs {
		clear(x)
	}
	return xs
}

// conv2DIndirectForward: x (N,C,H,W), w (K,C*R*S), b (K) or nil -> y
// (N,K,OH,OW), finished by epi (nil: nothing after the bias). The valid
// columns of each channel's positions get the bias and epi as they are
// copied out; the junk columns are dropped.
func (b *Backend) conv2DIndirectForward(g *conv2D, xd, wd, bd, yd []float32, epi *convEpilogue) {
	crs, ohw := g.C*g.R*g.S, g.OH*g.OW
	_, wp := g.phases()
	pos := g.OH * wp
	a := gemm.PackIndirect(b.bufs(slotPacked, 1, gemm.IndirectSize(g.K, pos, crs))[0], g.K, pos, crs, wd, crs)
	offs := b.intBuf(crs)
	need := g.indirectOffsets(offs) + a.Reach(pos)
	nw := workers(g.N)
	xs := b.indirectScratch(g, nw, need)
	ys := b.bufs(slotGather, nw, g.K*pos)
	parallelFor(g.N, func(worker, lo, hi int) {
		yfull := ys[worker]
		for n := lo; n < hi; n++ {
			in := g.indirectInput(xd, n, xs[worker], need)
			a.Multiply(pos, in, offs, yfull, pos)
			yn := yd[n*g.K*ohw : (n+1)*g.K*ohw]
			for k := range g.K {
				var bias float32 // 0 without a bias: added all the same
				if bd != nil {
					bias = bd[k]
				}
				// The valid columns of each row, finished on the way
				// out: one pass.
				for oh := range g.OH {
					epi.apply(yfull[k*pos+oh*wp:][:g.OW], yn[k*ohw+oh*g.OW:][:g.OW], k, true, bias)
				}
			}
		}
	})
}

// conv2DIndirectFilter: x (N,C,H,W), dy (N,K,OH,OW) -> dw (K,C*R*S). Each
// worker accumulates its images' vector partial sums; the workers' sums
// are added in worker order, then each vector's lanes.
func (b *Backend) conv2DIndirectFilter(g *conv2D, xd, dyd, dwd []float32) {
	crs, ohw := g.C*g.R*g.S, g.OH*g.OW
	_, wp := g.phases()
	pos := g.OH * wp
	d := gemm.NewDot(g.K, crs)
	lanes := d.Lanes()
	width := (pos + lanes - 1) / lanes * lanes
	offs := b.intBuf(d.OffsLen())
	need := g.indirectOffsets(offs) + width
	nw := workers(g.N)
	xs := b.indirectScratch(g, nw, need)
	dys := b.bufs(slotGather, nw, d.Rows()*width)
	accs := b.bufs(slotPartial, nw, d.AccSize())
	parallelFor(g.N, func(worker, lo, hi int) {
		// Only the valid positions are written below: the rest stay zero.
		dyfull, acc := dys[worker], accs[worker]
		clear(dyfull)
		clear(acc)
		for n := lo; n < hi; n++ {
			in := g.indirectInput(xd, n, xs[worker], need)
			dyn := dyd[n*g.K*ohw : (n+1)*g.K*ohw]
			for k := range g.K {
				copyRows(dyn[k*ohw:], dyfull[k*width:], g.OH, g.OW, g.OW, wp)
			}
			d.Accumulate(pos, dyfull, width, in, offs, acc)
		}
	})
	total := accs[0]
	for _, acc := range accs[1:] {
		for i, v := range acc {
			total[i] += v
		}
	}
	d.Sum(total, dwd, crs)
}

// shiftMode forces the shifted-rows filter gradient on (1, wherever the
// indirect layout applies) or off (-1) for tests and benchmarks; 0 lets
// shiftFilter decide.
var shiftMode = 0

// shiftFilter reports whether g's filter gradient runs as products whose
// im2col rows are read at their shifts (conv2DShiftFilter): strided
// convolutions with at least 16 input channels that the indirect dot
// products do not take. BenchmarkConv, batch 128, 2 threads, shifted rows
// against the engine's earlier choice: ResNet's 32→64 stride-2 layer
// 2.10-2.38 ms against 3.09-3.80 on im2col (4 runs); 16→32 stride 2 on
// the dot products 2.2-3.5 against 2.5-3.0 (kept there); stride 1 it lost
// at 16 to 128 channels (16x16 to 32x32: 1.07-1.6 times im2col's or the
// dot products' time) and was even at 64 channels, 8x8.
func (g *conv2D) shiftFilter() bool {
	if !g.indirectApplies() || shiftMode < 0 {
		return false
	}
	if shiftMode > 0 {
		return true
	}
	strided := g.p.StrideH > 1 || g.p.StrideW > 1
	return strided && g.C >= 16 && !g.indirectFilter()
}

// conv2DShiftFilter: x (N,C,H,W), dy (N,K,OH,OW) -> dw (K,C*R*S). Per image,
// dw += dy · colᵀ where row (c, r, s) of col is the rearranged input (as
// the indirect products read it) at that tap's offset: gemm.SgemmOffsetsB
// packs those rows straight from the image, so no im2col is written. dy
// is laid out at the products' positions with zeros in the junk columns.
// Each worker sums its images; the workers' sums are added in worker order.
func (b *Backend) conv2DShiftFilter(g *conv2D, xd, dyd, dwd []float32) {
	crs, ohw := g.C*g.R*g.S, g.OH*g.OW
	_, wp := g.phases()
	pos := g.OH * wp
	offs := b.intBuf(crs)
	need := g.indirectOffsets(offs) + pos
	nw := workers(g.N)
	xs := b.indirectScratch(g, nw, need)
	dys := b.bufs(slotGather, nw, g.K*pos)
	var parts [][]float32
	if nw > 1 {
		parts = b.bufs(slotPartial, nw, g.K*crs)
	}
	parallelFor(g.N, func(worker, lo, hi int) {
		dyfull := dys[worker]
		clear(dyfull) // the junk columns stay zero: only dy's pixels are written
		part := dwd
		if parts != nil {
			part = parts[worker]
		}
		for n := lo; n < hi; n++ {
			in := g.indirectInput(xd, n, xs[worker], need)
			dyn := dyd[n*g.K*ohw : (n+1)*g.K*ohw]
			for k := range g.K {
				copyRows(dyn[k*ohw:], dyfull[k*pos:], g.OH, g.OW, g.OW, wp)
			}
			beta := float32(1)
			if n == lo {
				beta = 0
			}
			gemm.SgemmOffsetsB(g.K, crs, pos, dyfull, pos, in, offs, beta, part, crs)
		}
	})
	if parts != nil {
		addParts(parts, dwd)
	}
}
