package kernelhost

/*
#cgo CFLAGS: -I${SRCDIR}/../../kernels -O2 -Wall
#include "tc_emu.h"
*/
import "C"

import (
	"fmt"
	"math"
	"unsafe"

	"github.com/cnnctl/cnnctl/internal/tensor"
)

// Conv is one convolution: x (N,C,H,W), w (K,C,R,S), stride and padding P.
type Conv struct {
	N, C, H, W, K, R, S int
	P                   tensor.ConvParams
}

// OH and OW are the output size.
func (g Conv) OH() int { return (g.H+2*g.P.PadH-g.R)/g.P.StrideH + 1 }
func (g Conv) OW() int { return (g.W+2*g.P.PadW-g.S)/g.P.StrideW + 1 }

func (g Conv) String() string {
	return fmt.Sprintf("N%d C%d %dx%d K%d %dx%d s%dx%d p%dx%d", g.N, g.C, g.H, g.W, g.K, g.R, g.S,
		g.P.StrideH, g.P.StrideW, g.P.PadH, g.P.PadW)
}

func (g Conv) c() C.TcConv {
	return C.TcConv{N: C.int(g.N), C: C.int(g.C), H: C.int(g.H), W: C.int(g.W), K: C.int(g.K), R: C.int(g.R),
		S: C.int(g.S), OH: C.int(g.OH()), OW: C.int(g.OW()), sh: C.int(g.P.StrideH), sw: C.int(g.P.StrideW),
		ph: C.int(g.P.PadH), pw: C.int(g.P.PadW)}
}

// Pipeline is how the emulator models cp.async's completion.
type Pipeline int

const (
	// Lazy lands a group's copies only when a wait_group completes it.
	Lazy Pipeline = C.EMU_LAZY
	// Eager lands copies as soon as they are issued.
	Eager Pipeline = C.EMU_EAGER
)

func (p Pipeline) String() string {
	if p == Eager {
		return "eager"
	}
	return "lazy"
}

// Mutation is a deliberate fault the emulator can inject, so that tests
// can show that a wrong kernel fails them.
type Mutation int

const (
	MutNone     Mutation = C.EMU_MUT_NONE
	MutARegs    Mutation = C.EMU_MUT_A_REGS   // registers a1 and a2 swapped
	MutBRegs    Mutation = C.EMU_MUT_B_REGS   // registers b0 and b1 swapped
	MutCOwner   Mutation = C.EMU_MUT_C_OWNER  // accumulators c1 and c2 stored at each other's place
	MutWait     Mutation = C.EMU_MUT_WAIT     // wait_group allows one group too many in flight
	MutPrefetch Mutation = C.EMU_MUT_PREFETCH // the prefetch refills the stage being read
	// Of the kernels with the swizzled layout and ldmatrix (the forward
	// and the data gradient):
	MutSwizzleLoad Mutation = C.EMU_MUT_SWIZZLE_LOAD // ldmatrix addresses unswizzled (the stores swizzled)
	MutNoSwizzle   Mutation = C.EMU_MUT_NO_SWIZZLE   // no swizzle anywhere: right values, bank conflicts
	MutLdsmLane    Mutation = C.EMU_MUT_LDSM_LANE    // A's ldmatrix lanes point at matrices 1 and 2 swapped
	MutSwizzleBits Mutation = C.EMU_MUT_SWIZZLE_BITS // the swizzle XORs row bits 0-1, not 1-2: right values, bank conflicts
	// Of the 1x1 kernels' loaders (gemm_tc.cu):
	MutVecOrder  Mutation = C.EMU_MUT_VEC_ORDER  // an A 16-byte copy's four floats land in reverse order
	MutPixStride Mutation = C.EMU_MUT_PIX_STRIDE // the channel stride taken as W instead of H*W
	MutVecChunk  Mutation = C.EMU_MUT_VEC_CHUNK  // the filter gradient's A 16-byte copies land at logical chunk q+1
	// Of the forwards' and data gradients' stores (tc_store_tile's rows):
	MutRowStep Mutation = C.EMU_MUT_ROW_STEP // a lane's second row (c2, c3) addressed as its first's plus 8 pixels
)

