package kernelhost

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/cnnctl/cnnctl/internal/cpu"
	"github.com/cnnctl/cnnctl/internal/tensor"
	"github.com/cnnctl/cnnctl/internal/tensor/tensortest"
)

// smallCGeometries are first layers of the small-channel class (C <=
// SmallC) beyond the shared cases: RGB and grey images, AlexNet's 11x11
// stride 4, a rectangular kernel, C*R*S not a multiple of the step.
func smallCGeometries() []tensortest.Conv {
	sq := func(stride, pad int) tensor.ConvParams {
		return tensor.ConvParams{StrideH: stride, StrideW: stride, PadH: pad, PadW: pad}
	}
	return []tensortest.Conv{
		{N: 2, C: 3, H: 17, W: 15, K: 70, R: 3, S: 3, P: sq(1, 1), Bias: true},   // 27 columns: 2 steps, the second partial
		{N: 3, C: 1, H: 28, W: 28, K: 6, R: 5, S: 5, P: sq(1, 2), Bias: true},    // LeNet's conv1 on MNIST: 19 row blocks
		{N: 1, C: 3, H: 35, W: 35, K: 64, R: 11, S: 11, P: sq(4, 2), Bias: true}, // AlexNet's conv1: 363 columns
		{N: 2, C: 4, H: 9, W: 7, K: 16, R: 1, S: 3, P: tensor.ConvParams{StrideH: 1, StrideW: 2, PadH: 0, PadW: 1}},
		{N: 2, C: 2, H: 6, W: 6, K: 130, R: 3, S: 3, P: sq(2, 0), Bias: true}, // three column blocks
	}
}

// TestConv2DFlatTF32: the small-channel kernel (the reduction flat over
// C*R*S) over whole grids on the host, under both cp.async models, on the
// shared forward cases (any C is computed right) and the small-channel
// shapes, against the float64 result on the same TF32 operands and the
// CPU reference at the TF32 tolerance; tc_forward_class puts the
// small-channel shapes in its class.
func TestConv2DFlatTF32(t *testing.T) {
	ref := cpu.NewReference()
	for _, g := range append(tcGeometries(), smallCGeometries()...) {
		c := g.Cases()[0] // the forward
		if c.Op != "Conv2DForward" {
			t.Fatalf("%v: the first case is %s", g, c.Op)
		}
		want, err := tensortest.Outputs(ref, c)
		if err != nil {
			t.Fatal(err)
		}
		in := c.Inputs()
		for _, p := range []Pipeline{Lazy, Eager} {
			t.Run(fmt.Sprintf("%v/%v", c, p), func(t *testing.T) {
				y := nans(g.N * g.K * g.OH() * g.OW())
				if err := Conv2DForwardFlatTF32(convOf(g), in["x"], in["w"], in["b"], y, p, MutNone); err != nil {
					t.Fatal(err)
				}
				if err := checkExact(g, c.Op, in, y, RoundTF32); err != nil {
					t.Error(err)
				}
				if err := c.Check(map[string][]float32{"y": y}, want, tensortest.TF32); err != nil {
					t.Error(err)
				}
			})
		}
	}
	for _, g := range smallCGeometries() {
		if cl := ForwardClass(convOf(g)); cl != ClassSmallC {
			t.Errorf("%v: class %d, want the small-channel class %d", g, cl, ClassSmallC)
		}
	}
}

// TestConv2DFlatTF32Mutations: the flat kernel with a broken fragment
// mapping or pipeline fails the float64 check (so that check can fail on
// this path too), on AlexNet's first layer (23 pipeline steps).
func TestConv2DFlatTF32Mutations(t *testing.T) {
	g := smallCGeometries()[2]
	c := g.Cases()[0]
	in := c.Inputs()
	for _, tt := range []struct {
		mut Mutation
		p   Pipeline
	}{{MutARegs, Lazy}, {MutBRegs, Lazy}, {MutCOwner, Lazy}, {MutWait, Lazy}, {MutPrefetch, Lazy}, {MutPrefetch, Eager}} {
		y := nans(g.N * g.K * g.OH() * g.OW())
		if err := Conv2DForwardFlatTF32(convOf(g), in["x"], in["w"], in["b"], y, tt.p, tt.mut); err != nil {
			t.Fatal(err)
		}
		if checkExact(g, c.Op, in, y, RoundTF32) == nil {
			t.Errorf("mutation %d (%v): the float64 check passed a broken flat kernel", tt.mut, tt.p)
		}
	}
}

