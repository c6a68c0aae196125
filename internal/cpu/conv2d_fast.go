package cpu

import (
	"runtime"

	"github.com/cnnctl/cnnctl/internal/gemm"
	"github.com/cnnctl/cnnctl/internal/tensor"
)

// The fast engine's convolutions: the reference's im2col products on
// internal/gemm. Images are taken in groups of nb, so that each product has
// about groupCols columns (nb images × OH*OW pixels) even where the images
// are small (the last layers of VGG: 2x2). A group's im2col matrix is
// (C*R*S, nb*OH*OW): column i*OH*OW + p is pixel p of image i of the group.
// Groups are spread over the workers, each product on one goroutine; with
// fewer groups than workers (a small batch), one group at a time with the
// product itself split over the workers. Both give the same bits.

// groupCols is the number of product columns a group aims for: measured
// on VGG's 8x8, 4x4 and 2x2 layers, 256 to 768 are alike, 2048 slower.
const groupCols = 512

// flipMinC is the fewest input channels for which the backward data runs
// as a forward convolution with flipped kernels: its product has C rows,
// too few below this (LeNet's 3 and 6 channels measured 3x slower, 16
// channels 2x faster than the product-then-col2im path).
const flipMinC = 16

// sgemmFunc is gemm.Sgemm or gemm.SgemmSerial.
type sgemmFunc func(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int)

// groups returns the images per group and the number of groups.
func (g *conv2D) groups() (nb, count int) {
	ohw := g.OH * g.OW
	nb = max(1, min(g.N, (groupCols+ohw-1)/ohw))
	return nb, (g.N + nb - 1) / nb
}

// pointwise reports a 1x1, stride 1, unpadded convolution, whose im2col
// matrix is the image itself (C, H*W).
func (g *conv2D) pointwise() bool {
	p := g.p
	return g.R == 1 && g.S == 1 && p.StrideH == 1 && p.StrideW == 1 && p.PadH == 0 && p.PadW == 0
}

// forGroups runs f(worker, group, mm) for every group and returns the number
// of workers used: groups spread over the workers with mm single-threaded,
// or, with fewer groups than GOMAXPROCS, all on worker 0 with mm parallel.
func forGroups(count int, f func(worker, group int, mm sgemmFunc)) int {
	if count < runtime.GOMAXPROCS(0) {
		for gi := range count {
			f(0, gi, gemm.Sgemm)
		}
		return 1
	}
	parallelFor(count, func(worker, lo, hi int) {
		for gi := lo; gi < hi; gi++ {
			f(worker, gi, gemm.SgemmSerial)
		}
	})
	return workers(count)
}

// scratchWorkers is how many workers forGroups(count, ...) uses.
func scratchWorkers(count int) int {
	if count < runtime.GOMAXPROCS(0) {
		return 1
	}
	return workers(count)
}

// validCols returns the output columns [lo, hi) whose input column
// ow*stride - pad + s lies in [0, w).
func validCols(out, w, stride, pad, s int) (lo, hi int) {
	if pad > s {
		lo = (pad - s + stride - 1) / stride
	}
	if last := w - 1 + pad - s; last >= 0 {
		hi = min(out, last/stride+1)
	}
	lo = min(lo, out)
	return lo, max(lo, hi)
}

// im2colFast writes im2col(x) for one image x (C,H,W) into col, whose rows
// (C*R*S of them) start ld elements apart: the reference's im2col with
// whole runs copied and only the padding cleared.
func (g *conv2D) im2colFast(x, col []float32, ld int) {
	sh, sw, ph, pw := g.p.StrideH, g.p.StrideW, g.p.PadH, g.p.PadW
	ohw := g.OH * g.OW
	for c := range g.C {
		plane := x[c*g.H*g.W : (c+1)*g.H*g.W]
		for r := range g.R {
			for s := range g.S {
				row := col[((c*g.R+r)*g.S+s)*ld:][:ohw]
				lo, hi := validCols(g.OW, g.W, sw, pw, s)
				if sh == 1 && sw == 1 && g.OW == g.W {
					g.shiftRow(plane, row, r, s, lo, hi)
					continue
				}
				for oh := range g.OH {
					out := row[oh*g.OW : (oh+1)*g.OW]
					ih := oh*sh - ph + r
					if ih < 0 || ih >= g.H {
						clear(out)
						continue
					}
					clear(out[:lo])
					clear(out[hi:])
					in := plane[ih*g.W : (ih+1)*g.W]
					if sw == 1 {
						copy(out[lo:hi], in[lo-pw+s:])
						continue
					}
					for ow := lo; ow < hi; ow++ {
						out[ow] = in[ow*sw-pw+s]
					}
				}
			}
		}
	}
}

