//go:build cuda

package gpu

import (
	"unsafe"

	"gorgonia.org/cu"

	"github.com/cnnctl/cnnctl/internal/tensor"
)

// Augment uploads a batch of uint8 images src (N,C,H,W) (H and W from p) and
// writes dst (N,C,OH,OW) = normalise(flip(crop(pad(src)))), as torchvision's
// RandomCrop(padding=p.Pad) + RandomHorizontalFlip + ToTensor + Normalize.
// The caller draws the randomness: crops holds (oy, ox, flip) per sample,
// 0 <= oy, ox <= 2*p.Pad, flip 0 or 1; (Pad, Pad, 0) is the plain centre.
func (b *Backend) Augment(dst *tensor.Tensor, src []uint8, crops []int32, p AugmentParams) {
	c := b.call("augment")
	dp := c.ptr("dst", dst, 4)
	if c.err != nil {
		c.ok()
		return
	}
	n, ch, oh, ow := dst.Shape[0], dst.Shape[1], dst.Shape[2], dst.Shape[3]
	c.check(len(src) == n*ch*p.H*p.W, "%d source bytes, want %d for %dx%dx%dx%d", len(src), n*ch*p.H*p.W, n, ch, p.H, p.W)
	c.check(len(crops) == 3*n, "%d crop values, want 3 per sample (%d)", len(crops), 3*n)
	c.check(len(p.Mean) == ch && len(p.Std) == ch, "mean %v and std %v, want %d values each", p.Mean, p.Std, ch)
	c.check(p.Pad >= 0 && oh <= p.H+2*p.Pad && ow <= p.W+2*p.Pad, "crop %dx%d does not fit %dx%d padded by %d", oh, ow, p.H, p.W, p.Pad)
	for i := 0; c.err == nil && i < len(crops); i += 3 {
		oy, ox, flip := int(crops[i]), int(crops[i+1]), crops[i+2]
		c.check(oy >= 0 && ox >= 0 && oy+oh <= p.H+2*p.Pad && ox+ow <= p.W+2*p.Pad && (flip == 0 || flip == 1),
			"sample %d: crop offset (%d, %d) flip %d outside the padded image", i/3, oy, ox, flip)
	}
	norm := append(append(make([]float32, 0, 2*ch), p.Mean...), p.Std...)
	args := c.kernelArgs([]any{cu.DevicePtr(0), dp, cu.DevicePtr(0), cu.DevicePtr(0), n, ch, p.H, p.W, oh, ow, p.Pad})
	if !c.ok() || len(src) == 0 {
		return
	}
	b.do(c.op, func() {
		// One scratch block: the images, then the crops, then mean and std.
		imgBytes := int64(len(src)+15) &^ 15
		cropBytes := int64(4*len(crops)+15) &^ 15
		ws, release, ok := c.scratch(imgBytes + cropBytes + int64(4*len(norm)))
		if !ok {
			return
		}
		defer release()
		c.driver("upload images", cu.MemcpyHtoD(ws, unsafe.Pointer(&src[0]), int64(len(src))))
		c.driver("upload crops", cu.MemcpyHtoD(ws+cu.DevicePtr(imgBytes), unsafe.Pointer(&crops[0]), int64(4*len(crops))))
		c.driver("upload mean and std", cu.MemcpyHtoD(ws+cu.DevicePtr(imgBytes+cropBytes), unsafe.Pointer(&norm[0]), int64(4*len(norm))))
		args[0], args[2], args[3] = uint64(ws), uint64(ws)+uint64(imgBytes), uint64(ws)+uint64(imgBytes+cropBytes)
		c.launchHere("augment", b.grid1D(dst.Numel()), args)
	})
}
