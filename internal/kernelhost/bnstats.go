// bnstats.go: the batch-norm statistics gathered in a tensor-core
// convolution's epilogue (kernels/bnstats.cuh, kernels/conv_bnstats.cuh)
// and batchnorm_partials_combine and batchnorm_forward_coef, which
// normalise with them (kernels/batchnorm.cu): the partials' count, and the emulated kernels of
// bnstats_emu.c and bn_emu.c. bnstats_dep_bnstats_cuh.h is a symbolic link
// to the header, so that an edit of it reruns this package's tests (bn.go
// says why).

package kernelhost

/*
#cgo CFLAGS: -O2 -I${SRCDIR}/../../kernels
#cgo LDFLAGS: -lm
#include "bnstats_emu.h"
#include "bn_emu.h"
*/
import "C"

import (
	"fmt"
	"unsafe"
)

// BNStatsTileRows is the rows of Y (N*OH*OW) behind one partial: TC_BM, the
// tensor-core forwards' block tile (their grid's x is the partials' count).
var BNStatsTileRows = int(C.bns_emu_tile_rows())

// BNStatsParts is the number of partials per channel of a convolution
// output with rows = N*OH*OW rows (⌈rows/TC_BM⌉); the scratch holds
// 2*K*BNStatsParts(rows) doubles.
func BNStatsParts(rows int) int { return (rows + BNStatsTileRows - 1) / BNStatsTileRows }

// BNStatsPartials runs the epilogue statistics of every block of a
// tensor-core forward whose stored output is y (n,k,ohw): the partials'
// layout of bnstats.cuh, 2*k*BNStatsParts(n*ohw) doubles.
func BNStatsPartials(y []float32, n, k, ohw int) ([]float64, error) {
	if n < 1 || k < 1 || ohw < 1 || len(y) != n*k*ohw {
		return nil, fmt.Errorf("batch-norm epilogue statistics: %d values for (%d,%d,%d)", len(y), n, k, ohw)
	}
	part := make([]float64, 2*k*BNStatsParts(n*ohw))
	C.bns_emu_conv_partials(f(y), C.int(n), C.int(k), C.int(ohw), (*C.double)(unsafe.Pointer(&part[0])))
	return part, nil
}

// BNStatsCombine is batchnorm_partials_combine's merge of channel c's
// partials (of a tensor with c channels and rows values per channel):
// the mean and the biased variance, in double.
func BNStatsCombine(part []float64, channels, rows, c int) (mean, variance float64) {
	var m, v C.double
	C.bns_emu_combine((*C.double)(unsafe.Pointer(&part[0])), C.int(channels), C.int(BNStatsParts(rows)),
		C.int(BNStatsTileRows), C.int(rows), C.int(c), &m, &v)
	return float64(m), float64(v)
}

// BNForwardPartials runs batchnorm_partials_combine and
// batchnorm_forward_coef: BNForwardTrain's outputs from a convolution
// epilogue's partials of x in place of batchnorm_stats; relu fuses a ReLU.
func BNForwardPartials(p BNPlan, part []float64, relu bool, x, gamma, beta, runMean, runVar, y, saveMean, saveInvStd []float32, momentum, eps float32) error {
	for _, t := range [][]float32{gamma, beta, runMean, runVar, saveMean, saveInvStd} {
		if err := p.check("batch-norm forward from partials", t, x, y); err != nil {
			return err
		}
	}
	nparts := BNStatsParts(p.N * p.L)
	if len(part) != 2*p.C*nparts {
		return fmt.Errorf("batch-norm forward from partials: %d partials, want %d", len(part), 2*p.C*nparts)
	}
	cp := p.c()
	coef := make([]float32, 2*p.C)
	C.bn_emu_forward_partials(&cp, f(x), f(gamma), f(beta), f(runMean), f(runVar), f(y), f(saveMean), f(saveInvStd),
		C.float(momentum), C.float(eps), cbool(relu), (*C.double)(unsafe.Pointer(&part[0])), C.int(nparts),
		C.int(BNStatsTileRows), f(coef))
	return nil
}

// BNStatsCombineThreads is batchnorm_partials_combine's block size
// (BNS_COMBINE_THREADS): one block per channel.
const BNStatsCombineThreads = C.BNS_COMBINE_THREADS

// bnStatsFragMismatches is bns_emu_frag_mismatches (for the tests).
func bnStatsFragMismatches() int { return int(C.bns_emu_frag_mismatches()) }
