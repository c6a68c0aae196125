package cpu

import (
	"github.com/cnnctl/cnnctl/internal/tensor"
)

// conv2D is one convolution's geometry: x (N,C,H,W), w (K,C,R,S), y (N,K,OH,OW).
type conv2D struct {
	N, C, H, W, K, R, S, OH, OW int
	p                           tensor.ConvParams
}

// geometry derives OH and OW and checks the parameters.
func (g *conv2D) geometry(c *call) {
	p := g.p
	c.check(p.StrideH >= 1 && p.StrideW >= 1 && p.PadH >= 0 && p.PadW >= 0,
		"stride %dx%d, padding %dx%d: want strides >= 1 and padding >= 0", p.StrideH, p.StrideW, p.PadH, p.PadW)
	c.check(g.H+2*p.PadH >= g.R && g.W+2*p.PadW >= g.S,
		"kernel %dx%d is larger than the padded input %dx%d", g.R, g.S, g.H+2*p.PadH, g.W+2*p.PadW)
	if c.err == nil {
		g.OH = (g.H+2*p.PadH-g.R)/p.StrideH + 1
		g.OW = (g.W+2*p.PadW-g.S)/p.StrideW + 1
	}
}

// im2col unrolls one sample x (C,H,W) into col (C*R*S, OH*OW):
// col[(c*R+r)*S+s][oh*OW+ow] = x[c][oh*sh-ph+r][ow*sw-pw+s], 0 in the padding.
func (g *conv2D) im2col(x, col []float32) {
	for c := range g.C {
		for r := range g.R {
			for s := range g.S {
				row := col[((c*g.R+r)*g.S+s)*g.OH*g.OW:]
				for oh := range g.OH {
					ih := oh*g.p.StrideH - g.p.PadH + r
					for ow := range g.OW {
						iw := ow*g.p.StrideW - g.p.PadW + s
						v := float32(0)
						if ih >= 0 && ih < g.H && iw >= 0 && iw < g.W {
							v = x[(c*g.H+ih)*g.W+iw]
						}
						row[oh*g.OW+ow] = v
					}
				}
			}
		}
	}
}

// col2im is im2col's transpose: it adds col (C*R*S, OH*OW) into x (C,H,W).
func (g *conv2D) col2im(col, x []float32) {
	for c := range g.C {
		for r := range g.R {
			for s := range g.S {
				row := col[((c*g.R+r)*g.S+s)*g.OH*g.OW:]
				for oh := range g.OH {
					ih := oh*g.p.StrideH - g.p.PadH + r
					if ih < 0 || ih >= g.H {
						continue
					}
					for ow := range g.OW {
						iw := ow*g.p.StrideW - g.p.PadW + s
						if iw >= 0 && iw < g.W {
							x[(c*g.H+ih)*g.W+iw] += row[oh*g.OW+ow]
						}
					}
				}
			}
		}
	}
}

// convForwardArgs checks the tensors of a convolution forward (x
// (N,C,H,W), w (K,C,R,S), b (K) or nil, y (N,K,OH,OW)), recording the
// first failure in c, and returns the geometry and the data.
func convForwardArgs(c *call, x, w, bias, y *tensor.Tensor, p tensor.ConvParams) (g conv2D, xd, wd, bd, yd []float32) {
	xd = c.data("x", x, 4)
	wd = c.data("w", w, 4)
	yd = c.data("y", y, 4)
	if bias != nil {
		bd = c.data("b", bias, 1)
	}
	if c.err != nil {
		return g, nil, nil, nil, nil
	}
	g = conv2D{N: x.Shape[0], C: x.Shape[1], H: x.Shape[2], W: x.Shape[3], K: w.Shape[0], R: w.Shape[2], S: w.Shape[3], p: p}
	if w.Shape[1] != g.C {
		c.fail("w %v does not match the %d channels of x %v", w.Shape, g.C, x.Shape)
	}
	g.geometry(c)
	c.shape("y", y, g.N, g.K, g.OH, g.OW)
	if bias != nil {
		c.shape("b", bias, g.K)
	}
	return g, xd, wd, bd, yd
}

// Conv2DForward: x (N,C,H,W), w (K,C,R,S), b (K) or nil -> y (N,K,OH,OW),
// y[n][k][oh][ow] = b[k] + Σ_{c,r,s} w[k][c][r][s] · x[n][c][oh*sh-ph+r][ow*sw-pw+s].
// Per sample: y[n] (K, OH*OW) = w (K, C*R*S) · im2col(x[n]) (C*R*S, OH*OW).
func (b *Backend) Conv2DForward(x, w, bias, y *tensor.Tensor, p tensor.ConvParams) {
	if hasBF16(x, w, bias, y) {
		b.emulate("conv2d forward", []*tensor.Tensor{x, w, bias, y}, 1<<3, func(t []*tensor.Tensor) { b.Conv2DForward(t[0], t[1], t[2], t[3], p) })
		return
	}
	c := b.call("conv2d forward")
	g, xd, wd, bd, yd := convForwardArgs(c, x, w, bias, y, p)
	if !c.ok() {
		return
	}
	if !b.ref {
		b.conv2DForward(&g, xd, wd, bd, yd)
		return
	}
	crs, ohw := g.C*g.R*g.S, g.OH*g.OW
	cols := make([]float32, workers(g.N)*crs*ohw)
	parallelFor(g.N, func(worker, lo, hi int) {
		col := cols[worker*crs*ohw : (worker+1)*crs*ohw]
		for n := lo; n < hi; n++ {
			g.im2col(xd[n*g.C*g.H*g.W:(n+1)*g.C*g.H*g.W], col)
			yn := yd[n*g.K*ohw : (n+1)*g.K*ohw]
			matmul(false, false, g.K, ohw, crs, wd, crs, col, ohw, yn, ohw, false)
			if bd != nil {
				for k := range g.K {
					for i := range ohw {
						yn[k*ohw+i] += bd[k]
					}
				}
			}
		}
	})
}

