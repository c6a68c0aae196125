package kernelhost

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/cnnctl/cnnctl/internal/cpu"
	"github.com/cnnctl/cnnctl/internal/tensor"
	"github.com/cnnctl/cnnctl/internal/tensor/tensortest"
)

// tcGeometries are the shared convolution cases plus shapes that span
// several thread blocks along M and K, several pipeline steps with a
// partial last one, the zoo's 3-channel first layer and 1x1 layers.
func tcGeometries() []tensortest.Conv {
	sq := func(stride, pad int) tensor.ConvParams {
		return tensor.ConvParams{StrideH: stride, StrideW: stride, PadH: pad, PadW: pad}
	}
	return append(tensortest.ConvGeometries(),
		tensortest.Conv{N: 2, C: 20, H: 13, W: 11, K: 70, R: 3, S: 3, P: sq(1, 1), Bias: true}, // M 286, K 70, CRS 180: partial tiles everywhere
		tensortest.Conv{N: 1, C: 3, H: 32, W: 32, K: 16, R: 3, S: 3, P: sq(1, 1), Bias: true},  // CIFAR first layer: CRS 27
		tensortest.Conv{N: 2, C: 64, H: 8, W: 8, K: 32, R: 1, S: 1, P: sq(1, 0), Bias: false},  // 1x1, CRS a multiple of the step
		tensortest.Conv{N: 2, C: 6, H: 14, W: 14, K: 16, R: 5, S: 5, P: sq(1, 0), Bias: true},  // LeNet's conv2
		tensortest.Conv{N: 3, C: 16, H: 9, W: 9, K: 129, R: 3, S: 3, P: sq(2, 1), Bias: true},  // stride 2, three column blocks
	)
}

func convOf(g tensortest.Conv) Conv {
	return Conv{N: g.N, C: g.C, H: g.H, W: g.W, K: g.K, R: g.R, S: g.S, P: g.P}
}

// kernels are the emulated TF32 kernels by the op of their case: each
// runs the emulator on the case's inputs and returns the name and values
// of its output.
var kernels = map[string]func(g tensortest.Conv, in map[string][]float32, p Pipeline, mut Mutation) (string, []float32, error){
	"Conv2DForward": func(g tensortest.Conv, in map[string][]float32, p Pipeline, mut Mutation) (string, []float32, error) {
		y := nans(g.N * g.K * g.OH() * g.OW())
		return "y", y, Conv2DForwardTF32(convOf(g), in["x"], in["w"], in["b"], y, p, mut)
	},
	"Conv2DBackwardData": func(g tensortest.Conv, in map[string][]float32, p Pipeline, mut Mutation) (string, []float32, error) {
		dx := nans(g.N * g.C * g.H * g.W)
		return "dx", dx, Conv2DBackwardDataTF32(convOf(g), in["dy"], in["w"], dx, p, mut)
	},
	"Conv2DBackwardFilter": func(g tensortest.Conv, in map[string][]float32, p Pipeline, mut Mutation) (string, []float32, error) {
		dw := nans(g.K * g.C * g.R * g.S)
		return "dw", dw, Conv2DBackwardFilterTF32(convOf(g), in["x"], in["dy"], dw, filterSplits, p, mut)
	},
}

// filterSplits splits the filter gradient's reduction in three (more
// splits than steps on the smallest cases: empty splits too).
const filterSplits = 3

func nans(n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(math.NaN())
	}
	return v
}

// exactOn is the op of c in float64 on its inputs rounded by round (to
// TF32 or bf16, as the kernel does), with Σ|a||b| per output, from the convolution's defining relation
// y[n][k][oh][ow] ~ x[n][c][oh*sh-ph+r][ow*sw-pw+s] · w[k][c][r][s]:
// the forward sums x·w into y, the data gradient dy·w into x's place, the
// filter gradient x·dy into w's place.
func exactOn(g tensortest.Conv, op string, in map[string][]float32, round func(float32) float32) (want, mag []float64) {
	oh, ow := g.OH(), g.OW()
	switch op {
	case "Conv2DForward":
		want = make([]float64, g.N*g.K*oh*ow)
	case "Conv2DBackwardData":
		want = make([]float64, g.N*g.C*g.H*g.W)
	default:
		want = make([]float64, g.K*g.C*g.R*g.S)
	}
	mag = make([]float64, len(want))
	tf := func(name string, i int) float64 { return float64(round(in[name][i])) }
	for n := range g.N {
		for k := range g.K {
			for i := range oh {
				for j := range ow {
					yo := ((n*g.K+k)*oh+i)*ow + j
					for c := range g.C {
						for r := range g.R {
							for q := range g.S {
								ih, iw := i*g.P.StrideH-g.P.PadH+r, j*g.P.StrideW-g.P.PadW+q
								if ih < 0 || ih >= g.H || iw < 0 || iw >= g.W {
									continue
								}
								xo, wo := ((n*g.C+c)*g.H+ih)*g.W+iw, ((k*g.C+c)*g.R+r)*g.S+q
								var dst int
								var v float64
								switch op {
								case "Conv2DForward":
									dst, v = yo, tf("x", xo)*tf("w", wo)
								case "Conv2DBackwardData":
									dst, v = xo, tf("dy", yo)*tf("w", wo)
								default:
									dst, v = wo, tf("x", xo)*tf("dy", yo)
								}
								want[dst] += v
								mag[dst] += math.Abs(v)
							}
						}
					}
					if op == "Conv2DForward" && in["b"] != nil {
						want[yo] += float64(in["b"][k])
						mag[yo] += math.Abs(float64(in["b"][k]))
					}
				}
			}
		}
	}
	return want, mag
}

