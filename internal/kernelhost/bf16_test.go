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

// bf16Kernels are the emulated bf16 kernels by the op of their case, as
// kernels are the TF32 ones.
var bf16Kernels = map[string]func(g tensortest.Conv, in map[string][]float32, r BF16Run) (string, []float32, error){
	"Conv2DForward": func(g tensortest.Conv, in map[string][]float32, r BF16Run) (string, []float32, error) {
		y := nans(g.N * g.K * g.OH() * g.OW())
		return "y", y, Conv2DForwardBF16(convOf(g), in["x"], in["w"], in["b"], y, r)
	},
	"Conv2DBackwardData": func(g tensortest.Conv, in map[string][]float32, r BF16Run) (string, []float32, error) {
		dx := nans(g.N * g.C * g.H * g.W)
		return "dx", dx, Conv2DBackwardDataBF16(convOf(g), in["dy"], in["w"], dx, r)
	},
	"Conv2DBackwardFilter": func(g tensortest.Conv, in map[string][]float32, r BF16Run) (string, []float32, error) {
		dw := nans(g.K * g.C * g.R * g.S)
		return "dw", dw, Conv2DBackwardFilterBF16(convOf(g), in["x"], in["dy"], dw, filterSplits, r)
	},
}

// bf16Geometries are tcGeometries plus shapes where the bf16 step (32
// reduction columns) matters: channels not a multiple of 32 over several
// blocks, and a filter gradient with several steps per split.
func bf16Geometries() []tensortest.Conv {
	sq := tensor.ConvParams{StrideH: 1, StrideW: 1, PadH: 1, PadW: 1}
	return append(tcGeometries(),
		tensortest.Conv{N: 2, C: 40, H: 10, W: 10, K: 72, R: 3, S: 3, P: sq, Bias: true}, // C, K: 32 + 8
		tensortest.Conv{N: 3, C: 64, H: 6, W: 7, K: 64, R: 1, S: 1, P: tensor.ConvParams{StrideH: 1, StrideW: 1}},
	)
}

// TestConv2DBF16 runs the bf16 kernels' index math over whole grids on the
// host, under both pipeline models on the larger shapes, and checks each
// result
//   - against the float64 result on the same bf16 operands (checkExact:
//     only float32 summation separates them, so any wrong index, lane or
//     fragment fails it);
//   - against the CPU reference with the bf16 tolerance the GPU test uses
//     (tensortest.BF16: per output (2u + u²)·Σ|a||b| + 3n·2^-24·(1+u)²·Σ|a||b|
//   - 2^-23·|want|, u = 2^-8: an operand rounded to nearest on 8
//     significant bits is off by at most half an ulp, 2^-8 of itself, so
//     a product of two by at most (1+u)² - 1 = 2u + u² of itself; the
//     second term is float32 summation on both sides, the last the bias);
//   - for bank conflicts: every emulated ldmatrix phase (8 rows of 16
//     bytes) and every warp-wide store of the loaders hits the 32 banks
//     once, and every ldmatrix row is 16-byte aligned.
func TestConv2DBF16(t *testing.T) {
	ref := cpu.NewReference()
	shared := len(tensortest.ConvGeometries())
	for gi, g := range bf16Geometries() {
		orders := []Order{Late, Early}
		if gi < shared {
			orders = orders[:1]
		}
		for _, c := range g.Cases() {
			want, err := tensortest.Outputs(ref, c)
			if err != nil {
				t.Fatal(err)
			}
			in := c.Inputs()
			for _, o := range orders {
				t.Run(fmt.Sprintf("%v/%v", c, o), func(t *testing.T) {
					var bk Banks
					name, got, err := bf16Kernels[c.Op](g, in, BF16Run{Order: o, Banks: &bk})
					if err != nil {
						t.Fatal(err)
					}
					if err := checkExact(g, c.Op, in, got, RoundBF16); err != nil {
						t.Error(err)
					}
					if err := c.Check(outputs(name, got, want), want, tensortest.BF16); err != nil {
						t.Error(err)
					}
					if bk.LdsmPhases == 0 || bk.StorePhases == 0 || bk.LdsmConflicts != 0 || bk.StoreConflicts != 0 || bk.Misaligned != 0 {
						t.Errorf("shared memory: %+v; want phases and no conflicts", bk)
					}
				})
			}
		}
	}
}

