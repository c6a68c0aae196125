package cpu_test

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/cnnctl/cnnctl/internal/cpu"
	"github.com/cnnctl/cnnctl/internal/data"
	"github.com/cnnctl/cnnctl/internal/tensor"
)

// augment runs Augment on a NaN-poisoned dst of shape s and returns dst.
func augment(t *testing.T, be *cpu.Backend, s tensor.Shape, src []uint8, crops []int32, p tensor.AugmentParams) []float32 {
	t.Helper()
	dst := be.New(s)
	be.Fill(dst, float32(math.NaN()))
	be.Augment(dst, src, crops, p)
	if err := be.Err(); err != nil {
		t.Fatal(err)
	}
	got := make([]float32, dst.Numel())
	be.Download(got, dst)
	return got
}

// TestAugmentHand checks worked examples. The image (1,1,2,3) is
//
//	  0  51 102
//	153 204 255
//
// i.e. 0, 0.2, 0.4, 0.6, 0.8, 1 after /255.
func TestAugmentHand(t *testing.T) {
	img := []uint8{0, 51, 102, 153, 204, 255}
	v := func(p uint8) float32 { return float32(p) / 255 }
	id := tensor.AugmentParams{H: 2, W: 3, Pad: 1, Mean: []float32{0}, Std: []float32{1}}
	for _, tc := range []struct {
		name string
		out  tensor.Shape
		src  []uint8
		crop []int32
		p    tensor.AugmentParams
		want []float32
	}{
		{"centre", tensor.Shape{1, 1, 2, 3}, img, []int32{1, 1, 0}, id,
			[]float32{0, v(51), v(102), v(153), v(204), 1}},
		{"centre flipped", tensor.Shape{1, 1, 2, 3}, img, []int32{1, 1, 1}, id,
			[]float32{v(102), v(51), 0, 1, v(204), v(153)}},
		{"top left", tensor.Shape{1, 1, 2, 3}, img, []int32{0, 0, 0}, id,
			[]float32{0, 0, 0, 0, 0, v(51)}},
		// The window is cropped first, then mirrored: (0,0) flipped reads
		// padded columns 2, 1, 0 = image columns 1, 0, -1.
		{"top left flipped", tensor.Shape{1, 1, 2, 3}, img, []int32{0, 0, 1}, id,
			[]float32{0, 0, 0, v(51), 0, 0}},
		{"bottom right", tensor.Shape{1, 1, 2, 3}, img, []int32{2, 2, 0}, id,
			[]float32{v(204), 1, 0, 0, 0, 0}},
		// A 1x2 window without padding, mirrored: row 1, columns 2, 1.
		{"small window no pad", tensor.Shape{1, 1, 1, 2}, img, []int32{1, 1, 1},
			tensor.AugmentParams{H: 2, W: 3, Mean: []float32{0}, Std: []float32{1}},
			[]float32{1, v(204)}},
		// Two channels, two samples: (v - mean)/std, padding is pixel 0.
		{"normalised", tensor.Shape{2, 2, 1, 1}, []uint8{255, 0, 0, 255}, []int32{0, 0, 0, 1, 1, 1},
			tensor.AugmentParams{H: 1, W: 1, Pad: 1, Mean: []float32{0.5, 0}, Std: []float32{0.25, 2}},
			[]float32{-2, 0, -2, 0.5}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, be := range []*cpu.Backend{cpu.NewReference(), cpu.New()} {
				got := augment(t, be, tc.out, tc.src, tc.crop, tc.p)
				for i := range tc.want {
					if got[i] != tc.want[i] {
						t.Fatalf("%s: dst = %v, want %v", be.Name(), got, tc.want)
					}
				}
			}
		})
	}
}

