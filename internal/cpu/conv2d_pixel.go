package cpu

import (
	"slices"

	"github.com/cnnctl/cnnctl/internal/gemm"
)

// The per-pixel convolutions, for small outputs (VGG's 4x4 and 2x2 layers).
// There most of a 3x3 kernel's taps fall on the padding: a 2x2 image with
// padding 1 uses 4 of the 9, a 4x4 image 6.25 on average, and im2col's
// products spend the rest multiplying zeros. Here the output pixels are
// grouped by their valid taps T (a 4x4 output with a 3x3 kernel and
// padding 1 has 9 groups: corners, edges, interior), and each group G is
// one product over T only, with images × pixels as rows:
//
//	Y_G (N·|G| × K) = X_G (N·|G| × C·|T|) · W_Gᵀ
//
// X_G gathers, for each image and pixel of G, the input pixels under its
// taps, and W_G (K × C·|T|) the matching kernel weights. The backward passes
// are the two other products of the same matrices, scattered back.

// pixelMode forces the per-pixel path on (1) or off (-1) for tests and
// benchmarks; 0 lets pixelPath decide.
var pixelMode = 0

// pixelPath reports whether g's forward (backward false) or its backward
// passes run on the per-pixel path. BenchmarkConv, batch 128, 2 threads,
// time per-pixel/im2col: at 2x2 (512 channels) 0.42 for all three passes;
// at 4x4 (192 and 512 channels) forward 1.0-1.05, backward data 0.64-0.76,
// filter 0.70-0.74; at 8x8 forward 1.0-2.0. So: 2x2 and below, 4x4 for the
// backward passes of layers with many channels — but only with at least
// 256 output pixels in the batch: each group gathers its own copy of the
// weights, which a small batch does not pay back. At 2x2, 512 channels
// (2026-12-01, 2 threads, per-pixel/im2col), forward: batch 1 2.5, 8 2.6,
// 25 2.5, 64 1.04, 128 0.48; data 2.6, 1.8, 1.3, 0.80, 0.57; filter 9.8,
// 3.5, 1.8, 1.10, 0.81 (vgg11's batch-1 latency had 74% of its time in two
// such layers).
func (g *conv2D) pixelPath(backward bool) bool {
	if pixelMode != 0 {
		return pixelMode > 0
	}
	if g.pointwise() {
		return false
	}
	ohw := g.OH * g.OW
	if g.N*ohw < 256 {
		return false
	}
	return ohw <= 4 || backward && ohw <= 16 && g.C >= 128
}

// pixelGroup is the output pixels that share one set of valid taps.
type pixelGroup struct {
	taps   []int   // r*S+s of each valid tap
	pixels []int   // output pixels oh*OW+ow
	inputs [][]int // inputs[i][j]: the input pixel ih*W+iw under tap j of pixels[i]
}

// pixelGroups returns g's groups, computed once per geometry.
func (b *Backend) pixelGroups(g *conv2D) []pixelGroup {
	if gs, ok := b.pixelPlans[*g]; ok {
		return gs
	}
	var gs []pixelGroup
	for o := range g.OH * g.OW {
		oh, ow := o/g.OW, o%g.OW
		var taps, inputs []int
		for r := range g.R {
			ih := oh*g.p.StrideH - g.p.PadH + r
			for s := range g.S {
				iw := ow*g.p.StrideW - g.p.PadW + s
				if ih >= 0 && ih < g.H && iw >= 0 && iw < g.W {
					taps = append(taps, r*g.S+s)
					inputs = append(inputs, ih*g.W+iw)
				}
			}
		}
		i := slices.IndexFunc(gs, func(pg pixelGroup) bool { return slices.Equal(pg.taps, taps) })
		if i < 0 {
			gs = append(gs, pixelGroup{taps: taps})
			i = len(gs) - 1
		}
		gs[i].pixels = append(gs[i].pixels, o)
		gs[i].inputs = append(gs[i].inputs, inputs)
	}
	if b.pixelPlans == nil {
		b.pixelPlans = map[conv2D][]pixelGroup{}
	}
	b.pixelPlans[*g] = gs
	return gs
}

// gatherX fills X_G (N·|G| × C·|T|; row n*|G|+i, column c*|T|+j) from x.
func (g *conv2D) gatherX(xd, xg []float32, pg *pixelGroup) {
	chw, hw, t, np := g.C*g.H*g.W, g.H*g.W, len(pg.taps), len(pg.pixels)
	ct := g.C * t
	parallelFor(g.N, func(_, lo, hi int) {
		for n := lo; n < hi; n++ {
			img := xd[n*chw : (n+1)*chw]
			for i, in := range pg.inputs {
				row := xg[(n*np+i)*ct : (n*np+i+1)*ct]
				for c := range g.C {
					plane, dst := img[c*hw:(c+1)*hw], row[c*t:(c+1)*t]
					for j, p := range in {
						dst[j] = plane[p]
					}
				}
			}
		}
	})
}

// gatherW fills W_G (K × C·|T|) from w.
func (g *conv2D) gatherW(wd, wg []float32, pg *pixelGroup) {
	rs, t := g.R*g.S, len(pg.taps)
	ct := g.C * t
	parallelFor(g.K, func(_, lo, hi int) {
		for k := lo; k < hi; k++ {
			for c := range g.C {
				src, dst := wd[(k*g.C+c)*rs:(k*g.C+c+1)*rs], wg[k*ct+c*t:k*ct+(c+1)*t]
				for j, tp := range pg.taps {
					dst[j] = src[tp]
				}
			}
		}
	})
}

