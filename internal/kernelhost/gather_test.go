//go:build cgo

package kernelhost

import (
	"fmt"
	"math"
	"testing"

	"github.com/cnnctl/cnnctl/internal/cpu"
	"github.com/cnnctl/cnnctl/internal/data"
	"github.com/cnnctl/cnnctl/internal/tensor/tensortest"
)

// gatherGrids are the launches tried: one block, one element per thread,
// and the GPU backend's grid1D on a 132-SM GPU (at most 32 blocks per SM).
func gatherGrids(elems int) []int {
	return []int{1, (elems + 255) / 256, min((elems+255)/256, 32*132), 3}
}

// gatherSame is the first element where got and want differ in their bits.
func gatherSame(what string, got, want []float32) error {
	if len(got) != len(want) {
		return fmt.Errorf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range want {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			return fmt.Errorf("%s[%d] = %g (%#08x), want %g (%#08x)", what, i, got[i], math.Float32bits(got[i]), want[i], math.Float32bits(want[i]))
		}
	}
	return nil
}

// TestGatherSharedCases: gather_batch, emulated over several grids, writes
// every element of x once and gives the CPU reference's x and y bit for
// bit on every shared case.
func TestGatherSharedCases(t *testing.T) {
	for _, g := range tensortest.GatherGeometries() {
		t.Run(g.String(), func(t *testing.T) {
			want, err := tensortest.Outputs(cpu.NewReference(), g.Case())
			if err != nil {
				t.Fatal(err)
			}
			images, labels, order, crops, p := g.Draw()
			elems := g.Rows * g.C * g.H * g.W
			for _, grid := range gatherGrids(elems) {
				a := GatherArgs{Images: images, Labels: labels, Order: order, Crops: crops, Norm: append(append([]float32{}, p.Mean...), p.Std...),
					At: float32(g.At), X: nans(elems), Y: nans(g.Rows), Batch: g.Batch, Rows: g.Rows, C: g.C, H: g.H, W: g.W, Pad: g.Pad, Grid: grid, Block: 256}
				count, err := EmulateGather(a)
				if err != nil {
					t.Fatal(err)
				}
				for i, c := range count {
					if c != 1 {
						t.Fatalf("grid %d: x[%d] written %d times", grid, i, c)
					}
				}
				if err := gatherSame("x", a.X, want["x"]); err != nil {
					t.Fatalf("grid %d: %v", grid, err)
				}
				if err := gatherSame("y", a.Y, want["y"]); err != nil {
					t.Fatalf("grid %d: %v", grid, err)
				}
			}
		})
	}
}

// TestGatherMatchesLoader: the emulated kernel, fed internal/data's
// tables, makes the loader's batches bit for bit: two shuffled epochs of
// 45 CIFAR-sized images at batch 16 (the last batch of 13), padding 4 and
// flips.
func TestGatherMatchesLoader(t *testing.T) {
	const n, bs = 45, 16
	d, err := data.Open("synthetic", data.Options{SyntheticTrain: n, SyntheticTest: 1, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	s := d.Train
	mean, std := []float32{0.4914, 0.4822, 0.4465}, []float32{0.2470, 0.2435, 0.2616}
	l, err := data.NewLoader(s, data.LoaderOptions{BatchSize: bs, Shuffle: true, Seed: 1, Mean: mean, Std: std, Augment: data.Augment{Pad: 4, HFlip: true}})
	if err != nil {
		t.Fatal(err)
	}
	for e := range 2 {
		order, crops := l.Tables(e)
		it := l.Epoch(e, 0)
		for b, ok := it.Next(); ok; b, ok = it.Next() {
			elems := b.N * 3 * 32 * 32
			a := GatherArgs{Images: s.Pixels, Labels: s.Labels, Order: order, Crops: crops, Norm: append(append([]float32{}, mean...), std...),
				At: float32(b.Index), X: nans(elems), Y: nans(b.N), Batch: bs, Rows: b.N, C: 3, H: 32, W: 32, Pad: 4, Grid: (elems + 255) / 256, Block: 256}
			if _, err := EmulateGather(a); err != nil {
				t.Fatal(err)
			}
			if err := gatherSame("x", a.X, b.X); err != nil {
				t.Fatalf("epoch %d batch %d (%d images): %v", e, b.Index, b.N, err)
			}
			if err := gatherSame("y", a.Y, b.Y); err != nil {
				t.Fatalf("epoch %d batch %d: %v", e, b.Index, err)
			}
		}
		it.Close()
	}
}

// TestGatherOutOfRange: a batch counter that is not a whole number, is
// negative, NaN, or whose rows reach past the epoch writes nothing.
func TestGatherOutOfRange(t *testing.T) {
	g := tensortest.GatherGeometries()[5] // 13 images, batch 5, rows 3
	images, labels, order, crops, p := g.Draw()
	for _, at := range []float32{2.5, 2 + 1.0/1024, -1, float32(math.NaN()), float32(math.Inf(1)), 3, 1 << 24} {
		rows := g.Rows
		a := GatherArgs{Images: images, Labels: labels, Order: order, Crops: crops, Norm: append(append([]float32{}, p.Mean...), p.Std...),
			At: at, X: nans(rows * g.C * g.H * g.W), Y: nans(rows), Batch: g.Batch, Rows: rows, C: g.C, H: g.H, W: g.W, Pad: g.Pad, Grid: 4, Block: 256}
		count, err := EmulateGather(a)
		if err != nil {
			t.Fatal(err)
		}
		for i, c := range count {
			if c != 0 || !math.IsNaN(float64(a.X[i])) {
				t.Fatalf("at %g: x[%d] written (%d times, %g)", at, i, c, a.X[i])
			}
		}
		for i, v := range a.Y {
			if !math.IsNaN(float64(v)) {
				t.Fatalf("at %g: y[%d] = %g written", at, i, v)
			}
		}
	}
}

// TestGatherFirst: the batch's first position, at the edges of the epoch
// and of the counter's whole numbers.
func TestGatherFirst(t *testing.T) {
	for _, tc := range []struct {
		at             float32
		batch, rows, n int
		want           int64
	}{
		{0, 5, 5, 13, 0},
		{2, 5, 3, 13, 10}, // the last batch, exactly to the end
		{2, 5, 4, 13, -1}, // one past it
		{1, 5, 5, 10, 5},  // the last full batch
		{2, 5, 1, 10, -1}, // a batch past the epoch
		{2.5, 5, 1, 13, -1},
		{-1, 5, 1, 13, -1},
		{float32(math.NaN()), 5, 1, 13, -1},
		{float32(math.Inf(1)), 5, 1, 13, -1},
		{1 << 24, 1, 1, 1 << 30, -1},
		{1<<24 - 1, 128, 127, 1<<31 - 1, (1<<24 - 1) * 128}, // 64-bit positions
	} {
		if got := GatherFirst(tc.at, tc.batch, tc.rows, tc.n); got != tc.want {
			t.Errorf("gather_first(%g, batch %d, rows %d, n %d) = %d, want %d", tc.at, tc.batch, tc.rows, tc.n, got, tc.want)
		}
	}
}