// checkExact holds an emulated kernel to the float64 result on the same
// operands, rounded by round (TF32 or bf16): only float32 summation separates them, at most
// (n+1)·2^-24·Σ|a||b| (bias included) for the sequential sums the emulator
// models, n the reduction's length (padded to whole steps with zeros,
// which add nothing; for the filter gradient plus the sum of the splits).
// Any wrong index moves a result by a whole product.
func checkExact(g tensortest.Conv, op string, in map[string][]float32, got []float32, round func(float32) float32) error {
	want, mag := exactOn(g, op, in, round)
	n := float64(g.C*g.R*g.S + 1)
	switch op {
	case "Conv2DBackwardData":
		n = float64(g.K*g.R*g.S + 1)
	case "Conv2DBackwardFilter":
		n = float64(g.N*g.OH()*g.OW() + filterSplits + 1)
	}
	for i := range want {
		tol := n * math.Ldexp(mag[i], -24)
		if d := math.Abs(float64(got[i]) - want[i]); !(d <= tol) {
			return fmt.Errorf("%s: element %d = %g, want %g on the rounded operands (|Δ| %.3g > %.3g)", op, i, got[i], want[i], d, tol)
		}
	}
	return nil
}

// outputs are a case's outputs with the emulated one, name, from got: the
// bias gradient db, which the float32 conv2d_backward_bias kernel computes
// beside the TF32 filter gradient and no emulator runs, is the reference's.
func outputs(name string, got []float32, want map[string][]float32) map[string][]float32 {
	out := map[string][]float32{name: got}
	if db, ok := want["db"]; ok {
		out["db"] = db
	}
	return out
}

// TestConv2DTF32 runs the TF32 kernels' index math over whole grids on the
// host, under both cp.async models on the larger shapes, and checks each result against the
// float64 result on the same TF32 operands (which any index error breaks)
// and against the CPU reference with the TF32 tolerance that the GPU tests
// use (tensortest.TF32).
func TestConv2DTF32(t *testing.T) {
	ref := cpu.NewReference()
	shared := len(tensortest.ConvGeometries())
	for gi, g := range tcGeometries() {
		// Both cp.async models on the larger shapes (many pipeline steps);
		// the lazy one, which catches early reads, on the shared ones.
		pipelines := []Pipeline{Lazy, Eager}
		if gi < shared {
			pipelines = pipelines[:1]
		}
		for _, c := range g.Cases() {
			want, err := tensortest.Outputs(ref, c)
			if err != nil {
				t.Fatal(err)
			}
			in := c.Inputs()
			for _, p := range pipelines {
				t.Run(fmt.Sprintf("%v/%v", c, p), func(t *testing.T) {
					name, got, err := kernels[c.Op](g, in, p, MutNone)
					if err != nil {
						t.Fatal(err)
					}
					if err := checkExact(g, c.Op, in, got, RoundTF32); err != nil {
						t.Error(err)
					}
					if err := c.Check(outputs(name, got, want), want, tensortest.TF32); err != nil {
						t.Error(err)
					}
				})
			}
		}
	}
}

