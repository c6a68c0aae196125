package cpu

import "math"

// The fast engine's pooling: the reference's loops, one plane (n, c) at a
// time over the workers, with the window bounds hoisted out of the pixel
// loops and 2x2 stride-2 unpadded windows (LeNet, VGG) specialised. The same
// maximum (the first in row-major order, the last NaN) and the same sums in
// the same order as the reference, so the same bits.

// minPoolElems is the fewest elements of x worth spreading over workers.
const minPoolElems = 1 << 14

// forPlanes runs f on the planes [lo, hi) of n, over the workers when x has
// at least minPoolElems elements.
func forPlanes(n, elems int, f func(lo, hi int)) {
	if elems < minPoolElems {
		f(0, n)
		return
	}
	parallelFor(n, func(_, lo, hi int) { f(lo, hi) })
}

// is2x2 reports a 2x2 window with stride 2 and no padding.
func (g *pool2D) is2x2() bool {
	p := g.p
	return p.R == 2 && p.S == 2 && p.StrideH == 2 && p.StrideW == 2 && p.PadH == 0 && p.PadW == 0
}

// key maps a float that is not NaN to an int32 in the same order, with -0
// and +0 equal: compared as ints, the maximum's index comes from conditional
// moves instead of branches that random data mispredicts half the time.
func key(v float32) int32 {
	b := int32(math.Float32bits(v + 0)) // -0 + 0 == +0
	return b ^ (b >> 31 & 0x7fffffff)
}

// max4 returns the position 0..3 of the maximum of a, b, c, d with the
// reference's rule: the first maximum, or the last NaN.
func max4(a, b, c, d float32) int {
	if s := a + b + c + d; s != s { // a NaN (or +inf and -inf): rare, exact
		at, best := 0, a
		for i, v := range [3]float32{b, c, d} {
			if v > best || v != v {
				best, at = v, i+1
			}
		}
		return at
	}
	best, at := key(a), 0
	if k := key(b); k > best {
		best, at = k, 1
	}
	if k := key(c); k > best {
		best, at = k, 2
	}
	if k := key(d); k > best {
		at = 3
	}
	return at
}

// argmaxRows returns the index in plane (row length w) of the maximum of
// rows [h0, h1), columns [w0, w1), as the reference's argmax.
func argmaxRows(plane []float32, w, h0, h1, w0, w1 int) int {
	at := h0*w + w0
	best := key(plane[at])
	var sum float32
	for h := h0; h < h1; h++ {
		row := plane[h*w+w0 : h*w+w1]
		for i, v := range row {
			sum += v
			if k := key(v); k > best {
				best, at = k, h*w+w0+i
			}
		}
	}
	if sum == sum {
		return at
	}
	// A NaN (or infinities of both signs): the reference's loop, exact.
	at = h0*w + w0
	fbest := plane[at]
	for h := h0; h < h1; h++ {
		for i, v := range plane[h*w+w0 : h*w+w1] {
			if v > fbest || v != v {
				fbest, at = v, h*w+w0+i
			}
		}
	}
	return at
}

// maxPoolFast: x (N,C,H,W) -> y (N,C,OH,OW), as MaxPool2DForward.
func (g *pool2D) maxPoolFast(xd, yd []float32) {
	hw, ohw, W, OW := g.H*g.W, g.OH*g.OW, g.W, g.OW
	forPlanes(g.N*g.C, len(xd), func(lo, hi int) {
		for nc := lo; nc < hi; nc++ {
			plane := xd[nc*hw : (nc+1)*hw]
			out := yd[nc*ohw : (nc+1)*ohw]
			if g.is2x2() {
				for oh := range g.OH {
					r0 := plane[2*oh*W : (2*oh+1)*W]
					r1 := plane[(2*oh+1)*W : (2*oh+2)*W]
					row := out[oh*OW : (oh+1)*OW]
					for ow := range row {
						i := 2 * ow
						a, b, c, d := r0[i], r0[i+1], r1[i], r1[i+1]
						row[ow] = [4]float32{a, b, c, d}[max4(a, b, c, d)]
					}
				}
				continue
			}
			for oh := range g.OH {
				h0, h1, _, _ := g.window(oh, 0)
				for ow := range OW {
					_, _, w0, w1 := g.window(0, ow)
					out[oh*OW+ow] = plane[argmaxRows(plane, W, h0, h1, w0, w1)]
				}
			}
		}
	})
}

