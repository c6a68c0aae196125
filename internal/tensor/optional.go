package tensor

import (
	"fmt"
	"time"
)

// Optional interfaces: extra abilities a Backend may have. Callers test for
// them with a type assertion (`if a, ok := be.(tensor.Augmenter); ok`) and
// fall back to what every Backend offers where the answer is no.

// BF16Storage is a backend that runs every op mixed precision uses on
// BF16 tensors (internal/layers/precision.go lists them): a model on it
// may keep its activations and their gradients in bf16.
type BF16Storage interface {
	// StoresBF16 reports whether it does (a backend may know only once
	// it has looked at its device).
	StoresBF16() bool
}

// AugmentParams are the per-batch settings of Augmenter.Augment.
type AugmentParams struct {
	// H and W are the source images' size; N, C, OH and OW are dst's.
	H, W int
	// Pad is RandomCrop's zero padding on each side.
	Pad int
	// Mean and Std, one per channel, normalise pixel/255.
	Mean, Std []float32
}

// Augmenter makes a batch of training inputs from uint8 images on the
// backend, so that a data set is uploaded once as bytes.
type Augmenter interface {
	// Augment: src (N,C,H,W) uint8 (H, W from p), crops (N,3) -> dst
	// (N,C,OH,OW), as torchvision's RandomCrop((OH,OW), padding=Pad),
	// then RandomHorizontalFlip, ToTensor and Normalize(Mean, Std).
	//
	// The caller draws the randomness: crops holds (oy, ox, flip) for
	// each sample, the window's top-left corner in the image padded by
	// Pad zeros on each side, 0 <= oy <= H+2*Pad-OH, 0 <= ox <=
	// W+2*Pad-OW, and flip 0 or 1; with OH = H, OW = W, (Pad, Pad, 0) is
	// the image itself. Element by element:
	//
	//	j' = flip ? OW-1-j : j                 (the window is mirrored)
	//	v  = src[n][c][i+oy-Pad][j'+ox-Pad]    (0 outside the image)
	//	dst[n][c][i][j] = (float32(v)/255 - Mean[c]) / Std[c]
	//
	// in float32, each operation rounded. internal/data's loader computes
	// the same (its random offsets (dy, dx) are (oy-Pad, ox-Pad)); the CPU
	// reference gives its bits exactly, other backends agree within
	// tensortest.Tol.
	Augment(dst *Tensor, src []uint8, crops []int32, p AugmentParams)
}

// CheckAugment validates Augment's arguments for dst of shape (N,C,OH,OW);
// every Augmenter calls it, so both backends reject the same calls with
// the same words.
func CheckAugment(dst Shape, src []uint8, crops []int32, p AugmentParams) error {
	if len(dst) != 4 {
		return fmt.Errorf("dst is %v, want (N,C,OH,OW)", dst)
	}
	n, c, oh, ow := dst[0], dst[1], dst[2], dst[3]
	ph, pw := p.H+2*p.Pad, p.W+2*p.Pad
	switch {
	case p.H <= 0 || p.W <= 0 || p.Pad < 0:
		return fmt.Errorf("source %dx%d padded by %d, want positive sizes and padding >= 0", p.H, p.W, p.Pad)
	case len(src) != n*c*p.H*p.W:
		return fmt.Errorf("%d source bytes, want %d for %dx%dx%dx%d", len(src), n*c*p.H*p.W, n, c, p.H, p.W)
	case len(crops) != 3*n:
		return fmt.Errorf("%d crop values, want 3 per sample (%d)", len(crops), 3*n)
	case len(p.Mean) != c || len(p.Std) != c:
		return fmt.Errorf("mean %v and std %v, want %d values each", p.Mean, p.Std, c)
	case oh > ph || ow > pw:
		return fmt.Errorf("crop %dx%d does not fit %dx%d padded by %d", oh, ow, p.H, p.W, p.Pad)
	}
	for i, s := range p.Std {
		if !(s > 0) {
			return fmt.Errorf("std[%d] = %g, want > 0", i, s)
		}
	}
	for i := 0; i < len(crops); i += 3 {
		oy, ox, flip := int(crops[i]), int(crops[i+1]), crops[i+2]
		if oy < 0 || ox < 0 || oy+oh > ph || ox+ow > pw || (flip != 0 && flip != 1) {
			return fmt.Errorf("sample %d: crop offset (%d, %d) flip %d outside the %dx%d padded image", i/3, oy, ox, flip, ph, pw)
		}
	}
	return nil
}