// Conv2DForwardTF32 runs conv2d_forward_tf32's whole grid on the host:
// x (N,C,H,W), w (K,C,R,S), b (K) or nil -> y (N,K,OH,OW). It fails when an
// element of y is stored other than exactly once.
func Conv2DForwardTF32(g Conv, x, w, b, y []float32, p Pipeline, mut Mutation) error {
	return forward(g, C.EMU_FORWARD, "conv2d forward tf32", x, w, b, Epilogue{}, y, p, mut)
}

// Conv2DForwardFlatTF32 is Conv2DForwardTF32 for conv2d_forward_flat_tf32,
// the small-channel class's kernel (the reduction flat over C*R*S).
func Conv2DForwardFlatTF32(g Conv, x, w, b, y []float32, p Pipeline, mut Mutation) error {
	return forward(g, C.EMU_FLAT, "conv2d forward flat tf32", x, w, b, Epilogue{}, y, p, mut)
}

// Epilogue is the fused forward's work after the bias: + Residual (y's
// shape; nil: none), then ReLU.
type Epilogue struct {
	Residual []float32
	ReLU     bool
}

// Conv2DForwardEpilogueTF32 is Conv2DForwardTF32 (flat false) or
// Conv2DForwardFlatTF32 (flat true) with the epilogue e applied as the
// kernel stores y.
func Conv2DForwardEpilogueTF32(g Conv, flat bool, x, w, b []float32, e Epilogue, y []float32, p Pipeline) error {
	kind, op := C.int(C.EMU_FORWARD), "conv2d forward epilogue tf32"
	if flat {
		kind, op = C.EMU_FLAT, "conv2d forward flat epilogue tf32"
	}
	return forward(g, kind, op, x, w, b, e, y, p, MutNone)
}

func forward(g Conv, kind C.int, op string, x, w, b []float32, e Epilogue, y []float32, p Pipeline, mut Mutation) error {
	return forwardBanks(g, kind, op, x, w, b, e, y, p, mut, nil)
}

func forwardBanks(g Conv, kind C.int, op string, x, w, b []float32, e Epilogue, y []float32, p Pipeline, mut Mutation, bk *Banks) error {
	return runBanks(g, kind, 1, op, x, w, b, e, y,
		[]int{g.N * g.C * g.H * g.W, g.K * g.C * g.R * g.S, g.K, g.N * g.K * g.OH() * g.OW()}, p, mut, bk)
}

// Conv2DForwardTF32Banks is Conv2DForwardTF32 that adds the kernel's
// shared-memory bank phases (ldmatrix phases and cp.async stores of its
// swizzled layout) to bk (nil: not wanted).
func Conv2DForwardTF32Banks(g Conv, x, w, b, y []float32, p Pipeline, mut Mutation, bk *Banks) error {
	return forwardBanks(g, C.EMU_FORWARD, "conv2d forward tf32", x, w, b, Epilogue{}, y, p, mut, bk)
}

// Conv2DBackwardDataTF32Banks is Conv2DBackwardDataTF32 that adds the
// kernel's shared-memory bank phases to bk (nil: not wanted).
func Conv2DBackwardDataTF32Banks(g Conv, dy, w, dx []float32, p Pipeline, mut Mutation, bk *Banks) error {
	return runBanks(g, C.EMU_DATA, 1, "conv2d backward data tf32", dy, w, nil, Epilogue{}, dx,
		[]int{g.N * g.K * g.OH() * g.OW(), g.K * g.C * g.R * g.S, 0, g.N * g.C * g.H * g.W}, p, mut, bk)
}

// ForwardClass is tc_forward_class: the shape class of g's forward, one
// of ClassWide, ClassSmallC, Class1x1.
func ForwardClass(g Conv) int {
	cg := g.c()
	return int(C.tc_forward_class(&cg))
}

// The shape classes of conv2d_tc.cuh, and TC_SMALL_C.
const (
	ClassWide   = C.TC_CLASS_WIDE
	ClassSmallC = C.TC_CLASS_SMALL_C
	Class1x1    = C.TC_CLASS_1X1
	SmallC      = C.TC_SMALL_C
)

