//go:build cuda

package gpu

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

// augmentCase is one Augment call: dst (N,C,OH,OW) from (N,C,H,W) images.
type augmentCase struct {
	n, c, h, w, oh, ow, pad int
}

func (a augmentCase) String() string {
	return fmt.Sprintf("N%d C%d %dx%d->%dx%d pad%d", a.n, a.c, a.h, a.w, a.oh, a.ow, a.pad)
}

// inputs draws the images, every sample's crop (all offsets and both flips
// occur in big batches) and the normalisation.
func (a augmentCase) inputs(seed uint64) ([]uint8, []int32, tensor.AugmentParams) {
	r := rand.New(rand.NewPCG(seed, 11))
	src := make([]uint8, a.n*a.c*a.h*a.w)
	for i := range src {
		src[i] = uint8(r.IntN(256))
	}
	crops := make([]int32, 3*a.n)
	for i := range a.n {
		crops[3*i] = int32(r.IntN(a.h + 2*a.pad - a.oh + 1))
		crops[3*i+1] = int32(r.IntN(a.w + 2*a.pad - a.ow + 1))
		crops[3*i+2] = int32(r.IntN(2))
	}
	p := tensor.AugmentParams{H: a.h, W: a.w, Pad: a.pad, Mean: make([]float32, a.c), Std: make([]float32, a.c)}
	for k := range a.c {
		p.Mean[k], p.Std[k] = 0.2+0.3*r.Float32(), 0.1+0.3*r.Float32()
	}
	return src, crops, p
}

// runAugment runs Augment on be into a NaN-poisoned view at an odd offset
// with guard cells on both sides and returns the view's values; a changed
// guard cell is an error.
func runAugment(be tensor.Backend, a augmentCase, src []uint8, crops []int32, p tensor.AugmentParams) ([]float32, error) {
	const guard, sentinel = 3, -7777.5
	s := tensor.Shape{a.n, a.c, a.oh, a.ow}
	whole := be.New(tensor.Shape{guard + s.Numel() + guard})
	defer be.Free(whole)
	be.Fill(whole, sentinel)
	dst := whole.Slice(guard, s)
	be.Fill(dst, float32(math.NaN()))
	be.(tensor.Augmenter).Augment(dst, src, crops, p)
	all := make([]float32, whole.Numel())
	be.Download(all, whole)
	if err := be.Sync(); err != nil {
		return nil, err
	}
	for i, v := range all {
		if (i < guard || i >= len(all)-guard) && v != sentinel {
			return nil, fmt.Errorf("wrote %g outside dst, at offset %d", v, i-guard)
		}
	}
	return all[guard : len(all)-guard], nil
}

// TestAugment checks the GPU augmentation against the CPU reference:
// padding 0 and 4, odd sizes, windows smaller than the image, 1 and 3
// channels, batch 1 and 128.
func TestAugment(t *testing.T) {
	be := newBackend(t)
	ref := cpu.NewReference()
	for i, a := range []augmentCase{
		{1, 1, 1, 1, 1, 1, 0},
		{1, 3, 32, 32, 32, 32, 4},
		{128, 3, 32, 32, 32, 32, 4},
		{128, 1, 28, 28, 28, 28, 0},
		{128, 1, 28, 28, 28, 28, 4},
		{7, 3, 13, 9, 13, 9, 4},
		{5, 3, 7, 9, 7, 9, 2},
		{3, 1, 17, 11, 5, 7, 0},
		{33, 3, 31, 29, 24, 24, 4},
		{2, 3, 5, 3, 9, 7, 2}, // the window is the whole padded image
		{1, 3, 96, 96, 96, 96, 4},
	} {
		t.Run(a.String(), func(t *testing.T) {
			src, crops, p := a.inputs(uint64(i) + 1)
			want, err := runAugment(ref, a, src, crops, p)
			if err != nil {
				t.Fatalf("reference: %v", err)
			}
			got, err := runAugment(be, a, src, crops, p)
			if err != nil {
				t.Fatal(err)
			}
			if j, e := tensortest.Compare(got, want); e > 1 {
				t.Fatalf("dst[%d] = %g, want %g (|Δ| = %.3g × tolerance)", j, got[j], want[j], e)
			}
			inexact := 0
			for j := range want {
				if math.Float32bits(got[j]) != math.Float32bits(want[j]) {
					inexact++
				}
			}
			t.Logf("%d of %d elements differ from the CPU reference in their bits (within tolerance)", inexact, len(want))
		})
	}
}

// TestAugmentRejects checks that a crop outside the padded image is an error
// of the op (sticky, as every backend error).
func TestAugmentRejects(t *testing.T) {
	be := newBackend(t)
	dst := be.New(tensor.Shape{1, 1, 2, 2})
	be.Augment(dst, make([]uint8, 4), []int32{3, 0, 0}, tensor.AugmentParams{H: 2, W: 2, Pad: 1, Mean: []float32{0}, Std: []float32{1}})
	if err := be.Err(); err == nil || !strings.HasPrefix(err.Error(), "gpu: augment: sample 0: crop offset (3, 0)") {
		t.Fatalf("err %v, want gpu: augment: sample 0: crop offset (3, 0) …", err)
	}
	// The backend is now failed; its cleanup's Close reports the error.
	be.mu.Lock()
	be.err = nil
	be.mu.Unlock()
}
