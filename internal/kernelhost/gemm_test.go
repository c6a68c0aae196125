package kernelhost

import (
	"errors"
	"fmt"
	"math"
	"testing"

	"github.com/cnnctl/cnnctl/internal/cpu"
	"github.com/cnnctl/cnnctl/internal/tensor"
	"github.com/cnnctl/cnnctl/internal/tensor/tensortest"
)

// linearKernels are one precision's emulated linear kernels: x (n,i),
// w (o,i), dy (n,o); the filter gradient with filterSplits splits.
type linearKernels struct {
	fwd    func(n, i, o int, x, w, b, y []float32) error
	data   func(n, i, o int, dy, w, dx []float32) error
	filter func(n, i, o int, x, dy, dw []float32) error
}

// checkLinears runs the linear kernels k over whole grids on the host, on
// linearCases (the shared linear cases and a larger one): forward, data
// and filter gradients against the float64 result on the same operands
// rounded by round (through the geometry of tc_linear's 1x1 convolution on
// 1x1 images, whose sums they are) and against the CPU reference at
// precision p's tolerance (tensortest.Case.Tolerances: per output
// (2u + u²)·Σ|a||b| plus the float32 summation terms). The bias gradient
// is the float32 linear_backward_bias kernel's, which no emulator runs:
// the reference's.
func checkLinears(t *testing.T, k linearKernels, round func(float32) float32, p tensortest.Precision) {
	ref := cpu.NewReference()
	n := 0
	for _, c := range linearCases() {
		n++
		shapes := map[string]tensor.Shape{}
		for _, a := range c.Args {
			shapes[a.Name] = a.Shape
		}
		ln, li, lo := shapes["x"][0], shapes["x"][1], shapes["w"][0]
		g := tensortest.Conv{N: ln, C: li, H: 1, W: 1, K: lo, R: 1, S: 1,
			P: tensor.ConvParams{StrideH: 1, StrideW: 1}, Bias: shapes["b"] != nil}
		if lg := Linear(ln, li, lo); lg != convOf(g) {
			t.Fatalf("%v: tc_linear gives %v, want %v", c, lg, convOf(g))
		}
		want, err := tensortest.Outputs(ref, c)
		if err != nil {
			t.Fatal(err)
		}
		in := c.Inputs()
		t.Run(c.String(), func(t *testing.T) {
			got := map[string][]float32{}
			run := func(name, op string, out []float32, err error) {
				if err != nil {
					t.Fatal(err)
				}
				if err := checkExact(g, op, in, out, round); err != nil {
					t.Error(err)
				}
				got[name] = out
			}
			if c.Op == "LinearForward" {
				y := nans(ln * lo)
				run("y", "Conv2DForward", y, k.fwd(ln, li, lo, in["x"], in["w"], in["b"], y))
			} else {
				if shapes["dx"] != nil {
					dx := nans(ln * li)
					run("dx", "Conv2DBackwardData", dx, k.data(ln, li, lo, in["dy"], in["w"], dx))
				}
				dw := nans(lo * li)
				run("dw", "Conv2DBackwardFilter", dw, k.filter(ln, li, lo, in["x"], in["dy"], dw))
				if db, ok := want["db"]; ok {
					got["db"] = db
				}
			}
			if err := c.Check(got, want, p); err != nil {
				t.Error(err)
			}
		})
	}
	if n < 21 {
		t.Fatalf("%d linear cases, want the 18 shared ones and 3 more", n)
	}
}

// bf16Linears are the emulated bf16 linear kernels run as r says.
func bf16Linears(r BF16Run) linearKernels {
	return linearKernels{
		fwd: func(n, i, o int, x, w, b, y []float32) error { return LinearForwardBF16(n, i, o, x, w, b, y, r) },
		data: func(n, i, o int, dy, w, dx []float32) error {
			return LinearBackwardDataBF16(n, i, o, dy, w, dx, r)
		},
		filter: func(n, i, o int, x, dy, dw []float32) error {
			return LinearBackwardFilterBF16(n, i, o, x, dy, dw, filterSplits, r)
		},
	}
}