// TestConvEpilogueBF16: the bf16 forward with its fused epilogue
// (residual add and ReLU applied as the kernel stores y, through
// kernels/epilogue.cuh as the TF32 forward) equals bit for bit the same
// kernel without epilogue followed by the CPU reference's Add and ReLU
// (checkEpilogues: residuals that cancel the sum, -0, NaN, infinities),
// under both pipeline models, on the larger shapes of bf16Geometries.
func TestConvEpilogueBF16(t *testing.T) {
	ref := cpu.NewReference()
	for gi, g := range bf16Geometries()[len(tensortest.ConvGeometries()):] {
		c := g.Cases()[0]
		in := c.Inputs()
		plain := nans(g.N * g.K * g.OH() * g.OW())
		if err := Conv2DForwardBF16(convOf(g), in["x"], in["w"], in["b"], plain, BF16Run{}); err != nil {
			t.Fatal(err)
		}
		for _, o := range []Order{Late, Early} {
			checkEpilogues(t, ref, fmt.Sprintf("%v/%v", convOf(g), o), plain, uint64(gi),
				func(e Epilogue, y []float32) error {
					return Conv2DForwardEpilogueBF16(convOf(g), in["x"], in["w"], in["b"], e, y, BF16Run{Order: o})
				})
		}
	}
}

// TestConv2DBF16Mutations: a kernel with a wrong swizzle, a wrong ldmatrix
// lane mapping, a wrong fragment index, a wrong accumulator owner, a
// broken pipeline or truncating instead of rounding must fail
// TestConv2DBF16's checks (so those checks can fail); a swizzle left out
// on both sides computes the right values but must show bank conflicts.
func TestConv2DBF16Mutations(t *testing.T) {
	// Two row and two column blocks, 18 steps forward (C 40: two channel
	// blocks x 9 taps) and backward data (K 70: three), 6 steps of the
	// filter gradient (2 per split).
	g := tensortest.Conv{N: 2, C: 40, H: 9, W: 9, K: 70, R: 3, S: 3,
		P: tensor.ConvParams{StrideH: 1, StrideW: 1, PadH: 1, PadW: 1}, Bias: true}
	for _, c := range g.Cases() {
		want, err := tensortest.Outputs(cpu.NewReference(), c)
		if err != nil {
			t.Fatal(err)
		}
		in := c.Inputs()
		for _, tt := range []struct {
			mut BF16Mutation
			o   Order
			// tol: the bf16 tolerance must reject it too (truncation
			// stays within it on random data: only the exact check sees it).
			tol bool
		}{
			{BF16MutSwizzleLoad, Late, true},
			{BF16MutLdsmLane, Late, true},
			{BF16MutBRegs, Late, true},
			{BF16MutCOwner, Late, true},
			{BF16MutStage, Late, true},
			{BF16MutStage, Early, true},
			{BF16MutRound, Late, false},
		} {
			t.Run(fmt.Sprintf("%v/%v/%v", c, tt.mut, tt.o), func(t *testing.T) {
				name, got, err := bf16Kernels[c.Op](g, in, BF16Run{Order: tt.o, Mut: tt.mut})
				if err != nil {
					t.Fatal(err)
				}
				if checkExact(g, c.Op, in, got, RoundBF16) == nil {
					t.Error("the float64 check on bf16 operands passed a broken kernel")
				}
				if err := c.Check(outputs(name, got, want), want, tensortest.BF16); tt.tol && err == nil {
					t.Error("the bf16 tolerance passed a broken kernel")
				}
			})
		}
		t.Run(fmt.Sprintf("%v/%v", c, BF16MutNoSwizzle), func(t *testing.T) {
			var bk Banks
			_, got, err := bf16Kernels[c.Op](g, in, BF16Run{Mut: BF16MutNoSwizzle, Banks: &bk})
			if err != nil {
				t.Fatal(err)
			}
			if err := checkExact(g, c.Op, in, got, RoundBF16); err != nil {
				t.Errorf("unswizzled on both sides, the values should still be right: %v", err)
			}
			if bk.LdsmConflicts == 0 || bk.StoreConflicts == 0 {
				t.Errorf("no swizzle: %+v; want ldmatrix and store bank conflicts", bk)
			}
		})
	}
}