// Conv2DBackwardData: dy (N,K,OH,OW), w (K,C,R,S) -> dx (N,C,H,W),
// dx[n] = col2im(wᵀ (C*R*S, K) · dy[n] (K, OH*OW)).
func (b *Backend) Conv2DBackwardData(dy, w, dx *tensor.Tensor, p tensor.ConvParams) {
	if hasBF16(dy, w, dx) {
		b.emulate("conv2d backward data", []*tensor.Tensor{dy, w, dx}, 1<<2, func(t []*tensor.Tensor) { b.Conv2DBackwardData(t[0], t[1], t[2], p) })
		return
	}
	c := b.call("conv2d backward data")
	dyd := c.data("dy", dy, 4)
	wd := c.data("w", w, 4)
	dxd := c.data("dx", dx, 4)
	if c.err != nil {
		c.ok()
		return
	}
	g := conv2D{N: dx.Shape[0], C: dx.Shape[1], H: dx.Shape[2], W: dx.Shape[3], K: w.Shape[0], R: w.Shape[2], S: w.Shape[3], p: p}
	if c.err == nil && w.Shape[1] != g.C {
		c.fail("w %v does not match the %d channels of dx %v", w.Shape, g.C, dx.Shape)
	}
	g.geometry(c)
	c.shape("dy", dy, g.N, g.K, g.OH, g.OW)
	if !c.ok() {
		return
	}
	if !b.ref {
		b.conv2DBackwardData(&g, dyd, wd, dxd)
		return
	}
	crs, ohw, chw := g.C*g.R*g.S, g.OH*g.OW, g.C*g.H*g.W
	cols := make([]float32, workers(g.N)*crs*ohw)
	parallelFor(g.N, func(worker, lo, hi int) {
		col := cols[worker*crs*ohw : (worker+1)*crs*ohw]
		for n := lo; n < hi; n++ {
			matmul(true, false, crs, ohw, g.K, wd, crs, dyd[n*g.K*ohw:], ohw, col, ohw, false)
			dxn := dxd[n*chw : (n+1)*chw]
			clear(dxn)
			g.col2im(col, dxn)
		}
	})
}

// Conv2DBackwardFilter: x (N,C,H,W), dy (N,K,OH,OW) -> dw (K,C,R,S), db (K) or nil,
// dw (K, C*R*S) = Σ_n dy[n] (K, OH*OW) · im2col(x[n])ᵀ (OH*OW, C*R*S),
// db[k] = Σ_{n,oh,ow} dy[n][k][oh][ow].
func (b *Backend) Conv2DBackwardFilter(x, dy, dw, db *tensor.Tensor, p tensor.ConvParams) {
	if hasBF16(x, dy, dw, db) {
		b.emulate("conv2d backward filter", []*tensor.Tensor{x, dy, dw, db}, 1<<2|1<<3, func(t []*tensor.Tensor) { b.Conv2DBackwardFilter(t[0], t[1], t[2], t[3], p) })
		return
	}
	c := b.call("conv2d backward filter")
	xd := c.data("x", x, 4)
	dyd := c.data("dy", dy, 4)
	dwd := c.data("dw", dw, 4)
	var dbd []float32
	if db != nil {
		dbd = c.data("db", db, 1)
	}
	if c.err != nil {
		c.ok()
		return
	}
	g := conv2D{N: x.Shape[0], C: x.Shape[1], H: x.Shape[2], W: x.Shape[3], K: dw.Shape[0], R: dw.Shape[2], S: dw.Shape[3], p: p}
	if c.err == nil && dw.Shape[1] != g.C {
		c.fail("dw %v does not match the %d channels of x %v", dw.Shape, g.C, x.Shape)
	}
	g.geometry(c)
	c.shape("dy", dy, g.N, g.K, g.OH, g.OW)
	if db != nil {
		c.shape("db", db, g.K)
	}
	if !c.ok() {
		return
	}
	if !b.ref {
		b.conv2DBackwardFilter(&g, xd, dyd, dwd, dbd)
		return
	}
	crs, ohw, chw := g.C*g.R*g.S, g.OH*g.OW, g.C*g.H*g.W
	nw := workers(g.N)
	cols := make([]float32, nw*crs*ohw)
	partial := make([]float32, nw*g.K*crs) // one dw per worker, summed below
	parallelFor(g.N, func(worker, lo, hi int) {
		col := cols[worker*crs*ohw : (worker+1)*crs*ohw]
		part := partial[worker*g.K*crs : (worker+1)*g.K*crs]
		for n := lo; n < hi; n++ {
			g.im2col(xd[n*chw:(n+1)*chw], col)
			matmul(false, true, g.K, crs, ohw, dyd[n*g.K*ohw:], ohw, col, ohw, part, crs, true)
		}
	})
	copy(dwd, partial[:g.K*crs])
	for worker := 1; worker < nw; worker++ {
		part := partial[worker*g.K*crs : (worker+1)*g.K*crs]
		for i := range dwd {
			dwd[i] += part[i]
		}
	}
	if dbd != nil {
		for k := range g.K {
			var s float64
			for n := range g.N {
				for _, v := range dyd[(n*g.K+k)*ohw : (n*g.K+k+1)*ohw] {
					s += float64(v)
				}
			}
			dbd[k] = float32(s)
		}
	}
}
