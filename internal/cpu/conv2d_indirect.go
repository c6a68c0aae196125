package cpu

import (
	"github.com/cnnctl/cnnctl/internal/gemm"
)

// The indirect convolutions: stride-1 convolutions computed from the image
// itself, without im2col. With the input plane zero-padded to Hp×Wp and
// its rows laid end to end, output pixel (oh, ow) at position p = oh*Wp+ow
// is Σ w[k][c][r][s] · x[c*Hp*Wp + r*Wp + s + p]: a product whose B row
// (c, r, s) is the padded image shifted by a fixed offset (gemm.IndirectA).
// Positions with ow ≥ OW wrap into the next row and are computed and
// dropped: (Wp-OW)/Wp of the work (LeNet: 4/32 and 4/14). The filter
// gradient is the matching dot product of dy, laid out the same way with
// zeros at the dropped positions, against the shifted image (gemm.Dot).
//
// They pay where im2col's copies cost as much as the product: few input
// channels or few filters (LeNet's 3→6 and 6→16, where the im2col path ran
// at 25 GFLOP/s), and large images. BenchmarkConv, batch 128, 2 threads,
// time indirect/im2col: forward 0.23 (LeNet conv1) to 0.85-0.96 (ResNet
// and VGG at 8x8 to 32x32) but 1.7-2.8 at 4x4 and 2x2, 1.08 for 3 input
// channels into 64 filters; filter gradient 0.15-0.4 (LeNet, 16 channels
// at 32x32), 0.76 (64 at 32x32), 1.1-1.3 for 64-128 channels at 16x16 and
// far worse below. The rules below follow those measurements.

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
// (stride 1) and is not switched off.
func (g *conv2D) indirectApplies() bool {
	return g.p.StrideH == 1 && g.p.StrideW == 1 && indirectMode >= 0
}

// padded is g's input plane with its zero border: Hp×Wp.
func (g *conv2D) padded() (hp, wp int) { return g.H + 2*g.p.PadH, g.W + 2*g.p.PadW }

// indirectOffsets fills offs[(c*R+r)*S+s] = c*Hp*Wp + r*Wp + s and sets the
// entries past C*R*S to 0. It returns the largest offset.
func (g *conv2D) indirectOffsets(offs []int) int {
	hp, wp := g.padded()
	i := 0
	for c := range g.C {
		for r := range g.R {
			for s := range g.S {
				offs[i] = c*hp*wp + r*wp + s
				i++
			}
		}
	}
	clear(offs[i:])
	return offs[i-1]
}

// indirectInput returns image n of x as the indirect products read it: x
// itself when it needs no padding and reach elements past the last offset
// stay inside xd, else a copy into the worker's scratch xs, whose border
// the caller has cleared.
func (g *conv2D) indirectInput(xd []float32, n int, xs []float32, need int) []float32 {
	chw := g.C * g.H * g.W
	if g.p.PadH == 0 && g.p.PadW == 0 {
		if src := xd[n*chw:]; len(src) >= need {
			return src
		}
		copy(xs, xd[n*chw:(n+1)*chw])
		return xs
	}
	hp, wp := g.padded()
	for c := range g.C {
		for h := range g.H {
			src := xd[n*chw+(c*g.H+h)*g.W:][:g.W]
			copy(xs[c*hp*wp+(h+g.p.PadH)*wp+g.p.PadW:], src)
		}
	}
	return xs
}

// indirectScratch returns the workers' input copies, border cleared, or nil
// when x is read in place.
func (b *Backend) indirectScratch(g *conv2D, nw, need int) [][]float32 {
	hp, wp := g.padded()
	size := max(need, g.C*hp*wp)
	xs := b.bufs(slotCol, nw, size)
	for _, x := range xs {
		clear(x)
	}
	return xs
}

// conv2DIndirectForward: x (N,C,H,W), w (K,C*R*S), b (K) or nil -> y (N,K,OH,OW).
func (b *Backend) conv2DIndirectForward(g *conv2D, xd, wd, bd, yd []float32) {
	crs, ohw := g.C*g.R*g.S, g.OH*g.OW
	_, wp := g.padded()
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
				var bias float32
				if bd != nil {
					bias = bd[k]
				}
				for oh := range g.OH {
					src := yfull[k*pos+oh*wp:][:g.OW]
					dst := yn[k*ohw+oh*g.OW:][:g.OW]
					for i, v := range src {
						dst[i] = v + bias
					}
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
	_, wp := g.padded()
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
				for oh := range g.OH {
					copy(dyfull[k*width+oh*wp:][:g.OW], dyn[k*ohw+oh*g.OW:][:g.OW])
				}
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
