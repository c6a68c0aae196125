package kernelhost

import (
	"fmt"
	"testing"

	"github.com/cnnctl/cnnctl/internal/cpu"
	"github.com/cnnctl/cnnctl/internal/tensor"
	"github.com/cnnctl/cnnctl/internal/tensor/tensortest"
)

// The TF32 forward and data gradient's swizzled layout and ldmatrix
// fragment loads (conv2d_tc.cuh: tc_sw_smem, tc_a_slot_sw, tc_ldsm_a,
// tc_ldsm_b), from the index math and through the emulator.

// TestTF32SwizzledLoadersCoverTiles: over one stage of the swizzled
// layout, the A copies (tc_a_slot_sw; tc_b_slot in the filter gradient)
// and the B copies (tc_b_slot) hit
// every tile element exactly once, at distinct offsets inside the stage;
// a thread's A copies fall in its row (tc_a_row_sw: the pixel it decodes
// once per block); rows of the layout
// stay rows (the swizzle permutes 16-byte chunks inside a row and keeps
// each chunk's 4 columns in order, as ldmatrix reads them).
func TestTF32SwizzledLoadersCoverTiles(t *testing.T) {
	for tid := range Threads {
		for l := range ALoads {
			if m, _ := ASlotSw(tid, l); m != ARowSw(tid) {
				t.Fatalf("thread %d: A copy %d in row %d, not its row %d", tid, l, m, ARowSw(tid))
			}
		}
	}
	for _, tt := range []struct {
		name        string
		loads, rows int
		slot        func(tid, l int) (int, int)
		stage       int
	}{
		{"A", ALoads, TileM, ASlotSw, ASwStage},
		{"A in B's order (filter gradient)", ALoads, TileM, BSlot, ASwStage},
		{"B", BLoads, TileN, BSlot, BSwStage},
	} {
		seen := map[[2]int]bool{}
		offs := map[int]bool{}
		for tid := range Threads {
			for l := range tt.loads {
				row, kk := tt.slot(tid, l)
				if row < 0 || row >= tt.rows || kk < 0 || kk >= TileK || seen[[2]int{row, kk}] {
					t.Fatalf("%s: thread %d copy %d goes to (%d, %d): outside the %dx%d tile or taken", tt.name, tid, l, row, kk, tt.rows, TileK)
				}
				seen[[2]int{row, kk}] = true
				off := SwSmem(row, kk)
				if off < 0 || off >= tt.stage || offs[off] || off/TileK != row {
					t.Fatalf("%s: (%d, %d) at shared offset %d: outside the stage of %d or its row, or taken", tt.name, row, kk, off, tt.stage)
				}
				if kk%4 != 0 && SwSmem(row, kk) != SwSmem(row, kk-1)+1 {
					t.Fatalf("%s: (%d, %d) at %d, not after column %d at %d", tt.name, row, kk, off, kk-1, SwSmem(row, kk-1))
				}
				offs[off] = true
			}
		}
		if len(seen) != tt.rows*TileK {
			t.Errorf("%s: %d tile elements copied, want %d", tt.name, len(seen), tt.rows*TileK)
		}
	}
}

// TestTF32LdmatrixDeliversFragments: with every element of a stage tagged
// by its (row, column), ldmatrix.x4 (ldmatrixX4, written from the PTX ISA
// in bf16_test.go: 32-bit element l%4 of row l/4 is the b16 pair ldmatrix
// gives lane l) at the kernel's lane addresses (tc_ldsm_a, tc_ldsm_b,
// through tc_sw_smem) hands every lane exactly the elements that
// m16n8k8's fragments need (tc_frag_a, tc_frag_b, which
// TestFragmentsArePTXLayout holds to the PTX ISA), for every mma tile of
// the block and both k8 halves of a step.
func TestTF32LdmatrixDeliversFragments(t *testing.T) {
	tag := func(row, kk int) uint32 { return uint32(row<<8 | kk) }
	stage := func(rows int) []uint32 {
		s := make([]uint32, rows*TileK)
		for row := range rows {
			for kk := range TileK {
				s[SwSmem(row, kk)] = tag(row, kk)
			}
		}
		return s
	}
	as, bs := stage(TileM), stage(TileN)
	for k8 := 0; k8 < TileK; k8 += 8 {
		for m0 := 0; m0 < TileM; m0 += 16 {
			var addr [32]int
			for lane := range 32 {
				r, c := LdsmATF32(lane)
				addr[lane] = SwSmem(m0+r, k8+c)
			}
			d := ldmatrixX4(as, addr)
			for lane := range 32 {
				for i := range 4 {
					r, c := FragA(lane, i)
					if d[lane][i] != tag(m0+r, k8+c) {
						t.Fatalf("A tile at row %d, k8 %d: lane %d a%d holds %#x, the mma wants (%d, %d)", m0, k8, lane, i, d[lane][i], m0+r, k8+c)
					}
				}
			}
		}
		for n0 := 0; n0 < TileN; n0 += 16 {
			var addr [32]int
			for lane := range 32 {
				n, kk := LdsmBTF32(lane)
				addr[lane] = SwSmem(n0+n, k8+kk)
			}
			d := ldmatrixX4(bs, addr)
			for lane := range 32 {
				for i := range 4 {
					k, n := FragB(lane, i%2)
					n += n0 + 8*(i/2)
					if d[lane][i] != tag(n, k8+k) {
						t.Fatalf("B tiles at column %d, k8 %d: lane %d register %d holds %#x, the mma wants column %d, row %d", n0, k8, lane, i, d[lane][i], n, k8+k)
					}
				}
			}
		}
	}
}