// TestConvEpilogueTF32: the fused forward (residual add and ReLU applied
// as the kernel stores y, kernels/epilogue.cuh) of both TF32 kernels
// equals bit for bit the plain sequence the tensor.ConvEpilogue interface
// defines: the same kernel without epilogue, then the CPU reference's Add
// and ReLU. The residual holds values that cancel the sum exactly (ReLU's
// edge at 0), -0, NaN and infinities (ReLU lets NaN through).
func TestConvEpilogueTF32(t *testing.T) {
	ref := cpu.NewReference()
	geoms := append(tcGeometries()[len(tensortest.ConvGeometries()):], smallCGeometries()[:2]...)
	for gi, g := range geoms {
		c := g.Cases()[0]
		in := c.Inputs()
		ny := g.N * g.K * g.OH() * g.OW()
		for _, flat := range []bool{false, true} {
			plain := nans(ny)
			var err error
			if flat {
				err = Conv2DForwardFlatTF32(convOf(g), in["x"], in["w"], in["b"], plain, Eager, MutNone)
			} else {
				err = Conv2DForwardTF32(convOf(g), in["x"], in["w"], in["b"], plain, Eager, MutNone)
			}
			if err != nil {
				t.Fatal(err)
			}
			checkEpilogues(t, ref, fmt.Sprintf("%v/flat=%v", convOf(g), flat), plain, uint64(gi),
				func(e Epilogue, y []float32) error {
					return Conv2DForwardEpilogueTF32(convOf(g), flat, in["x"], in["w"], in["b"], e, y, Lazy)
				})
		}
	}
}

// checkEpilogues runs the fused forward fused (which fills y) with ReLU,
// a residual and both, each against the plain ops on the unfused output
// plain (plainEpilogue), bit for bit. The residual (seeded by seed) holds
// values that cancel the sum exactly (ReLU's edge at 0), -0, NaN and
// infinities (ReLU lets NaN through).
func checkEpilogues(t *testing.T, ref tensor.Backend, name string, plain []float32, seed uint64,
	fused func(e Epilogue, y []float32) error) {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 7))
	res := make([]float32, len(plain))
	for i := range res {
		switch r.IntN(12) {
		case 0:
			res[i] = -plain[i] // the sum is exactly 0
		case 1:
			res[i] = float32(math.Copysign(0, -1))
		case 2:
			res[i] = float32(math.NaN())
		case 3:
			res[i] = float32(math.Inf(2*r.IntN(2) - 1))
		default:
			res[i] = float32(r.NormFloat64())
		}
	}
	for _, e := range []Epilogue{{ReLU: true}, {Residual: res}, {Residual: res, ReLU: true}} {
		t.Run(fmt.Sprintf("%s/residual=%v/relu=%v", name, e.Residual != nil, e.ReLU), func(t *testing.T) {
			want := plainEpilogue(t, ref, plain, e)
			got := nans(len(plain))
			if err := fused(e, got); err != nil {
				t.Fatal(err)
			}
			for i := range want {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
					t.Fatalf("y[%d] = %g (%#08x), the plain ops give %g (%#08x)", i, got[i],
						math.Float32bits(got[i]), want[i], math.Float32bits(want[i]))
				}
			}
		})
	}
}

// plainEpilogue runs e as the plain ops on the CPU reference: Add(y, res,
// y) when there is a residual, then ActivationForward(ReLU, y, y).
func plainEpilogue(t *testing.T, be tensor.Backend, y []float32, e Epilogue) []float32 {
	t.Helper()
	s := tensor.Shape{len(y)}
	ty := be.New(s)
	defer be.Free(ty)
	be.Upload(ty, y)
	if e.Residual != nil {
		tr := be.New(s)
		defer be.Free(tr)
		be.Upload(tr, e.Residual)
		be.Add(ty, tr, ty)
	}
	if e.ReLU {
		be.ActivationForward(tensor.ReLU, ty, ty)
	}
	out := make([]float32, len(y))
	be.Download(out, ty)
	return out
}

// linearCases are the shared linear cases and layers that span several
// blocks along both GEMM dimensions and many pipeline steps, with partial
// tiles (a VGG classifier's shape, scaled down).
func linearCases() []tensortest.Case {
	var cs []tensortest.Case
	for _, c := range tensortest.Cases() {
		if c.Op == "LinearForward" || c.Op == "LinearBackward" {
			cs = append(cs, c)
		}
	}
	return append(cs, tensortest.LinearCases(150, 200, 70, true)...)
}

// TestLinearTF32: the TF32 linear kernels (plain row-major GEMMs on the
// convolution kernels' tiles) over whole grids on the host, on the shared
// linear cases and a larger one: forward, data and filter gradients
// against the float64 result on the same TF32 operands (through the
// geometry of tc_linear's 1x1 convolution on 1x1 images, whose sums they
// are) and against the CPU reference at the TF32 tolerance
// (tensortest.TF32: per output (2u + u²)·Σ|a||b| plus the float32
// summation terms, u = 2^-11). The bias gradient is the float32
// linear_backward_bias kernel's, which no emulator runs: the reference's.
func TestLinearTF32(t *testing.T) {
	checkLinears(t, linearKernels{
		fwd: func(n, i, o int, x, w, b, y []float32) error {
			return LinearForwardTF32(n, i, o, x, w, b, y, Lazy, MutNone)
		},
		data: func(n, i, o int, dy, w, dx []float32) error {
			return LinearBackwardDataTF32(n, i, o, dy, w, dx, Lazy, MutNone)
		},
		filter: func(n, i, o int, x, dy, dw []float32) error {
			return LinearBackwardFilterTF32(n, i, o, x, dy, dw, filterSplits, Lazy, MutNone)
		},
	}, RoundTF32, tensortest.TF32)
}

