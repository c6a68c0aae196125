package cpu

import (
	"math"

	"github.com/cnnctl/cnnctl/internal/tensor"
)

// pool2D is one pooling's geometry: x (N,C,H,W), y (N,C,OH,OW).
type pool2D struct {
	N, C, H, W, OH, OW int
	p                  tensor.PoolParams
}

// newPool2D reads x's shape, checks the window as PyTorch does (padding at
// most half the window) and derives OH, OW (floor mode).
func newPool2D(c *call, x *tensor.Tensor, p tensor.PoolParams) pool2D {
	g := pool2D{N: x.Shape[0], C: x.Shape[1], H: x.Shape[2], W: x.Shape[3], p: p}
	if !(p.R >= 1 && p.S >= 1 && p.StrideH >= 1 && p.StrideW >= 1) {
		c.fail("window %dx%d stride %dx%d: want sizes and strides >= 1", p.R, p.S, p.StrideH, p.StrideW)
	}
	if !(p.PadH >= 0 && p.PadW >= 0 && 2*p.PadH <= p.R && 2*p.PadW <= p.S) {
		c.fail("padding %dx%d: want at most half the window %dx%d", p.PadH, p.PadW, p.R, p.S)
	}
	if !(g.H+2*p.PadH >= p.R && g.W+2*p.PadW >= p.S) {
		c.fail("window %dx%d is larger than the padded input %dx%d", p.R, p.S, g.H+2*p.PadH, g.W+2*p.PadW)
	}
	if c.err == nil {
		g.OH = (g.H+2*p.PadH-p.R)/p.StrideH + 1
		g.OW = (g.W+2*p.PadW-p.S)/p.StrideW + 1
	}
	return g
}

// window returns the rows [h0, h1) and columns [w0, w1) of the input that
// output pixel (oh, ow) covers, clipped to the input (padding left out).
func (g *pool2D) window(oh, ow int) (h0, h1, w0, w1 int) {
	h0 = oh*g.p.StrideH - g.p.PadH
	w0 = ow*g.p.StrideW - g.p.PadW
	h1 = min(h0+g.p.R, g.H)
	w1 = min(w0+g.p.S, g.W)
	return max(h0, 0), h1, max(w0, 0), w1
}

// argmax returns the index in plane (H,W) of the maximum of the window of
// output pixel (oh, ow): the first maximum in row-major order, as PyTorch
// does; a NaN counts as the maximum (the last NaN wins, as in PyTorch).
func (g *pool2D) argmax(plane []float32, oh, ow int) int {
	h0, h1, w0, w1 := g.window(oh, ow)
	best, at := float32(math.Inf(-1)), h0*g.W+w0
	for h := h0; h < h1; h++ {
		for w := w0; w < w1; w++ {
			if v := plane[h*g.W+w]; v > best || v != v {
				best, at = v, h*g.W+w
			}
		}
	}
	return at
}

// MaxPool2DForward: x (N,C,H,W) -> y (N,C,OH,OW),
// y[n][c][oh][ow] = max over the window, padding counting as -inf.
func (b *Backend) MaxPool2DForward(x, y *tensor.Tensor, p tensor.PoolParams) {
	if hasBF16(x, y) {
		b.emulate("maxpool2d forward", []*tensor.Tensor{x, y}, 1<<1, func(t []*tensor.Tensor) { b.MaxPool2DForward(t[0], t[1], p) })
		return
	}
	c := b.call("maxpool2d forward")
	xd := c.data("x", x, 4)
	yd := c.data("y", y, 4)
	if c.err != nil {
		c.ok()
		return
	}
	g := newPool2D(c, x, p)
	c.shape("y", y, g.N, g.C, g.OH, g.OW)
	if !c.ok() {
		return
	}
	if !b.ref {
		g.maxPoolFast(xd, yd)
		return
	}
	hw, ohw := g.H*g.W, g.OH*g.OW
	parallelFor(g.N*g.C, func(_, lo, hi int) {
		for nc := lo; nc < hi; nc++ {
			plane := xd[nc*hw : (nc+1)*hw]
			for oh := range g.OH {
				for ow := range g.OW {
					yd[nc*ohw+oh*g.OW+ow] = plane[g.argmax(plane, oh, ow)]
				}
			}
		}
	})
}