// TestConv2DTF32Mutations: a kernel with a wrong fragment mapping, a wrong
// accumulator ownership or a broken pipeline must fail the checks of
// TestConv2DTF32 (so those checks can fail).
func TestConv2DTF32Mutations(t *testing.T) {
	// Two row and two column blocks, 18 pipeline steps forward and
	// backward data, 11 of the filter gradient (4 per split: the pipeline
	// prefetches within a split).
	g := tensortest.Conv{N: 2, C: 20, H: 9, W: 9, K: 70, R: 3, S: 3,
		P: tensor.ConvParams{StrideH: 1, StrideW: 1, PadH: 1, PadW: 1}, Bias: true}
	for _, c := range g.Cases() {
		want, err := tensortest.Outputs(cpu.NewReference(), c)
		if err != nil {
			t.Fatal(err)
		}
		in := c.Inputs()
		for _, tt := range []struct {
			name string
			mut  Mutation
			p    Pipeline
		}{
			{"a1 and a2 swapped", MutARegs, Lazy},
			{"b0 and b1 swapped", MutBRegs, Lazy},
			{"c1 and c2 stored at each other's place", MutCOwner, Lazy},
			{"one group too many in flight", MutWait, Lazy},
			{"prefetch into the stage being read", MutPrefetch, Eager},
			{"prefetch into the stage being read", MutPrefetch, Lazy},
		} {
			t.Run(fmt.Sprintf("%v/%s/%v", c, tt.name, tt.p), func(t *testing.T) {
				name, got, err := kernels[c.Op](g, in, tt.p, tt.mut)
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
	}
}

// TestRoundTF32 pins cvt.rna.tf32.f32's rounding: to nearest on the 10th
// mantissa bit, ties away from zero, both signs, carry into the exponent.
func TestRoundTF32(t *testing.T) {
	ulp := float32(math.Ldexp(1, -10)) // of TF32 at 1
	for _, tt := range []struct{ in, want float32 }{
		{1, 1},
		{1 + ulp/2, 1 + ulp},         // tie: away from zero
		{-(1 + ulp/2), -(1 + ulp)},   // tie, negative: away from zero
		{1 + ulp/2 - 1.0/(1<<23), 1}, // just below the tie
		{1 + 3*ulp/2, 1 + 2*ulp},     // tie above an odd mantissa
		{2 - ulp/2, 2},               // carry into the exponent
		{float32(math.Inf(1)), float32(math.Inf(1))},
		{math.MaxFloat32, float32(math.Inf(1))}, // rounds past the largest TF32
		{0, 0},
	} {
		if got := RoundTF32(tt.in); got != tt.want {
			t.Errorf("RoundTF32(%.9g) = %.9g, want %.9g", tt.in, got, tt.want)
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 10000 {
		f := (r.Float32()*2 - 1) * float32(math.Ldexp(1, r.IntN(40)-20))
		g := RoundTF32(f)
		if math.Float32bits(g)&0x1fff != 0 || math.Abs(float64(g-f)) > math.Abs(float64(f))*math.Ldexp(1, -11) {
			t.Fatalf("RoundTF32(%g) = %g: not a TF32 value within 2^-11 relative", f, g)
		}
	}
}

// TestLoadersCoverTiles: over one stage, the threads' copies hit every
// element of the A tile (TileM x TileK) and of the B tile (TileN x TileK)
// exactly once, at distinct shared-memory offsets inside the stage (the
// filter gradient loads A in tc_b_slot's order: that covers it too); a
// thread's A row (the pixel it decodes once) and B column are the same
// for all its copies.
func TestLoadersCoverTiles(t *testing.T) {
	for tid := range Threads {
		m0, _ := ASlot(tid, 0)
		_, kk0 := BSlot(tid, 0)
		for l := range ALoads {
			if m, _ := ASlot(tid, l); m != m0 {
				t.Fatalf("thread %d: A copy %d is in row %d, copy 0 in row %d", tid, l, m, m0)
			}
		}
		for l := range BLoads {
			if _, kk := BSlot(tid, l); kk != kk0 {
				t.Fatalf("thread %d: B copy %d is in row %d, copy 0 in row %d", tid, l, kk, kk0)
			}
		}
	}
	for _, tt := range []struct {
		name        string
		loads, rows int
		slot        func(tid, l int) (int, int)
		smem        func(row, kk int) int
		stage       int
	}{
		{"A", ALoads, TileM, ASlot, ASmem, AStage},
		{"B", BLoads, TileN, BSlot, BSmem, BStage},
		{"A in B's order (filter gradient, linears)", ALoads, TileM, BSlot, ASmem, AStage},
		{"B column-contiguous (linears)", BLoads, TileN, BNSlot, BSmem, BStage},
	} {
		seen := map[[2]int]int{}
		offs := map[int]bool{}
		for tid := range Threads {
			for l := range tt.loads {
				row, kk := tt.slot(tid, l)
				if row < 0 || row >= tt.rows || kk < 0 || kk >= TileK {
					t.Fatalf("%s: thread %d copy %d goes to (%d, %d), outside the %dx%d tile", tt.name, tid, l, row, kk, tt.rows, TileK)
				}
				seen[[2]int{row, kk}]++
				off := tt.smem(row, kk)
				if off < 0 || off >= tt.stage || offs[off] {
					t.Fatalf("%s: (%d, %d) at shared offset %d: outside the stage of %d or taken", tt.name, row, kk, off, tt.stage)
				}
				offs[off] = true
			}
		}
		if len(seen) != tt.rows*TileK {
			t.Errorf("%s: %d tile elements copied, want %d", tt.name, len(seen), tt.rows*TileK)
		}
	}
}

// TestFragmentsArePTXLayout: each of tc_frag_a/b/c maps the 32 lanes'
// registers one to one onto its matrix, as the PTX ISA's figures for
// m16n8k8 .tf32 show (spot values from the figures: lane 0 holds A (0,0),
// (8,0), (0,4), (8,4); lane 5 holds B (1,1) and (5,1); lane 31 holds
// C (15,6) and (15,7) in c2, c3).
func TestFragmentsArePTXLayout(t *testing.T) {
	for _, tt := range []struct {
		name       string
		regs       int
		rows, cols int
		frag       func(lane, i int) (int, int)
	}{{"A", 4, 16, 8, FragA}, {"B", 2, 8, 8, FragB}, {"C", 4, 16, 8, FragC}} {
		seen := map[[2]int]bool{}
		for lane := range 32 {
			for i := range tt.regs {
				r, c := tt.frag(lane, i)
				if r < 0 || r >= tt.rows || c < 0 || c >= tt.cols || seen[[2]int{r, c}] {
					t.Fatalf("%s: lane %d register %d -> (%d, %d): outside %dx%d or taken twice", tt.name, lane, i, r, c, tt.rows, tt.cols)
				}
				seen[[2]int{r, c}] = true
			}
		}
	}
	spots := []struct {
		frag          func(lane, i int) (int, int)
		name          string
		lane, i, r, c int
	}{
		{FragA, "A", 0, 0, 0, 0}, {FragA, "A", 0, 1, 8, 0}, {FragA, "A", 0, 2, 0, 4}, {FragA, "A", 0, 3, 8, 4},
		{FragA, "A", 31, 3, 15, 7}, {FragB, "B", 5, 0, 1, 1}, {FragB, "B", 5, 1, 5, 1}, {FragB, "B", 30, 1, 6, 7},
		{FragC, "C", 31, 2, 15, 6}, {FragC, "C", 31, 3, 15, 7}, {FragC, "C", 1, 1, 0, 3},
	}
	for _, s := range spots {
		if r, c := s.frag(s.lane, s.i); r != s.r || c != s.c {
			t.Errorf("%s: lane %d register %d -> (%d, %d), the PTX ISA says (%d, %d)", s.name, s.lane, s.i, r, c, s.r, s.c)
		}
	}
}

// TestSharedMemoryConflictFree: a warp's fragment loads from both tiles,
// and its cp.async stores into them, touch 32 distinct banks (4-byte banks,
// 32 of them), for every warp origin of the block.
func TestSharedMemoryConflictFree(t *testing.T) {
	banks := func(what string, offs []int) {
		t.Helper()
		used := map[int][]int{}
		for lane, o := range offs {
			used[o%32] = append(used[o%32], lane)
		}
		if len(used) != 32 {
			var b strings.Builder
			for bank, lanes := range used {
				if len(lanes) > 1 {
					fmt.Fprintf(&b, " bank %d: lanes %v;", bank, lanes)
				}
			}
			t.Errorf("%s: %d-way bank conflicts:%s", what, 33-len(used), b.String())
		}
	}
	for wm := 0; wm < TileM; wm += 16 {
		for k8 := 0; k8 < TileK; k8 += 8 {
			for i := range 4 {
				offs := make([]int, 32)
				for lane := range 32 {
					r, c := FragA(lane, i)
					offs[lane] = ASmem(wm+r, k8+c)
				}
				banks(fmt.Sprintf("A fragment load a%d at row %d, column %d", i, wm, k8), offs)
			}
		}
	}
	for wn := 0; wn < TileN; wn += 8 {
		for k8 := 0; k8 < TileK; k8 += 8 {
			for i := range 2 {
				offs := make([]int, 32)
				for lane := range 32 {
					r, c := FragB(lane, i)
					offs[lane] = BSmem(wn+c, k8+r)
				}
				banks(fmt.Sprintf("B fragment load b%d at column %d, row %d", i, wn, k8), offs)
			}
		}
	}
	for warp := range Threads / 32 {
		for l := range ALoads {
			offs := make([]int, 32)
			for lane := range 32 {
				offs[lane] = ASmem(ASlot(warp*32+lane, l))
			}
			banks(fmt.Sprintf("A copies of warp %d, copy %d", warp, l), offs)
		}
	}
}
