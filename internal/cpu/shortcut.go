package cpu

import (
	"github.com/cnnctl/cnnctl/internal/tensor"
)

// shortcut is the geometry of ResNet's option A shortcut: x (N,C,H,W),
// y (N,K,OH,OW), OH = ceil(H/stride), the C channels at offset (K-C)/2.
type shortcut struct{ N, C, H, W, K, OH, OW, stride, off int }

func newShortcut(c *call, x, y *tensor.Tensor, stride int) shortcut {
	if !(stride >= 1) {
		c.fail("stride %d, want >= 1", stride)
	}
	if c.err != nil {
		return shortcut{}
	}
	g := shortcut{N: x.Shape[0], C: x.Shape[1], H: x.Shape[2], W: x.Shape[3], K: y.Shape[1], stride: stride}
	g.OH, g.OW = (g.H+stride-1)/stride, (g.W+stride-1)/stride
	g.off = (g.K - g.C) / 2
	if c.err == nil && g.K < g.C {
		c.fail("y %v has fewer channels than x %v", y.Shape, x.Shape)
	}
	c.shape("y", y, g.N, g.K, g.OH, g.OW)
	return g
}

// ShortcutPadForward: x (N,C,H,W) -> y (N,K,OH,OW),
// y[n][k][oh][ow] = x[n][k-off][oh*stride][ow*stride] for off <= k < off+C, else 0,
// with off = (K-C)/2 (PyTorch: F.pad(x[:, :, ::stride, ::stride], (0,0,0,0,off,K-C-off))).
func (b *Backend) ShortcutPadForward(x, y *tensor.Tensor, stride int) {
	if hasBF16(x, y) {
		b.emulate("shortcut pad forward", []*tensor.Tensor{x, y}, 1<<1, func(t []*tensor.Tensor) { b.ShortcutPadForward(t[0], t[1], stride) })
		return
	}
	c := b.call("shortcut pad forward")
	xd := c.data("x", x, 4)
	yd := c.data("y", y, 4)
	g := newShortcut(c, x, y, stride)
	if !c.ok() {
		return
	}
	if !b.ref {
		shortcutForward(g, xd, yd)
		return
	}
	for n := range g.N {
		for k := range g.K {
			out := yd[(n*g.K+k)*g.OH*g.OW : (n*g.K+k+1)*g.OH*g.OW]
			ch := k - g.off
			if ch < 0 || ch >= g.C {
				clear(out)
				continue
			}
			plane := xd[(n*g.C+ch)*g.H*g.W:]
			for oh := range g.OH {
				for ow := range g.OW {
					out[oh*g.OW+ow] = plane[oh*stride*g.W+ow*stride]
				}
			}
		}
	}
}

// ShortcutPadBackward: dy (N,K,OH,OW) -> dx (N,C,H,W),
// dx[n][c][oh*stride][ow*stride] = dy[n][c+off][oh][ow], 0 at the skipped pixels.
func (b *Backend) ShortcutPadBackward(dy, dx *tensor.Tensor, stride int) {
	if hasBF16(dy, dx) {
		b.emulate("shortcut pad backward", []*tensor.Tensor{dy, dx}, 1<<1, func(t []*tensor.Tensor) { b.ShortcutPadBackward(t[0], t[1], stride) })
		return
	}
	c := b.call("shortcut pad backward")
	dyd := c.data("dy", dy, 4)
	dxd := c.data("dx", dx, 4)
	g := newShortcut(c, dx, dy, stride)
	if !c.ok() {
		return
	}
	if !b.ref {
		shortcutBackward(g, dyd, dxd)
		return
	}
	clear(dxd)
	for n := range g.N {
		for ch := range g.C {
			plane := dxd[(n*g.C+ch)*g.H*g.W:]
			in := dyd[(n*g.K+ch+g.off)*g.OH*g.OW:]
			for oh := range g.OH {
				for ow := range g.OW {
					plane[oh*stride*g.W+ow*stride] = in[oh*g.OW+ow]
				}
			}
		}
	}
}