// gatherPixelDY fills dY_G (N·|G| × K) from dy.
func (g *conv2D) gatherPixelDY(dyd, dyg []float32, pg *pixelGroup) {
	ohw, np := g.OH*g.OW, len(pg.pixels)
	parallelFor(g.N, func(_, lo, hi int) {
		for n := lo; n < hi; n++ {
			src := dyd[n*g.K*ohw : (n+1)*g.K*ohw]
			for i, o := range pg.pixels {
				dst := dyg[(n*np+i)*g.K : (n*np+i+1)*g.K]
				for k := range dst {
					dst[k] = src[k*ohw+o]
				}
			}
		}
	})
}

// pixelBuffers returns the scratch for one group's matrices: X_G, W_G, dY_G
// and a product (Y_G, dX_G or dW_G).
func (b *Backend) pixelBuffers(g *conv2D) (xg, wg, dyg, prod []float32) {
	crs, rows := g.C*g.R*g.S, g.N*g.OH*g.OW
	xg = b.bufs(slotCol, 1, rows*crs)[0]
	wg = b.bufs(slotWeights, 1, g.K*crs)[0]
	dyg = b.bufs(slotPartial, 1, rows*g.K)[0]
	prod = b.bufs(slotGather, 1, max(rows*g.K, rows*crs, g.K*crs))[0]
	return xg, wg, dyg, prod
}

// conv2DPixelForward: x (N,C,H,W), w (K,C*R*S), b (K) or nil -> y (N,K,OH,OW).
func (b *Backend) conv2DPixelForward(g *conv2D, xd, wd, bd, yd []float32) {
	xg, wg, _, yg := b.pixelBuffers(g)
	ohw := g.OH * g.OW
	groups := b.pixelGroups(g)
	for gi := range groups {
		pg := &groups[gi]
		ct, np := g.C*len(pg.taps), len(pg.pixels)
		if ct == 0 {
			clear(yg[:g.N*np*g.K])
		} else {
			g.gatherX(xd, xg, pg)
			g.gatherW(wd, wg, pg)
			gemm.Sgemm(false, true, g.N*np, g.K, ct, 1, xg, ct, wg, ct, 0, yg, g.K)
		}
		parallelFor(g.N, func(_, lo, hi int) {
			for n := lo; n < hi; n++ {
				img := yd[n*g.K*ohw : (n+1)*g.K*ohw]
				for i, o := range pg.pixels {
					for k, v := range yg[(n*np+i)*g.K : (n*np+i+1)*g.K] {
						if bd != nil {
							v += bd[k]
						}
						img[k*ohw+o] = v
					}
				}
			}
		})
	}
}

// eachPixelGroup runs f on each of g's groups that has taps, with its
// tap count t, pixel count np and product width ct = C*t.
func (b *Backend) eachPixelGroup(g *conv2D, f func(pg *pixelGroup, t, np, ct int)) {
	groups := b.pixelGroups(g)
	for gi := range groups {
		pg := &groups[gi]
		t, np := len(pg.taps), len(pg.pixels)
		if t > 0 && g.C > 0 {
			f(pg, t, np, g.C*t)
		}
	}
}

// conv2DPixelData: dy (N,K,OH,OW), w (K,C*R*S) -> dx (N,C,H,W):
// dX_G = dY_G · W_G, added into the input pixels under the taps.
func (b *Backend) conv2DPixelData(g *conv2D, dyd, wd, dxd []float32) {
	_, wg, dyg, dxg := b.pixelBuffers(g)
	chw, hw := g.C*g.H*g.W, g.H*g.W
	clear(dxd[:g.N*chw])
	b.eachPixelGroup(g, func(pg *pixelGroup, t, np, ct int) {
		g.gatherW(wd, wg, pg)
		g.gatherPixelDY(dyd, dyg, pg)
		gemm.Sgemm(false, false, g.N*np, ct, g.K, 1, dyg, g.K, wg, ct, 0, dxg, ct)
		parallelFor(g.N, func(_, lo, hi int) {
			for n := lo; n < hi; n++ {
				img := dxd[n*chw : (n+1)*chw]
				for i, in := range pg.inputs {
					src := dxg[(n*np+i)*ct : (n*np+i+1)*ct]
					for c := range g.C {
						plane := img[c*hw : (c+1)*hw]
						for j, p := range in {
							plane[p] += src[c*t+j]
						}
					}
				}
			}
		})
	})
}

// conv2DPixelFilter: x (N,C,H,W), dy (N,K,OH,OW) -> dw (K,C*R*S):
// dW_G = dY_Gᵀ · X_G, added into the weights of the taps.
func (b *Backend) conv2DPixelFilter(g *conv2D, xd, dyd, dwd []float32) {
	xg, _, dyg, dwg := b.pixelBuffers(g)
	rs := g.R * g.S
	clear(dwd[:g.K*g.C*rs])
	b.eachPixelGroup(g, func(pg *pixelGroup, t, np, ct int) {
		g.gatherX(xd, xg, pg)
		g.gatherPixelDY(dyd, dyg, pg)
		gemm.Sgemm(true, false, g.K, ct, g.N*np, 1, dyg, g.K, xg, ct, 0, dwg, ct)
		parallelFor(g.K, func(_, lo, hi int) {
			for k := lo; k < hi; k++ {
				for c := range g.C {
					src, dst := dwg[k*ct+c*t:k*ct+(c+1)*t], dwd[(k*g.C+c)*rs:(k*g.C+c+1)*rs]
					for j, tp := range pg.taps {
						dst[tp] += src[j]
					}
				}
			}
		})
	})
}