// TestLinearTF32Mutations: the linear kernels with a broken fragment
// mapping or pipeline fail the float64 check on a shape with several
// blocks and 13 pipeline steps forward (so that check can fail on them).
func TestLinearTF32Mutations(t *testing.T) {
	for _, tt := range []struct {
		mut Mutation
		p   Pipeline
	}{{MutARegs, Lazy}, {MutBRegs, Lazy}, {MutCOwner, Lazy}, {MutWait, Lazy}, {MutPrefetch, Eager}} {
		checkLinearMutant(t, linearKernels{
			fwd: func(n, i, o int, x, w, b, y []float32) error {
				return LinearForwardTF32(n, i, o, x, w, b, y, tt.p, tt.mut)
			},
			data: func(n, i, o int, dy, w, dx []float32) error {
				return LinearBackwardDataTF32(n, i, o, dy, w, dx, tt.p, tt.mut)
			},
			filter: func(n, i, o int, x, dy, dw []float32) error {
				return LinearBackwardFilterTF32(n, i, o, x, dy, dw, filterSplits, tt.p, tt.mut)
			},
		}, RoundTF32, fmt.Sprintf("mutation %d (%v)", tt.mut, tt.p))
	}
}

// TestVec4Cover: add_relu's split of n elements into float4s and a tail
// (epilogue.cuh) visits each element exactly once, aligned or not, and
// moves whole float4s only where aligned.
func TestVec4Cover(t *testing.T) {
	for n := int64(0); n < 70; n++ {
		for _, aligned := range []bool{false, true} {
			seen := make([]int, n)
			nv, tail := Vec4Count(n, aligned), Vec4Tail(n, aligned)
			if !aligned && nv != 0 {
				t.Errorf("n %d unaligned: %d float4s", n, nv)
			}
			if aligned && n-tail >= 4 {
				t.Errorf("n %d aligned: a tail of %d elements", n, n-tail)
			}
			for i := int64(0); i < nv; i++ {
				for j := 4 * i; j < 4*i+4; j++ {
					seen[j]++
				}
			}
			for i := tail; i < n; i++ {
				seen[i]++
			}
			for i, s := range seen {
				if s != 1 {
					t.Fatalf("n %d, aligned %v: element %d visited %d times", n, aligned, i, s)
				}
			}
		}
	}
}

// TestLinearLoadsCoalesced: each warp's 4-byte copies of one load (one l)
// of every linear operand touch 4 sectors of 32 bytes, the fewest 32
// floats can (with I = O = N = 512 so that rows start on sectors), as the
// loaders' slot orders promise (conv2d_tc.cuh); loading x in the
// convolutions' pixel order instead (tc_a_slot) touches 32.
func TestLinearLoadsCoalesced(t *testing.T) {
	const n, i, o = 512, 512, 512
	sectors := func(loads int, slot func(tid, l int) (int, int), at func(row, col int) int) (most int) {
		for warp := range Threads / 32 {
			for l := range loads {
				seen := map[int]bool{}
				for lane := range 32 {
					row, col := slot(warp*32+lane, l)
					seen[at(row, col)*4/32] = true
				}
				most = max(most, len(seen))
			}
		}
		return most
	}
	rm := func(rows, cols int, transposed bool) func(row, col int) int {
		return func(r, c int) int {
			if transposed {
				r, c = c, r
			}
			off, ok := RMAt(rows, cols, r, c)
			if !ok {
				t.Fatalf("(%d, %d) outside (%d, %d)", r, c, rows, cols)
			}
			return off
		}
	}
	for _, tt := range []struct {
		name  string
		loads int
		slot  func(tid, l int) (int, int)
		at    func(row, col int) int // tile (row, kk) or (n, kk) -> offset
	}{
		{"forward A: x (N, I) rows m, columns i", ALoads, BSlot, rm(n, i, false)},
		{"forward B: w (O, I) rows n, columns i", BLoads, BSlot, rm(o, i, false)},
		{"data A: dy (N, O) rows m, columns o", ALoads, BSlot, rm(n, o, false)},
		{"data B: w (O, I) rows o = kk, columns n", BLoads, BNSlot, rm(o, i, true)},
		{"filter A: dy (N, O) rows p = kk, columns m", ALoads, ASlot, rm(n, o, true)},
		{"filter B: x (N, I) rows p = kk, columns n", BLoads, BNSlot, rm(n, i, true)},
	} {
		if s := sectors(tt.loads, tt.slot, tt.at); s != 4 {
			t.Errorf("%s: a warp's copies touch up to %d sectors, want 4", tt.name, s)
		}
	}
	if s := sectors(ALoads, ASlot, rm(n, i, false)); s != 32 {
		t.Errorf("x in pixel order: %d sectors; the test would not see uncoalesced loads", s)
	}
}
