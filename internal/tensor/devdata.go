package tensor

import "fmt"

// A training set held by the backend: the decoded images are uploaded once
// as bytes, each epoch's shuffle and augmentation draws once as int32
// tables, and each step's batch is gathered on the backend, reading its
// position from a tensor, so that a captured step replays with the next
// batch and the host copies nothing per step.

// DataParams describe a data set for DataHolder.HoldData: N images
// (C,H,W) of uint8, and how a batch is made of them, as internal/data's
// loader makes it: RandomCrop of the image's own size from the image
// padded by Pad zeros on each side, RandomHorizontalFlip, ToTensor and
// Normalize(Mean, Std), one mean and std per channel.
type DataParams struct {
	N, C, H, W int
	Pad        int
	Mean, Std  []float32
}

// Bytes is the memory a held set takes: the images (N*C*H*W bytes), the
// labels, the epoch's order and crops (4, 4 and 12 bytes per image) and
// the normalisation.
func (p DataParams) Bytes() int64 {
	return int64(p.N)*int64(p.C*p.H*p.W) + 20*int64(p.N) + 8*int64(p.C)
}

// DataHolder is implemented by backends that can hold a training set in
// their own memory (the CPU backend too, as the reference).
type DataHolder interface {
	// HoldData copies images (N,C,H,W) uint8 and labels (N) to the
	// backend once and returns the set; the caller may reuse both slices
	// when it returns. The error says why the set is not held (bad
	// arguments, out of memory); the backend stays usable.
	HoldData(images []uint8, labels []int32, p DataParams) (DataSet, error)
}

// DataSet is a training set held by a backend. Its methods queue work like
// ops: a failure is recorded on the backend and reported by its Err.
type DataSet interface {
	// Params are the set's parameters.
	Params() DataParams
	// SetEpoch copies the epoch's tables, drawn on the host: order (N),
	// the image at each position of the epoch, and crops (N,3), the (oy,
	// ox, flip) of each position, encoded as tensor.Augmenter's crops
	// (0 <= oy <= 2*Pad, 0 <= ox <= 2*Pad, flip 0 or 1). It is queued in
	// order with the ops: gathers queued before it read the old tables.
	SetEpoch(order, crops []int32)
	// Gather makes batch b = at[0] (a float32 holding a whole number,
	// read when the gather runs, never by the host) of batch size batch:
	// for s < n, position q = b*batch + s,
	//
	//	x[s] = Augment of image order[q] with crop crops[q]   (n,C,H,W)
	//	y[s] = float32(labels[order[q]])                       (n)
	//
	// with Augment's arithmetic (tensor.Augmenter, OH = H, OW = W), so that
	// batch b is bit for bit internal/data's batch b of the same epoch.
	// n <= batch; positions past N are the caller's mistake (a device
	// leaves those rows alone, the reference records an error). The
	// caller advances at (internal/train's batch counter, which StepOps
	// increments on the device after each step).
	Gather(x, y, at *Tensor, batch int)
	// Free releases the set's memory; it is not used again.
	Free()
}