// Linear is tc_linear: the linear layer x (n,i), w (o,i) as the 1x1
// convolution on 1x1 images that the TF32 linear kernels run.
func Linear(n, i, o int) Conv {
	t := C.tc_linear(C.int(n), C.int(i), C.int(o))
	return Conv{N: int(t.N), C: int(t.C), H: int(t.H), W: int(t.W), K: int(t.K), R: int(t.R), S: int(t.S),
		P: tensor.ConvParams{StrideH: int(t.sh), StrideW: int(t.sw), PadH: int(t.ph), PadW: int(t.pw)}}
}

// LinearForwardTF32 runs linear_forward_tf32's whole grid on the host:
// x (n,i), w (o,i), b (o) or nil -> y (n,o) = x·wᵀ + b. It fails when an
// element of y is stored other than exactly once.
func LinearForwardTF32(n, i, o int, x, w, b, y []float32, p Pipeline, mut Mutation) error {
	return forward(Linear(n, i, o), C.EMU_LIN_FWD, "linear forward tf32", x, w, b, Epilogue{}, y, p, mut)
}

// LinearBackwardDataTF32 runs linear_backward_data_tf32's whole grid on
// the host: dy (n,o), w (o,i) -> dx (n,i) = dy·w.
func LinearBackwardDataTF32(n, i, o int, dy, w, dx []float32, p Pipeline, mut Mutation) error {
	return run(Linear(n, i, o), C.EMU_LIN_DATA, 1, "linear backward data tf32", dy, w, nil, dx,
		[]int{n * o, o * i, 0, n * i}, p, mut)
}

// LinearBackwardFilterTF32 runs linear_backward_filter_tf32's whole grid
// with splits slabs along z on the host, then adds the slabs as
// sum_splits does: x (n,i), dy (n,o) -> dw (o,i) = dyᵀ·x.
func LinearBackwardFilterTF32(n, i, o int, x, dy, dw []float32, splits int, p Pipeline, mut Mutation) error {
	return filter(Linear(n, i, o), C.EMU_LIN_FILTER, "linear backward filter tf32", x, dy, dw, splits, p, mut)
}

// Conv2DBackwardDataTF32 runs conv2d_backward_data_tf32's whole grid on
// the host: dy (N,K,OH,OW), w (K,C,R,S) -> dx (N,C,H,W). It fails when an
// element of dx is stored other than exactly once.
func Conv2DBackwardDataTF32(g Conv, dy, w, dx []float32, p Pipeline, mut Mutation) error {
	return run(g, C.EMU_DATA, 1, "conv2d backward data tf32", dy, w, nil, dx,
		[]int{g.N * g.K * g.OH() * g.OW(), g.K * g.C * g.R * g.S, 0, g.N * g.C * g.H * g.W}, p, mut)
}

// Conv2DBackwardFilterTF32 runs conv2d_backward_filter_tf32's whole grid
// with splits slabs along z on the host, then adds the slabs as sum_splits
// does (float32, in order of z): x (N,C,H,W), dy (N,K,OH,OW) -> dw
// (K,C,R,S). It fails when an element of a slab is stored other than
// exactly once.
func Conv2DBackwardFilterTF32(g Conv, x, dy, dw []float32, splits int, p Pipeline, mut Mutation) error {
	return Conv2DBackwardFilterTF32Banks(g, x, dy, dw, splits, p, mut, nil)
}

// Conv2DBackwardFilterTF32Banks is Conv2DBackwardFilterTF32 that adds the
// kernel's shared-memory bank phases to bk (nil: not wanted).
func Conv2DBackwardFilterTF32Banks(g Conv, x, dy, dw []float32, splits int, p Pipeline, mut Mutation, bk *Banks) error {
	return filterBanks(g, C.EMU_FILTER, "conv2d backward filter tf32", x, dy, dw, splits, p, mut, bk)
}

// filter runs filter gradient kernel kind (EMU_FILTER, EMU_LIN_FILTER) with
// splits slabs on the emulator, then adds them as sum_splits does.
func filter(g Conv, kind C.int, op string, x, dy, dw []float32, splits int, p Pipeline, mut Mutation) error {
	return filterBanks(g, kind, op, x, dy, dw, splits, p, mut, nil)
}