// TestLinearBF16: the bf16 linear kernels (kernels/gemm_bf16.cu: the bf16
// convolutions on tc_linear's geometry) over whole grids on the host,
// under both pipeline models, with every operand rounded to bf16 as it is
// staged: against the float64 result on the bf16-rounded operands (any
// wrong index, lane or fragment moves an output by a whole product) and
// against the CPU reference at the bf16 tolerance (tensortest.BF16, u =
// 2^-8) that the GPU tests and the self-check use; and no bank conflicts
// in any ldmatrix phase or loader store.
func TestLinearBF16(t *testing.T) {
	for _, o := range []Order{Late, Early} {
		t.Run(o.String(), func(t *testing.T) {
			var bk Banks
			checkLinears(t, bf16Linears(BF16Run{Order: o, Banks: &bk}), RoundBF16, tensortest.BF16)
			if bk.LdsmPhases == 0 || bk.StorePhases == 0 || bk.LdsmConflicts != 0 || bk.StoreConflicts != 0 || bk.Misaligned != 0 {
				t.Errorf("shared memory: %+v; want phases and no conflicts", bk)
			}
		})
	}
}

// TestLinearBF16Mutations: the bf16 linear kernels with a broken fragment
// mapping, lane address, accumulator ownership, staging or rounding fail
// the float64 check (so TestLinearBF16's check can fail on them), on a
// shape with several blocks along both GEMM dimensions and several steps.
func TestLinearBF16Mutations(t *testing.T) {
	for _, tt := range []struct {
		mut BF16Mutation
		o   Order
	}{{BF16MutSwizzleLoad, Late}, {BF16MutLdsmLane, Late}, {BF16MutBRegs, Late}, {BF16MutCOwner, Late},
		{BF16MutStage, Early}, {BF16MutRound, Late}} {
		checkLinearMutant(t, bf16Linears(BF16Run{Order: tt.o, Mut: tt.mut}), RoundBF16, fmt.Sprintf("mutation %d (%v)", tt.mut, tt.o))
	}
}

// checkLinearMutant runs the broken linear kernels k (what says how they
// are broken) on a shape with several blocks along both GEMM dimensions
// and 13 TF32 (7 bf16) pipeline steps forward, and fails t unless the
// float64 check on operands rounded by round fails each of their outputs.
func checkLinearMutant(t *testing.T, k linearKernels, round func(float32) float32, what string) {
	t.Helper()
	const n, i, o = 150, 200, 70
	g := tensortest.Conv{N: n, C: i, H: 1, W: 1, K: o, R: 1, S: 1, P: tensor.ConvParams{StrideH: 1, StrideW: 1}, Bias: true}
	c := tensortest.LinearCases(n, i, o, true)[1] // backward: x, w, dy
	in := c.Inputs()
	in["b"] = make([]float32, o)
	y, dx, dw := nans(n*o), nans(n*i), nans(o*i)
	if err := errors.Join(k.fwd(n, i, o, in["x"], in["w"], in["b"], y), k.data(n, i, o, in["dy"], in["w"], dx),
		k.filter(n, i, o, in["x"], in["dy"], dw)); err != nil {
		t.Fatal(err)
	}
	for _, r := range []struct {
		op  string
		got []float32
	}{{"Conv2DForward", y}, {"Conv2DBackwardData", dx}, {"Conv2DBackwardFilter", dw}} {
		if checkExact(g, r.op, in, r.got, round) == nil {
			t.Errorf("%s: the float64 check passed a broken linear kernel (%s)", what, r.op)
		}
	}
}

