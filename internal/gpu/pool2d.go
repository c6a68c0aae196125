//go:build cuda

package gpu

import "github.com/cnnctl/cnnctl/internal/tensor"

// pool2D is one pooling's geometry: x (N,C,H,W), y (N,C,OH,OW).
type pool2D struct {
	N, C, H, W, OH, OW int
	p                  tensor.PoolParams
}

// pool reads the geometry from x (N,C,H,W) and checks y against it.
func (c *call) pool(x, y *tensor.Tensor, p tensor.PoolParams) pool2D {
	var g pool2D
	if c.err != nil {
		return g
	}
	g = pool2D{N: x.Shape[0], C: x.Shape[1], H: x.Shape[2], W: x.Shape[3], p: p}
	c.check(p.R >= 1 && p.S >= 1 && p.StrideH >= 1 && p.StrideW >= 1,
		"window %dx%d stride %dx%d: want sizes and strides >= 1", p.R, p.S, p.StrideH, p.StrideW)
	c.check(p.PadH >= 0 && p.PadW >= 0 && 2*p.PadH <= p.R && 2*p.PadW <= p.S,
		"padding %dx%d: want at most half the window %dx%d", p.PadH, p.PadW, p.R, p.S)
	c.check(g.H+2*p.PadH >= p.R && g.W+2*p.PadW >= p.S,
		"window %dx%d is larger than the padded input %dx%d", p.R, p.S, g.H+2*p.PadH, g.W+2*p.PadW)
	if c.err == nil {
		g.OH = (g.H+2*p.PadH-p.R)/p.StrideH + 1
		g.OW = (g.W+2*p.PadW-p.S)/p.StrideW + 1
		c.shape("y", y, g.N, g.C, g.OH, g.OW)
	}
	return g
}

// args are the kernels' POOL_PARAMS.
func (g pool2D) args() []any {
	return []any{g.N * g.C, g.H, g.W, g.OH, g.OW, g.p.R, g.p.S, g.p.StrideH, g.p.StrideW, g.p.PadH, g.p.PadW}
}

// MaxPool2DForward: x (N,C,H,W) -> y (N,C,OH,OW), one thread per output.
func (b *Backend) MaxPool2DForward(x, y *tensor.Tensor, p tensor.PoolParams) {
	c := b.call("maxpool2d forward")
	name := c.storage("maxpool2d_forward", "maxpool2d_forward_bf16", []*tensor.Tensor{x, y}, []string{"x", "y"}, bf16x2)
	xp, yp := c.raw("x", x, 4), c.raw("y", y, 4)
	g := c.pool(x, y, p)
	c.launch(name, b.grid1D(g.N*g.C*g.OH*g.OW), append([]any{xp, yp}, g.args()...)...)
}

// MaxPool2DBackward: x (N,C,H,W), dy (N,C,OH,OW) -> dx (N,C,H,W), one thread
// per input element gathering from the windows whose first maximum it is.
func (b *Backend) MaxPool2DBackward(x, dy, dx *tensor.Tensor, p tensor.PoolParams) {
	c := b.call("maxpool2d backward")
	name := c.storage("maxpool2d_backward", "maxpool2d_backward_bf16", []*tensor.Tensor{x, dy, dx}, []string{"x", "dy", "dx"}, bf16x3)
	xp, dyp, dxp := c.raw("x", x, 4), c.raw("dy", dy, 4), c.raw("dx", dx, 4)
	g := c.pool(x, dy, p)
	c.shape("dx", dx, g.N, g.C, g.H, g.W)
	c.launch(name, b.grid1D(g.N*g.C*g.H*g.W), append([]any{xp, dyp, dxp}, g.args()...)...)
}

// AvgPool2DForward: x (N,C,H,W) -> y (N,C,OH,OW), dividing by R*S.
func (b *Backend) AvgPool2DForward(x, y *tensor.Tensor, p tensor.PoolParams) {
	c := b.call("avgpool2d forward")
	name := c.storage("avgpool2d_forward", "avgpool2d_forward_bf16", []*tensor.Tensor{x, y}, []string{"x", "y"}, bf16x2)
	xp, yp := c.raw("x", x, 4), c.raw("y", y, 4)
	g := c.pool(x, y, p)
	c.launch(name, b.grid1D(g.N*g.C*g.OH*g.OW), append([]any{xp, yp}, g.args()...)...)
}

// AvgPool2DBackward: dy (N,C,OH,OW) -> dx (N,C,H,W).
func (b *Backend) AvgPool2DBackward(dy, dx *tensor.Tensor, p tensor.PoolParams) {
	c := b.call("avgpool2d backward")
	name := c.storage("avgpool2d_backward", "avgpool2d_backward_bf16", []*tensor.Tensor{dy, dx}, []string{"dy", "dx"}, bf16x2)
	dyp, dxp := c.raw("dy", dy, 4), c.raw("dx", dx, 4)
	g := c.pool(dx, dy, p)
	c.launch(name, b.grid1D(g.N*g.C*g.H*g.W), append([]any{dyp, dxp}, g.args()...)...)
}
