package kernelhost

/*
#cgo CFLAGS: -I${SRCDIR}/../../kernels -O2 -Wall
#include "bf16_emu.h"
*/
import "C"

import "math"

// Order is how the bf16 emulator models the register-staged pipeline.
type Order int

const (
	// Late lands a step's shared-memory stores after every warp's mma of
	// the step before (program order).
	Late Order = C.BF_EMU_LATE
	// Early lands them before any warp's mma of the step before (a fast
	// warp's stores against a slow warp's reads).
	Early Order = C.BF_EMU_EARLY
)

func (o Order) String() string {
	if o == Early {
		return "early"
	}
	return "late"
}

// BF16Mutation is a deliberate fault the bf16 emulator can inject.
type BF16Mutation int

const (
	BF16MutNone        BF16Mutation = C.BF_MUT_NONE
	BF16MutSwizzleLoad BF16Mutation = C.BF_MUT_SWIZZLE_LOAD // ldmatrix addresses unswizzled (stores swizzled)
	BF16MutNoSwizzle   BF16Mutation = C.BF_MUT_NO_SWIZZLE   // no swizzle anywhere: right values, bank conflicts
	BF16MutLdsmLane    BF16Mutation = C.BF_MUT_LDSM_LANE    // A's ldmatrix lanes point at matrices 1 and 2 swapped
	BF16MutBRegs       BF16Mutation = C.BF_MUT_B_REGS       // fragments b0 and b1 swapped
	BF16MutCOwner      BF16Mutation = C.BF_MUT_C_OWNER      // accumulators c1 and c2 stored at each other's place
	BF16MutStage       BF16Mutation = C.BF_MUT_STAGE        // the next step staged into the stage being read
	BF16MutRound       BF16Mutation = C.BF_MUT_ROUND        // operands truncated instead of rounded to nearest even
	BF16MutPixStride   BF16Mutation = C.BF_MUT_PIX_STRIDE   // the 1x1 loaders' channel stride W instead of H*W
)

// Banks counts the emulated shared-memory phases and those with bank
// conflicts: ldmatrix phases (8 rows of 16 bytes that must cover the 32
// banks once; Misaligned counts rows not 16-byte aligned) and the
// loaders' warp-wide 4-byte stores (32 distinct banks).
type Banks struct {
	LdsmPhases, LdsmConflicts, Misaligned int64
	StorePhases, StoreConflicts           int64
}

// BF16Run is how to run a bf16 emulation: the pipeline model, a mutation,
// and where to count the bank phases (nil: not wanted).
type BF16Run struct {
	Order Order
	Mut   BF16Mutation
	Banks *Banks
}

func (r BF16Run) emu(kind C.int, splits int) emulator {
	return func(cg *C.TcConv, a, b, bias, res *C.float, relu C.int, out *C.float, written *C.int32_t) C.int {
		var bk C.BfBanks
		rc := C.bf_emu_run(cg, kind, a, b, bias, res, relu, out, written, C.int(splits), C.int(r.Order), C.int(r.Mut), &bk)
		if r.Banks != nil {
			r.Banks.LdsmPhases += int64(bk.ldsm_phases)
			r.Banks.LdsmConflicts += int64(bk.ldsm_conflicts)
			r.Banks.Misaligned += int64(bk.misaligned)
			r.Banks.StorePhases += int64(bk.store_phases)
			r.Banks.StoreConflicts += int64(bk.store_conflicts)
		}
		return rc
	}
}

// Conv2DForwardBF16 runs conv2d_forward_bf16's whole grid on the host:
// x (N,C,H,W), w (K,C,R,S), b (K) or nil -> y (N,K,OH,OW). It fails when an
// element of y is stored other than exactly once.
func Conv2DForwardBF16(g Conv, x, w, b, y []float32, r BF16Run) error {
	return Conv2DForwardEpilogueBF16(g, x, w, b, Epilogue{}, y, r)
}

// Conv2DForwardEpilogueBF16 is Conv2DForwardBF16 with the epilogue e
// applied as the kernel stores y (kernels/epilogue.cuh's conv_epilogue).
func Conv2DForwardEpilogueBF16(g Conv, x, w, b []float32, e Epilogue, y []float32, r BF16Run) error {
	return runWith(g, "conv2d forward bf16", x, w, b, e, y,
		[]int{g.N * g.C * g.H * g.W, g.K * g.C * g.R * g.S, g.K, g.N * g.K * g.OH() * g.OW()}, r.emu(C.BF_EMU_FORWARD, 1))
}

// Conv2DBackwardDataBF16 runs conv2d_backward_data_bf16's whole grid on
// the host: dy (N,K,OH,OW), w (K,C,R,S) -> dx (N,C,H,W).
func Conv2DBackwardDataBF16(g Conv, dy, w, dx []float32, r BF16Run) error {
	return runWith(g, "conv2d backward data bf16", dy, w, nil, Epilogue{}, dx,
		[]int{g.N * g.K * g.OH() * g.OW(), g.K * g.C * g.R * g.S, 0, g.N * g.C * g.H * g.W}, r.emu(C.BF_EMU_DATA, 1))
}