// TestTF32BanksFromIndexMath: straight from the index functions, every
// ldmatrix phase of every warp's A and B loads (8 rows of 16 bytes) covers
// the 32 banks once, and every warp-wide cp.async store of both tiles (in
// tc_a_slot_sw's and tc_b_slot's orders) hits 32 distinct banks; without the swizzle both conflict (so the check can
// fail).
func TestTF32BanksFromIndexMath(t *testing.T) {
	count := func(smem func(t, kk int) int) (ldsm, stores int) {
		for k8 := 0; k8 < TileK; k8 += 8 {
			for _, tile := range []struct {
				rows int
				ldsm func(int) (int, int)
			}{{TileM, LdsmATF32}, {TileN, LdsmBTF32}} {
				for r0 := 0; r0 < tile.rows; r0 += 16 {
					for j := range 4 {
						words := make([]int, 8)
						for q := range 8 {
							r, c := tile.ldsm(8*j + q)
							words[q] = smem(r0+r, k8+c)
							if words[q]%4 != 0 {
								t.Fatalf("ldmatrix row (%d, %d) at word %d: not 16-byte aligned", r0+r, k8+c, words[q])
							}
						}
						if !banksDistinct(words, 4) {
							ldsm++
						}
					}
				}
			}
		}
		for _, tt := range []struct {
			slot  func(tid, l int) (int, int)
			loads int
		}{{ASlotSw, ALoads}, {BSlot, ALoads}, {BSlot, BLoads}} {
			for warp := range Threads / 32 {
				for l := range tt.loads {
					words := make([]int, 32)
					for lane := range 32 {
						words[lane] = smem(tt.slot(warp*32+lane, l))
					}
					if !banksDistinct(words, 1) {
						stores++
					}
				}
			}
		}
		return ldsm, stores
	}
	if ldsm, stores := count(SwSmem); ldsm != 0 || stores != 0 {
		t.Errorf("%d ldmatrix phases and %d warp-wide stores with bank conflicts", ldsm, stores)
	}
	if ldsm, stores := count(func(t, kk int) int { return t*TileK + kk }); ldsm == 0 || stores == 0 {
		t.Errorf("unswizzled: %d ldmatrix phases and %d stores conflict: the check cannot fail", ldsm, stores)
	}
}

// tf32LdsmKernels are the emulated kernels with the swizzled layout, with
// their bank phases counted into bk.
var tf32LdsmKernels = map[string]func(g tensortest.Conv, in map[string][]float32, p Pipeline, mut Mutation, bk *Banks) (string, []float32, error){
	"Conv2DForward": func(g tensortest.Conv, in map[string][]float32, p Pipeline, mut Mutation, bk *Banks) (string, []float32, error) {
		y := nans(g.N * g.K * g.OH() * g.OW())
		return "y", y, Conv2DForwardTF32Banks(convOf(g), in["x"], in["w"], in["b"], y, p, mut, bk)
	},
	"Conv2DBackwardData": func(g tensortest.Conv, in map[string][]float32, p Pipeline, mut Mutation, bk *Banks) (string, []float32, error) {
		dx := nans(g.N * g.C * g.H * g.W)
		return "dx", dx, Conv2DBackwardDataTF32Banks(convOf(g), in["dy"], in["w"], dx, p, mut, bk)
	},
	"Conv2DBackwardFilter": func(g tensortest.Conv, in map[string][]float32, p Pipeline, mut Mutation, bk *Banks) (string, []float32, error) {
		dw := nans(g.K * g.C * g.R * g.S)
		return "dw", dw, Conv2DBackwardFilterTF32Banks(convOf(g), in["x"], in["dy"], dw, filterSplits, p, mut, bk)
	},
}