// TestAugmentRejects checks that bad arguments are errors and leave dst alone.
func TestAugmentRejects(t *testing.T) {
	p := tensor.AugmentParams{H: 2, W: 2, Pad: 1, Mean: []float32{0}, Std: []float32{1}}
	src := make([]uint8, 4)
	for _, tc := range []struct {
		name, want string
		src        []uint8
		crop       []int32
		p          tensor.AugmentParams
	}{
		{"offset past the padding", "outside", src, []int32{3, 0, 0}, p},
		{"negative offset", "outside", src, []int32{0, -1, 0}, p},
		{"flip 2", "flip 2", src, []int32{0, 0, 2}, p},
		{"short source", "source bytes", src[:3], []int32{0, 0, 0}, p},
		{"two crops for one sample", "crop values", src, []int32{0, 0, 0, 0, 0, 0}, p},
		{"zero std", "std[0]", src, []int32{0, 0, 0}, tensor.AugmentParams{H: 2, W: 2, Mean: []float32{0}, Std: []float32{0}}},
		{"mean per channel", "want 1 values", src, []int32{0, 0, 0}, tensor.AugmentParams{H: 2, W: 2, Mean: []float32{0, 0}, Std: []float32{1}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			be := cpu.NewReference()
			dst := be.New(tensor.Shape{1, 1, 2, 2})
			be.Fill(dst, 7)
			be.Augment(dst, tc.src, tc.crop, tc.p)
			err := be.Err()
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "cpu: augment: ") {
				t.Fatalf("err %v, want \"cpu: augment: …%s…\"", err, tc.want)
			}
			got := make([]float32, 4)
			be.Download(got, dst) // the CPU backend still copies after an error
			for _, g := range got {
				if g != 7 {
					t.Fatalf("dst changed to %v", got)
				}
			}
		})
	}
}

// TestAugmentMatchesLoader checks that the loader's augmented images are,
// bit for bit, Augment of the same image with one of the crops the loader
// may draw, and that the loader's draws cover several offsets and both flips.
func TestAugmentMatchesLoader(t *testing.T) {
	for _, tc := range []struct {
		c, h, w, pad int
		flip         bool
	}{
		{3, 7, 9, 2, true},
		{1, 5, 5, 4, true},
		{3, 6, 4, 0, true},
		{2, 8, 8, 3, false},
	} {
		const n, bs = 41, 16
		r := rand.New(rand.NewPCG(uint64(tc.c*100+tc.pad), 9))
		s := &data.Split{N: n, C: tc.c, H: tc.h, W: tc.w, Pixels: make([]uint8, n*tc.c*tc.h*tc.w), Labels: make([]int32, n)}
		for i := range s.Pixels {
			s.Pixels[i] = uint8(r.IntN(256))
		}
		mean, std := make([]float32, tc.c), make([]float32, tc.c)
		for k := range mean {
			mean[k], std[k] = 0.3+0.1*float32(k), 0.2+0.05*float32(k)
		}
		l, err := data.NewLoader(s, data.LoaderOptions{BatchSize: bs, Seed: 5, Mean: mean, Std: std,
			Augment: data.Augment{Pad: tc.pad, HFlip: tc.flip}, Workers: 1})
		if err != nil {
			t.Fatal(err)
		}
		p := tensor.AugmentParams{H: tc.h, W: tc.w, Pad: tc.pad, Mean: mean, Std: std}
		be := cpu.NewReference()
		chw := tc.c * tc.h * tc.w
		seen := map[[3]int32]bool{}
		it := l.Epoch(0, 0)
		for b, ok := it.Next(); ok; b, ok = it.Next() {
			for i := range b.N {
				idx := b.Index*bs + i // no shuffle: the split's order
				want := b.X[i*chw : (i+1)*chw]
				img := s.Image(idx)
				found := false
				for oy := int32(0); oy <= int32(2*tc.pad) && !found; oy++ {
					for ox := int32(0); ox <= int32(2*tc.pad) && !found; ox++ {
						for f := int32(0); f <= 1 && !found; f++ {
							got := augment(t, be, tensor.Shape{1, tc.c, tc.h, tc.w}, img, []int32{oy, ox, f}, p)
							if equalBits(got, want) {
								found = true
								seen[[3]int32{oy, ox, f}] = true
							}
						}
					}
				}
				if !found {
					t.Fatalf("%+v: image %d: no crop (oy, ox, flip) reproduces the loader's floats", tc, idx)
				}
			}
		}
		it.Close()
		flips := map[int32]bool{}
		for k := range seen {
			flips[k[2]] = true
		}
		wantCrops := min(3, (2*tc.pad+1)*(2*tc.pad+1))
		if len(seen) < wantCrops || (tc.flip && len(flips) < 2) {
			t.Errorf("%+v: the loader drew only %v: the test did not exercise offsets and flips", tc, seen)
		}
	}
}

func equalBits(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}