// Conv2DBackwardFilterBF16 runs conv2d_backward_filter_bf16's whole grid
// with splits slabs along z on the host, then adds the slabs as
// sum_splits does: x (N,C,H,W), dy (N,K,OH,OW) -> dw (K,C,R,S).
func Conv2DBackwardFilterBF16(g Conv, x, dy, dw []float32, splits int, r BF16Run) error {
	const op = "conv2d backward filter bf16"
	return filterWith(g, op, x, dy, dw, splits, func(ws []float32, want []int) error {
		return runWith(g, op, x, dy, nil, Epilogue{}, ws, want, r.emu(C.BF_EMU_FILTER, splits))
	})
}

// RoundBF16 is cvt.rn.bf16x2.f32's rounding of one value as the emulator
// models it: to 8 significant bits, nearest, ties to even.
func RoundBF16(f float32) float32 {
	return math.Float32frombits(uint32(C.bf_emu_round(C.float(f))) << 16)
}

// The bf16 kernels' tiling, as conv2d_bf16.cuh declares it.
const (
	BF16TileM   = C.BF_BM
	BF16TileN   = C.BF_BN
	BF16TileK   = C.BF_BK
	BF16ALoads  = C.BF_A_LOADS
	BF16BLoads  = C.BF_B_LOADS
	BF16AStage  = C.BF_A_STAGE
	BF16BStage  = C.BF_B_STAGE
	BF16Pairs   = C.BF_KP
	BF16Chunks  = C.BF_CHUNKS
	BF16Threads = C.BF_THREADS
)

// The index functions of conv2d_bf16.cuh, one call each, for property tests.

func two(f func(a, b C.int, x, y *C.int), a, b int) (int, int) {
	var x, y C.int
	f(C.int(a), C.int(b), &x, &y)
	return int(x), int(y)
}

// SlotM and SlotK are bf_slot_m and bf_slot_k: the tile row and pair
// thread tid stages in its l-th copy.
func SlotM(tid, l int) (row, kp int) {
	return two(func(a, b C.int, x, y *C.int) { C.bf_slot_m(a, b, x, y) }, tid, l)
}

// SlotK is bf_slot_k (see SlotM).
func SlotK(tid, l int) (row, kp int) {
	return two(func(a, b C.int, x, y *C.int) { C.bf_slot_k(a, b, x, y) }, tid, l)
}

// SmemPair is bf_smem_pair: the word offset in a stage of pair kp of tile row row.
func SmemPair(row, kp int) int { return int(C.bf_smem_pair(C.int(row), C.int(kp))) }

// SmemChunk is bf_smem_chunk: the word offset in a stage of logical 16-byte
// chunk c of tile row row (through the swizzle).
func SmemChunk(row, c int) int { return int(C.bf_smem_chunk(C.int(row), C.int(c))) }

// LdsmA and LdsmB are bf_ldsm_a and bf_ldsm_b: the tile row and chunk (from
// the mma tile's origin) lane points its ldmatrix.x4 at.
func LdsmA(lane int) (row, chunk int) {
	return two(func(a, _ C.int, x, y *C.int) { C.bf_ldsm_a(a, x, y) }, lane, 0)
}

// LdsmB is bf_ldsm_b (see LdsmA).
func LdsmB(lane int) (row, chunk int) {
	return two(func(a, _ C.int, x, y *C.int) { C.bf_ldsm_b(a, x, y) }, lane, 0)
}

// FragA16 and FragB16 are bf_frag_a and bf_frag_b: the first of the two
// elements (row, col) of the m16n8k16 A or B register i of lane holds.
func FragA16(lane, i int) (row, col int) {
	return two(func(a, b C.int, x, y *C.int) { C.bf_frag_a(a, b, x, y) }, lane, i)
}

// FragB16 is bf_frag_b (see FragA16).
func FragB16(lane, i int) (row, col int) {
	return two(func(a, b C.int, x, y *C.int) { C.bf_frag_b(a, b, x, y) }, lane, i)
}

// String names a mutation, for test names.
func (m BF16Mutation) String() string {
	return [...]string{"none", "ldmatrix addresses unswizzled", "no swizzle", "ldmatrix lanes of a1 and a2 swapped",
		"b0 and b1 swapped", "c1 and c2 stored at each other's place", "staged into the stage being read",
		"truncated instead of rounded"}[m]
}

// BF16Step is bf_step: the tap (r, s) and first channel c0 of step kt of a
// reduction over ch channels per tap.
func BF16Step(g Conv, ch, kt int) (r, s, c0 int) {
	cg := g.c()
	var cr, cs, cc C.int
	C.bf_step(&cg, C.int(ch), C.int(kt), &cr, &cs, &cc)
	return int(cr), int(cs), int(cc)
}

// BF16Taps walks bf_tap_next from step 0 and returns the first n steps'
// (r, s, c0), as the kernels' cursor visits them.
func BF16Taps(g Conv, ch, n int) [][3]int {
	cg := g.c()
	t := C.BfTap{}
	out := make([][3]int, n)
	for i := range out {
		out[i] = [3]int{int(t.r), int(t.s), int(t.c0)}
		C.bf_tap_next(&cg, C.int(ch), &t)
	}
	return out
}
