// kernelhost compiles the index math of cnnctl's CUDA kernels (the CNNCTL_HD
// functions of kernels/*.cuh) with the host's C compiler, so that it is used
// by the GPU backend's launchers and tested without a GPU: each kernel's
// algorithm (blocks, per-thread order, partial layouts, combine order, float
// and double choices) is emulated on the host and checked against the CPU
// reference and a float64 computation.
//
// bn.go: batch norm (kernels/batchnorm.cu, kernels/batchnorm.cuh): the
// launch plan, and the emulated kernels of bn_emu.c.
//
// The go command caches a cgo package by the files in its own folder only:
// bn_dep_batchnorm_cuh.h and bn_dep_hd_cuh.h are symbolic links to the
// kernels' headers (included through -I, never by these names) so that an
// edit of a header rebuilds this package and reruns its tests.

package kernelhost

/*
#cgo CFLAGS: -O2 -I${SRCDIR}/../../kernels
#cgo LDFLAGS: -lm
#include "bn_emu.h"
*/
import "C"

import (
	"fmt"
	"unsafe"
)

// BNPlan is kernels/batchnorm.cuh's bn_plan: how the batch-norm kernels
// split x (N,C,L) into blocks. The grid is (B, TilesC), 256 threads a block.
type BNPlan struct {
	N, C, L int
	G       int // floats per lane group: 4 when L%4 == 0, else 1
	CB      int // channels per tile
	LW      int // positions of L per tile
	NB      int // samples per tile
	TilesC  int // grid y
	ChunksN int // sample chunks
	ChunksL int // L chunks
	B       int // grid x: ChunksN*ChunksL, the partial sums per channel
}

// BNThreads is the block size of every batch-norm kernel.
const BNThreads = C.BN_THREADS

// BNMinElems is the work a block gets before the grid grows further.
const BNMinElems = C.BN_MIN_ELEMS

// BNMaxBlocks is the grid size the plan aims at most: one full wave.
func BNMaxBlocks(sms int) int { return C.BN_BLOCKS_PER_SM * max(1, sms) }

// PlanBN is the plan for x (N,C,L) on a device with sms multiprocessors.
// N, C, L must be positive with N*C*L < 2³¹ and at most 65535 channel tiles
// (C <= 65535, or more when L is small).
func PlanBN(n, c, l, sms int) (BNPlan, error) {
	if n < 1 || c < 1 || l < 1 || int64(n)*int64(c)*int64(l) >= 1<<31 || sms < 0 || sms >= 1<<20 {
		return BNPlan{}, fmt.Errorf("batch-norm plan: x (%d,%d,%d) on %d SMs: want positive sizes and under 2³¹ elements", n, c, l, sms)
	}
	p := C.bn_make_plan(C.int(n), C.int(c), C.int(l), C.int(sms))
	if p.tiles_c > 65535 {
		return BNPlan{}, fmt.Errorf("batch-norm plan: x (%d,%d,%d): %d channel tiles, more than a CUDA grid's 65535 rows", n, c, l, p.tiles_c)
	}
	return BNPlan{N: int(p.N), C: int(p.C), L: int(p.L), G: int(p.G), CB: int(p.cb), LW: int(p.lw), NB: int(p.nb),
		TilesC: int(p.tiles_c), ChunksN: int(p.chunks_n), ChunksL: int(p.chunks_l), B: int(p.B)}, nil
}

func (p BNPlan) c() C.bn_plan {
	return C.bn_plan{N: C.int(p.N), C: C.int(p.C), L: C.int(p.L), G: C.int(p.G), cb: C.int(p.CB), lw: C.int(p.LW),
		nb: C.int(p.NB), tiles_c: C.int(p.TilesC), chunks_n: C.int(p.ChunksN), chunks_l: C.int(p.ChunksL), B: C.int(p.B)}
}

// Args are the plan as the kernels' trailing parameters (BN_PLAN_PARAMS).
func (p BNPlan) Args() []int {
	return []int{p.N, p.C, p.L, p.G, p.CB, p.LW, p.NB, p.TilesC, p.ChunksN, p.ChunksL, p.B}
}

