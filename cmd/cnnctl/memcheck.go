package main

import (
	"github.com/cnnctl/cnnctl/internal/bench"
	"github.com/cnnctl/cnnctl/internal/tensor"
	"github.com/cnnctl/cnnctl/internal/train"
	"github.com/cnnctl/cnnctl/internal/zoo"
)

// checkInferenceMemory refuses an eval or predict batch whose forward pass
// (weights, the input batch and the evaluation plan's arena, or without a
// plan every layer's output, and a copy queue's slots) does not fit, and
// returns the device bytes it needs (what a split held for eval must fit
// beside). evalImages is the evaluated split's size, whose logits eval
// keeps on the device (train.EvalLogitBytes); 0 for predict, which keeps
// none.
func checkInferenceMemory(lm *loadedModel, batch, evalImages int) (int64, error) {
	in := tensor.Shape(lm.ck.Input)
	p, err := train.EstimateMemory(lm.be, lm.spec, in, len(lm.ck.Classes), 1, false)
	if err != nil {
		return 0, err
	}
	if p = p.EvalSplit(evalImages); evalImages <= 0 {
		p.Beside = nil
	}
	// eval's loader (2 workers) or predict's one batch of images.
	return p.Bytes(batch), train.CheckMemory(lm.be, p, batch, train.LoaderBytes(in, 2, 1))
}

// checkBenchMemory refuses a benchmark whose training step (SGD with
// momentum) does not fit, as train does.
func checkBenchMemory(be tensor.Backend, spec *zoo.Spec, cfg bench.Config) error {
	p, err := train.EstimateMemory(be, spec, cfg.Input, cfg.Classes, train.ParamSlots("sgd"), true)
	if err != nil {
		return err
	}
	return train.CheckMemory(be, p, cfg.Batch, 0)
}
