package cpu

import "github.com/cnnctl/cnnctl/internal/gemm"

// The per-pixel convolutions, for outputs of at most pixelMaxOut pixels
// (VGG's 2x2 layers). There most of a 3x3 kernel's taps fall on the
// padding: a 2x2 image with padding 1 uses 4 of the 9, and im2col's
// products spend the rest multiplying zeros. Here
// each output pixel o is one product over its valid taps T_o only, with the
// batch as rows:
//
//	Y_o (N×K) = X_o (N×C·|T_o|) · W_oᵀ
//
// X_o gathers, for each image, the input pixels under o's taps, and W_o
// (K×C·|T_o|) the matching kernel weights. The backward passes are the two
// other products of the same matrices, scattered back.

// pixelMaxOut is the largest OH*OW the per-pixel path takes. BenchmarkConv
// (VGG's 512 channels, batch 128, time per-pixel/im2col): 2x2 0.5-0.6 for
// all three passes; 4x4 1.5 forward (6.25 of 9 taps used, but 16 products
// and their gathers), so 4x4 stays on im2col.
const pixelMaxOut = 4

// pixelMode forces the per-pixel path on (1) or off (-1) for tests and
// benchmarks; 0 lets pixelPath decide.
var pixelMode = 0

// pixelPath reports whether g runs on the per-pixel path.
func (g *conv2D) pixelPath() bool {
	if pixelMode != 0 {
		return pixelMode > 0
	}
	return g.OH*g.OW <= pixelMaxOut && !g.pointwise()
}

// taps lists output pixel o's valid taps as (r*S+s, ih*W+iw) pairs in
// taps[:count] and returns count.
func (g *conv2D) taps(o int, taps [][2]int) int {
	oh, ow := o/g.OW, o%g.OW
	n := 0
	for r := range g.R {
		ih := oh*g.p.StrideH - g.p.PadH + r
		if ih < 0 || ih >= g.H {
			continue
		}
		for s := range g.S {
			iw := ow*g.p.StrideW - g.p.PadW + s
			if iw < 0 || iw >= g.W {
				continue
			}
			taps[n] = [2]int{r*g.S + s, ih*g.W + iw}
			n++
		}
	}
	return n
}

// gatherX fills X_o (N × C·t, column c*t+j = tap j of channel c) from x
// for o's t taps.
func (g *conv2D) gatherX(xd, xo []float32, taps [][2]int) {
	chw, hw, t := g.C*g.H*g.W, g.H*g.W, len(taps)
	ct := g.C * t
	parallelFor(g.N, func(_, lo, hi int) {
		for n := lo; n < hi; n++ {
			img, row := xd[n*chw:(n+1)*chw], xo[n*ct:(n+1)*ct]
			for c := range g.C {
				plane, dst := img[c*hw:(c+1)*hw], row[c*t:(c+1)*t]
				for j, tp := range taps {
					dst[j] = plane[tp[1]]
				}
			}
		}
	})
}

// gatherW fills W_o (K × C·t) from w for o's t taps.
func (g *conv2D) gatherW(wd, wo []float32, taps [][2]int) {
	rs, t := g.R*g.S, len(taps)
	ct := g.C * t
	parallelFor(g.K, func(_, lo, hi int) {
		for k := lo; k < hi; k++ {
			for c := range g.C {
				src, dst := wd[(k*g.C+c)*rs:(k*g.C+c+1)*rs], wo[k*ct+c*t:k*ct+(c+1)*t]
				for j, tp := range taps {
					dst[j] = src[tp[0]]
				}
			}
		}
	})
}

// pixelBuffers returns the scratch for one pixel's matrices: X_o, W_o and
// a product of N×K or N×C·R·S.
func (b *Backend) pixelBuffers(g *conv2D) (xo, wo, prod []float32, taps [][2]int) {
	crs := g.C * g.R * g.S
	xo = b.bufs(slotCol, 1, g.N*crs)[0]
	wo = b.bufs(slotWeights, 1, g.K*crs)[0]
	prod = b.bufs(slotGather, 1, max(g.N*g.K, g.N*crs, g.K*crs))[0]
	if cap(b.taps) < g.R*g.S {
		b.taps = make([][2]int, g.R*g.S)
	}
	return xo, wo, prod, b.taps[:g.R*g.S]
}