// MaxPool2DBackward: x (N,C,H,W), dy (N,C,OH,OW) -> dx (N,C,H,W): each
// dy[n][c][oh][ow] is added to dx at its window's first maximum in x.
func (b *Backend) MaxPool2DBackward(x, dy, dx *tensor.Tensor, p tensor.PoolParams) {
	if hasBF16(x, dy, dx) {
		b.emulate("maxpool2d backward", []*tensor.Tensor{x, dy, dx}, 1<<2, func(t []*tensor.Tensor) { b.MaxPool2DBackward(t[0], t[1], t[2], p) })
		return
	}
	c := b.call("maxpool2d backward")
	xd := c.data("x", x, 4)
	dyd := c.data("dy", dy, 4)
	dxd := c.data("dx", dx, 4)
	if c.err != nil {
		c.ok()
		return
	}
	g := newPool2D(c, x, p)
	c.shape("dy", dy, g.N, g.C, g.OH, g.OW)
	c.shape("dx", dx, x.Shape...)
	if !c.ok() {
		return
	}
	if !b.ref {
		g.maxPoolBackwardFast(xd, dyd, dxd)
		return
	}
	hw, ohw := g.H*g.W, g.OH*g.OW
	parallelFor(g.N*g.C, func(_, lo, hi int) {
		for nc := lo; nc < hi; nc++ {
			plane := xd[nc*hw : (nc+1)*hw]
			dplane := dxd[nc*hw : (nc+1)*hw]
			clear(dplane)
			for oh := range g.OH {
				for ow := range g.OW {
					dplane[g.argmax(plane, oh, ow)] += dyd[nc*ohw+oh*g.OW+ow]
				}
			}
		}
	})
}

// AvgPool2DForward: x (N,C,H,W) -> y (N,C,OH,OW),
// y[n][c][oh][ow] = (Σ over the window) / (R*S): padded zeros count.
func (b *Backend) AvgPool2DForward(x, y *tensor.Tensor, p tensor.PoolParams) {
	if hasBF16(x, y) {
		b.emulate("avgpool2d forward", []*tensor.Tensor{x, y}, 1<<1, func(t []*tensor.Tensor) { b.AvgPool2DForward(t[0], t[1], p) })
		return
	}
	c := b.call("avgpool2d forward")
	xd := c.data("x", x, 4)
	yd := c.data("y", y, 4)
	if c.err != nil {
		c.ok()
		return
	}
	g := newPool2D(c, x, p)
	c.shape("y", y, g.N, g.C, g.OH, g.OW)
	if !c.ok() {
		return
	}
	if !b.ref {
		g.avgPoolFast(xd, yd)
		return
	}
	hw, ohw := g.H*g.W, g.OH*g.OW
	scale := 1 / float32(p.R*p.S)
	parallelFor(g.N*g.C, func(_, lo, hi int) {
		for nc := lo; nc < hi; nc++ {
			plane := xd[nc*hw : (nc+1)*hw]
			for oh := range g.OH {
				for ow := range g.OW {
					h0, h1, w0, w1 := g.window(oh, ow)
					var s float32
					for h := h0; h < h1; h++ {
						for w := w0; w < w1; w++ {
							s += plane[h*g.W+w]
						}
					}
					yd[nc*ohw+oh*g.OW+ow] = s * scale
				}
			}
		}
	})
}

// AvgPool2DBackward: dy (N,C,OH,OW) -> dx (N,C,H,W): each dy[n][c][oh][ow]/(R*S)
// is added to every input pixel of its window.
func (b *Backend) AvgPool2DBackward(dy, dx *tensor.Tensor, p tensor.PoolParams) {
	if hasBF16(dy, dx) {
		b.emulate("avgpool2d backward", []*tensor.Tensor{dy, dx}, 1<<1, func(t []*tensor.Tensor) { b.AvgPool2DBackward(t[0], t[1], p) })
		return
	}
	c := b.call("avgpool2d backward")
	dyd := c.data("dy", dy, 4)
	dxd := c.data("dx", dx, 4)
	if c.err != nil {
		c.ok()
		return
	}
	g := newPool2D(c, dx, p)
	c.shape("dy", dy, g.N, g.C, g.OH, g.OW)
	if !c.ok() {
		return
	}
	if !b.ref {
		g.avgPoolBackwardFast(dyd, dxd)
		return
	}
	hw, ohw := g.H*g.W, g.OH*g.OW
	scale := 1 / float32(p.R*p.S)
	parallelFor(g.N*g.C, func(_, lo, hi int) {
		for nc := lo; nc < hi; nc++ {
			dplane := dxd[nc*hw : (nc+1)*hw]
			clear(dplane)
			for oh := range g.OH {
				for ow := range g.OW {
					v := dyd[nc*ohw+oh*g.OW+ow] * scale
					h0, h1, w0, w1 := g.window(oh, ow)
					for h := h0; h < h1; h++ {
						for w := w0; w < w1; w++ {
							dplane[h*g.W+w] += v
						}
					}
				}
			}
		}
	})
}