// EventTimer is implemented by backends that queue work on a device and can
// time it there (CUDA events): the time between two marks in the queue,
// free of the host's launch overhead and of a round trip per measurement.
// Backends that run ops synchronously do not implement it; time them with
// Sync and a wall clock.
type EventTimer interface {
	// StartTimer records a start mark after the work queued so far.
	StartTimer() Timer
}

// Timer is one running measurement of an EventTimer.
type Timer interface {
	// Stop records an end mark after the work queued since the start,
	// waits for it and returns the device time between the marks. A
	// failure is recorded on the backend (its Err) and gives 0. Stop is
	// called once.
	Stop() time.Duration
}

// Capturer records the work queued on a backend as a graph that can be run
// again without the host issuing each op (CUDA graphs on the GPU backend).
// Between BeginCapture and EndCapture, ops are recorded, not run, and
// nothing may wait for the device (no Download or Sync): a step to be
// captured must read every value that changes from step to step (the
// learning rate, the step counter, the batch) from tensors, whose device
// memory the graph reads afresh each time. When EndCapture fails, the
// caller runs the work uncaptured and says why in one line.
type Capturer interface {
	BeginCapture() error
	EndCapture() (Graph, error)
}

// Graph is captured work: Replay queues it again, Close frees it.
type Graph interface {
	Replay() error
	Close() error
}

// MemInfo is implemented by backends with memory of their own (a GPU), so
// that a run can be checked against it before any allocation. Backends
// that use the host's memory do not implement it.
type MemInfo interface {
	// DeviceMemory returns the device's free and total bytes (as found
	// when the backend started) and its name.
	DeviceMemory() (free, total int64, name string)
}

// SpanTimer is implemented by backends that queue work on a device and can
// time spans of that queue without waiting (CUDA events): a training run
// marks each step and adds up the device time at its next read, to say how
// long the device sat idle.
type SpanTimer interface {
	// StartSpan records a start mark after the work queued so far and
	// returns at once.
	StartSpan() Span
}

// Span is one span of a SpanTimer.
type Span interface {
	// End records the end mark after the work queued since the start and
	// returns at once; it is called once.
	End()
	// Elapsed waits for the end mark (at once when the work is done, e.g.
	// after a read) and returns the device time between the marks, then
	// frees them; it is called once, after End. A failure is recorded on
	// the backend (its Err) and gives 0.
	Elapsed() time.Duration
}

// Pinned is implemented by backends whose copies from the host run
// asynchronously, overlapped with the host's work, when the host memory
// is page-locked (CUDA's pinned memory); with a CopyQueue (devdata.go)
// they overlap the device's work too. A training step copies its batch
// through it; a backend without it, or a failed PinnedFloats, leaves the
// caller with Upload from ordinary memory.
type Pinned interface {
	// PinnedFloats allocates n float32 of page-locked host memory, or
	// fails (too much pinned memory, an old driver); free it with
	// FreePinned before the backend is closed.
	PinnedFloats(n int) ([]float32, error)
	// FreePinned frees memory from PinnedFloats.
	FreePinned(p []float32)
	// UploadPinned queues the copy of src, memory from PinnedFloats, into
	// t, and returns at once: src must not change until the host has
	// waited for the work queued so far (a Download, Sync). Upload, by
	// contrast, is done with src when it returns.
	UploadPinned(t *Tensor, src []float32)
}
