package data

import (
	"math"
	"slices"
	"testing"
)

// seqSplit has n 1xHxW images; image i's pixels are all i, label i mod k.
func seqSplit(n, h, w, k int) *Split {
	s := &Split{N: n, C: 1, H: h, W: w, Pixels: make([]uint8, n*h*w), Labels: make([]int32, n)}
	for i := range n {
		for j := range h * w {
			s.Pixels[i*h*w+j] = uint8(i)
		}
		s.Labels[i] = int32(i % k)
	}
	return s
}

// collect returns the labels and X of every batch of epoch e.
func collect(t *testing.T, l *Loader, e, skip int) (labels [][]int32, xs [][]float32) {
	t.Helper()
	it := l.Epoch(e, skip)
	defer it.Close()
	for {
		b, ok := it.Next()
		if !ok {
			break
		}
		if len(b.X) != b.N*l.chw || len(b.Y) != b.N || len(b.Labels) != b.N {
			t.Fatalf("batch %d: N %d but %d X, %d Y", b.Index, b.N, len(b.X), len(b.Y))
		}
		for i := range b.N {
			if b.Y[i] != float32(b.Labels[i]) {
				t.Fatalf("Y %v labels %v", b.Y, b.Labels)
			}
		}
		labels = append(labels, slices.Clone(b.Labels))
		xs = append(xs, slices.Clone(b.X))
	}
	return labels, xs
}

func TestLoaderOrderAndNorm(t *testing.T) {
	s := seqSplit(10, 2, 2, 10)
	l, err := NewLoader(s, LoaderOptions{BatchSize: 4, Mean: []float32{0.5}, Std: []float32{0.25}})
	if err != nil {
		t.Fatal(err)
	}
	if l.Batches() != 3 || l.Images() != 10 {
		t.Fatalf("batches %d images %d", l.Batches(), l.Images())
	}
	labels, xs := collect(t, l, 0, 0)
	if len(labels) != 3 || len(labels[2]) != 2 || labels[2][1] != 9 {
		t.Fatalf("labels %v", labels)
	}
	// Image 5 is pixel value 5: (5/255 - 0.5) / 0.25.
	want := float32((5.0/255 - 0.5) / 0.25)
	if got := xs[1][4]; math.Abs(float64(got-want)) > 1e-6 {
		t.Errorf("x = %v, want %v", got, want)
	}
	l, _ = NewLoader(s, LoaderOptions{BatchSize: 4, DropLast: true})
	if l.Batches() != 2 || l.Images() != 8 {
		t.Errorf("drop last: batches %d images %d", l.Batches(), l.Images())
	}
	if labels, _ := collect(t, l, 0, 0); len(labels) != 2 {
		t.Errorf("drop last: %d batches", len(labels))
	}
}

func TestLoaderDeterminism(t *testing.T) {
	s := seqSplit(103, 4, 4, 10)
	opts := LoaderOptions{BatchSize: 8, Shuffle: true, Seed: 42, Augment: Augment{Pad: 1, HFlip: true}, Workers: 3, Prefetch: 2}
	a, _ := NewLoader(s, opts)
	b, _ := NewLoader(s, opts)
	la0, xa0 := collect(t, a, 0, 0)
	lb0, xb0 := collect(t, b, 0, 0)
	if !equalNested(la0, lb0) || !equalNested(xa0, xb0) {
		t.Error("same seed and epoch gave different batches")
	}
	// Every image exactly once.
	var all []int32
	for _, bl := range la0 {
		all = append(all, bl...)
	}
	if len(all) != 103 {
		t.Errorf("%d images in an epoch", len(all))
	}
	la1, _ := collect(t, a, 1, 0)
	if equalNested(la0, la1) {
		t.Error("epochs 0 and 1 have the same order")
	}
	// Resuming: epoch 1 from batch 5 is the tail of epoch 1, on a fresh loader.
	c, _ := NewLoader(s, opts)
	lc, _ := collect(t, c, 1, 5)
	if !equalNested(lc, la1[5:]) {
		t.Error("skipping batches changed them")
	}
	// A different seed, a different order.
	opts.Seed = 43
	d, _ := NewLoader(s, opts)
	if ld, _ := collect(t, d, 0, 0); equalNested(ld, la0) {
		t.Error("seeds 42 and 43 give the same order")
	}
	// Abandoning an epoch midway, then starting another, is fine.
	it := a.Epoch(2, 0)
	it.Next()
	it.Next()
	if again, _ := collect(t, a, 0, 0); !equalNested(again, la0) {
		t.Error("epoch 0 differs after an abandoned epoch")
	}
	it.Close()
}

func equalNested[T comparable](a, b [][]T) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !slices.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