// conv1x1Geometries are 1x1 convolutions of stride 1 and padding 0 with
// edge tiles in every GEMM dimension: images of 49 pixels (no 16-byte
// form; rows straddle images inside a tile), channel counts that leave a
// partial pipeline step, output channels over three column blocks, rows
// over two row blocks, a forward whose C is no multiple of 4 (its 16-byte
// form refused, the gradients' taken), a long reduction, and the shared
// cases' 1x1 layers.
func conv1x1Geometries() []tensortest.Conv {
	p := tensor.ConvParams{StrideH: 1, StrideW: 1}
	gs := []tensortest.Conv{
		{N: 3, C: 20, H: 7, W: 7, K: 70, R: 1, S: 1, P: p, Bias: true},    // PQ 49, M 147, C 20: 2 steps, K 70: 2 blocks
		{N: 2, C: 36, H: 6, W: 6, K: 129, R: 1, S: 1, P: p, Bias: true},   // PQ 36, K 129: 3 column blocks
		{N: 5, C: 18, H: 4, W: 8, K: 40, R: 1, S: 1, P: p, Bias: false},   // M 160: 2 row blocks; C 18: forward 4-byte only
		{N: 1, C: 256, H: 12, W: 12, K: 24, R: 1, S: 1, P: p, Bias: true}, // 16 steps forward, 4 column blocks of dw
		{N: 2, C: 64, H: 8, W: 8, K: 32, R: 1, S: 1, P: p, Bias: false},
	}
	for _, g := range tensortest.ConvGeometries() {
		if Plain1x1(convOf(g)) {
			gs = append(gs, g)
		}
	}
	return gs
}

// slot1x1 is the 1x1 kernels' slot of a convolution case's op.
var slot1x1 = map[string]int{"Conv2DForward": Slot1x1Forward, "Conv2DBackwardData": Slot1x1Data,
	"Conv2DBackwardFilter": Slot1x1Filter}

// conv1x1Kernels are one precision's emulated 1x1 kernels, run as the
// caller chose.
type conv1x1Kernels struct {
	fwd    func(g Conv, x, w, b, y []float32) error
	data   func(g Conv, dy, w, dx []float32) error
	filter func(g Conv, x, dy, dw []float32, splits int) error
}

// run runs the kernel of case op on in (the filter gradient with
// filterSplits splits); its output's name and values.
func (k conv1x1Kernels) run(g tensortest.Conv, op string, in map[string][]float32) (string, []float32, error) {
	switch op {
	case "Conv2DForward":
		y := nans(g.N * g.K * g.OH() * g.OW())
		return "y", y, k.fwd(convOf(g), in["x"], in["w"], in["b"], y)
	case "Conv2DBackwardData":
		dx := nans(g.N * g.C * g.H * g.W)
		return "dx", dx, k.data(convOf(g), in["dy"], in["w"], dx)
	}
	dw := nans(g.K * g.C)
	return "dw", dw, k.filter(convOf(g), in["x"], in["dy"], dw, filterSplits)
}

// run1x1 runs the emulated TF32 1x1 kernel of case op on in as r says.
func run1x1(g tensortest.Conv, op string, in map[string][]float32, r Conv1x1Run) (string, []float32, error) {
	return conv1x1Kernels{
		fwd:  func(g Conv, x, w, b, y []float32) error { return Conv2DForward1x1TF32(g, x, w, b, y, r) },
		data: func(g Conv, dy, w, dx []float32) error { return Conv2DBackwardData1x1TF32(g, dy, w, dx, r) },
		filter: func(g Conv, x, dy, dw []float32, splits int) error {
			return Conv2DBackwardFilter1x1TF32(g, x, dy, dw, splits, r)
		},
	}.run(g, op, in)
}