// shiftRow writes row (r, s) of one channel's im2col when the stride is 1
// and OW == W: the row is then the plane shifted by (r-PadH)*W + s-PadW,
// copied in one run, with the columns outside [lo, hi) (padding, or pixels
// of the neighbouring line) cleared after.
func (g *conv2D) shiftRow(plane, row []float32, r, s, lo, hi int) {
	w, ohw := g.W, g.OH*g.OW
	oh0 := max(0, g.p.PadH-r)
	oh1 := min(g.OH, g.H+g.p.PadH-r)
	oh1 = max(oh0, oh1)
	clear(row[:oh0*w])
	clear(row[oh1*w : ohw])
	delta := (r-g.p.PadH)*w + s - g.p.PadW
	a := max(oh0*w, -delta)
	b := min(oh1*w, len(plane)-delta)
	if a < b {
		copy(row[a:b], plane[a+delta:b+delta])
	}
	// Element by element: the edges are a padding's width (1 or 2), and
	// a clear() per edge, a runtime call, cost more than the copy at 8x8.
	for oh := oh0; oh < oh1; oh++ {
		line := row[oh*w : (oh+1)*w]
		for j := 0; j < lo; j++ {
			line[j] = 0
		}
		for j := hi; j < w; j++ {
			line[j] = 0
		}
	}
}

// col2imFast adds col (C*R*S rows ld apart, OH*OW columns) into one image
// x (C,H,W): the reference's col2im without per-pixel bounds checks.
func (g *conv2D) col2imFast(col, x []float32, ld int) {
	sh, sw, ph, pw := g.p.StrideH, g.p.StrideW, g.p.PadH, g.p.PadW
	ohw := g.OH * g.OW
	for c := range g.C {
		plane := x[c*g.H*g.W : (c+1)*g.H*g.W]
		for r := range g.R {
			for s := range g.S {
				row := col[((c*g.R+r)*g.S+s)*ld:][:ohw]
				lo, hi := validCols(g.OW, g.W, sw, pw, s)
				if lo == hi {
					continue
				}
				for oh := range g.OH {
					ih := oh*sh - ph + r
					if ih < 0 || ih >= g.H {
						continue
					}
					src := row[oh*g.OW+lo : oh*g.OW+hi]
					in := plane[ih*g.W : (ih+1)*g.W]
					if sw == 1 {
						dst := in[lo-pw+s:][:len(src)]
						for i, v := range src {
							dst[i] += v
						}
						continue
					}
					for i, v := range src {
						in[(lo+i)*sw-pw+s] += v
					}
				}
			}
		}
	}
}

// gatherDY copies dy of images [n0, n0+nb) (each (K, OH*OW)) into dst
// (K, nb*OH*OW), the column layout of a group.
func (g *conv2D) gatherDY(dy []float32, n0, nb int, dst []float32) {
	ohw := g.OH * g.OW
	for i := range nb {
		img := dy[(n0+i)*g.K*ohw:]
		for k := range g.K {
			copy(dst[(k*nb+i)*ohw:][:ohw], img[k*ohw:(k+1)*ohw])
		}
	}
}

// conv2DForward: x (N,C,H,W), w (K,C*R*S), b (K) or nil -> y (N,K,OH,OW).
// Per group: y (K, nb*OH*OW) = w · col + b, scattered to the images.
func (b *Backend) conv2DForward(g *conv2D, xd, wd, bd, yd []float32) {
	b.conv2DForwardEpi(g, xd, wd, bd, yd, nil)
}

// convEpilogue is what a fast convolution does to each output channel's
// values as it writes them, after the bias: the evaluation-mode batch
// norm's affine map (mean, scale, beta per channel; nil: none), then
// ReLU. A nil *convEpilogue does nothing after the bias.
type convEpilogue struct {
	mean, scale, beta []float32
	relu              bool
}