// TestRoundBF16 pins cvt.rn.bf16x2.f32's rounding as emulated: to nearest
// on 8 significant bits, ties to even, both signs, carry into the exponent,
// overflow to infinity; and it is tensor.ToBF16's (the CPU's cast) on
// random values.
func TestRoundBF16(t *testing.T) {
	ulp := float32(math.Ldexp(1, -7)) // of bf16 at 1
	for _, tt := range []struct{ in, want float32 }{
		{1, 1},
		{1 + ulp/2, 1},                     // tie: to even (1)
		{1 + 3*ulp/2, 1 + 2*ulp},           // tie above an odd mantissa: up to even
		{-(1 + 3*ulp/2), -(1 + 2*ulp)},     // negative tie
		{1 + ulp/2 + 1.0/(1<<23), 1 + ulp}, // just above the tie
		{2 - ulp/4, 2},                     // carry into the exponent
		{float32(math.Inf(-1)), float32(math.Inf(-1))},
		{math.MaxFloat32, float32(math.Inf(1))}, // past the largest bf16 plus half an ulp
		{0, 0},
	} {
		if got := RoundBF16(tt.in); got != tt.want {
			t.Errorf("RoundBF16(%.9g) = %.9g, want %.9g", tt.in, got, tt.want)
		}
	}
	if !math.IsNaN(float64(RoundBF16(float32(math.NaN())))) {
		t.Error("RoundBF16(NaN) is not a NaN")
	}
	r := rand.New(rand.NewPCG(3, 4))
	for range 10000 {
		f := (r.Float32()*2 - 1) * float32(math.Ldexp(1, r.IntN(40)-20))
		g := RoundBF16(f)
		if g != tensor.FromBF16(tensor.ToBF16(f)) || math.Abs(float64(g-f)) > math.Abs(float64(f))*math.Ldexp(1, -8) {
			t.Fatalf("RoundBF16(%g) = %g: not tensor.ToBF16's, or further than 2^-8 relative", f, g)
		}
	}
}

// TestBF16LoadersCoverTiles: over one step, the threads' stores hit every
// pair of the A tile (TileM rows x BF16Pairs) and of the B tile (TileN
// rows) exactly once, in both loader orders, at distinct words inside the
// stage; bf_slot_m gives a thread two A rows (copies 0-3 and 4-7: the
// pixels it decodes) and one B row, bf_slot_k one pair for all copies.
func TestBF16LoadersCoverTiles(t *testing.T) {
	for tid := range BF16Threads {
		ra0, _ := SlotM(tid, 0)
		ra4, _ := SlotM(tid, 4)
		rb, _ := SlotM(tid, 0)
		_, kp0 := SlotK(tid, 0)
		for l := range BF16ALoads {
			if r, _ := SlotM(tid, l); r != ra0 && l < 4 || r != ra4 && l >= 4 {
				t.Fatalf("thread %d: bf_slot_m copy %d is in row %d, not the thread's rows %d, %d", tid, l, r, ra0, ra4)
			}
			if _, kp := SlotK(tid, l); kp != kp0 {
				t.Fatalf("thread %d: bf_slot_k copy %d has pair %d, copy 0 pair %d", tid, l, kp, kp0)
			}
		}
		for l := range BF16BLoads {
			if r, _ := SlotM(tid, l); r != rb {
				t.Fatalf("thread %d: B copy %d in row %d, copy 0 in row %d", tid, l, r, rb)
			}
		}
	}
	for _, tt := range []struct {
		name        string
		loads, rows int
		slot        func(tid, l int) (int, int)
		stage       int
	}{
		{"A, bf_slot_m", BF16ALoads, TileM, SlotM, BF16AStage},
		{"B, bf_slot_m", BF16BLoads, TileN, SlotM, BF16BStage},
		{"A, bf_slot_k", BF16ALoads, TileM, SlotK, BF16AStage},
		{"B, bf_slot_k", BF16BLoads, TileN, SlotK, BF16BStage},
	} {
		seen := map[[2]int]bool{}
		offs := map[int]bool{}
		for tid := range BF16Threads {
			for l := range tt.loads {
				row, kp := tt.slot(tid, l)
				if row < 0 || row >= tt.rows || kp < 0 || kp >= BF16Pairs || seen[[2]int{row, kp}] {
					t.Fatalf("%s: thread %d copy %d -> (%d, %d): outside the %dx%d tile or taken", tt.name, tid, l, row, kp, tt.rows, BF16Pairs)
				}
				seen[[2]int{row, kp}] = true
				off := SmemPair(row, kp)
				if off < 0 || off >= tt.stage || offs[off] {
					t.Fatalf("%s: (%d, %d) at word %d: outside the stage of %d or taken", tt.name, row, kp, off, tt.stage)
				}
				offs[off] = true
			}
		}
		if len(seen) != tt.rows*BF16Pairs {
			t.Errorf("%s: %d pairs stored, want %d", tt.name, len(seen), tt.rows*BF16Pairs)
		}
	}
}

