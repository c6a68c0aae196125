//go:build cuda

package gpu

import "github.com/cnnctl/cnnctl/internal/tensor"

// channels checks dst (N,Cd,H,W) and src (N,Cs,H,W) and that the channel
// range [off, off+width) lies inside the wider one.
func (c *call) channels(dst, src *tensor.Tensor, off int, copying bool) []any {
	if c.err != nil {
		return nil
	}
	n, cd, cs := dst.Shape[0], dst.Shape[1], src.Shape[1]
	c.check(src.Shape[0] == n && src.Shape[2] == dst.Shape[2] && src.Shape[3] == dst.Shape[3],
		"dst %v and src %v differ in batch or size", dst.Shape, src.Shape)
	if copying {
		c.check(off >= 0 && off+cs <= cd, "channels [%d, %d) of src %v do not fit dst %v", off, off+cs, src.Shape, dst.Shape)
	} else {
		c.check(off >= 0 && off+cd <= cs, "channels [%d, %d) of dst %v are not in src %v", off, off+cd, dst.Shape, src.Shape)
	}
	return []any{n, cs, cd, dst.Shape[2] * dst.Shape[3], off}
}

// CopyChannels writes src (N,Cs,H,W) into channels [off, off+Cs) of dst
// (N,Cd,H,W). Both f32 or both bf16.
func (b *Backend) CopyChannels(dst, src *tensor.Tensor, off int) {
	c := b.call("copy channels")
	name := c.storage("copy_channels", "copy_channels_bf16", []*tensor.Tensor{dst, src}, []string{"dst", "src"}, bf16x2)
	dp, sp := c.raw("dst", dst, 4), c.raw("src", src, 4)
	args := c.channels(dst, src, off, true)
	c.launch(name, b.grid1D(src.Numel()), append([]any{dp, sp}, args...)...)
}

// ExtractChannels reads channels [off, off+Cd) of src (N,Cs,H,W) into dst
// (N,Cd,H,W). Both f32 or both bf16.
func (b *Backend) ExtractChannels(dst, src *tensor.Tensor, off int) {
	c := b.call("extract channels")
	name := c.storage("extract_channels", "extract_channels_bf16", []*tensor.Tensor{dst, src}, []string{"dst", "src"}, bf16x2)
	dp, sp := c.raw("dst", dst, 4), c.raw("src", src, 4)
	args := c.channels(dst, src, off, false)
	c.launch(name, b.grid1D(dst.Numel()), append([]any{dp, sp}, args...)...)
}
