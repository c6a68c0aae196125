//go:build cuda

package gpu

import (
	"math"
	"strings"
	"testing"

	"github.com/cnnctl/cnnctl/internal/data"
	"github.com/cnnctl/cnnctl/internal/tensor"
)

// TestGatherMatchesLoader: batches gathered on the GPU from the held set,
// at a batch counter in device memory, are bit for bit internal/data's
// loader batches: two shuffled epochs of 300 CIFAR-sized images at batch
// 128 (the last of 44), padding 4 and flips, into NaN-poisoned views.
func TestGatherMatchesLoader(t *testing.T) {
	be := newBackend(t)
	const n, bs = 300, 128
	d, err := data.Open("synthetic", data.Options{SyntheticTrain: n, SyntheticTest: 1, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	s := d.Train
	l, err := data.NewLoader(s, data.LoaderOptions{BatchSize: bs, Shuffle: true, Seed: 1,
		Mean: []float32{0.4914, 0.4822, 0.4465}, Std: []float32{0.2470, 0.2435, 0.2616}, Augment: data.Augment{Pad: 4, HFlip: true}})
	if err != nil {
		t.Fatal(err)
	}
	o := l.Options()
	set, err := be.HoldData(s.Pixels, s.Labels, tensor.DataParams{N: n, C: 3, H: 32, W: 32, Pad: 4, Mean: o.Mean, Std: o.Std})
	if err != nil {
		t.Fatal(err)
	}
	defer set.Free()
	x, y, at := be.New(tensor.Shape{bs, 3, 32, 32}), be.New(tensor.Shape{bs}), be.New(tensor.Shape{1})
	for e := range 2 {
		set.SetEpoch(l.Tables(e))
		it := l.Epoch(e, 0)
		for b, ok := it.Next(); ok; b, ok = it.Next() {
			xv, yv := x.View(tensor.Shape{b.N, 3, 32, 32}), y.View(tensor.Shape{b.N})
			be.Fill(xv, float32(math.NaN()))
			be.Fill(yv, float32(math.NaN()))
			be.Fill(at, float32(b.Index))
			set.Gather(xv, yv, at, bs)
			gx, gy := make([]float32, xv.Numel()), make([]float32, b.N)
			be.Download(gx, xv)
			be.Download(gy, yv)
			if err := be.Sync(); err != nil {
				t.Fatal(err)
			}
			for i := range gx {
				if math.Float32bits(gx[i]) != math.Float32bits(b.X[i]) {
					t.Fatalf("epoch %d batch %d: x[%d] = %g, loader %g", e, b.Index, i, gx[i], b.X[i])
				}
			}
			for i := range gy {
				if gy[i] != b.Y[i] {
					t.Fatalf("epoch %d batch %d: y[%d] = %g, loader %g", e, b.Index, i, gy[i], b.Y[i])
				}
			}
		}
		it.Close()
	}
}

// TestGatherRejects: a gather before any epoch's tables is an error of the
// op, as on the CPU.
func TestGatherRejects(t *testing.T) {
	be := newBackend(t)
	set, err := be.HoldData(make([]uint8, 4), []int32{0}, tensor.DataParams{N: 1, C: 1, H: 2, W: 2, Mean: []float32{0}, Std: []float32{1}})
	if err != nil {
		t.Fatal(err)
	}
	defer set.Free()
	set.Gather(be.New(tensor.Shape{1, 1, 2, 2}), be.New(tensor.Shape{1}), be.New(tensor.Shape{1}), 1)
	if err := be.Err(); err == nil || !strings.HasPrefix(err.Error(), "gpu: gather: no epoch's tables were set") {
		t.Fatalf("err %v, want gpu: gather: no epoch's tables were set …", err)
	}
	be.mu.Lock()
	be.err = nil
	be.mu.Unlock()
}