// CheckHold validates HoldData's arguments; both backends call it, so they
// reject the same calls with the same words.
func CheckHold(images []uint8, labels []int32, p DataParams) error {
	switch {
	case p.N <= 0 || p.C <= 0 || p.H <= 0 || p.W <= 0:
		return fmt.Errorf("data set of %d images %dx%dx%d, want positive sizes", p.N, p.C, p.H, p.W)
	case p.Pad < 0 || p.Pad > p.H || p.Pad > p.W:
		return fmt.Errorf("crop padding %d, want 0 to %d", p.Pad, min(p.H, p.W))
	case int64(p.N)*int64(p.C*p.H*p.W) >= 1<<40:
		return fmt.Errorf("data set of %d images %dx%dx%d is too large", p.N, p.C, p.H, p.W)
	case len(images) != p.N*p.C*p.H*p.W:
		return fmt.Errorf("%d image bytes, want %d for %dx%dx%dx%d", len(images), p.N*p.C*p.H*p.W, p.N, p.C, p.H, p.W)
	case len(labels) != p.N:
		return fmt.Errorf("%d labels for %d images", len(labels), p.N)
	case len(p.Mean) != p.C || len(p.Std) != p.C:
		return fmt.Errorf("mean %v and std %v, want %d values each", p.Mean, p.Std, p.C)
	}
	for i, s := range p.Std {
		if !(s > 0) {
			return fmt.Errorf("std[%d] = %g, want > 0", i, s)
		}
	}
	for i, l := range labels {
		if l < 0 || l >= 1<<24 {
			return fmt.Errorf("label %d of image %d is not a class index below 2^24", l, i)
		}
	}
	return nil
}

// CheckEpoch validates SetEpoch's tables for a set of parameters p.
func CheckEpoch(p DataParams, order, crops []int32) error {
	if len(order) != p.N || len(crops) != 3*p.N {
		return fmt.Errorf("%d order and %d crop entries, want %d and %d for %d images", len(order), len(crops), p.N, 3*p.N, p.N)
	}
	for q, i := range order {
		if i < 0 || int(i) >= p.N {
			return fmt.Errorf("position %d: image %d outside the %d images", q, i, p.N)
		}
	}
	for q := 0; q < len(crops); q += 3 {
		oy, ox, flip := crops[q], crops[q+1], crops[q+2]
		if oy < 0 || ox < 0 || int(oy) > 2*p.Pad || int(ox) > 2*p.Pad || (flip != 0 && flip != 1) {
			return fmt.Errorf("position %d: crop offset (%d, %d) flip %d, want offsets 0 to %d and flip 0 or 1", q/3, oy, ox, flip, 2*p.Pad)
		}
	}
	return nil
}

// CheckGather validates Gather's shapes: x (n,C,H,W), y (n), 1 <= n <=
// batch, at one element.
func CheckGather(p DataParams, x, y, at Shape, batch int) error {
	switch {
	case len(x) != 4 || x[1] != p.C || x[2] != p.H || x[3] != p.W:
		return fmt.Errorf("x is %v, want (n,%d,%d,%d)", x, p.C, p.H, p.W)
	case x[0] < 1 || x[0] > batch:
		return fmt.Errorf("x holds %d images, want 1 to the batch size %d", x[0], batch)
	case len(y) != 1 || y[0] != x[0]:
		return fmt.Errorf("y is %v, want (%d)", y, x[0])
	case at.Numel() != 1:
		return fmt.Errorf("at is %v, want one element", at)
	}
	return nil
}

// CopyQueue is implemented by backends that can copy from the host on a
// queue of their own beside the queue that runs the ops (on a GPU, a
// second CUDA stream, served by the copy engine while the SMs compute), so
// that a batch streamed from the host is copied while the step before it
// still runs: a training set too big for the device is then not a copy
// then a step, in turn, on one queue. Fences order the two queues with
// each other without the host waiting for either.
type CopyQueue interface {
	Pinned
	// NewFence makes a fence (a CUDA event), passed until first set.
	NewFence() (Fence, error)
	// UploadAside queues on the copy queue: wait until wait (nil: no
	// wait) has passed, copy src, memory from PinnedFloats, into t, and
	// set done after the copy. It returns at once: src must not change
	// until the host has waited for the op queue after an Await of done.
	UploadAside(t *Tensor, src []float32, wait, done Fence)
	// Await makes the ops queued after it wait until f has passed; the
	// host does not wait. Not while capturing a graph.
	Await(f Fence)
	// Signal sets f after the ops queued so far.
	Signal(f Fence)
}

// Fence is a point in one of a CopyQueue's queues. Free releases it once
// nothing queued waits for it any more.
type Fence interface {
	Free()
}
