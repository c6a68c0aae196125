//go:build cgo

package kernelhost

import (
	"fmt"
	"math"
	"testing"

	"github.com/cnnctl/cnnctl/internal/tensor"
	"github.com/cnnctl/cnnctl/internal/tensor/tensortest"
)

// TestBNStats1x1: the epilogue statistics over the outputs of the 1x1
// class's forwards (conv2d_forward_1x1_bnstats_tf32, its _v4 form and
// conv2d_forward_1x1_bnstats_bf16 store y through the plain 1x1 forwards'
// op.store and take their partials of the stored values over the same
// TC_BM flat rows of N*OH*OW, so bnstats_emu.c's partials of the emulated
// 1x1 forward's y are theirs). On ragged 1x1 shapes (rows and channels not
// multiples of the 128x64 tile, fewer rows than one tile) with a bias of
// up to 10³ (means far from zero), each form's y (NaN-poisoned first,
// every element stored exactly once) gives partials of bnstats.cuh's
// layout (each partial its tile's float64 mean and M2 within the bound)
// that combine to every channel's float64 mean and variance within
// bnstats.cuh's bound; and the 16-byte form's y is the 4-byte form's bit
// for bit (the statistics then are too).
func TestBNStats1x1(t *testing.T) {
	p := tensor.ConvParams{StrideH: 1, StrideW: 1}
	shapes := []tensortest.Conv{
		{N: 3, C: 20, H: 7, W: 7, K: 70, R: 1, S: 1, P: p, Bias: true},   // rows 147: 2 tiles, the last of 19 rows
		{N: 3, C: 32, H: 14, W: 14, K: 40, R: 1, S: 1, P: p, Bias: true}, // 16-byte form; rows 588
		{N: 1, C: 36, H: 6, W: 6, K: 129, R: 1, S: 1, P: p, Bias: true},  // rows 36 < one tile; 3 column blocks
		{N: 5, C: 64, H: 8, W: 8, K: 16, R: 1, S: 1, P: p, Bias: false},  // 16-byte form; rows 320
	}
	for _, g := range shapes {
		in := g.Cases()[0].Inputs()
		if g.Bias {
			for i := range in["b"] {
				in["b"][i] *= 1000
			}
		}
		cg, l := convOf(g), g.OH()*g.OW()
		forms := []struct {
			name string
			run  func(y []float32) error
		}{
			{"conv2d_forward_1x1_bnstats_tf32", func(y []float32) error {
				return Conv2DForward1x1TF32(cg, in["x"], in["w"], in["b"], y, Conv1x1Run{})
			}},
			{"conv2d_forward_1x1_bnstats_bf16", func(y []float32) error {
				return Conv2DForward1x1BF16(cg, in["x"], in["w"], in["b"], y, BF16Run{})
			}},
		}
		if Vec4(cg, Slot1x1Forward, true) {
			forms = append(forms, struct {
				name string
				run  func(y []float32) error
			}{"conv2d_forward_1x1_v4_bnstats_tf32", func(y []float32) error {
				return Conv2DForward1x1TF32(cg, in["x"], in["w"], in["b"], y, Conv1x1Run{Vec4: true})
			}})
		}
		var four []float32
		for _, f := range forms {
			t.Run(fmt.Sprintf("%v/%s", g, f.name), func(t *testing.T) {
				y := nans(g.N * g.K * l)
				if err := f.run(y); err != nil {
					t.Fatal(err)
				}
				for i, v := range y {
					if math.IsNaN(float64(v)) {
						t.Fatalf("y[%d] is NaN: not stored", i)
					}
				}
				switch f.name {
				case "conv2d_forward_1x1_bnstats_tf32":
					four = y
				case "conv2d_forward_1x1_v4_bnstats_tf32":
					if i := firstDiff(y, four); i >= 0 {
						t.Errorf("y[%d] = %g, the 4-byte form's %g", i, y[i], four[i])
					}
				}
				part, err := BNStatsPartials(y, g.N, g.K, l)
				if err != nil {
					t.Fatal(err)
				}
				if want := 2 * g.K * BNStatsParts(g.N*l); len(part) != want {
					t.Fatalf("%d partials, want %d", len(part), want)
				}
				if err := checkPartialLayout(y, g.N, g.K, l, part); err != nil {
					t.Error(err)
				}
				worst, err := checkCombine(y, g.N, g.K, l, part)
				if err != nil {
					t.Error(err)
				}
				t.Logf("largest |Δ|/bound: mean %.3g, variance %.3g", worst[0], worst[1])
			})
		}
	}
}
