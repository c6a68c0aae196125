//go:build cuda

package gpu

import (
	"fmt"
	"unsafe"

	"gorgonia.org/cu"

	"github.com/cnnctl/cnnctl/internal/tensor"
)

var _ tensor.DataHolder = (*Backend)(nil)

// dataLayout places a held set in one device block: the images (N,C,H,W)
// uint8, then labels (N), order (N) and crops (N,3) int32, then norm (2*C)
// float32, each part 16-byte aligned.
type dataLayout struct {
	labels, order, crops, norm, total int64
}

func layoutData(p tensor.DataParams) dataLayout {
	up := func(b int64) int64 { return (b + 15) &^ 15 }
	n := int64(p.N)
	var l dataLayout
	l.labels = up(n * int64(p.C*p.H*p.W))
	l.order = l.labels + up(4*n)
	l.crops = l.order + up(4*n)
	l.norm = l.crops + up(12*n)
	l.total = l.norm + 8*int64(p.C)
	return l
}

// HoldData allocates one block for the set and its epoch tables, and
// queues the copies of the images, the labels and the normalisation on
// the backend's stream. Out of memory is an error returned, not recorded:
// the caller streams the data from the host instead.
func (b *Backend) HoldData(images []uint8, labels []int32, p tensor.DataParams) (tensor.DataSet, error) {
	c := b.call("hold data")
	if c.err != nil {
		return nil, fmt.Errorf("gpu: hold data: the backend failed earlier: %w", b.Err())
	}
	if err := tensor.CheckHold(images, labels, p); err != nil {
		return nil, fmt.Errorf("gpu: hold data: %w", err)
	}
	p.Mean, p.Std = append([]float32(nil), p.Mean...), append([]float32(nil), p.Std...)
	d := &dataSet{be: b, p: p, l: layoutData(p)}
	norm := append(append(make([]float32, 0, 2*p.C), p.Mean...), p.Std...)
	var err error
	b.do(c.op, func() {
		ptr, size, e := b.pool.get(d.l.total, isOOM)
		if e != nil {
			free, total, _ := cu.MemInfo()
			err = oomError("hold data", d.l.total, free, total, b.pool.held+b.pool.cached, e)
			return
		}
		d.ptr, d.size = cu.DevicePtr(ptr), size
		for _, cp := range []struct {
			what string
			off  int64
			src  unsafe.Pointer
			n    int64
		}{
			{"copy images", 0, unsafe.Pointer(&images[0]), int64(len(images))},
			{"copy labels", d.l.labels, unsafe.Pointer(&labels[0]), 4 * int64(len(labels))},
			{"copy mean and std", d.l.norm, unsafe.Pointer(&norm[0]), 4 * int64(len(norm))},
		} {
			if e := cu.MemcpyHtoDAsync(d.ptr+cu.DevicePtr(cp.off), cp.src, cp.n, b.stream); e != nil && err == nil {
				err = fmt.Errorf("gpu: hold data: %s: %w", cp.what, e)
			}
		}
		if err != nil {
			b.pool.put(ptr, size)
			d.ptr = 0
		}
	})
	if err == nil && d.ptr == 0 {
		err = fmt.Errorf("gpu: hold data: nothing allocated: %w", b.Err())
	}
	if err != nil {
		return nil, err
	}
	return d, nil
}

// dataSet is the GPU backend's tensor.DataSet: one pooled block.
type dataSet struct {
	be    *Backend
	p     tensor.DataParams
	l     dataLayout
	ptr   cu.DevicePtr
	size  int64
	epoch bool // SetEpoch has been called
	freed bool
}

func (d *dataSet) Params() tensor.DataParams { return d.p }

// SetEpoch queues the copies of the epoch's order and crops into the
// set's block, in stream order: the gathers queued before read the old
// tables, those after the new ones.
func (d *dataSet) SetEpoch(order, crops []int32) {
	c := d.be.call("set epoch")
	c.check(!d.freed, "the data set has been freed")
	if c.err == nil {
		if err := tensor.CheckEpoch(d.p, order, crops); err != nil {
			c.fail("%v", err)
		}
	}
	if !c.ok() {
		return
	}
	d.epoch = true
	d.be.do(c.op, func() {
		c.driver("copy order", cu.MemcpyHtoDAsync(d.ptr+cu.DevicePtr(d.l.order), unsafe.Pointer(&order[0]), 4*int64(len(order)), d.be.stream))
		c.driver("copy crops", cu.MemcpyHtoDAsync(d.ptr+cu.DevicePtr(d.l.crops), unsafe.Pointer(&crops[0]), 4*int64(len(crops)), d.be.stream))
	})
}

// Gather queues gather_batch: batch at[0], read by the kernel, of batch
// size batch into x (n,C,H,W) and y (n). internal/cpu's held set is the
// reference; kernels/gather.cuh's index math is emulated on the host by
// internal/kernelhost.
func (d *dataSet) Gather(x, y, at *tensor.Tensor, batch int) {
	c := d.be.call("gather")
	c.check(!d.freed, "the data set has been freed")
	c.check(d.epoch, "no epoch's tables were set (SetEpoch)")
	if c.err == nil {
		if err := tensor.CheckGather(d.p, x.Shape, y.Shape, at.Shape, batch); err != nil {
			c.fail("%v", err)
		}
	}
	xp, yp, ap := c.ptr("x", x, 4), c.ptr("y", y, 1), c.scalar("at", at)
	if c.err != nil {
		c.ok()
		return
	}
	p := d.p
	c.launch("gather_batch", d.be.grid1D(x.Numel()), d.ptr, d.ptr+cu.DevicePtr(d.l.labels), d.ptr+cu.DevicePtr(d.l.order),
		d.ptr+cu.DevicePtr(d.l.crops), d.ptr+cu.DevicePtr(d.l.norm), ap, xp, yp, batch, x.Shape[0], p.N, p.C, p.H, p.W, p.Pad)
}

// Free gives the set's block back to the pool once the work queued
// before it is done (stream order).
func (d *dataSet) Free() {
	if d.freed {
		return
	}
	d.freed = true
	d.be.do("free data set", func() { d.be.pool.put(uintptr(d.ptr), d.size) })
}