// TestBF16Swizzle: the swizzle permutes each row's chunks (so the layout
// loses nothing), chunks are 16-byte aligned as ldmatrix needs, and a
// pair lies in its chunk.
func TestBF16Swizzle(t *testing.T) {
	for row := range TileM {
		seen := map[int]bool{}
		for c := range BF16Chunks {
			w := SmemChunk(row, c)
			if w%4 != 0 || w/4/BF16Chunks != row || seen[w] {
				t.Fatalf("row %d chunk %d at word %d: misaligned, outside its row or taken", row, c, w)
			}
			seen[w] = true
			for q := range 4 {
				if SmemPair(row, 4*c+q) != w+q {
					t.Fatalf("row %d pair %d at word %d, its chunk at %d", row, 4*c+q, SmemPair(row, 4*c+q), w)
				}
			}
		}
	}
}

// ldmatrixX4 is ldmatrix.sync.aligned.m8n8.x4.shared.b16 from the PTX ISA,
// written again here (the emulator has its own): lane l points at row l%8
// of matrix l/8 (addr, in words); lane l receives in register j the b16
// pair at row l/4, columns 2(l%4) and 2(l%4)+1 of matrix j.
func ldmatrixX4(smem []uint32, addr [32]int) (d [32][4]uint32) {
	for l := range 32 {
		for j := range 4 {
			d[l][j] = smem[addr[8*j+l/4]+l%4]
		}
	}
	return d
}

// TestBF16LdmatrixDeliversFragments: with every pair of a stage tagged by
// its (row, pair), ldmatrix.x4 at the kernel's lane addresses (bf_ldsm_a,
// bf_ldsm_b, through the swizzle) hands every lane exactly the pairs the
// mma's fragments need (bf_frag_a, bf_frag_b), for every mma tile of every
// warp and both k16 halves of a step. bf_frag_a and bf_frag_b are in turn
// held to spot values of the PTX ISA's figures for m16n8k16.
func TestBF16LdmatrixDeliversFragments(t *testing.T) {
	tag := func(row, kp int) uint32 { return uint32(row<<8 | kp) }
	stage := func(rows int) []uint32 {
		s := make([]uint32, rows*BF16Pairs)
		for row := range rows {
			for kp := range BF16Pairs {
				s[SmemPair(row, kp)] = tag(row, kp)
			}
		}
		return s
	}
	as, bs := stage(TileM), stage(TileN)
	for k16 := 0; k16 < BF16Chunks; k16 += 2 {
		for m0 := 0; m0 < TileM; m0 += 16 {
			var addr [32]int
			for lane := range 32 {
				r, c := LdsmA(lane)
				addr[lane] = SmemChunk(m0+r, k16+c)
			}
			d := ldmatrixX4(as, addr)
			for lane := range 32 {
				for i := range 4 {
					r, c := FragA16(lane, i)
					if c%2 != 0 || d[lane][i] != tag(m0+r, 4*k16+c/2) {
						t.Fatalf("A tile at row %d, k16 %d: lane %d a%d holds pair %#x, the mma wants row %d, columns %d-%d",
							m0, k16, lane, i, d[lane][i], m0+r, 8*k16+c, 8*k16+c+1)
					}
				}
			}
		}
		for n0 := 0; n0 < TileN; n0 += 16 {
			var addr [32]int
			for lane := range 32 {
				r, c := LdsmB(lane)
				addr[lane] = SmemChunk(n0+r, k16+c)
			}
			d := ldmatrixX4(bs, addr)
			for lane := range 32 {
				for i := range 4 {
					k, n := FragB16(lane, i%2)
					n += n0 + 8*(i/2)
					if k%2 != 0 || d[lane][i] != tag(n, 4*k16+k/2) {
						t.Fatalf("B tiles at column %d, k16 %d: lane %d register %d holds pair %#x, the mma wants column %d, rows %d-%d",
							n0, k16, lane, i, d[lane][i], n, 8*k16+k, 8*k16+k+1)
					}
				}
			}
		}
	}
	for _, s := range []struct {
		frag          func(lane, i int) (int, int)
		name          string
		lane, i, r, c int
	}{
		{FragA16, "A", 0, 0, 0, 0}, {FragA16, "A", 0, 1, 8, 0}, {FragA16, "A", 0, 2, 0, 8}, {FragA16, "A", 0, 3, 8, 8},
		{FragA16, "A", 31, 3, 15, 14}, {FragA16, "A", 6, 2, 1, 12}, {FragB16, "B", 5, 0, 2, 1}, {FragB16, "B", 5, 1, 10, 1},
		{FragB16, "B", 31, 1, 14, 7},
	} {
		if r, c := s.frag(s.lane, s.i); r != s.r || c != s.c {
			t.Errorf("%s: lane %d register %d -> (%d, %d), the PTX ISA says (%d, %d)", s.name, s.lane, s.i, r, c, s.r, s.c)
		}
	}
}