// filterBanks is filter that adds the bank phases to bk (nil: not wanted).
func filterBanks(g Conv, kind C.int, op string, x, dy, dw []float32, splits int, p Pipeline, mut Mutation, bk *Banks) error {
	return filterWith(g, op, x, dy, dw, splits, func(ws []float32, want []int) error {
		return runBanks(g, kind, splits, op, x, dy, nil, Epilogue{}, ws, want, p, mut, bk)
	})
}

// filterWith runs a filter gradient's emulation emu, which fills ws
// (splits, K, C*R*S) whose operands have the lengths want, then adds the
// slabs as sum_splits does (float32, in order of z) into dw (K,C,R,S).
func filterWith(g Conv, op string, x, dy, dw []float32, splits int, emu func(ws []float32, want []int) error) error {
	if splits < 1 {
		return fmt.Errorf("kernelhost: %s: %d splits", op, splits)
	}
	n := g.K * g.C * g.R * g.S
	ws := make([]float32, splits*n)
	if err := emu(ws, []int{g.N * g.C * g.H * g.W, g.N * g.K * g.OH() * g.OW(), 0, splits * n}); err != nil {
		return err
	}
	if len(dw) != n {
		return fmt.Errorf("kernelhost: %s %v: dw has %d values, want %d", op, g, len(dw), n)
	}
	for i := range dw {
		var acc float32
		for z := range splits {
			acc += ws[z*n+i]
		}
		dw[i] = acc
	}
	return nil
}

// run checks the geometry and the lengths of a, b, bias (when not nil) and
// out against want, then runs kernel kind on the host emulator.
func run(g Conv, kind C.int, splits int, op string, a, b, bias, out []float32, want []int, p Pipeline, mut Mutation) error {
	return runEpilogue(g, kind, splits, op, a, b, bias, Epilogue{}, out, want, p, mut)
}

// runEpilogue is run with a forward kernel's epilogue e.
func runEpilogue(g Conv, kind C.int, splits int, op string, a, b, bias []float32, e Epilogue, out []float32, want []int, p Pipeline, mut Mutation) error {
	return runBanks(g, kind, splits, op, a, b, bias, e, out, want, p, mut, nil)
}

// runBanks is runEpilogue that adds the bank phases to bk (nil: not wanted).
func runBanks(g Conv, kind C.int, splits int, op string, a, b, bias []float32, e Epilogue, out []float32, want []int, p Pipeline, mut Mutation, bk *Banks) error {
	return runWith(g, op, a, b, bias, e, out, want, func(cg *C.TcConv, a, b, bias, res *C.float, relu C.int, out *C.float, written *C.int32_t) C.int {
		var tb C.TcBanks
		rc := C.tc_emu_run(cg, kind, a, b, bias, res, relu, out, written, C.int(splits), C.int(p), C.int(mut), &tb)
		if bk != nil {
			bk.LdsmPhases += int64(tb.ldsm_phases)
			bk.LdsmConflicts += int64(tb.ldsm_conflicts)
			bk.Misaligned += int64(tb.misaligned)
			bk.StorePhases += int64(tb.store_phases)
			bk.StoreConflicts += int64(tb.store_conflicts)
		}
		return rc
	})
}

// emulator runs one kernel's grid on the host (tc_emu_run, bf_emu_run),
// a forward kernel with the epilogue's residual res (or NULL) and relu:
// 0, or a negative code (see tc_emu.h).
type emulator func(g *C.TcConv, a, b, bias, res *C.float, relu C.int, out *C.float, written *C.int32_t) C.int

