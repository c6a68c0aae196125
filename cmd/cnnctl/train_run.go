package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/cnnctl/cnnctl/internal/checkpoint"
	"github.com/cnnctl/cnnctl/internal/data"
	"github.com/cnnctl/cnnctl/internal/gpu"
	"github.com/cnnctl/cnnctl/internal/tensor"
	"github.com/cnnctl/cnnctl/internal/train"
	"github.com/cnnctl/cnnctl/internal/zoo"
)

// trainResult is what train prints with --json.
type trainResult struct {
	Out        string  `json:"out"`
	Epochs     int     `json:"epochs"`
	Best       float64 `json:"best_top1"`
	Last       string  `json:"last"`
	BestPath   string  `json:"best"`
	Metrics    string  `json:"metrics"`
	Plot       string  `json:"plot,omitempty"`
	TrainLoss  float64 `json:"train_loss"`
	TrainTop1  float64 `json:"train_top1"`
	ValTop1    float64 `json:"val_top1"`
	ValLoss    float64 `json:"val_loss"`
	Device     string  `json:"device"`
	Params     int64   `json:"params"`
	Interrupts bool    `json:"interrupted"`
}

func runTrain(o *trainOptions) error {
	log := o.f.ErrOut
	spec, err := zoo.Load(o.Model)
	if err != nil {
		return usageError{err}
	}
	if !o.DryRun {
		lock, err := claimOut(o)
		if err != nil {
			return err
		}
		defer lock.Release()
	}
	var resume *checkpoint.Checkpoint
	switch o.Resume {
	case "":
	case "auto":
		last := filepath.Join(o.Out, "last")
		if _, err := os.Stat(last); err == nil {
			if resume, err = checkpoint.Load(last); err != nil {
				return fmt.Errorf("--resume auto: %w", err)
			}
		} else {
			fmt.Fprintf(log, "--resume auto: no %s yet, starting a new run\n", last)
		}
	default:
		if resume, err = checkpoint.Load(o.Resume); err != nil {
			return err
		}
	}
	if resume != nil && resume.ConfigHash != spec.Hash() {
		return fmt.Errorf("resume: the checkpoint was trained with model %q (config %s…), not %s (config %s…): pick the matching --model or another --out",
			resume.Model, short(resume.ConfigHash), o.Model, short(spec.Hash()))
	}

	if o.Data == "" {
		if o.Data, err = fetchDefaultData(o); err != nil {
			return err
		}
	}
	ds, err := data.Open(o.Data, data.Options{SkipBadImages: o.SkipBad, Workers: o.Workers, Seed: o.Seed})
	if err != nil {
		return err
	}
	for _, w := range ds.Warnings {
		fmt.Fprintf(log, "data: warning: %s\n", w)
	}
	if len(ds.Skipped) > 0 {
		fmt.Fprintf(log, "data: skipped %d files that do not decode (--skip-bad-images), e.g. %s\n", len(ds.Skipped), ds.Skipped[0])
	}
	trSplit, valSplit, valName, err := splits(ds, o.Val, o.Seed)
	if err != nil {
		return err
	}
	in := tensor.Shape{trSplit.C, trSplit.H, trSplit.W}
	mean, _ := parseFloats(o.Mean, "--mean")
	std, _ := parseFloats(o.Std, "--std")
	if mean == nil {
		mean = ds.Mean
	}
	if std == nil {
		std = ds.Std
	}
	if len(mean) != in[0] || len(std) != in[0] {
		return usagef("--mean/--std need one value per channel: the data has %d channels, got %d means and %d stds", in[0], len(mean), len(std))
	}
	for i, s := range std {
		if !(s > 0) {
			return usagef("--std: value %d is %g, must be positive", i+1, s)
		}
	}
	// Shapes are checked before any work, and the model must end in one
	// output per class.
	rep, err := zoo.Summary(spec, in, len(ds.Classes))
	if err != nil {
		return usageError{err}
	}
	if aug := o.CropPad; strings.Contains(o.Augment, "crop") && (aug > in[1] || aug > in[2]) {
		return usagef("train: --crop-padding %d is more than the %dx%d images: at most %d", aug, in[1], in[2], min(in[1], in[2]))
	}
	if n := rep.Out.Numel(); n != len(ds.Classes) {
		return fmt.Errorf("model %s (%s) ends with output %v per image, but the data has %d classes: end the model with a layer of out: classes (e.g. {type: linear, name: fc, out: classes})",
			spec.Name, spec.File, rep.Out, len(ds.Classes))
	}
	if o.DryRun {
		return dryRun(o, spec, in, len(ds.Classes), trSplit, valSplit)
	}

	be, err := openBackend(o.Device, log)
	if err != nil {
		return err
	}
	defer be.Close()
	prec := (&precisionNote{}).apply(be, o.Prec, log)
	if resume != nil && resume.TrainedPrecision() != prec {
		fmt.Fprintf(log, "precision: the checkpoint trained in %s, the run continues in %s\n", resume.TrainedPrecision(), prec)
	}
	plan, err := planMemory(o, spec, in, len(ds.Classes))
	if err != nil {
		return err
	}
	if err := checkMemory(be, plan, o.Batch, loaderBytes(in, o.Workers, numLoaders(valSplit))); err != nil {
		return err
	}
	model, err := zoo.Build(spec, be, in, len(ds.Classes), o.Seed)
	if err != nil {
		return err
	}
	aug := data.Augment{}
	if strings.Contains(o.Augment, "crop") {
		aug.Pad = o.CropPad
	}
	aug.HFlip = strings.Contains(o.Augment, "flip")
	// A last batch of one image cannot be batch-normalised in train mode
	// (PyTorch refuses it too): drop it rather than fail at the epoch's end.
	dropLast := trSplit.N%o.Batch == 1
	if dropLast {
		fmt.Fprintf(log, "data: %d training images at batch %d leave a last batch of 1 image: it is dropped each epoch\n", trSplit.N, o.Batch)
	}
	trLoader, err := data.NewLoader(trSplit, data.LoaderOptions{BatchSize: o.Batch, Shuffle: true, Seed: o.Seed, Mean: mean, Std: std, Augment: aug, Workers: o.Workers, DropLast: dropLast})
	if err != nil {
		return err
	}
	var val train.Source
	if valSplit != nil {
		vl, err := data.NewLoader(valSplit, data.LoaderOptions{BatchSize: o.Batch, Mean: mean, Std: std, Workers: o.Workers})
		if err != nil {
			return err
		}
		val = loaderSource{vl}
	}
	fmt.Fprintf(log, "model: %s, %s parameters, %s MACs/image, input %v, %d classes\n", spec.Name, commas(model.NumParams()), commas(model.MACs()), in, len(ds.Classes))
	fmt.Fprintf(log, "data: %s, %d training images", ds.Name, trSplit.N)
	if valSplit != nil {
		fmt.Fprintf(log, ", validating on %s: %d images", valName, valSplit.N)
	}
	fmt.Fprintln(log)

	recipe := map[string]any{}
	for _, k := range []string{"epochs", "batch-size", "lr", "optimizer", "momentum", "nesterov", "weight-decay", "schedule", "warmup-epochs", "step-every", "step-gamma", "label-smoothing", "seed", "augment", "crop-padding", "val-split", "precision"} {
		recipe[k] = o.f.Viper.Get(k)
	}
	run := &train.Run{
		Cfg: train.Config{
			Epochs: o.Epochs, BatchSize: o.Batch, LabelSmoothing: o.Smooth, Out: o.Out, NaNCheck: o.NaN,
			KeepGoingOnSaveError: o.KeepGo,
			Optimizer:            train.OptimizerConfig{Kind: o.Opt, Momentum: o.Mom, Nesterov: o.Nest, WeightDecay: o.WD, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8},
			Schedule:             train.Schedule{Kind: o.Sched, BaseLR: o.LR, Epochs: o.Epochs, WarmupEpochs: o.Warmup, StepEvery: o.StepEv, StepGamma: o.StepG},
		},
		Model: model,
		Train: loaderSource{trLoader},
		Val:   val,
		Meta: checkpoint.Meta{
			Model: o.Model, ModelYAML: string(spec.Source), ConfigHash: spec.Hash(), Input: in, Classes: ds.Classes,
			Mean: mean, Std: std, Data: o.Data, ValSplit: o.Val, Seed: o.Seed, Recipe: recipe, Precision: prec,
		},
		Resume:   resume,
		Progress: newProgress(log, o.f.ErrIsTerminal, o.Quiet),
	}
	if err := run.Cfg.Schedule.Validate(); err != nil {
		return usageError{err}
	}
	if err := run.Cfg.Optimizer.Validate(); err != nil {
		return usageError{err}
	}
	ctx, stop := signalContext()
	defer stop()
	res, err := run.Execute(ctx)
	if res != nil && res.Stopped && errors.Is(err, context.Canceled) {
		fmt.Fprintf(log, "interrupted: the state is saved in %s\ncontinue with the same command and --resume auto\n", res.LastPath)
		return errInterrupted
	}
	if err != nil {
		if errors.Is(err, train.ErrNonFinite) {
			return fmt.Errorf("training diverged at %w", err)
		}
		return err
	}
	plot := filepath.Join(o.Out, "curves.png")
	if ms, err := train.ReadMetrics(o.Out); err == nil && len(ms) > 0 {
		if err := train.PlotCurves(ms, plot); err != nil {
			fmt.Fprintf(log, "warning: %v\n", err)
			plot = ""
		}
	} else {
		plot = ""
	}
	out := trainResult{Out: o.Out, Epochs: res.Epochs, Best: res.Best, Last: res.LastPath, BestPath: res.BestPath,
		Metrics: filepath.Join(o.Out, "metrics.csv"), Plot: plot, TrainLoss: res.Last.TrainLoss, TrainTop1: res.Last.TrainTop1,
		ValTop1: res.Last.ValTop1, ValLoss: res.Last.ValLoss, Device: be.Name(), Params: model.NumParams()}
	if o.JSON {
		return printJSON(o.f, out)
	}
	fmt.Fprintf(o.f.Out, "trained %s for %d epochs: best top-1 %.4f\n", spec.Name, res.Epochs, res.Best)
	fmt.Fprintf(o.f.Out, "checkpoints: %s, %s\nmetrics: %s\n", res.BestPath, res.LastPath, out.Metrics)
	if plot != "" {
		fmt.Fprintf(o.f.Out, "plot: %s\n", plot)
	}
	return nil
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

// memoryPlan estimates the device memory a run needs: parameters with
// their gradients and optimiser slots, plus per image every layer's output
// and input gradient (kept for the backward).
type memoryPlan struct {
	params, paramBytes, macs int64
	actPerImage              int64
}

func planMemory(o *trainOptions, spec *zoo.Spec, in tensor.Shape, classes int) (memoryPlan, error) {
	slots := int64(3) // weights, grads, momentum
	if o.Opt != "sgd" {
		slots = 4
	}
	return planFor(spec, in, classes, slots, 2)
}

// planFor is the plan with slots copies of the parameters and acts copies
// of every layer's output per image (2 for training: output and gradient).
func planFor(spec *zoo.Spec, in tensor.Shape, classes int, slots, acts int64) (memoryPlan, error) {
	rep, err := zoo.Summary(spec, in, classes)
	if err != nil {
		return memoryPlan{}, err
	}
	act := int64(rep.In.Numel()) // the input batch
	for _, r := range rep.Rows {
		if r.Leaf {
			act += int64(r.Out.Numel())
		}
	}
	return memoryPlan{params: rep.Params, macs: rep.MACs, paramBytes: rep.Params * 4 * slots, actPerImage: act * 4 * acts}, nil
}

func (p memoryPlan) bytes(batch int) int64 { return p.paramBytes + p.actPerImage*int64(batch) }

// largestBatch is the biggest batch whose plan fits in free bytes.
func (p memoryPlan) largestBatch(free int64) int64 {
	if p.actPerImage == 0 || free <= p.paramBytes {
		return 0
	}
	return (free - p.paramBytes) / p.actPerImage
}

// checkGPUMemory refuses a run whose plan exceeds the GPU's free memory,
// before any work, with the numbers and the largest batch that fits.
func checkGPUMemory(be tensor.Backend, p memoryPlan, batch int) error {
	g, ok := be.(*gpu.Backend)
	if !ok {
		return nil
	}
	info := g.Info()
	if info.FreeMem <= 0 {
		return nil
	}
	return memoryFit(p, batch, info.FreeMem, fmt.Sprintf("%s has %.0f MiB free", info.Name, mib(info.FreeMem)), "GPU ")
}

// dryRun prints the plan: parameters, MACs and the memory estimate, and
// where a GPU is present, whether it fits and the largest batch that does.
func dryRun(o *trainOptions, spec *zoo.Spec, in tensor.Shape, classes int, tr, val *data.Split) error {
	p, err := planMemory(o, spec, in, classes)
	if err != nil {
		return err
	}
	w := o.f.Out
	fmt.Fprintf(w, "model:       %s (%s)\n", spec.Name, spec.File)
	fmt.Fprintf(w, "input:       %v, %d classes\n", in, classes)
	fmt.Fprintf(w, "parameters:  %s (%s MACs/image)\n", commas(p.params), commas(p.macs))
	fmt.Fprintf(w, "train split: %d images, %d steps/epoch at batch %d\n", tr.N, (tr.N+o.Batch-1)/o.Batch, o.Batch)
	if val != nil {
		fmt.Fprintf(w, "validation:  %d images\n", val.N)
	}
	fmt.Fprintf(w, "memory plan: %.1f MiB parameters+gradients+optimizer, %.1f MiB activations at batch %d, %.1f MiB in all\n",
		mib(p.paramBytes), mib(p.actPerImage*int64(o.Batch)), o.Batch, mib(p.bytes(o.Batch)))
	if avail, source := hostMemory(); avail > 0 {
		hp := cpuPlan(p, loaderBytes(in, o.Workers, numLoaders(val)))
		fmt.Fprintf(w, "host:        %.0f MiB %s, fits on the CPU: %v, largest batch about %d\n", mib(avail), source, hp.bytes(o.Batch) <= avail, hp.largestBatch(avail))
	}
	if o.Device != "cpu" {
		if gpus, err := gpu.Devices(); err == nil && len(gpus) > 0 {
			g := gpus[0]
			fmt.Fprintf(w, "GPU:         %s: %.0f MiB free, fits: %v, largest batch about %d\n",
				g.Name, mib(g.FreeMem), p.bytes(o.Batch) <= g.FreeMem, p.largestBatch(g.FreeMem))
		} else if o.Device != "auto" {
			fmt.Fprintf(w, "GPU:         none usable (%v)\n", err)
		}
	}
	fmt.Fprintf(w, "dry run: nothing trained\n")
	return nil
}

// numLoaders is the number of data loaders of a run: training, and
// validation when there is a split for it.
func numLoaders(val *data.Split) int {
	if val == nil {
		return 1
	}
	return 2
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }
