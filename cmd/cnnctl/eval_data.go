package main

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/cnnctl/cnnctl/internal/data"
	"github.com/cnnctl/cnnctl/internal/train"
)

// evalResult is one checkpoint's evaluation: what was evaluated, on which
// images, and the metrics (eval --json prints it as one flat object; several
// checkpoints print an array of them).
type evalResult struct {
	evalHead
	*train.Evaluation
}

// evalHead says what was evaluated, on which images, how fast.
type evalHead struct {
	Checkpoint   string  `json:"checkpoint"`
	Model        string  `json:"model"`
	Params       int64   `json:"params"`
	Data         string  `json:"data"`
	Split        string  `json:"split"`  // test, val, train or all
	Images       string  `json:"images"` // which, in words: "val split (10% of train held out, seed 1)"
	ImagesPerSec float64 `json:"images_per_sec"`
	// Precision is the arithmetic eval ran in (--precision after any
	// fallback); TrainedPrecision the one the checkpoint records.
	Precision        string `json:"precision"`
	TrainedPrecision string `json:"trained_precision"`
}

// MarshalJSON writes one flat object: the head's fields, then the
// Evaluation's as it marshals itself (so a MarshalJSON of its own, promoted
// through the embedding, cannot swallow the head).
func (r evalResult) MarshalJSON() ([]byte, error) {
	head, err := json.Marshal(r.evalHead)
	if err != nil || r.Evaluation == nil {
		return head, err
	}
	ev, err := json.Marshal(r.Evaluation)
	if err != nil {
		return nil, err
	}
	if len(ev) < 2 || ev[0] != '{' || string(ev) == "{}" {
		return head, nil
	}
	return append(append(head[:len(head)-1:len(head)-1], ','), ev[1:]...), nil
}

// evalCheckpoint evaluates the checkpoint at path on the images o names
// (see evalSplit).
func evalCheckpoint(o *evalOptions, path string) (*evalResult, error) {
	lm, err := loadCheckpointModel(path, o.Device, o.f.ErrOut)
	if err != nil {
		return nil, err
	}
	defer lm.be.Close()
	prec := o.precNote.apply(lm.be, o.Prec, o.f.ErrOut)
	if err := setActivations(lm.model, lm.be, prec); err != nil {
		return nil, err
	}
	ck := lm.ck
	spec, own := o.Data, true
	if spec == "" {
		spec = ck.Data
	} else {
		own = ck.Data != "" && data.SameSource(spec, ck.Data)
	}
	if spec == "" {
		return nil, usagef("eval: checkpoint %s records no data set: give --data", path)
	}
	ds, err := data.Open(spec, data.Options{Seed: ck.Seed})
	if err != nil {
		return nil, err
	}
	split, key, desc, err := evalSplit(ds, o.Split, own, ck.ValSplit, ck.Seed)
	if err != nil {
		return nil, err
	}
	if split.C != ck.Input[0] || split.H != ck.Input[1] || split.W != ck.Input[2] {
		return nil, fmt.Errorf("eval: the data's images are %dx%dx%d, the checkpoint's model takes %dx%dx%d", split.C, split.H, split.W, ck.Input[0], ck.Input[1], ck.Input[2])
	}
	split, err = matchClasses(split, ds.Classes, ck.Classes)
	if err != nil {
		return nil, err
	}
	batch := min(o.Batch, split.N) // a larger batch allocates for nothing
	need, err := checkInferenceMemory(lm, batch, split.N)
	if err != nil {
		return nil, err
	}
	loader, err := data.NewLoader(split, data.LoaderOptions{BatchSize: batch, Mean: ck.Mean, Std: ck.Std, Workers: 2})
	if err != nil {
		return nil, err
	}
	start := time.Now()
	src, release, where := train.PlaceEval(o.DataOn, lm.be, train.LoaderSource{L: loader}, need)
	defer release()
	fmt.Fprintln(o.f.ErrOut, where)
	ev, err := train.EvaluateWith(lm.model, src, ck.Classes, batch, train.EvalOptions{Graphs: !o.NoGraph, Note: func(format string, args ...any) {
		fmt.Fprintf(o.f.ErrOut, format+"\n", args...)
	}})
	if err != nil {
		return nil, err
	}
	r := &evalResult{evalHead{Checkpoint: path, Model: ck.Model, Params: lm.model.NumParams(), Data: ds.Name, Split: key, Images: desc,
		Precision: prec, TrainedPrecision: ck.TrainedPrecision()}, ev}
	if s := time.Since(start).Seconds(); s > 0 {
		r.ImagesPerSec = float64(ev.N) / s
	}
	return r, nil
}

// evalSplit picks the images to evaluate and describes them. own says
// whether ds is the data set the checkpoint was trained on: only there does
// the run's --val-split (valFrac, seed) hold out a validation part.
//
//	want ""     test if ds has one; else own: the held-out val part,
//	            another data set: every image in it
//	want test   the test split
//	want val    own only: the held-out part
//	want train  the training split (own: without the held-out part)
func evalSplit(ds *data.Dataset, want string, own bool, valFrac float64, seed int64) (s *data.Split, key, desc string, err error) {
	hasTest := ds.Test != nil && ds.Test.N > 0
	hasTrain := ds.Train != nil && ds.Train.N > 0
	if want == "" {
		switch {
		case hasTest:
			want = "test"
		case own:
			want = "val"
		default:
			return ds.Train, "all", "all images (it has no test split)", nil
		}
	}
	switch want {
	case "test":
		if !hasTest {
			if own {
				return nil, "", "", fmt.Errorf("eval: %s has no test split (use --split val for the held-out part of train)", ds.Name)
			}
			return nil, "", "", fmt.Errorf("eval: %s has no test split (leave --split out to evaluate every image in it)", ds.Name)
		}
		return ds.Test, "test", "test split", nil
	case "train":
		if !hasTrain {
			return nil, "", "", fmt.Errorf("eval: %s has no training images (only a test split: leave --split out)", ds.Name)
		}
		if own && valFrac > 0 {
			tr, _, err := data.ValSplit(ds.Train, valFrac, seed)
			return tr, "train", fmt.Sprintf("train split without the %.0f%% held out", valFrac*100), err
		}
		return ds.Train, "train", "train split", nil
	}
	if !own {
		return nil, "", "", fmt.Errorf("eval: --split val is the part of the checkpoint's training data held out by --val-split, and %s is another data set: leave --split out (its test split, else every image) or use --split test or train", ds.Name)
	}
	if valFrac <= 0 {
		return nil, "", "", fmt.Errorf("eval: the checkpoint was trained without --val-split, so there is no validation split; use --split test or train")
	}
	_, val, err := data.ValSplit(ds.Train, valFrac, seed)
	return val, "val", fmt.Sprintf("val split (%.0f%% of train held out, seed %d)", valFrac*100, seed), err
}