// ldsmPhases is the number of ldmatrix phases and of warp-wide stores that
// a GEMM of rows x cols over steps pipeline steps (summed over the splits)
// makes: per block and step, each warp's 2 k8 halves x (TC_MT + TC_NT/2)
// ldmatrix.x4 of 4 phases, and its ALoads + BLoads stores.
func ldsmPhases(rows, cols, steps int) (ldsm, stores int64) {
	blocks := int64((rows+TileM-1)/TileM) * int64((cols+TileN-1)/TileN)
	warps := int64(Threads / 32)
	return blocks * int64(steps) * warps * (TileK / 8) * (TileM/4/16 + TileN/2/8/2) * 4, blocks * int64(steps) * warps * (ALoads + BLoads)
}

// TestTF32LdsmBanks runs the kernels with the swizzled layout (forward,
// data and filter gradients) over the TF32 geometries on the emulator and counts their shared-memory phases:
// every ldmatrix phase and every cp.async store is conflict-free and
// 16-byte aligned, and there are as many as the kernel makes.
func TestTF32LdsmBanks(t *testing.T) {
	check := func(t *testing.T, bk Banks, ldsm, stores int64) {
		t.Helper()
		if bk.LdsmPhases != ldsm || bk.StorePhases != stores {
			t.Errorf("%d ldmatrix phases and %d stores, the kernel makes %d and %d", bk.LdsmPhases, bk.StorePhases, ldsm, stores)
		}
		if bk.LdsmConflicts != 0 || bk.StoreConflicts != 0 || bk.Misaligned != 0 {
			t.Errorf("bank conflicts: %+v", bk)
		}
	}
	for _, g := range tcGeometries() {
		for _, c := range g.Cases() {
			run, ok := tf32LdsmKernels[c.Op]
			if !ok {
				continue
			}
			t.Run(c.String(), func(t *testing.T) {
				var bk Banks
				if _, _, err := run(g, c.Inputs(), Eager, MutNone, &bk); err != nil {
					t.Fatal(err)
				}
				var ldsm, stores int64
				switch c.Op {
				case "Conv2DForward":
					ldsm, stores = ldsmPhases(g.N*g.OH()*g.OW(), g.K, g.R*g.S*((g.C+TileK-1)/TileK))
				case "Conv2DBackwardData":
					ldsm, stores = ldsmPhases(g.N*g.H*g.W, g.C, g.R*g.S*((g.K+TileK-1)/TileK))
				default:
					ldsm, stores = ldsmPhases(g.K, g.C*g.R*g.S, (g.N*g.OH()*g.OW()+TileK-1)/TileK)
				}
				check(t, bk, ldsm, stores)
			})
		}
	}
}

// TestTF32LdsmMutations: a wrong swizzle or wrong ldmatrix lanes fail the
// checks of TestConv2DTF32 (ldmatrix addresses that miss the stores'
// swizzle, A's matrices 1 and 2 swapped), or give the right values with
// bank conflicts that TestTF32LdsmBanks's count catches (no swizzle; a
// swizzle on the wrong row bits, consistent in stores and loads).
func TestTF32LdsmMutations(t *testing.T) {
	g := tensortest.Conv{N: 2, C: 20, H: 9, W: 9, K: 70, R: 3, S: 3,
		P: tensor.ConvParams{StrideH: 1, StrideW: 1, PadH: 1, PadW: 1}, Bias: true}
	for _, c := range g.Cases() {
		run, ok := tf32LdsmKernels[c.Op]
		if !ok {
			continue
		}
		want, err := tensortest.Outputs(cpu.NewReference(), c)
		if err != nil {
			t.Fatal(err)
		}
		in := c.Inputs()
		for _, tt := range []struct {
			name      string
			mut       Mutation
			wrong     bool // wrong values (else right values, bank conflicts)
			conflicts bool
		}{
			{"ldmatrix addresses unswizzled", MutSwizzleLoad, true, true},
			{"A's ldmatrix matrices 1 and 2 swapped", MutLdsmLane, true, false},
			{"no swizzle", MutNoSwizzle, false, true},
			{"swizzle on row bits 0-1", MutSwizzleBits, false, true},
		} {
			t.Run(fmt.Sprintf("%v/%s", c, tt.name), func(t *testing.T) {
				var bk Banks
				name, got, err := run(g, in, Lazy, tt.mut, &bk)
				if err != nil {
					t.Fatal(err)
				}
				exact := checkExact(g, c.Op, in, got, RoundTF32)
				tol := c.Check(outputs(name, got, want), want, tensortest.TF32)
				if tt.wrong && (exact == nil || tol == nil) {
					t.Errorf("a broken kernel passed: float64 check %v, TF32 tolerance %v", exact, tol)
				}
				if !tt.wrong && (exact != nil || tol != nil) {
					t.Errorf("a layout that only costs bank conflicts gave wrong values: %v; %v", exact, tol)
				}
				if conflicts := bk.LdsmConflicts+bk.StoreConflicts > 0; conflicts != tt.conflicts {
					t.Errorf("bank conflicts %+v, want conflicts: %v", bk, tt.conflicts)
				}
			})
		}
	}
}
