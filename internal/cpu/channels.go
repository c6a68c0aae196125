package cpu

import (
	"github.com/cnnctl/cnnctl/internal/tensor"
)

// channelCopy checks small (N,Cs,H,W) against channels [off, off+Cs) of big
// (N,Cb,H,W) and returns, per sample, the lengths of both runs.
func channelCopy(c *call, small, big *tensor.Tensor, off int) (n, smallRun, bigRun, offset int) {
	if !(small.Shape[0] == big.Shape[0] && small.Shape[2] == big.Shape[2] && small.Shape[3] == big.Shape[3]) {
		c.fail("%v and %v differ in batch or size", small.Shape, big.Shape)
	}
	if !(off >= 0 && off+small.Shape[1] <= big.Shape[1]) {
		c.fail("channels [%d, %d) lie outside the %d of %v", off, off+small.Shape[1], big.Shape[1], big.Shape)
	}
	hw := small.Shape[2] * small.Shape[3]
	return small.Shape[0], small.Shape[1] * hw, big.Shape[1] * hw, off * hw
}

// CopyChannels: src (N,Cs,H,W) -> channels [off, off+Cs) of dst (N,Cd,H,W);
// the other channels of dst are left as they are.
func (b *Backend) CopyChannels(dst, src *tensor.Tensor, off int) {
	if hasBF16(dst, src) {
		b.emulate("copy channels", []*tensor.Tensor{dst, src}, 1<<0, func(t []*tensor.Tensor) { b.CopyChannels(t[0], t[1], off) })
		return
	}
	c := b.call("copy channels")
	dd := c.data("dst", dst, 4)
	sd := c.data("src", src, 4)
	if c.err != nil {
		c.ok()
		return
	}
	n, run, stride, at := channelCopy(c, src, dst, off)
	if !c.ok() {
		return
	}
	for i := range n {
		copy(dd[i*stride+at:i*stride+at+run], sd[i*run:(i+1)*run])
	}
}

// ExtractChannels: channels [off, off+Cd) of src (N,Cs,H,W) -> dst (N,Cd,H,W).
func (b *Backend) ExtractChannels(dst, src *tensor.Tensor, off int) {
	if hasBF16(dst, src) {
		b.emulate("extract channels", []*tensor.Tensor{dst, src}, 1<<0, func(t []*tensor.Tensor) { b.ExtractChannels(t[0], t[1], off) })
		return
	}
	c := b.call("extract channels")
	dd := c.data("dst", dst, 4)
	sd := c.data("src", src, 4)
	if c.err != nil {
		c.ok()
		return
	}
	n, run, stride, at := channelCopy(c, dst, src, off)
	if !c.ok() {
		return
	}
	for i := range n {
		copy(dd[i*run:(i+1)*run], sd[i*stride+at:i*stride+at+run])
	}
}

// copyRowsGo is copyRows' plain loop.
func copyRowsGo(src, dst []float32, rows, w, lds, ldd int) {
	for r := range rows {
		copy(dst[r*ldd:][:w], src[r*lds:][:w])
	}
}
