package main

import (
	"fmt"
	"io/fs"

	"github.com/cnnctl/cnnctl/configs"
	"github.com/cnnctl/cnnctl/internal/data"
	"github.com/cnnctl/cnnctl/internal/tensor"
	"github.com/cnnctl/cnnctl/internal/train"
)

// loaderSource adapts a data.Loader to train.Source.
type loaderSource struct{ l *data.Loader }

func (s loaderSource) Batches() int { return s.l.Batches() }
func (s loaderSource) Images() int  { return s.l.Images() }
func (s loaderSource) Epoch(e, skip int) train.Iterator {
	return &loaderIter{it: s.l.Epoch(e, skip)}
}

// BatchSize, HoldData and Tables make the loader's split holdable by a
// backend (train.HoldableSource): the batches are then made on the device
// from the same images and the same draws.
func (s loaderSource) BatchSize() int { return s.l.Options().BatchSize }
func (s loaderSource) HoldData() ([]uint8, []int32, tensor.DataParams) {
	sp, o := s.l.Split(), s.l.Options()
	return sp.Pixels, sp.Labels, tensor.DataParams{N: sp.N, C: sp.C, H: sp.H, W: sp.W, Pad: o.Augment.Pad, Mean: o.Mean, Std: o.Std}
}
func (s loaderSource) Tables(e int) (order, crops []int32) { return s.l.Tables(e) }

type loaderIter struct {
	it *data.Iterator
	b  train.Batch
}

func (i *loaderIter) Next() (*train.Batch, bool) {
	b, ok := i.it.Next()
	if !ok {
		return nil, false
	}
	i.b = train.Batch{X: b.X, Y: b.Y, N: b.N}
	return &i.b, true
}

func (i *loaderIter) Close() { i.it.Close() }

// splits opens a data set and returns the training split and the one to
// validate on: the held-out fraction when valSplit > 0, else the test
// split if the data set has one, else none.
func splits(ds *data.Dataset, valSplit float64, seed int64) (tr, val *data.Split, valName string, err error) {
	tr = ds.Train
	if tr == nil || tr.N == 0 {
		return nil, nil, "", fmt.Errorf("data %s: no training images", ds.Name)
	}
	switch {
	case valSplit > 0:
		tr, val, err = data.ValSplit(tr, valSplit, seed)
		if err != nil {
			return nil, nil, "", fmt.Errorf("--val-split: %w", err)
		}
		valName = fmt.Sprintf("val (%.0f%% of train, seed %d)", valSplit*100, seed)
	case ds.Test != nil && ds.Test.N > 0:
		val, valName = ds.Test, "test"
	}
	return tr, val, valName, nil
}

// recipeByName reads a built-in recipe (configs/recipes/NAME.yaml).
func recipeByName(name string) ([]byte, error) {
	return fs.ReadFile(configs.Recipes, "recipes/"+name+".yaml")
}
