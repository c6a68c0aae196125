//go:build cuda

package gpu

/*
#cgo linux CFLAGS: -I/usr/local/cuda/include
#include <cuda.h>

// The driver's CUDA graph calls that gorgonia.org/cu does not wrap: stream
// capture (relaxed mode: the pool may still call cuMemAlloc while a step is
// captured), instantiation and launch of the executable graph.
static CUresult cnnctl_begin_capture(CUstream s) { return cuStreamBeginCapture(s, CU_STREAM_CAPTURE_MODE_RELAXED); }
static CUresult cnnctl_end_capture(CUstream s, CUgraph *g) { return cuStreamEndCapture(s, g); }
static CUresult cnnctl_instantiate(CUgraphExec *e, CUgraph g) { return cuGraphInstantiateWithFlags(e, g, 0); }
static CUresult cnnctl_graph_launch(CUgraphExec e, CUstream s) { return cuGraphLaunch(e, s); }
static CUresult cnnctl_graph_destroy(CUgraph g) { return cuGraphDestroy(g); }
static CUresult cnnctl_exec_destroy(CUgraphExec e) { return cuGraphExecDestroy(e); }
static CUresult cnnctl_capturing(CUstream s, int *on)
{
	CUstreamCaptureStatus st;
	CUresult r = cuStreamIsCapturing(s, &st);
	*on = st != CU_STREAM_CAPTURE_STATUS_NONE;
	return r;
}
static const char *cnnctl_graph_error(CUresult r)
{
	const char *s = NULL;
	if (cuGetErrorName(r, &s) != CUDA_SUCCESS || s == NULL)
		return "CUDA_ERROR_UNKNOWN";
	return s;
}
*/
import "C"

import (
	"fmt"
	"unsafe"

	"github.com/cnnctl/cnnctl/internal/tensor"
)

var _ tensor.Capturer = (*Backend)(nil)

func graphErr(what string, r C.CUresult) error {
	if r == C.CUDA_SUCCESS {
		return nil
	}
	return fmt.Errorf("gpu: %s: %s (CUresult %d)", what, C.GoString(C.cnnctl_graph_error(r)), int(r))
}

// cstream is the backend's stream as the C shim takes it.
func (b *Backend) cstream() C.CUstream { return C.CUstream(unsafe.Pointer(b.stream.C())) }

// BeginCapture starts recording the work queued on the backend as a CUDA
// graph instead of running it: launches, copies from host memory that
// stays valid, memsets. Anything that waits for the device (Download,
// Sync, a timer) fails while capturing, and the capture with it.
func (b *Backend) BeginCapture() error {
	c := b.call("begin capture")
	if !c.ok() {
		return b.Err()
	}
	var err error
	b.do(c.op, func() { err = graphErr("begin capture", C.cnnctl_begin_capture(b.cstream())) })
	if err == nil {
		b.mu.Lock()
		b.capturing, b.captureErr = true, nil
		b.mu.Unlock()
	}
	return err
}

// EndCapture ends the recording and returns it as a graph ready to
// replay. When the capture failed (an op that cannot be captured was
// called) the error says which call, and the backend stays usable: the
// caller runs the work uncaptured instead.
func (b *Backend) EndCapture() (tensor.Graph, error) {
	g := &graph{be: b}
	var err error
	b.do("end capture", func() {
		g.scratch, b.captureScratch = b.captureScratch, nil
		var raw C.CUgraph
		if err = graphErr("end capture", C.cnnctl_end_capture(b.cstream(), &raw)); err != nil {
			return
		}
		g.raw = raw
		if err = graphErr("instantiate the captured graph", C.cnnctl_instantiate(&g.exec, raw)); err != nil {
			C.cnnctl_graph_destroy(raw)
			g.raw = nil
		}
	})
	b.mu.Lock()
	failed := b.captureErr
	b.capturing, b.captureErr = false, nil
	b.mu.Unlock()
	if failed != nil {
		if err == nil {
			g.Close()
		} else {
			g.releaseScratch()
		}
		return nil, fmt.Errorf("gpu: capture failed: %w", failed)
	}
	if err != nil {
		g.releaseScratch()
		return nil, err
	}
	return g, nil
}

// Capturing reports whether the backend's stream is being captured.
func (b *Backend) Capturing() bool {
	on := C.int(0)
	b.do("capturing", func() { C.cnnctl_capturing(b.cstream(), &on) })
	return on != 0
}

// graph is an instantiated CUDA graph of the backend's work.
type graph struct {
	be   *Backend
	raw  C.CUgraph
	exec C.CUgraphExec
	// scratch is the pool's blocks the captured kernels use as scratch,
	// by class size, kept out of the pool until Close.
	scratch map[int64][]uintptr
}

// releaseScratch gives the graph's scratch blocks back to the pool.
func (g *graph) releaseScratch() {
	if len(g.scratch) == 0 {
		return
	}
	g.be.do("release graph scratch", func() {
		for size, list := range g.scratch {
			for _, ptr := range list {
				g.be.pool.put(ptr, size)
			}
		}
	})
	g.scratch = nil
}

// Replay queues the recorded work again on the backend's stream, with the
// same device addresses: tensors it reads hold their new values.
func (g *graph) Replay() error {
	b := g.be
	c := b.call("replay graph")
	if g.exec == nil {
		c.fail("the graph was closed")
	}
	if !c.ok() {
		return b.Err()
	}
	b.do(c.op, func() {
		if err := graphErr("launch graph", C.cnnctl_graph_launch(g.exec, b.cstream())); err != nil {
			b.record(err)
		}
	})
	return nil
}

// Close frees the graph and gives its scratch back to the pool: later
// work reuses it in stream order, after the replays already queued.
func (g *graph) Close() error {
	g.releaseScratch()
	if g.exec == nil {
		return nil
	}
	var err error
	g.be.do("close graph", func() {
		err = graphErr("destroy graph", C.cnnctl_exec_destroy(g.exec))
		if e := graphErr("destroy graph", C.cnnctl_graph_destroy(g.raw)); err == nil {
			err = e
		}
	})
	g.exec, g.raw = nil, nil
	return err
}
