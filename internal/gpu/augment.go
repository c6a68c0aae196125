//go:build cuda

package gpu

import (
	"unsafe"

	"gorgonia.org/cu"

	"github.com/cnnctl/cnnctl/internal/tensor"
)

var _ tensor.Augmenter = (*Backend)(nil)

// Augment uploads a batch of uint8 images src (N,C,H,W) (H and W from p) and
// writes dst (N,C,OH,OW) = normalise(flip(crop(pad(src)))), as torchvision's
// RandomCrop(padding=p.Pad) + RandomHorizontalFlip + ToTensor + Normalize;
// crops holds (oy, ox, flip) per sample. tensor.Augmenter gives the exact
// encoding; internal/cpu's Augment is the reference.
func (b *Backend) Augment(dst *tensor.Tensor, src []uint8, crops []int32, p tensor.AugmentParams) {
	c := b.call("augment")
	dp := c.ptr("dst", dst, 4)
	if c.err == nil {
		if err := tensor.CheckAugment(dst.Shape, src, crops, p); err != nil {
			c.fail("%v", err)
		}
	}
	if c.err != nil {
		c.ok()
		return
	}
	n, ch, oh, ow := dst.Shape[0], dst.Shape[1], dst.Shape[2], dst.Shape[3]
	norm := append(append(make([]float32, 0, 2*ch), p.Mean...), p.Std...)
	args := c.kernelArgs([]any{cu.DevicePtr(0), dp, cu.DevicePtr(0), cu.DevicePtr(0), n, ch, p.H, p.W, oh, ow, p.Pad})
	if !c.ok() || len(src) == 0 || dst.Numel() == 0 {
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
		c.driver("upload images", cu.MemcpyHtoDAsync(ws, unsafe.Pointer(&src[0]), int64(len(src)), b.stream))
		c.driver("upload crops", cu.MemcpyHtoDAsync(ws+cu.DevicePtr(imgBytes), unsafe.Pointer(&crops[0]), int64(4*len(crops)), b.stream))
		c.driver("upload mean and std", cu.MemcpyHtoDAsync(ws+cu.DevicePtr(imgBytes+cropBytes), unsafe.Pointer(&norm[0]), int64(4*len(norm)), b.stream))
		args[0], args[2], args[3] = uint64(ws), uint64(ws)+uint64(imgBytes), uint64(ws)+uint64(imgBytes+cropBytes)
		c.launchHere("augment", b.grid1D(dst.Numel()), args)
	})
}