// conv2DPixelForward: x (N,C,H,W), w (K,C*R*S), b (K) or nil -> y (N,K,OH,OW).
func (b *Backend) conv2DPixelForward(g *conv2D, xd, wd, bd, yd []float32) {
	xo, wo, yo, taps := b.pixelBuffers(g)
	ohw := g.OH * g.OW
	for o := range ohw {
		t := g.taps(o, taps)
		ct := g.C * t
		if t == 0 {
			clear(yo[:g.N*g.K])
		} else {
			g.gatherX(xd, xo, taps[:t])
			g.gatherW(wd, wo, taps[:t])
			gemm.Sgemm(false, true, g.N, g.K, ct, 1, xo, ct, wo, ct, 0, yo, g.K)
		}
		parallelFor(g.N, func(_, lo, hi int) {
			for n := lo; n < hi; n++ {
				src, dst := yo[n*g.K:(n+1)*g.K], yd[n*g.K*ohw:]
				for k, v := range src {
					if bd != nil {
						v += bd[k]
					}
					dst[k*ohw+o] = v
				}
			}
		})
	}
}

// conv2DPixelData: dy (N,K,OH,OW), w (K,C*R*S) -> dx (N,C,H,W):
// dX_o = dY_o · W_o, added into the pixels under o's taps.
func (b *Backend) conv2DPixelData(g *conv2D, dyd, wd, dxd []float32) {
	_, wo, dxo, taps := b.pixelBuffers(g)
	dyo := b.bufs(slotPartial, 1, g.N*g.K)[0]
	ohw, chw, hw := g.OH*g.OW, g.C*g.H*g.W, g.H*g.W
	clear(dxd[:g.N*chw])
	for o := range ohw {
		t := g.taps(o, taps)
		if t == 0 {
			continue
		}
		ct := g.C * t
		g.gatherW(wd, wo, taps[:t])
		g.pixelDY(dyd, dyo, o)
		gemm.Sgemm(false, false, g.N, ct, g.K, 1, dyo, g.K, wo, ct, 0, dxo, ct)
		parallelFor(g.N, func(_, lo, hi int) {
			for n := lo; n < hi; n++ {
				src, img := dxo[n*ct:(n+1)*ct], dxd[n*chw:(n+1)*chw]
				for c := range g.C {
					plane := img[c*hw : (c+1)*hw]
					for j, tp := range taps[:t] {
						plane[tp[1]] += src[c*t+j]
					}
				}
			}
		})
	}
}

// conv2DPixelFilter: x (N,C,H,W), dy (N,K,OH,OW) -> dw (K,C*R*S):
// dW_o = dY_oᵀ · X_o, added into the weights of o's taps.
func (b *Backend) conv2DPixelFilter(g *conv2D, xd, dyd, dwd []float32) {
	xo, _, dwo, taps := b.pixelBuffers(g)
	dyo := b.bufs(slotPartial, 1, g.N*g.K)[0]
	ohw, rs := g.OH*g.OW, g.R*g.S
	clear(dwd[:g.K*g.C*rs])
	for o := range ohw {
		t := g.taps(o, taps)
		if t == 0 {
			continue
		}
		ct := g.C * t
		g.gatherX(xd, xo, taps[:t])
		g.pixelDY(dyd, dyo, o)
		gemm.Sgemm(true, false, g.K, ct, g.N, 1, dyo, g.K, xo, ct, 0, dwo, ct)
		parallelFor(g.K, func(_, lo, hi int) {
			for k := lo; k < hi; k++ {
				for c := range g.C {
					src, dst := dwo[k*ct+c*t:k*ct+(c+1)*t], dwd[(k*g.C+c)*rs:(k*g.C+c+1)*rs]
					for j, tp := range taps[:t] {
						dst[tp[0]] += src[j]
					}
				}
			}
		})
	}
}

// pixelDY gathers dY_o (N×K): output pixel o of every image and channel.
func (g *conv2D) pixelDY(dyd, dyo []float32, o int) {
	ohw := g.OH * g.OW
	parallelFor(g.N, func(_, lo, hi int) {
		for n := lo; n < hi; n++ {
			src, dst := dyd[n*g.K*ohw:(n+1)*g.K*ohw], dyo[n*g.K:(n+1)*g.K]
			for k := range dst {
				dst[k] = src[k*ohw+o]
			}
		}
	})
}