// banksDistinct says whether the width words from each of words (word
// offsets) fall in distinct 4-byte banks of the 32: one conflict-free
// shared-memory phase.
func banksDistinct(words []int, width int) bool {
	used := map[int]bool{}
	for _, w := range words {
		for q := range width {
			if used[(w+q)%32] {
				return false
			}
			used[(w+q)%32] = true
		}
	}
	return true
}

// TestBF16BanksFromIndexMath: straight from the index functions, without
// running a kernel: every ldmatrix phase of every warp's A and B loads
// covers the 32 banks once, and so does every warp-wide store of both
// loader orders; with the swizzle left out (chunk c of row r at r*4+c)
// the ldmatrix phases conflict, so this check can fail.
func TestBF16BanksFromIndexMath(t *testing.T) {
	phases := func(chunk func(row, c int) int) (bad int) {
		for k16 := 0; k16 < BF16Chunks; k16 += 2 {
			for _, tile := range []struct {
				rows int
				ldsm func(int) (int, int)
			}{{TileM, LdsmA}, {TileN, LdsmB}} {
				for r0 := 0; r0 < tile.rows; r0 += 16 {
					for j := range 4 {
						words := make([]int, 8)
						for q := range 8 {
							r, c := tile.ldsm(8*j + q)
							words[q] = chunk(r0+r, k16+c)
						}
						if !banksDistinct(words, 4) {
							bad++
						}
					}
				}
			}
		}
		return bad
	}
	if bad := phases(SmemChunk); bad != 0 {
		t.Errorf("%d ldmatrix phases with bank conflicts", bad)
	}
	if bad := phases(func(row, c int) int { return (row*BF16Chunks + c) * 4 }); bad == 0 {
		t.Error("unswizzled, no ldmatrix phase conflicts: the check cannot fail")
	}
	for _, tt := range []struct {
		name  string
		slot  func(tid, l int) (int, int)
		loads int
	}{{"bf_slot_m", SlotM, BF16ALoads}, {"bf_slot_k", SlotK, BF16ALoads}} {
		for warp := range BF16Threads / 32 {
			for l := range tt.loads {
				words := make([]int, 32)
				for lane := range 32 {
					words[lane] = SmemPair(tt.slot(warp*32+lane, l))
				}
				if !banksDistinct(words, 1) {
					t.Errorf("%s: warp %d copy %d stores with bank conflicts", tt.name, warp, l)
				}
			}
		}
	}
}

// TestBF16TapCursor: the kernels' step cursor (bf_tap_next from step 0)
// visits exactly bf_step's steps in order, for channel counts below, at
// and above a multiple of the step and for every filter size in the zoo.
func TestBF16TapCursor(t *testing.T) {
	for _, rs := range [][2]int{{1, 1}, {3, 3}, {5, 5}, {1, 7}, {7, 1}, {11, 11}} {
		for _, ch := range []int{1, 3, 31, 32, 33, 64, 100} {
			g := Conv{N: 1, C: ch, H: 16, W: 16, K: ch, R: rs[0], S: rs[1], P: tensor.ConvParams{StrideH: 1, StrideW: 1, PadH: 5, PadW: 5}}
			steps := rs[0] * rs[1] * ((ch + BF16TileK - 1) / BF16TileK)
			for kt, got := range BF16Taps(g, ch, steps) {
				r, s, c0 := BF16Step(g, ch, kt)
				if got != [3]int{r, s, c0} {
					t.Fatalf("%v, %d channels: step %d: the cursor is at (r %d, s %d, c0 %d), bf_step says (%d, %d, %d)",
						g, ch, kt, got[0], got[1], got[2], r, s, c0)
				}
			}
		}
	}
}