// maxPoolBackwardFast: x (N,C,H,W), dy (N,C,OH,OW) -> dx (N,C,H,W), as
// MaxPool2DBackward.
func (g *pool2D) maxPoolBackwardFast(xd, dyd, dxd []float32) {
	hw, ohw, W, OW := g.H*g.W, g.OH*g.OW, g.W, g.OW
	forPlanes(g.N*g.C, len(xd), func(lo, hi int) {
		for nc := lo; nc < hi; nc++ {
			plane := xd[nc*hw : (nc+1)*hw]
			dplane := dxd[nc*hw : (nc+1)*hw]
			dout := dyd[nc*ohw : (nc+1)*ohw]
			clear(dplane)
			if g.is2x2() {
				for oh := range g.OH {
					r0 := plane[2*oh*W : (2*oh+1)*W]
					r1 := plane[(2*oh+1)*W : (2*oh+2)*W]
					d := dplane[2*oh*W : (2*oh+2)*W]
					row := dout[oh*OW : (oh+1)*OW]
					for ow, v := range row {
						i := 2 * ow
						at := max4(r0[i], r0[i+1], r1[i], r1[i+1])
						d[i+at>>1*W+at&1] += v
					}
				}
				continue
			}
			for oh := range g.OH {
				h0, h1, _, _ := g.window(oh, 0)
				for ow := range OW {
					_, _, w0, w1 := g.window(0, ow)
					dplane[argmaxRows(plane, W, h0, h1, w0, w1)] += dout[oh*OW+ow]
				}
			}
		}
	})
}

// avgPoolFast: x (N,C,H,W) -> y (N,C,OH,OW), as AvgPool2DForward.
func (g *pool2D) avgPoolFast(xd, yd []float32) {
	hw, ohw, W, OW := g.H*g.W, g.OH*g.OW, g.W, g.OW
	scale := 1 / float32(g.p.R*g.p.S)
	forPlanes(g.N*g.C, len(xd), func(lo, hi int) {
		for nc := lo; nc < hi; nc++ {
			plane := xd[nc*hw : (nc+1)*hw]
			out := yd[nc*ohw : (nc+1)*ohw]
			for oh := range g.OH {
				h0, h1, _, _ := g.window(oh, 0)
				for ow := range OW {
					_, _, w0, w1 := g.window(0, ow)
					var s float32
					for h := h0; h < h1; h++ {
						for _, v := range plane[h*W+w0 : h*W+w1] {
							s += v
						}
					}
					out[oh*OW+ow] = s * scale
				}
			}
		}
	})
}

// avgPoolBackwardFast: dy (N,C,OH,OW) -> dx (N,C,H,W), as AvgPool2DBackward.
func (g *pool2D) avgPoolBackwardFast(dyd, dxd []float32) {
	hw, ohw, W, OW := g.H*g.W, g.OH*g.OW, g.W, g.OW
	scale := 1 / float32(g.p.R*g.p.S)
	forPlanes(g.N*g.C, len(dxd), func(lo, hi int) {
		for nc := lo; nc < hi; nc++ {
			dplane := dxd[nc*hw : (nc+1)*hw]
			dout := dyd[nc*ohw : (nc+1)*ohw]
			clear(dplane)
			for oh := range g.OH {
				h0, h1, _, _ := g.window(oh, 0)
				for ow := range OW {
					v := dout[oh*OW+ow] * scale
					_, _, w0, w1 := g.window(0, ow)
					for h := h0; h < h1; h++ {
						row := dplane[h*W+w0 : h*W+w1]
						for i := range row {
							row[i] += v
						}
					}
				}
			}
		}
	})
}