func TestAugment(t *testing.T) {
	// One 1x2x3 image:  1 2 3 / 4 5 6.
	s := &Split{N: 1, C: 1, H: 2, W: 3, Pixels: []uint8{1, 2, 3, 4, 5, 6}, Labels: []int32{0}}
	l, _ := NewLoader(s, LoaderOptions{BatchSize: 1, Mean: []float32{0}, Std: []float32{1.0 / 255}})
	dst := make([]float32, 6)
	cases := []struct {
		dy, dx int
		mirror bool
		want   []float32
	}{
		{0, 0, false, []float32{1, 2, 3, 4, 5, 6}},
		{0, 0, true, []float32{3, 2, 1, 6, 5, 4}},
		{1, 0, false, []float32{4, 5, 6, 0, 0, 0}},
		{-1, 1, false, []float32{0, 0, 0, 2, 3, 0}},
		{0, -1, true, []float32{2, 1, 0, 5, 4, 0}},
		{1, 1, true, []float32{0, 6, 5, 0, 0, 0}},
	}
	for _, c := range cases {
		l.transform(dst, s.Pixels, c.dy, c.dx, c.mirror)
		for i := range dst {
			if math.Abs(float64(dst[i]-c.want[i])) > 1e-4 {
				t.Errorf("dy %d dx %d mirror %v: %v, want %v", c.dy, c.dx, c.mirror, dst, c.want)
				break
			}
		}
	}
	// Over many epochs, flips and every crop offset occur, and nothing else.
	l, _ = NewLoader(s, LoaderOptions{BatchSize: 1, Mean: []float32{0}, Std: []float32{1.0 / 255}, Augment: Augment{Pad: 1, HFlip: true}})
	seen := map[[6]float32]bool{}
	for e := range 400 {
		_, xs := collect(t, l, e, 0)
		var k [6]float32
		for i, v := range xs[0] {
			k[i] = float32(math.Round(float64(v)))
		}
		seen[k] = true
	}
	if len(seen) != 18 {
		t.Errorf("%d distinct augmentations, want 9 crops x 2 flips = 18", len(seen))
	}
}

func TestLoaderNoAllocs(t *testing.T) {
	s := seqSplit(4096, 8, 8, 10)
	l, _ := NewLoader(s, LoaderOptions{BatchSize: 16, Shuffle: true, Augment: Augment{Pad: 2, HFlip: true}})
	it := l.Epoch(0, 0)
	defer it.Close()
	it.Next()
	allocs := testing.AllocsPerRun(100, func() { it.Next() })
	if allocs > 0 {
		t.Errorf("%v allocations per batch", allocs)
	}
}

func TestLoaderErrors(t *testing.T) {
	s := seqSplit(5, 2, 2, 2)
	for _, c := range []struct {
		o    LoaderOptions
		want string
	}{
		{LoaderOptions{}, "batch size 0"},
		{LoaderOptions{BatchSize: 2, Mean: []float32{0, 0}, Std: []float32{1, 1}}, "2 means and 2 stds for 1 channels"},
		{LoaderOptions{BatchSize: 2, Mean: []float32{0}, Std: []float32{0}}, "std[0] = 0"},
		{LoaderOptions{BatchSize: 6, DropLast: true}, "no full batch"},
		{LoaderOptions{BatchSize: 2, Augment: Augment{Pad: 3}}, "crop padding 3"},
	} {
		_, err := NewLoader(s, c.o)
		wantErr(t, err, c.want)
	}
}

func TestValSplit(t *testing.T) {
	// 3 classes of 100, 50 and 20 images.
	s := &Split{C: 1, H: 1, W: 1}
	for c, n := range []int{100, 50, 20} {
		for range n {
			s.Labels = append(s.Labels, int32(c))
			s.Pixels = append(s.Pixels, uint8(len(s.Pixels)))
		}
	}
	s.N = len(s.Labels)
	tr, va, err := ValSplit(s, 0.1, 7)
	if err != nil {
		t.Fatal(err)
	}
	trc, vac := tr.Stats("train", 3).Counts, va.Stats("val", 3).Counts
	if !slices.Equal(vac, []int{10, 5, 2}) || !slices.Equal(trc, []int{90, 45, 18}) {
		t.Errorf("val counts %v train counts %v", vac, trc)
	}
	// Disjoint and complete: pixels are unique ids.
	seen := map[uint8]bool{}
	for _, p := range append(slices.Clone(tr.Pixels), va.Pixels...) {
		seen[p] = true
	}
	if len(seen) != 170 {
		t.Errorf("%d distinct images, want 170", len(seen))
	}
	tr2, va2, _ := ValSplit(s, 0.1, 7)
	_, va3, _ := ValSplit(s, 0.1, 8)
	if !slices.Equal(va.Pixels, va2.Pixels) || !slices.Equal(tr.Pixels, tr2.Pixels) {
		t.Error("same seed, different split")
	}
	if slices.Equal(va.Pixels, va3.Pixels) {
		t.Error("seeds 7 and 8 give the same split")
	}
	for _, f := range []float64{0, 1, -0.5, math.NaN()} {
		_, _, err := ValSplit(s, f, 1)
		wantErr(t, err, "not in (0,1)")
	}
}

func TestInfo(t *testing.T) {
	// Channel 0 all 0 and 255 half-half: mean 0.5 std 0.5; channel 1 all 51: mean 0.2 std 0.
	s := &Split{N: 2, C: 2, H: 1, W: 2, Pixels: []uint8{0, 255, 51, 51, 255, 0, 51, 51}, Labels: []int32{1, 1}}
	d := &Dataset{Kind: "x", Classes: []string{"a", "b"}, Train: s}
	in := d.Info()
	si := in.Splits[0]
	if !slices.Equal(si.Counts, []int{0, 2}) || si.N != 2 || si.C != 2 {
		t.Errorf("info %+v", si)
	}
	if math.Abs(si.Mean[0]-0.5) > 1e-9 || math.Abs(si.Std[0]-0.5) > 1e-9 || math.Abs(si.Mean[1]-0.2) > 1e-9 || si.Std[1] != 0 {
		t.Errorf("mean %v std %v", si.Mean, si.Std)
	}
}
