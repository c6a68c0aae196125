package train

import (
	"github.com/cnnctl/cnnctl/internal/data"
	"github.com/cnnctl/cnnctl/internal/tensor"
)

// LoaderSource adapts a data.Loader to Source, and makes its split
// holdable by a backend (HoldableSource): the batches are then made there
// from the same images and the same draws.
type LoaderSource struct{ L *data.Loader }

// Batches is the loader's number of batches per epoch.
func (s LoaderSource) Batches() int { return s.L.Batches() }

// Images is the loader's number of images per epoch.
func (s LoaderSource) Images() int { return s.L.Images() }

// BatchSize is the loader's batch size.
func (s LoaderSource) BatchSize() int { return s.L.Options().BatchSize }

// HoldData returns the loader's split and the parameters of its batches.
func (s LoaderSource) HoldData() ([]uint8, []int32, tensor.DataParams) {
	sp, o := s.L.Split(), s.L.Options()
	return sp.Pixels, sp.Labels, tensor.DataParams{N: sp.N, C: sp.C, H: sp.H, W: sp.W, Pad: o.Augment.Pad, Mean: o.Mean, Std: o.Std}
}

// Tables returns the loader's draws of epoch e (data.Loader.Tables).
func (s LoaderSource) Tables(e int) (order, crops []int32) { return s.L.Tables(e) }

// Epoch starts the loader's epoch e, skipping skip batches.
func (s LoaderSource) Epoch(e, skip int) Iterator { return &loaderIter{it: s.L.Epoch(e, skip)} }

type loaderIter struct {
	it *data.Iterator
	b  Batch
}

func (i *loaderIter) Next() (*Batch, bool) {
	b, ok := i.it.Next()
	if !ok {
		return nil, false
	}
	i.b = Batch{X: b.X, Y: b.Y, N: b.N}
	return &i.b, true
}

func (i *loaderIter) Close() { i.it.Close() }
