package cpu_test

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/cnnctl/cnnctl/internal/cpu"
	"github.com/cnnctl/cnnctl/internal/data"
	"github.com/cnnctl/cnnctl/internal/tensor"
)

// heldCase is a split and the loader options its batches are made with.
type heldCase struct {
	n, c, h, w, batch, pad int
	shuffle, flip, drop    bool
}

func (hc heldCase) String() string {
	return fmt.Sprintf("N%d C%d %dx%d batch%d pad%d shuffle=%t flip=%t droplast=%t", hc.n, hc.c, hc.h, hc.w, hc.batch, hc.pad, hc.shuffle, hc.flip, hc.drop)
}

// loader opens the synthetic split of the case's size and makes its loader.
func (hc heldCase) loader(t *testing.T) *data.Loader {
	t.Helper()
	d, err := data.Open(fmt.Sprintf("synthetic:%dx%dx%d", hc.c, hc.h, hc.w), data.Options{SyntheticTrain: hc.n, SyntheticTest: 1, SyntheticClasses: 7, Seed: int64(hc.n)})
	if err != nil {
		t.Fatal(err)
	}
	s := d.Train
	mean, std := make([]float32, hc.c), make([]float32, hc.c)
	for k := range mean {
		mean[k], std[k] = 0.3+0.1*float32(k), 0.2+0.05*float32(k)
	}
	l, err := data.NewLoader(s, data.LoaderOptions{BatchSize: hc.batch, Shuffle: hc.shuffle, Seed: 77, Mean: mean, Std: std,
		Augment: data.Augment{Pad: hc.pad, HFlip: hc.flip}, DropLast: hc.drop, Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// hold gives the loader's split and epoch e's tables to the backend.
func hold(t *testing.T, be *cpu.Backend, l *data.Loader, e int) tensor.DataSet {
	t.Helper()
	s, o := l.Split(), l.Options()
	set, err := be.HoldData(s.Pixels, s.Labels, tensor.DataParams{N: s.N, C: s.C, H: s.H, W: s.W, Pad: o.Augment.Pad, Mean: o.Mean, Std: o.Std})
	if err != nil {
		t.Fatal(err)
	}
	set.SetEpoch(l.Tables(e))
	return set
}

// TestHeldGatherMatchesLoader: every batch of two epochs gathered from the
// held set, at the batch counter, is bit for bit the loader's batch
// (images and labels), for shuffled and ordered epochs, padding 0 to 4,
// with and without flips, a smaller last batch and DropLast; and the
// tables draw several offsets and both flips.
func TestHeldGatherMatchesLoader(t *testing.T) {
	for _, hc := range []heldCase{
		{37, 3, 8, 8, 16, 4, true, true, false},
		{37, 3, 8, 8, 16, 4, true, true, true},
		{20, 1, 7, 5, 4, 2, false, true, false},
		{9, 2, 6, 9, 9, 0, true, true, false},
		{11, 3, 5, 5, 3, 3, true, false, false},
		{1, 3, 4, 4, 8, 1, false, true, false},
	} {
		t.Run(hc.String(), func(t *testing.T) {
			l := hc.loader(t)
			be := cpu.New()
			s := l.Split()
			chw := s.C * s.H * s.W
			x, y, at := be.New(tensor.Shape{hc.batch, s.C, s.H, s.W}), be.New(tensor.Shape{hc.batch}), be.New(tensor.Shape{1})
			seen := map[[3]int32]bool{}
			for e := range 2 {
				set := hold(t, be, l, e)
				order, crops := l.Tables(e)
				for q := range order {
					seen[[3]int32{crops[3*q], crops[3*q+1], crops[3*q+2]}] = true
				}
				if want := l.Order(e); fmt.Sprint(order) != fmt.Sprint(want) {
					t.Fatalf("epoch %d: order %v, Order %v", e, order, want)
				}
				it := l.Epoch(e, 0)
				batches := 0
				for b, ok := it.Next(); ok; b, ok = it.Next() {
					xv, yv := x.View(tensor.Shape{b.N, s.C, s.H, s.W}), y.View(tensor.Shape{b.N})
					be.Fill(xv, float32(math.NaN()))
					be.Fill(yv, float32(math.NaN()))
					be.Fill(at, float32(b.Index))
					set.Gather(xv, yv, at, hc.batch)
					if err := be.Err(); err != nil {
						t.Fatal(err)
					}
					gx, gy := make([]float32, b.N*chw), make([]float32, b.N)
					be.Download(gx, xv)
					be.Download(gy, yv)
					if i := firstDiff(gx, b.X); i >= 0 {
						t.Fatalf("epoch %d batch %d: x[%d] = %g, loader %g", e, b.Index, i, gx[i], b.X[i])
					}
					if i := firstDiff(gy, b.Y); i >= 0 {
						t.Fatalf("epoch %d batch %d: y[%d] = %g, loader %g", e, b.Index, i, gy[i], b.Y[i])
					}
					batches++
				}
				it.Close()
				set.Free()
				if batches != l.Batches() {
					t.Fatalf("epoch %d: %d batches, want %d", e, batches, l.Batches())
				}
			}
			flips := map[int32]bool{}
			for k := range seen {
				flips[k[2]] = true
			}
			if hc.n > 8 && (len(seen) < min(3, (2*hc.pad+1)*(2*hc.pad+1)) || hc.flip && len(flips) < 2) {
				t.Errorf("the tables drew only %v: offsets and flips are not exercised", seen)
			}
		})
	}
}

// firstDiff is the first index where a and b differ in their bits, -1 if none.
func firstDiff(a, b []float32) int {
	if len(a) != len(b) {
		return 0
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return i
		}
	}
	return -1
}

// TestHeldDataRejects: bad sets, tables and gathers are errors naming the
// op, and a rejected gather leaves x alone.
func TestHeldDataRejects(t *testing.T) {
	p := tensor.DataParams{N: 3, C: 1, H: 2, W: 2, Pad: 1, Mean: []float32{0}, Std: []float32{1}}
	img, lab := make([]uint8, 12), []int32{0, 1, 2}
	for _, tc := range []struct {
		name, want string
		img        []uint8
		lab        []int32
		p          tensor.DataParams
	}{
		{"short images", "11 image bytes", img[:11], lab, p},
		{"labels", "2 labels for 3 images", img, lab[:2], p},
		{"negative label", "label -1 of image 1", img, []int32{0, -1, 2}, p},
		{"padding", "crop padding 3", img, lab, tensor.DataParams{N: 3, C: 1, H: 2, W: 2, Pad: 3, Mean: []float32{0}, Std: []float32{1}}},
		{"std", "std[0] = 0", img, lab, tensor.DataParams{N: 3, C: 1, H: 2, W: 2, Mean: []float32{0}, Std: []float32{0}}},
	} {
		if _, err := cpu.New().HoldData(tc.img, tc.lab, tc.p); err == nil || !strings.HasPrefix(err.Error(), "cpu: hold data: ") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want cpu: hold data: …%s…", tc.name, err, tc.want)
		}
	}
	good := []int32{0, 0, 0, 1, 1, 1, 2, 2, 0}
	for _, tc := range []struct {
		name, want   string
		order, crops []int32
		n, batch, at int
	}{
		{"no tables", "no epoch's tables", nil, nil, 2, 2, 0},
		{"short order", "2 order and 9 crop entries", []int32{0, 1}, good, 2, 2, 0},
		{"image outside", "position 1: image 3", []int32{0, 3, 1}, good, 2, 2, 0},
		{"offset outside", "position 2: crop offset (3, 0)", []int32{0, 1, 2}, []int32{0, 0, 0, 1, 1, 1, 3, 0, 0}, 2, 2, 0},
		{"flip 2", "position 0: crop offset (0, 0) flip 2", []int32{0, 1, 2}, []int32{0, 0, 2, 1, 1, 1, 2, 2, 0}, 2, 2, 0},
		{"batch too big", "x holds 3 images, want 1 to the batch size 2", []int32{0, 1, 2}, good, 3, 2, 0},
		{"counter past the epoch", "at = 2 is not an index below 2", []int32{0, 1, 2}, good, 2, 2, 2},
		{"last batch too long", "batch 1 of 2 images reaches position 3, past the 3 images", []int32{0, 1, 2}, good, 2, 2, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			be := cpu.New()
			set, err := be.HoldData(img, lab, p)
			if err != nil {
				t.Fatal(err)
			}
			if tc.order != nil {
				set.SetEpoch(tc.order, tc.crops)
			}
			x, y, at := be.New(tensor.Shape{tc.n, 1, 2, 2}), be.New(tensor.Shape{tc.n}), be.New(tensor.Shape{1})
			be.Fill(x, 7)
			be.Fill(at, float32(tc.at))
			set.Gather(x, y, at, tc.batch)
			err = be.Err()
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "cpu: ") {
				t.Fatalf("err %v, want cpu: …%s…", err, tc.want)
			}
			got := make([]float32, x.Numel())
			be.Download(got, x)
			for _, g := range got {
				if g != 7 {
					t.Fatalf("x changed to %v", got)
				}
			}
		})
	}
}