// TestConv2D1x1TF32: the 1x1 kernels (gemm_tc.cu), in their 4-byte form
// and, where g1_vec4 allows, their 16-byte form, over whole grids on the
// host under both cp.async models, each output
//   - against the float64 result on the same TF32 operands (checkExact: any
//     wrong index moves an output by a whole product);
//   - against the CPU reference at the TF32 tolerance (tensortest.TF32);
//   - bit for bit against the generic im2col kernels (conv2d_tc.cu) they
//     replace, which load the same values into the same fragments: the
//     reference path, emulated the same way;
//   - the 16-byte form bit for bit against the 4-byte form;
//   - for bank conflicts: every warp-wide 4-byte store and every 8-lane
//     phase of a 16-byte store of the loaders hits each bank once, every
//     ldmatrix phase of the filter gradient too, and every 16-byte copy
//     is aligned (the emulator fails a misaligned one).
func TestConv2D1x1TF32(t *testing.T) {
	ref := cpu.NewReference()
	vec := 0
	for _, g := range conv1x1Geometries() {
		for _, c := range g.Cases() {
			want, err := tensortest.Outputs(ref, c)
			if err != nil {
				t.Fatal(err)
			}
			in := c.Inputs()
			_, generic, err := kernels[c.Op](g, in, Lazy, MutNone)
			if err != nil {
				t.Fatal(err)
			}
			forms := []bool{false}
			if Vec4(convOf(g), slot1x1[c.Op], true) {
				forms = append(forms, true)
				vec++
			}
			var four []float32
			for _, v4 := range forms {
				for _, p := range []Pipeline{Lazy, Eager} {
					t.Run(fmt.Sprintf("%v/vec4 %v/%v", c, v4, p), func(t *testing.T) {
						var bk Banks
						name, got, err := run1x1(g, c.Op, in, Conv1x1Run{Vec4: v4, Pipeline: p, Banks: &bk})
						if err != nil {
							t.Fatal(err)
						}
						if err := checkExact(g, c.Op, in, got, RoundTF32); err != nil {
							t.Error(err)
						}
						if err := c.Check(outputs(name, got, want), want, tensortest.TF32); err != nil {
							t.Error(err)
						}
						if i := firstDiff(got, generic); i >= 0 {
							t.Errorf("%s[%d] = %g, the generic kernel's %g", name, i, got[i], generic[i])
						}
						if four == nil {
							four = got
						} else if i := firstDiff(got, four); i >= 0 {
							t.Errorf("16-byte form: %s[%d] = %g, the 4-byte form's %g", name, i, got[i], four[i])
						}
						ldsm := c.Op == "Conv2DBackwardFilter"
						if bk.StorePhases == 0 || bk.StoreConflicts != 0 || bk.Misaligned != 0 ||
							ldsm && (bk.LdsmPhases == 0 || bk.LdsmConflicts != 0) {
							t.Errorf("shared memory: %+v; want store phases (and ldmatrix ones) without conflicts", bk)
						}
					})
				}
			}
		}
	}
	if vec < 8 {
		t.Errorf("only %d cases took the 16-byte form", vec)
	}
}

// firstDiff is the first index where a and b differ bit for bit, or -1.
func firstDiff(a, b []float32) int {
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return i
		}
	}
	return -1
}

