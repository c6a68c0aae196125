//go:build cuda

package gpu

import (
	"fmt"
	"unsafe"

	"gorgonia.org/cu"

	"github.com/cnnctl/cnnctl/internal/tensor"
)

var _ tensor.CopyQueue = (*Backend)(nil)

// fence is a CUDA event without timing, recorded on the backend's stream
// (Signal) or on its copy stream (UploadAside).
type fence struct {
	be    *Backend
	ev    cu.Event
	freed bool
}

// NewFence creates an event; until recorded, waiting for it waits for nothing.
func (b *Backend) NewFence() (tensor.Fence, error) {
	f := &fence{be: b}
	var err error
	b.do("new fence", func() { f.ev, err = cu.MakeEvent(cu.DisableTiming) })
	if err != nil {
		return nil, fmt.Errorf("gpu: create a fence (event): %w", err)
	}
	return f, b.Err()
}

// Free destroys the event; work already queued that waits for it still
// does (the driver releases it once that work is done).
func (f *fence) Free() {
	if f.freed {
		return
	}
	f.freed = true
	f.be.do("free fence", func() {
		if err := cu.DestroyEvent(&f.ev); err != nil {
			f.be.record(fmt.Errorf("gpu: free fence: %w", err))
		}
	})
}

// fence checks that f is a live fence of the call's backend.
func (c *call) fence(name string, f tensor.Fence) *fence {
	g, ok := f.(*fence)
	switch {
	case c.err != nil:
	case !ok || g.be != c.be:
		c.fail("%s is a %T, not a fence of this GPU backend", name, f)
	case g.freed:
		c.fail("%s has been freed", name)
	}
	return g
}

// copyStream is the stream UploadAside copies on, created on first use
// (device goroutine); the context's destruction frees it.
func (b *Backend) copyStream() (cu.Stream, error) {
	if b.copies == cu.NoStream {
		s, err := cu.MakeStream(cu.NonBlocking)
		if err != nil {
			return s, err
		}
		b.copies = s
	}
	return b.copies, nil
}

// UploadAside queues on the copy stream: wait for wait (nil: none), copy
// src (page-locked) into t, record done.
func (b *Backend) UploadAside(t *tensor.Tensor, src []float32, wait, done tensor.Fence) {
	c := b.call("upload aside")
	ptr := c.ptr("t", t, 0)
	c.check(len(src) == t.Numel(), "%d values for %v (%d elements)", len(src), t.Shape, t.Numel())
	var w *fence
	if wait != nil {
		w = c.fence("wait", wait)
	}
	d := c.fence("done", done)
	c.check(!b.isCapturing(), "the copy stream cannot take part in a capture")
	if !c.ok() || len(src) == 0 {
		return
	}
	b.do(c.op, func() {
		s, err := b.copyStream()
		if err != nil {
			c.driver("create the copy stream", err)
			return
		}
		if w != nil {
			c.driver("wait for the fence", s.Wait(w.ev, 0))
		}
		c.driver("copy to device", cu.MemcpyHtoDAsync(ptr, unsafe.Pointer(&src[0]), int64(4*len(src)), s))
		c.driver("record the fence", d.ev.Record(s))
	})
}

// Await makes the work queued on the backend's stream from now on wait for f.
func (b *Backend) Await(f tensor.Fence) {
	c := b.call("await")
	g := c.fence("f", f)
	c.check(!b.isCapturing(), "cannot wait for a fence while capturing a graph")
	if !c.ok() {
		return
	}
	b.do(c.op, func() { c.driver("wait for the fence", b.stream.Wait(g.ev, 0)) })
}

// Signal records f after the work queued so far on the backend's stream.
func (b *Backend) Signal(f tensor.Fence) {
	c := b.call("signal")
	g := c.fence("f", f)
	c.check(!b.isCapturing(), "cannot set a fence while capturing a graph")
	if !c.ok() {
		return
	}
	b.do(c.op, func() { c.driver("record the fence", g.ev.Record(b.stream)) })
}

// isCapturing reports whether a capture is under way (BeginCapture).
func (b *Backend) isCapturing() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.capturing
}
