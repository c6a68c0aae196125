package main

import (
	"fmt"
	"io/fs"

	"github.com/cnnctl/cnnctl/configs"
	"github.com/cnnctl/cnnctl/internal/data"
)

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
