package cpu

import (
	"github.com/cnnctl/cnnctl/internal/tensor"
)

var _ tensor.Augmenter = (*Backend)(nil)

// Augment: src (N,C,H,W) uint8, crops (N,3) as (oy, ox, flip) -> dst
// (N,C,OH,OW) = normalise(flip(crop(pad(src)))); see tensor.Augmenter for
// the encoding. With (i, j) an output pixel:
//
//	j' = flip ? OW-1-j : j
//	v  = src[n][c][i+oy-Pad][j'+ox-Pad], 0 outside the image
//	dst[n][c][i][j] = (float32(v)/255 - Mean[c]) / Std[c]
//
// Both engines (New and NewReference) run these plain loops.
func (b *Backend) Augment(dst *tensor.Tensor, src []uint8, crops []int32, p tensor.AugmentParams) {
	c := b.call("augment")
	dd := c.data("dst", dst, 4)
	if c.err == nil {
		if err := tensor.CheckAugment(dst.Shape, src, crops, p); err != nil {
			c.fail("%v", err)
		}
	}
	if !c.ok() {
		return
	}
	n, ch, oh, ow := dst.Shape[0], dst.Shape[1], dst.Shape[2], dst.Shape[3]
	img := ch * p.H * p.W
	for s := range n {
		augmentImage(dd[s*ch*oh*ow:(s+1)*ch*oh*ow], src[s*img:(s+1)*img], crops[3*s:3*s+3], ch, oh, ow, p)
	}
}

// augmentImage writes one sample: out (C,OH,OW) from src (C,H,W) with crop
// (oy, ox, flip), as Augment describes.
func augmentImage(out []float32, src []uint8, crop []int32, ch, oh, ow int, p tensor.AugmentParams) {
	h, w := p.H, p.W
	oy, ox, flip := int(crop[0]), int(crop[1]), crop[2] == 1
	for k := range ch {
		plane := src[k*h*w : (k+1)*h*w]   // (H,W)
		dst := out[k*oh*ow : (k+1)*oh*ow] // (OH,OW)
		for i := range oh {
			for j := range ow {
				jj := j
				if flip {
					jj = ow - 1 - j
				}
				y, x := i+oy-p.Pad, jj+ox-p.Pad
				v := float32(0)
				if y >= 0 && y < h && x >= 0 && x < w {
					v = float32(plane[y*w+x])
				}
				dst[i*ow+j] = (v/255 - p.Mean[k]) / p.Std[k]
			}
		}
	}
}
