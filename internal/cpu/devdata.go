package cpu

import (
	"fmt"

	"github.com/cnnctl/cnnctl/internal/tensor"
)

var _ tensor.DataHolder = (*Backend)(nil)

// HoldData keeps a copy of images (N,C,H,W) and labels (N) in Go memory:
// the reference that the GPU's device-resident set is tested against.
func (b *Backend) HoldData(images []uint8, labels []int32, p tensor.DataParams) (tensor.DataSet, error) {
	if err := tensor.CheckHold(images, labels, p); err != nil {
		return nil, fmt.Errorf("cpu: hold data: %w", err)
	}
	p.Mean, p.Std = append([]float32(nil), p.Mean...), append([]float32(nil), p.Std...)
	return &dataSet{be: b, p: p, images: append([]uint8(nil), images...), labels: append([]int32(nil), labels...)}, nil
}

// dataSet is the CPU backend's tensor.DataSet.
type dataSet struct {
	be     *Backend
	p      tensor.DataParams
	images []uint8 // (N,C,H,W)
	labels []int32 // (N)
	order  []int32 // (N) this epoch's image at each position
	crops  []int32 // (N,3) this epoch's (oy, ox, flip) at each position
}

func (d *dataSet) Params() tensor.DataParams { return d.p }

// SetEpoch copies the epoch's tables.
func (d *dataSet) SetEpoch(order, crops []int32) {
	c := d.be.call("set epoch")
	c.check(d.images != nil, "the data set has been freed")
	if c.err == nil {
		if err := tensor.CheckEpoch(d.p, order, crops); err != nil {
			c.fail("%v", err)
		}
	}
	if !c.ok() {
		return
	}
	d.order, d.crops = append(d.order[:0], order...), append(d.crops[:0], crops...)
}

// Gather: batch at[0] -> x (n,C,H,W), y (n); position q = at[0]*batch + s
// of sample s is image order[q] through Augment's per-image loop with crop
// crops[q], its label as float32.
func (d *dataSet) Gather(x, y, at *tensor.Tensor, batch int) {
	c := d.be.call("gather")
	c.check(d.images != nil, "the data set has been freed")
	c.check(d.order != nil, "no epoch's tables were set (SetEpoch)")
	if c.err == nil {
		if err := tensor.CheckGather(d.p, x.Shape, y.Shape, at.Shape, batch); err != nil {
			c.fail("%v", err)
		}
	}
	xd, yd := c.data("x", x, 4), c.data("y", y, 1)
	var first int
	if c.err == nil {
		n := x.Shape[0]
		b := c.index("at", at, (d.p.N+batch-1)/batch)
		first = b * batch
		if !(first+n <= d.p.N) {
			c.fail("batch %d of %d images reaches position %d, past the %d images", b, n, first+n-1, d.p.N)
		}
	}
	if !c.ok() {
		return
	}
	p := d.p
	chw := p.C * p.H * p.W
	ap := tensor.AugmentParams{H: p.H, W: p.W, Pad: p.Pad, Mean: p.Mean, Std: p.Std}
	for s := range x.Shape[0] {
		q := first + s
		i := int(d.order[q])
		augmentImage(xd[s*chw:(s+1)*chw], d.images[i*chw:(i+1)*chw], d.crops[3*q:3*q+3], p.C, p.H, p.W, ap)
		yd[s] = float32(d.labels[i])
	}
}

// Free drops the set's memory.
func (d *dataSet) Free() { d.images, d.labels, d.order, d.crops = nil, nil, nil, nil }