// runWith checks the geometry and the lengths of a, b, bias (when not nil)
// and out against want (and the residual's, when not nil, against out's),
// runs emu with the epilogue e, and checks that it
// stored every element of out exactly once.
func runWith(g Conv, op string, a, b, bias []float32, e Epilogue, out []float32, want []int, emu emulator) error {
	if g.N < 1 || g.C < 1 || g.H < 1 || g.W < 1 || g.K < 1 || g.R < 1 || g.S < 1 || g.P.StrideH < 1 ||
		g.P.StrideW < 1 || g.P.PadH < 0 || g.P.PadW < 0 || g.OH() < 1 || g.OW() < 1 {
		return fmt.Errorf("kernelhost: %s: invalid convolution %v", op, g)
	}
	for i, v := range [][]float32{a, b, bias, out} {
		if (v != nil || i != 2) && len(v) != want[i] {
			return fmt.Errorf("kernelhost: %s %v: operand %d has %d values, want %d", op, g, i, len(v), want[i])
		}
	}
	if e.Residual != nil && len(e.Residual) != len(out) {
		return fmt.Errorf("kernelhost: %s %v: residual has %d values, want %d", op, g, len(e.Residual), len(out))
	}
	written := make([]int32, len(out))
	var bp *C.float
	if bias != nil {
		bp = (*C.float)(unsafe.Pointer(&bias[0]))
	}
	var rp *C.float
	if e.Residual != nil {
		rp = (*C.float)(unsafe.Pointer(&e.Residual[0]))
	}
	relu := C.int(0)
	if e.ReLU {
		relu = 1
	}
	cg := g.c()
	rc := emu(&cg, (*C.float)(unsafe.Pointer(&a[0])), (*C.float)(unsafe.Pointer(&b[0])), bp, rp, relu,
		(*C.float)(unsafe.Pointer(&out[0])), (*C.int32_t)(unsafe.Pointer(&written[0])))
	switch rc {
	case 0:
	case -2:
		return fmt.Errorf("kernelhost: %s %v: a copy reads outside its tensor", op, g)
	case -3:
		return fmt.Errorf("kernelhost: %s %v: a store falls outside the output", op, g)
	case -4:
		return fmt.Errorf("kernelhost: %s %v: a 16-byte copy is not 16-byte aligned", op, g)
	default:
		return fmt.Errorf("kernelhost: %s: out of memory", op)
	}
	for i, n := range written {
		if n != 1 {
			return fmt.Errorf("kernelhost: %s %v: output element %d stored %d times, want once", op, g, i, n)
		}
	}
	return nil
}

// RoundTF32 is cvt.rna.tf32.f32 as the emulator models it: f rounded to 10
// mantissa bits, to nearest, ties away from zero.
func RoundTF32(f float32) float32 {
	return math.Float32frombits(uint32(C.tc_emu_tf32(C.float(f))))
}

// The kernel's tiling, as conv2d_tc.cuh declares it.
const (
	TileM   = C.TC_BM
	TileN   = C.TC_BN
	TileK   = C.TC_BK
	Threads = C.TC_THREADS
	ALoads  = C.TC_A_LOADS
	BLoads  = C.TC_B_LOADS
	AStage  = C.TC_A_STAGE
	BStage  = C.TC_B_STAGE
	// The swizzled layout's stages (the forward, data and filter gradients).
	ASwStage = C.TC_A_SW_STAGE
	BSwStage = C.TC_B_SW_STAGE
)

// The index functions of conv2d_tc.cuh, one call each, for property tests.

// ASlot is tc_a_slot: the A tile element (m, kk) thread tid copies in its l-th copy.
func ASlot(tid, l int) (m, kk int) {
	var cm, ck C.int
	C.tc_a_slot(C.int(tid), C.int(l), &cm, &ck)
	return int(cm), int(ck)
}

// ASlotSw is tc_a_slot_sw: the A tile element (m, kk) thread tid copies in
// its l-th copy into the swizzled layout; ARowSw is tc_a_row_sw, its row.
func ASlotSw(tid, l int) (m, kk int) {
	var cm, ck C.int
	C.tc_a_slot_sw(C.int(tid), C.int(l), &cm, &ck)
	return int(cm), int(ck)
}

func ARowSw(tid int) int { return int(C.tc_a_row_sw(C.int(tid))) }

// SwSmem is tc_sw_smem: element (row t, column kk)'s offset in a stage of
// the swizzled layout.
func SwSmem(t, kk int) int { return int(C.tc_sw_smem(C.int(t), C.int(kk))) }

