// gemm.go: the batched-GEMM kernels of kernels/gemm_tc.cuh: the 1x1
// convolutions' own path (kernels/gemm_tc.cu, emulated by tc_emu.c;
// kernels/gemm_bf16.cu, emulated by bf16_emu.c) and the bf16 linears
// (kernels/gemm_bf16.cu), which run the bf16 1x1 kernels' ops on
// tc_linear's 1x1 geometry and are emulated as such.
package kernelhost

/*
#cgo CFLAGS: -I${SRCDIR}/../../kernels -O2 -Wall
#include "bf16_emu.h"
#include "tc_emu.h"
*/
import "C"

// LinearForwardBF16 runs linear_forward_bf16's whole grid on the host:
// x (n,i), w (o,i), b (o) or nil -> y (n,o) = x·wᵀ + b, operands rounded
// to bf16. It fails when an element of y is stored other than exactly once.
func LinearForwardBF16(n, i, o int, x, w, b, y []float32, r BF16Run) error {
	return runWith(Linear(n, i, o), "linear forward bf16", x, w, b, Epilogue{}, y,
		[]int{n * i, o * i, o, n * o}, r.emu(C.BF_EMU_1X1_FORWARD, 1))
}

// LinearBackwardDataBF16 runs linear_backward_data_bf16's whole grid on
// the host: dy (n,o), w (o,i) -> dx (n,i) = dy·w.
func LinearBackwardDataBF16(n, i, o int, dy, w, dx []float32, r BF16Run) error {
	return runWith(Linear(n, i, o), "linear backward data bf16", dy, w, nil, Epilogue{}, dx,
		[]int{n * o, o * i, 0, n * i}, r.emu(C.BF_EMU_1X1_DATA, 1))
}

// LinearBackwardFilterBF16 runs linear_backward_filter_bf16's whole grid
// with splits slabs along z on the host, then adds the slabs as sum_splits
// does: x (n,i), dy (n,o) -> dw (o,i) = dyᵀ·x.
func LinearBackwardFilterBF16(n, i, o int, x, dy, dw []float32, splits int, r BF16Run) error {
	const op = "linear backward filter bf16"
	g := Linear(n, i, o)
	return filterWith(g, op, x, dy, dw, splits, func(ws []float32, want []int) error {
		return runWith(g, op, x, dy, nil, Epilogue{}, ws, want, r.emu(C.BF_EMU_1X1_FILTER, splits))
	})
}

// The slots of the 1x1 kernels (gemm_tc.cuh), for Vec4.
const (
	Slot1x1Forward = C.G1_FORWARD
	Slot1x1Data    = C.G1_DATA
	Slot1x1Filter  = C.G1_FILTER
)

// Plain1x1 is g1_plain: g is a 1x1 convolution of stride 1 and padding 0,
// the GEMM of the 1x1 kernels.
func Plain1x1(g Conv) bool {
	cg := g.c()
	return C.g1_plain(&cg) != 0
}

// Vec4 is g1_vec4: slot's 1x1 kernel may take its 16-byte form for g when
// its pointers are aligned.
func Vec4(g Conv, slot int, aligned bool) bool {
	cg := g.c()
	a := C.int(0)
	if aligned {
		a = 1
	}
	return C.g1_vec4(&cg, C.int(slot), a) != 0
}

// Conv1x1Run is how to run a 1x1 kernel's emulation: its 16-byte form
// (Vec4) or its 4-byte one, the cp.async model, a mutation, and where to
// add the bank phases (nil: not wanted).
type Conv1x1Run struct {
	Vec4     bool
	Pipeline Pipeline
	Mut      Mutation
	Banks    *Banks
}

func (r Conv1x1Run) kind(k4, k16 C.int) C.int {
	if r.Vec4 {
		return k16
	}
	return k4
}

// Conv2DForward1x1TF32 runs conv2d_forward_1x1_tf32 (or its _v4 form)
// over its whole grid on the host: x (N,C,H,W), w (K,C,1,1), b (K) or nil
// -> y (N,K,H,W). It fails when an element of y is stored other than
// exactly once, a copy reads outside its tensor or a 16-byte copy is
// misaligned.
func Conv2DForward1x1TF32(g Conv, x, w, b, y []float32, r Conv1x1Run) error {
	return forwardBanks(g, r.kind(C.EMU_1X1_FWD, C.EMU_1X1_FWD_V4), "conv2d forward 1x1 tf32", x, w, b, Epilogue{}, y,
		r.Pipeline, r.Mut, r.Banks)
}

