//go:build cuda

package gpu

/*
#cgo linux CFLAGS: -I/usr/local/cuda/include
#include <cuda.h>

// Page-locked host memory, which gorgonia.org/cu does not wrap: copies from
// it (cuMemcpyHtoDAsync) return at once and run on the stream.
static CUresult cnnctl_host_alloc(void **p, size_t bytes) { return cuMemHostAlloc(p, bytes, 0); }
static CUresult cnnctl_host_free(void *p) { return cuMemFreeHost(p); }
*/
import "C"

import (
	"fmt"
	"unsafe"

	"github.com/cnnctl/cnnctl/internal/tensor"
)

var _ tensor.Pinned = (*Backend)(nil)

// PinnedFloats allocates n float32 of page-locked host memory in the
// backend's context (freed with it at the latest).
func (b *Backend) PinnedFloats(n int) ([]float32, error) {
	if n <= 0 {
		return nil, fmt.Errorf("gpu: pinned memory of %d floats", n)
	}
	var p unsafe.Pointer
	var err error
	b.do("pinned alloc", func() {
		err = graphErr(fmt.Sprintf("pin %d bytes of host memory", 4*n), C.cnnctl_host_alloc(&p, C.size_t(4*n)))
	})
	if err != nil {
		return nil, err
	}
	if p == nil {
		return nil, fmt.Errorf("gpu: pin %d bytes of host memory: the backend is closed", 4*n)
	}
	return unsafe.Slice((*float32)(p), n), nil
}

// FreePinned frees memory from PinnedFloats; a failure is recorded.
func (b *Backend) FreePinned(p []float32) {
	if len(p) == 0 {
		return
	}
	b.do("pinned free", func() {
		if err := graphErr("free pinned host memory", C.cnnctl_host_free(unsafe.Pointer(&p[0]))); err != nil {
			b.record(err)
		}
	})
}

// UploadPinned queues the copy of src into t on the backend's stream.
// Upload's cuMemcpyHtoDAsync is asynchronous when src is page-locked, so
// it is Upload, with the contract that src stays as it is until the host
// waits for the queue.
func (b *Backend) UploadPinned(t *tensor.Tensor, src []float32) { b.Upload(t, src) }