// TestConv2D1x1TF32Mutations: a 1x1 kernel with a wrong loader mapping (a
// 16-byte copy's floats reversed, the channel stride W instead of H*W, the
// filter gradient's chunks one place off), a wrong fragment or
// accumulator mapping, or a broken pipeline fails the float64 check and
// the TF32 tolerance (so TestConv2D1x1TF32's checks can fail); the filter
// gradient without the swizzle computes right but fails the ldmatrix bank
// check (its loaders' stores, whole rows per phase, are conflict-free
// with or without it; TestStore16Phases shows their check can fail).
func TestConv2D1x1TF32Mutations(t *testing.T) {
	g := tensortest.Conv{N: 5, C: 36, H: 4, W: 8, K: 70, R: 1, S: 1, P: tensor.ConvParams{StrideH: 1, StrideW: 1}, Bias: true}
	for _, c := range g.Cases() {
		want, err := tensortest.Outputs(cpu.NewReference(), c)
		if err != nil {
			t.Fatal(err)
		}
		in := c.Inputs()
		filter := c.Op == "Conv2DBackwardFilter"
		for _, tt := range []struct {
			mut  Mutation
			vec4 bool
			p    Pipeline
		}{
			{MutPixStride, false, Lazy}, {MutPixStride, true, Lazy}, {MutVecOrder, true, Lazy}, {MutVecChunk, true, Lazy},
			{MutARegs, false, Lazy}, {MutBRegs, true, Lazy}, {MutCOwner, true, Lazy}, {MutWait, true, Lazy},
			{MutPrefetch, false, Eager}, {MutLdsmLane, true, Lazy}, {MutSwizzleLoad, false, Lazy},
		} {
			if !filter && (tt.mut == MutVecChunk || tt.mut == MutLdsmLane || tt.mut == MutSwizzleLoad) {
				continue // the forward and data gradient have no swizzled layout
			}
			if c.Op == "Conv2DBackwardData" && tt.mut == MutVecOrder {
				tt.vec4 = true // its A is 16-byte
			}
			t.Run(fmt.Sprintf("%v/mutation %d/vec4 %v", c, tt.mut, tt.vec4), func(t *testing.T) {
				name, got, err := run1x1(g, c.Op, in, Conv1x1Run{Vec4: tt.vec4, Pipeline: tt.p, Mut: tt.mut})
				if err != nil {
					t.Fatal(err)
				}
				if checkExact(g, c.Op, in, got, RoundTF32) == nil {
					t.Error("the float64 check passed a broken kernel")
				}
				if err := c.Check(outputs(name, got, want), want, tensortest.TF32); err == nil {
					t.Error("the TF32 tolerance passed a broken kernel")
				}
			})
		}
		if filter {
			for _, v4 := range []bool{false, true} {
				var bk Banks
				_, got, err := run1x1(g, c.Op, in, Conv1x1Run{Vec4: v4, Mut: MutNoSwizzle, Banks: &bk})
				if err != nil {
					t.Fatal(err)
				}
				if err := checkExact(g, c.Op, in, got, RoundTF32); err != nil {
					t.Errorf("vec4 %v: without the swizzle the values must stay right: %v", v4, err)
				}
				if bk.StoreConflicts != 0 || bk.LdsmConflicts == 0 {
					t.Errorf("vec4 %v: without the swizzle: %+v; want ldmatrix conflicts only", v4, bk)
				}
			}
		}
	}
}

// TestConv1x1Vec4Needed: the 16-byte forms on shapes g1_vec4 refuses (49
// pixels per image; a forward over 18 channels) make misaligned or
// out-of-image copies, which the emulator reports or the float64 check
// catches: the condition is needed, not just cautious.
func TestConv1x1Vec4Needed(t *testing.T) {
	p := tensor.ConvParams{StrideH: 1, StrideW: 1}
	for _, g := range []tensortest.Conv{
		{N: 3, C: 20, H: 7, W: 7, K: 16, R: 1, S: 1, P: p},
		{N: 2, C: 18, H: 4, W: 4, K: 16, R: 1, S: 1, P: p},
	} {
		for _, c := range g.Cases() {
			if Vec4(convOf(g), slot1x1[c.Op], true) {
				continue
			}
			in := c.Inputs()
			_, got, err := run1x1(g, c.Op, in, Conv1x1Run{Vec4: true})
			if err == nil && checkExact(g, c.Op, in, got, RoundTF32) == nil {
				t.Errorf("%v: the 16-byte form ran right where g1_vec4 refuses it", c)
			}
		}
	}
}

// TestStore16Phases: the 16-byte store check (emu_store16_phases) passes
// 8 lanes per phase covering 128 contiguous bytes, and fails two lanes of
// a phase 128 bytes apart (the same banks) and a misaligned address.
func TestStore16Phases(t *testing.T) {
	var words [32]int
	for lane := range words {
		words[lane] = 4 * lane
	}
	if bk := store16Phases(words); bk.StorePhases != 4 || bk.StoreConflicts != 0 || bk.Misaligned != 0 {
		t.Errorf("contiguous: %+v; want 4 phases, no conflict", bk)
	}
	words[1] = 32 // lane 1 on lane 0's banks
	if bk := store16Phases(words); bk.StoreConflicts != 1 {
		t.Errorf("two lanes on the same banks: %+v; want one conflicting phase", bk)
	}
	words[1] = 6
	if bk := store16Phases(words); bk.Misaligned != 1 {
		t.Errorf("a lane at word 6: %+v; want it misaligned", bk)
	}
}