// finishes reports whether e does anything after the bias.
func (e *convEpilogue) finishes() bool { return e != nil && (e.mean != nil || e.relu) }

// apply writes y = x + bias (when add), then (x-mean)*scale + beta and
// max(v, 0) as e says, for output channel k: each step rounded as the
// plain ops round it (the convolution's bias, normalize, reluForward), so
// the bits of Conv2DForward, BatchNormForwardInfer and ReLU one after the
// other. y may be x.
func (e *convEpilogue) apply(x, y []float32, k int, add bool, bias float32) {
	c := [4]float32{bias}
	flags := 0
	if add {
		flags |= 1
	}
	if e != nil && e.mean != nil {
		flags |= 2
		c[1], c[2], c[3] = e.mean[k], e.scale[k], e.beta[k]
	}
	if e != nil && e.relu {
		flags |= 4
	}
	y = y[:len(x)]
	if flags == 0 {
		copy(y, x)
		return
	}
	mean, scale, beta := c[1], c[2], c[3]
	for i := epilogueVector(x, y, &c, flags); i < len(x); i++ {
		v := x[i]
		if flags&1 != 0 {
			v += bias
		}
		if flags&2 != 0 {
			v = (v-mean)*scale + beta
		}
		if flags&4 != 0 {
			v = max(v, 0)
		}
		y[i] = v
	}
}

// finish applies e (after the bias) to images [n0, n1) of y (N,K,OH*OW).
func (e *convEpilogue) finish(g *conv2D, yd []float32, n0, n1 int) {
	if !e.finishes() {
		return
	}
	ohw := g.OH * g.OW
	for n := n0; n < n1; n++ {
		for k := range g.K {
			run := yd[(n*g.K+k)*ohw:][:ohw]
			e.apply(run, run, k, false, 0)
		}
	}
}

// conv2DForwardEpi is conv2DForward followed by epi (nil: nothing): on
// each image or group as the path writes it, or (the paths that compute
// the whole batch at once) over the workers after.
func (b *Backend) conv2DForwardEpi(g *conv2D, xd, wd, bd, yd []float32, epi *convEpilogue) {
	whole := func() {
		if epi.finishes() {
			parallelFor(g.N, func(_, lo, hi int) { epi.finish(g, yd, lo, hi) })
		}
	}
	if g.tapPath() {
		b.conv2DTapForward(g, xd, wd, bd, yd, epi)
		return
	}
	if g.pixelPath(false) {
		b.conv2DPixelForward(g, xd, wd, bd, yd)
		whole()
		return
	}
	if g.indirectForward() {
		b.conv2DIndirectForward(g, xd, wd, bd, yd, epi)
		return
	}
	if g.rowDotForward() {
		b.conv2DRowDotForward(g, xd, wd, bd, yd)
		whole()
		return
	}
	crs, ohw, chw := g.C*g.R*g.S, g.OH*g.OW, g.C*g.H*g.W
	nb, count := g.groups()
	direct := nb == 1 // y and (pointwise) x used in place
	nw := scratchWorkers(count)
	var cols, outs [][]float32
	if !(direct && g.pointwise()) {
		cols = b.bufs(slotCol, nw, crs*nb*ohw)
	}
	if !direct {
		outs = b.bufs(slotGather, nw, g.K*nb*ohw)
	}
	forGroups(count, func(worker, gi int, mm sgemmFunc) {
		n0 := gi * nb
		m := min(nb, g.N-n0)
		ld := m * ohw
		var col []float32
		if cols == nil {
			col = xd[n0*chw : (n0+1)*chw]
		} else {
			col = cols[worker]
			for i := range m {
				g.im2colFast(xd[(n0+i)*chw:(n0+i+1)*chw], col[i*ohw:], ld)
			}
		}
		if direct {
			yn := yd[n0*g.K*ohw : (n0+1)*g.K*ohw]
			beta := float32(0)
			if bd != nil {
				for k, v := range bd {
					fill(yn[k*ohw:(k+1)*ohw], v)
				}
				beta = 1
			}
			mm(false, false, g.K, ohw, crs, 1, wd, crs, col, ld, beta, yn, ohw)
			epi.finish(g, yd, n0, n0+m)
			return
		}
		out := outs[worker]
		mm(false, false, g.K, ld, crs, 1, wd, crs, col, ld, 0, out, ld)
		for k := range g.K {
			// Channel k of the group's images, contiguous: finished in
			// place, then scattered.
			var bk float32
			if bd != nil {
				bk = bd[k]
			}
			row := out[k*ld : (k+1)*ld]
			epi.apply(row, row, k, bd != nil, bk)
			for i := range m {
				copy(yd[((n0+i)*g.K+k)*ohw:][:ohw], row[i*ohw:(i+1)*ohw])
			}
		}
	})
}