// Blocks is the grid's size.
func (p BNPlan) Blocks() int { return p.B * p.TilesC }

// Partials is the scratch the kernels need, in doubles.
func (p BNPlan) Partials() int {
	cp := p.c()
	return int(C.bn_emu_partials(&cp))
}

func (p BNPlan) check(op string, perChannel []float32, full ...[]float32) error {
	n := p.N * p.C * p.L
	for _, t := range full {
		if len(t) != n {
			return fmt.Errorf("%s: a tensor of %d elements, want %d for x (%d,%d,%d)", op, len(t), n, p.N, p.C, p.L)
		}
	}
	if len(perChannel) != p.C {
		return fmt.Errorf("%s: a per-channel tensor of %d elements, want %d", op, len(perChannel), p.C)
	}
	return nil
}

func f(s []float32) *C.float { return (*C.float)(unsafe.Pointer(&s[0])) }

func cbool(b bool) C.int {
	if b {
		return 1
	}
	return 0
}

// BNForwardTrain runs batchnorm_stats and batchnorm_forward_train; relu
// fuses a ReLU: y = relu(bn(x)).
func BNForwardTrain(p BNPlan, relu bool, x, gamma, beta, runMean, runVar, y, saveMean, saveInvStd []float32, momentum, eps float32) error {
	for _, t := range [][]float32{gamma, beta, runMean, runVar, saveMean, saveInvStd} {
		if err := p.check("batch-norm forward train", t, x, y); err != nil {
			return err
		}
	}
	part := make([]float64, p.Partials())
	cp := p.c()
	C.bn_emu_forward_train(&cp, f(x), f(gamma), f(beta), f(runMean), f(runVar), f(y), f(saveMean), f(saveInvStd),
		C.float(momentum), C.float(eps), cbool(relu), (*C.double)(unsafe.Pointer(&part[0])))
	return nil
}

// BNForwardInfer runs batchnorm_forward_infer; relu fuses a ReLU.
func BNForwardInfer(p BNPlan, relu bool, x, gamma, beta, runMean, runVar, y []float32, eps float32) error {
	for _, t := range [][]float32{gamma, beta, runMean, runVar} {
		if err := p.check("batch-norm forward infer", t, x, y); err != nil {
			return err
		}
	}
	cp := p.c()
	C.bn_emu_forward_infer(&cp, f(x), f(gamma), f(beta), f(runMean), f(runVar), f(y), C.float(eps), cbool(relu))
	return nil
}

// BNBackward runs batchnorm_backward_stats and batchnorm_backward; yr,
// when not nil, is the fused BN+ReLU forward's output, and the backward is
// ReLU's then batch norm's.
func BNBackward(p BNPlan, x, dy, yr, gamma, saveMean, saveInvStd, dx, dgamma, dbeta []float32) error {
	full := [][]float32{x, dy, dx}
	var yp *C.float
	if yr != nil {
		full = append(full, yr)
		yp = f(yr)
	}
	for _, t := range [][]float32{gamma, saveMean, saveInvStd, dgamma, dbeta} {
		if err := p.check("batch-norm backward", t, full...); err != nil {
			return err
		}
	}
	part := make([]float64, p.Partials())
	cp := p.c()
	C.bn_emu_backward(&cp, f(x), f(dy), yp, f(gamma), f(saveMean), f(saveInvStd), f(dx), f(dgamma), f(dbeta),
		(*C.double)(unsafe.Pointer(&part[0])))
	return nil
}

// BNCoverage walks batchnorm_stats's tiles and lanes: the visits of each
// element of x (N,C,L), and how many visits fell outside the channel the
// visiting lane accumulates.
func BNCoverage(p BNPlan) (visits []int32, wrongChannel int) {
	n := p.N * p.C * p.L
	x := make([]float32, n)
	visits = make([]int32, n)
	part := make([]float64, p.Partials())
	cp := p.c()
	bad := C.bn_emu_cover(&cp, f(x), (*C.int)(unsafe.Pointer(&visits[0])), (*C.double)(unsafe.Pointer(&part[0])))
	return visits, int(bad)
}