// Conv2DBackwardData1x1TF32 runs conv2d_backward_data_1x1_tf32 (or its
// _v4 form) on the host: dy (N,K,H,W), w (K,C,1,1) -> dx (N,C,H,W).
func Conv2DBackwardData1x1TF32(g Conv, dy, w, dx []float32, r Conv1x1Run) error {
	return runBanks(g, r.kind(C.EMU_1X1_DATA, C.EMU_1X1_DATA_V4), 1, "conv2d backward data 1x1 tf32", dy, w, nil,
		Epilogue{}, dx, []int{g.N * g.K * g.OH() * g.OW(), g.K * g.C * g.R * g.S, 0, g.N * g.C * g.H * g.W},
		r.Pipeline, r.Mut, r.Banks)
}

// Conv2DBackwardFilter1x1TF32 runs conv2d_backward_filter_1x1_tf32 (or
// its _v4 form) with splits slabs along z on the host, then adds the slabs
// as sum_splits does: x (N,C,H,W), dy (N,K,H,W) -> dw (K,C,1,1).
func Conv2DBackwardFilter1x1TF32(g Conv, x, dy, dw []float32, splits int, r Conv1x1Run) error {
	return filterBanks(g, r.kind(C.EMU_1X1_FILTER, C.EMU_1X1_FILTER_V4), "conv2d backward filter 1x1 tf32", x, dy, dw,
		splits, r.Pipeline, r.Mut, r.Banks)
}

// store16Phases is emu_store16_phases of one warp-wide 16-byte store to
// the word offsets words, for its test.
func store16Phases(words [32]int) Banks {
	var w [32]C.int
	for i, v := range words {
		w[i] = C.int(v)
	}
	var bk C.EmuBanks
	C.emu_store16_phases(&w[0], &bk)
	return Banks{LdsmPhases: int64(bk.ldsm_phases), LdsmConflicts: int64(bk.ldsm_conflicts), Misaligned: int64(bk.misaligned),
		StorePhases: int64(bk.store_phases), StoreConflicts: int64(bk.store_conflicts)}
}

// Conv2DForward1x1BF16 runs conv2d_forward_1x1_bf16 over its whole grid on
// the host: x (N,C,H,W), w (K,C,1,1), b (K) or nil -> y (N,K,H,W).
func Conv2DForward1x1BF16(g Conv, x, w, b, y []float32, r BF16Run) error {
	return runWith(g, "conv2d forward 1x1 bf16", x, w, b, Epilogue{}, y,
		[]int{g.N * g.C * g.H * g.W, g.K * g.C * g.R * g.S, g.K, g.N * g.K * g.OH() * g.OW()}, r.emu(C.BF_EMU_1X1_FORWARD, 1))
}

// Conv2DBackwardData1x1BF16 runs conv2d_backward_data_1x1_bf16 on the
// host: dy (N,K,H,W), w (K,C,1,1) -> dx (N,C,H,W).
func Conv2DBackwardData1x1BF16(g Conv, dy, w, dx []float32, r BF16Run) error {
	return runWith(g, "conv2d backward data 1x1 bf16", dy, w, nil, Epilogue{}, dx,
		[]int{g.N * g.K * g.OH() * g.OW(), g.K * g.C * g.R * g.S, 0, g.N * g.C * g.H * g.W}, r.emu(C.BF_EMU_1X1_DATA, 1))
}

// Conv2DBackwardFilter1x1BF16 runs conv2d_backward_filter_1x1_bf16 with
// splits slabs along z on the host, then adds the slabs as sum_splits
// does: x (N,C,H,W), dy (N,K,H,W) -> dw (K,C,1,1).
func Conv2DBackwardFilter1x1BF16(g Conv, x, dy, dw []float32, splits int, r BF16Run) error {
	const op = "conv2d backward filter 1x1 bf16"
	return filterWith(g, op, x, dy, dw, splits, func(ws []float32, want []int) error {
		return runWith(g, op, x, dy, nil, Epilogue{}, ws, want, r.emu(C.BF_EMU_1X1_FILTER, splits))
	})
}