// conv2DBackwardData: dy (N,K,OH,OW), w (K,C*R*S) -> dx (N,C,H,W).
// Per group: col (C*R*S, nb*OH*OW) = wᵀ · dy, then col2im into each image.
//
// With stride 1 (and padding below the kernel size) it is instead the
// forward convolution of dy, padded by R-1-PadH and S-1-PadW, with the
// kernels flipped and K and C swapped: im2col copies where col2im would add.
func (b *Backend) conv2DBackwardData(g *conv2D, dyd, wd, dxd []float32) {
	if g.tapPath() {
		b.conv2DTapData(g, dyd, wd, dxd)
		return
	}
	if g.pixelPath(true) {
		b.conv2DPixelData(g, dyd, wd, dxd)
		return
	}
	if g.phaseData() {
		b.conv2DPhaseData(g, dyd, wd, dxd)
		return
	}
	crs, ohw, chw := g.C*g.R*g.S, g.OH*g.OW, g.C*g.H*g.W
	p := g.p
	flipped := conv2D{N: g.N, C: g.K, H: g.OH, W: g.OW, K: g.C, R: g.R, S: g.S, OH: g.H, OW: g.W,
		p: tensorConv(1, 1, g.R-1-p.PadH, g.S-1-p.PadW)}
	if (g.C >= flipMinC || flipped.indirectForward()) && p.StrideH == 1 && p.StrideW == 1 && p.PadH < g.R && p.PadW < g.S && !g.pointwise() {
		// wf (C,K,R,S): wf[c][k][r][s] = w[k][c][R-1-r][S-1-s].
		wf := b.bufs(slotWeights, 1, len(wd))[0]
		rs := g.R * g.S
		parallelFor(g.C, func(_, lo, hi int) {
			for c := lo; c < hi; c++ {
				for k := range g.K {
					src := wd[(k*g.C+c)*rs : (k*g.C+c+1)*rs]
					dst := wf[(c*g.K+k)*rs : (c*g.K+k+1)*rs]
					for i, v := range src {
						dst[rs-1-i] = v
					}
				}
			}
		})
		b.conv2DForward(&flipped, dyd, wf, nil, dxd)
		return
	}
	nb, count := g.groups()
	direct := nb == 1
	nw := scratchWorkers(count)
	var cols, dys [][]float32
	if !(direct && g.pointwise()) {
		cols = b.bufs(slotCol, nw, crs*nb*ohw)
	}
	if !direct {
		dys = b.bufs(slotGather, nw, g.K*nb*ohw)
	}
	forGroups(count, func(worker, gi int, mm sgemmFunc) {
		n0 := gi * nb
		m := min(nb, g.N-n0)
		ld := m * ohw
		dyb := dyd[n0*g.K*ohw : (n0+1)*g.K*ohw]
		if !direct {
			dyb = dys[worker]
			g.gatherDY(dyd, n0, m, dyb)
		}
		if cols == nil {
			mm(true, false, crs, ld, g.K, 1, wd, crs, dyb, ld, 0, dxd[n0*chw:(n0+1)*chw], ohw)
			return
		}
		col := cols[worker]
		mm(true, false, crs, ld, g.K, 1, wd, crs, dyb, ld, 0, col, ld)
		for i := range m {
			dxn := dxd[(n0+i)*chw : (n0+i+1)*chw]
			clear(dxn)
			g.col2imFast(col[i*ohw:], dxn, ld)
		}
	})
}

