// gather.go: the held data set's batch gather (kernels/gather.cu,
// kernels/gather.cuh), emulated by gather_emu.c.
//
// gather_dep_gather_cuh.h is a symbolic link to the kernel's header, so that
// an edit of it rebuilds this package (see bn.go).

package kernelhost

/*
#cgo CFLAGS: -O2 -Wall -I${SRCDIR}/../../kernels
#include "gather.cuh"
#include "gather_emu.h"
*/
import "C"

import (
	"fmt"
	"unsafe"
)

// GatherArgs are gather_batch's arguments, on the host: the held set
// (images (N,C,H,W), labels (N)), the epoch's tables (order (N), crops
// (N,3)), norm (2*C) mean then std, the batch counter At, and the outputs
// X (Rows,C,H,W) and Y (Rows).
type GatherArgs struct {
	Images        []uint8
	Labels, Order []int32
	Crops         []int32
	Norm          []float32
	At            float32
	X, Y          []float32
	Batch, Rows   int
	C, H, W, Pad  int
	Grid, Block   int // the launch: Grid blocks of Block threads
}

// EmulateGather runs gather_batch's grid on the host and returns how many
// times each element of X was written.
func EmulateGather(a GatherArgs) ([]int32, error) {
	n := len(a.Order)
	switch {
	case n == 0 || len(a.Labels) != n || len(a.Crops) != 3*n || len(a.Images) != n*a.C*a.H*a.W || len(a.Norm) != 2*a.C:
		return nil, fmt.Errorf("gather emulation: %d images, %d labels, %d order, %d crops, %d norm for (%d,%d,%d,%d)",
			len(a.Images), len(a.Labels), n, len(a.Crops), len(a.Norm), n, a.C, a.H, a.W)
	case a.Rows < 1 || len(a.X) != a.Rows*a.C*a.H*a.W || len(a.Y) != a.Rows:
		return nil, fmt.Errorf("gather emulation: x %d and y %d values for %d rows", len(a.X), len(a.Y), a.Rows)
	case a.Grid < 1 || a.Block < 1:
		return nil, fmt.Errorf("gather emulation: grid %d of %d threads", a.Grid, a.Block)
	}
	count := make([]int32, len(a.X))
	at := a.At
	C.gather_emu((*C.uchar)(unsafe.Pointer(&a.Images[0])), (*C.int)(unsafe.Pointer(&a.Labels[0])), (*C.int)(unsafe.Pointer(&a.Order[0])),
		(*C.int)(unsafe.Pointer(&a.Crops[0])), (*C.float)(unsafe.Pointer(&a.Norm[0])), (*C.float)(unsafe.Pointer(&at)),
		(*C.float)(unsafe.Pointer(&a.X[0])), (*C.float)(unsafe.Pointer(&a.Y[0])), C.int(a.Batch), C.int(a.Rows), C.int(n),
		C.int(a.C), C.int(a.H), C.int(a.W), C.int(a.Pad), C.int(a.Grid), C.int(a.Block), (*C.int)(unsafe.Pointer(&count[0])))
	return count, nil
}

// GatherFirst is kernels/gather.cuh's gather_first: the first position of
// batch at of batch size batch and rows rows in an epoch of n positions,
// -1 when at is not a whole number in [0, 2^24) or the rows reach past n.
func GatherFirst(at float32, batch, rows, n int) int64 {
	return int64(C.gather_first(C.float(at), C.int(batch), C.int(rows), C.int(n)))
}
