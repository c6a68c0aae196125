//go:build cuda

package gpu

import "github.com/cnnctl/cnnctl/internal/tensor"

// shortcut is x (N,C,H,W) -> y (N,K,OH,OW), OH = ceil(H/stride).
func (c *call) shortcut(x, y *tensor.Tensor, stride int) []any {
	if c.err != nil {
		return nil
	}
	n, ch, h, w, k := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3], y.Shape[1]
	c.check(stride >= 1, "stride %d, want >= 1", stride)
	c.check(k >= ch, "%d output channels, fewer than the %d input channels", k, ch)
	if c.err != nil {
		return nil
	}
	oh, ow := ceilDiv(h, stride), ceilDiv(w, stride)
	c.shape("y", y, n, k, oh, ow)
	return []any{n, ch, h, w, k, oh, ow, stride}
}

// ShortcutPadForward: x (N,C,H,W) -> y (N,K,OH,OW), every stride-th pixel,
// the C channels at offset (K-C)/2, zeros elsewhere. Both f32 or both bf16.
func (b *Backend) ShortcutPadForward(x, y *tensor.Tensor, stride int) {
	c := b.call("shortcut pad forward")
	name := c.storage("shortcut_pad_forward", "shortcut_pad_forward_bf16", []*tensor.Tensor{x, y}, []string{"x", "y"}, bf16x2)
	xp, yp := c.raw("x", x, 4), c.raw("y", y, 4)
	args := c.shortcut(x, y, stride)
	c.launch(name, b.grid1D(y.Numel()), append([]any{xp, yp}, args...)...)
}

// ShortcutPadBackward: dy (N,K,OH,OW) -> dx (N,C,H,W). Both f32 or both bf16.
func (b *Backend) ShortcutPadBackward(dy, dx *tensor.Tensor, stride int) {
	c := b.call("shortcut pad backward")
	name := c.storage("shortcut_pad_backward", "shortcut_pad_backward_bf16", []*tensor.Tensor{dy, dx}, []string{"dy", "dx"}, bf16x2)
	dyp, dxp := c.raw("dy", dy, 4), c.raw("dx", dx, 4)
	args := c.shortcut(dx, dy, stride)
	c.launch(name, b.grid1D(dx.Numel()), append([]any{dyp, dxp}, args...)...)
}