// conv2DBackwardFilter: x (N,C,H,W), dy (N,K,OH,OW) -> dw (K,C*R*S), db (K) or nil.
// Per group: dw += dy (K, nb*OH*OW) · colᵀ, accumulated per worker and the
// workers' sums added in worker order; db[k] row sums in float64.
func (b *Backend) conv2DBackwardFilter(g *conv2D, xd, dyd, dwd, dbd []float32) {
	switch {
	case g.tapPath():
		b.conv2DTapFilter(g, xd, dyd, dwd)
	case g.pixelPath(true):
		b.conv2DPixelFilter(g, xd, dyd, dwd)
	case g.shiftFilter():
		b.conv2DShiftFilter(g, xd, dyd, dwd)
	case g.indirectFilter():
		b.conv2DIndirectFilter(g, xd, dyd, dwd)
	default:
		b.conv2DGemmFilter(g, xd, dyd, dwd)
	}
	if dbd != nil {
		g.biasGrad(dyd, dbd)
	}
}

// conv2DGemmFilter is conv2DBackwardFilter's weight gradient on im2col.
func (b *Backend) conv2DGemmFilter(g *conv2D, xd, dyd, dwd []float32) {
	crs, ohw, chw := g.C*g.R*g.S, g.OH*g.OW, g.C*g.H*g.W
	nb, count := g.groups()
	direct := nb == 1
	nw := scratchWorkers(count)
	var cols, dys, parts [][]float32
	if !(direct && g.pointwise()) {
		cols = b.bufs(slotCol, nw, crs*nb*ohw)
	}
	if !direct {
		dys = b.bufs(slotGather, nw, g.K*nb*ohw)
	}
	if nw > 1 {
		parts = b.bufs(slotPartial, nw, g.K*crs)
	}
	forGroups(count, func(worker, gi int, mm sgemmFunc) {
		n0 := gi * nb
		m := min(nb, g.N-n0)
		ld := m * ohw
		dyb := dyd[n0*g.K*ohw : (n0+1)*g.K*ohw]
		if !direct {
			dyb = dys[worker]
			g.gatherDY(dyd, n0, m, dyb)
		}
		var col []float32
		if cols == nil {
			col = xd[n0*chw : (n0+1)*chw]
		} else {
			col = cols[worker]
			for i := range m {
				g.im2colFast(xd[(n0+i)*chw:(n0+i+1)*chw], col[i*ohw:], ld)
			}
		}
		part := dwd
		if parts != nil {
			part = parts[worker]
		}
		beta := float32(1)
		if gi == firstGroup(count, nw, worker) {
			beta = 0
		}
		mm(false, true, g.K, crs, ld, 1, dyb, ld, col, ld, beta, part, crs)
	})
	if parts != nil {
		addParts(parts, dwd)
	}
}

// addParts sets dst to the sum of the workers' partial sums, added in
// worker order.
func addParts(parts [][]float32, dst []float32) {
	parallelElems(len(dst), func(lo, hi int) {
		d := dst[lo:hi]
		copy(d, parts[0][lo:hi])
		for _, p := range parts[1:] {
			src := p[lo:hi]
			for i := range d {
				d[i] += src[i]
			}
		}
	})
}

// biasGrad sets db[k] to the sum of dy over images and pixels, in float64.
func (g *conv2D) biasGrad(dyd, dbd []float32) {
	ohw := g.OH * g.OW
	parallelFor(g.K, func(_, lo, hi int) {
		for k := lo; k < hi; k++ {
			var s float64
			for n := range g.N {
				for _, v := range dyd[(n*g.K+k)*ohw : (n*g.K+k+1)*ohw] {
					s += float64(v)
				}
			}
			dbd[k] = float32(s)
		}
	})
}

// firstGroup is the first group forGroups gives worker when nw workers
// share count groups.
func firstGroup(count, nw, worker int) int {
	if nw <= 1 {
		return 0
	}
	return worker * count / nw
}

// fill sets every element of s to v.
func fill(s []float32, v float32) {
	for i := range s {
		s[i] = v
	}
}

func tensorConv(sh, sw, ph, pw int) tensor.ConvParams {
	return tensor.ConvParams{StrideH: sh, StrideW: sw, PadH: ph, PadW: pw}
}