// run1x1BF16 runs the emulated bf16 1x1 kernel of case op on in as r says.
func run1x1BF16(g tensortest.Conv, op string, in map[string][]float32, r BF16Run) (string, []float32, error) {
	return conv1x1Kernels{
		fwd:  func(g Conv, x, w, b, y []float32) error { return Conv2DForward1x1BF16(g, x, w, b, y, r) },
		data: func(g Conv, dy, w, dx []float32) error { return Conv2DBackwardData1x1BF16(g, dy, w, dx, r) },
		filter: func(g Conv, x, dy, dw []float32, splits int) error {
			return Conv2DBackwardFilter1x1BF16(g, x, dy, dw, splits, r)
		},
	}.run(g, op, in)
}

// TestConv2D1x1BF16: the bf16 1x1 kernels (kernels/gemm_bf16.cu) over
// whole grids on the host under both pipeline models, on
// conv1x1Geometries: against the float64 result on the same bf16
// operands, against the CPU reference at the bf16 tolerance
// (tensortest.BF16, u = 2^-8), bit for bit against the generic bf16
// kernels (conv2d_bf16.cu: the reference path, emulated the same way),
// and with no bank conflicts in any ldmatrix phase or loader store.
func TestConv2D1x1BF16(t *testing.T) {
	ref := cpu.NewReference()
	for _, g := range conv1x1Geometries() {
		for _, c := range g.Cases() {
			want, err := tensortest.Outputs(ref, c)
			if err != nil {
				t.Fatal(err)
			}
			in := c.Inputs()
			_, generic, err := bf16Kernels[c.Op](g, in, BF16Run{})
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range []Order{Late, Early} {
				t.Run(fmt.Sprintf("%v/%v", c, o), func(t *testing.T) {
					var bk Banks
					name, got, err := run1x1BF16(g, c.Op, in, BF16Run{Order: o, Banks: &bk})
					if err != nil {
						t.Fatal(err)
					}
					if err := checkExact(g, c.Op, in, got, RoundBF16); err != nil {
						t.Error(err)
					}
					if err := c.Check(outputs(name, got, want), want, tensortest.BF16); err != nil {
						t.Error(err)
					}
					if i := firstDiff(got, generic); i >= 0 {
						t.Errorf("%s[%d] = %g, the generic bf16 kernel's %g", name, i, got[i], generic[i])
					}
					if bk.LdsmPhases == 0 || bk.StorePhases == 0 || bk.LdsmConflicts != 0 || bk.StoreConflicts != 0 || bk.Misaligned != 0 {
						t.Errorf("shared memory: %+v; want phases and no conflicts", bk)
					}
				})
			}
		}
	}
}

// TestConv2D1x1BF16Mutations: the bf16 1x1 kernels with a wrong channel
// stride in their loaders, a wrong fragment, lane or accumulator mapping,
// or a broken staging fail the float64 check (so TestConv2D1x1BF16's can
// fail on them).
func TestConv2D1x1BF16Mutations(t *testing.T) {
	g := tensortest.Conv{N: 5, C: 36, H: 4, W: 8, K: 70, R: 1, S: 1, P: tensor.ConvParams{StrideH: 1, StrideW: 1}, Bias: true}
	for _, c := range g.Cases() {
		in := c.Inputs()
		for _, tt := range []struct {
			mut BF16Mutation
			o   Order
		}{{BF16MutPixStride, Late}, {BF16MutLdsmLane, Late}, {BF16MutBRegs, Late}, {BF16MutCOwner, Late}, {BF16MutStage, Early}} {
			_, got, err := run1x1BF16(g, c.Op, in, BF16Run{Order: tt.o, Mut: tt.mut})
			if err != nil {
				t.Fatal(err)
			}
			if checkExact(g, c.Op, in, got, RoundBF16) == nil {
				t.Errorf("%v: mutation %d (%v): the float64 check passed a broken kernel", c, tt.mut, tt.o)
			}
		}
	}
}