// LdsmATF32 and LdsmBTF32 are tc_ldsm_a and tc_ldsm_b: the element of an mma
// tile's A (row, col), or of two adjacent tiles' B (column n, row kk),
// whose shared address lane gives ldmatrix.x4.
func LdsmATF32(lane int) (row, col int) {
	var r, c C.int
	C.tc_ldsm_a(C.int(lane), &r, &c)
	return int(r), int(c)
}

func LdsmBTF32(lane int) (n, kk int) {
	var cn, ck C.int
	C.tc_ldsm_b(C.int(lane), &cn, &ck)
	return int(cn), int(ck)
}

// BSlot is tc_b_slot: the B tile element (n, kk) thread tid copies in its l-th copy.
func BSlot(tid, l int) (n, kk int) {
	var cn, ck C.int
	C.tc_b_slot(C.int(tid), C.int(l), &cn, &ck)
	return int(cn), int(ck)
}

// BNSlot is tc_bn_slot: the B tile element (n, kk) thread tid copies in
// its l-th copy when consecutive threads take consecutive columns.
func BNSlot(tid, l int) (n, kk int) {
	var cn, ck C.int
	C.tc_bn_slot(C.int(tid), C.int(l), &cn, &ck)
	return int(cn), int(ck)
}

// RMAt is tc_rm_at: the offset of element (r, c) of a row-major (rows,
// cols) matrix, and whether it lies inside.
func RMAt(rows, cols, r, c int) (off int, ok bool) {
	var o C.int
	in := C.tc_rm_at(C.int(rows), C.int(cols), C.int(r), C.int(c), &o)
	return int(o), in != 0
}

// ASmem and BSmem are tc_a_smem and tc_b_smem: a tile element's offset in its stage.
func ASmem(m, kk int) int { return int(C.tc_a_smem(C.int(m), C.int(kk))) }
func BSmem(n, kk int) int { return int(C.tc_b_smem(C.int(n), C.int(kk))) }

// FragA, FragB and FragC are tc_frag_a, tc_frag_b and tc_frag_c: the
// element (row, col) of the mma's A, B or C/D that register i of lane holds.
func FragA(lane, i int) (row, col int) {
	var r, c C.int
	C.tc_frag_a(C.int(lane), C.int(i), &r, &c)
	return int(r), int(c)
}

func FragB(lane, i int) (row, col int) {
	var r, c C.int
	C.tc_frag_b(C.int(lane), C.int(i), &r, &c)
	return int(r), int(c)
}

func FragC(lane, i int) (row, col int) {
	var r, c C.int
	C.tc_frag_c(C.int(lane), C.int(i), &r, &c)
	return int(r), int(c)
}

// Vec4Count and Vec4Tail are vec4_count and vec4_tail (epilogue.cuh):
// add_relu's float4s over n elements and the first element after them.
func Vec4Count(n int64, aligned bool) int64 {
	return int64(C.vec4_count(C.longlong(n), cbool(aligned)))
}
func Vec4Tail(n int64, aligned bool) int64 { return int64(C.vec4_tail(C.longlong(n), cbool(aligned))) }

// StoreRows walks the rows of the store loop (tc_store_tile) over g's whole
// forward grid, or with data the data gradient's, one tc_y_row / tc_dx_row
// per row a lane owns, and returns how
// many elements' tc_row_at differ from the plain division formula
// (tc_y_offset, tc_dx_offset) and how many elements it put at each offset
// of y (dx). mut is MutNone or MutRowStep.
func StoreRows(g Conv, data bool, mut Mutation) (mismatches int64, written []int32) {
	n := g.N * g.K * g.OH() * g.OW()
	if data {
		n = g.N * g.C * g.H * g.W
	}
	written = make([]int32, n+1) // never empty: &written[0] below
	cg := g.c()
	d := C.int(0)
	if data {
		d = 1
	}
	bad := C.tc_emu_store_rows(&cg, d, C.int(mut), (*C.int32_t)(unsafe.Pointer(&written[0])), C.longlong(n))
	return int64(bad), written[:n]
}
