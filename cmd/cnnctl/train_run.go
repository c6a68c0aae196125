package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/cnnctl/cnnctl/internal/checkpoint"
	"github.com/cnnctl/cnnctl/internal/data"
	"github.com/cnnctl/cnnctl/internal/gpu"
	"github.com/cnnctl/cnnctl/internal/layers"
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
	// Summary is the run's time, throughput and GPU idle share.
	Summary train.Summary `json:"summary"`
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
	resume, note, err := train.OpenResume(o.Resume, o.Out, spec, o.Model)
	if err != nil {
		return err
	}
	if note != "" {
		fmt.Fprintln(log, note)
	}
	td, err := openTrainData(o, spec)
	if err != nil {
		return err
	}
	if o.DryRun {
		return dryRun(o, spec, td.in, len(td.ds.Classes), td.tr, td.val)
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
	plan, err := train.EstimateMemory(be, spec, td.in, len(td.ds.Classes), train.ParamSlots(o.Opt), true)
	if err != nil {
		return err
	}
	if td.val != nil {
		plan = plan.WithValidation(td.val.N)
	}
	if err := train.CheckMemory(be, plan, o.Batch, train.LoaderBytes(td.in, o.Workers, numLoaders(td.val))); err != nil {
		return err
	}
	model, err := zoo.Build(spec, be, td.in, len(td.ds.Classes), o.Seed)
	if err != nil {
		return err
	}
	if err := setActivations(model, be, prec); err != nil {
		return err
	}
	run, err := newRun(o, spec, model, td, resume, prec)
	if err != nil {
		return err
	}
	run.Cfg.DeviceReserve = plan.Bytes(o.Batch)
	fmt.Fprintf(log, "model: %s, %s parameters, %s MACs/image, input %v, %d classes\n", spec.Name, commas(model.NumParams()), commas(model.MACs()), td.in, len(td.ds.Classes))
	fmt.Fprintf(log, "data: %s, %d training images", td.ds.Name, td.tr.N)
	if td.val != nil {
		fmt.Fprintf(log, ", validating on %s: %d images", td.valName, td.val.N)
	}
	fmt.Fprintln(log)
	ctx, stop := signalContext()
	defer stop()
	res, err := run.Execute(ctx)
	if res != nil && err != nil {
		// A run cut short sums itself up on stderr, with its error; a
		// finished one on stdout, with its result (printTrained).
		fmt.Fprintln(log, res.Summary.Line())
	}
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
	return printTrained(o, spec, be.Name(), model.NumParams(), res)
}

// trainData is a run's data: the data set, its training and validation
// splits, the input shape and the normalisation.
type trainData struct {
	ds        *data.Dataset
	tr, val   *data.Split
	valName   string
	in        tensor.Shape
	mean, std []float32
}

// openTrainData opens --data (CIFAR-10 by default), splits it and checks
// that it fits spec and the flags, before any work.
func openTrainData(o *trainOptions, spec *zoo.Spec) (*trainData, error) {
	log := o.f.ErrOut
	var err error
	if o.Data == "" {
		if o.Data, err = fetchDefaultData(o); err != nil {
			return nil, err
		}
	}
	td := &trainData{}
	if td.ds, err = data.Open(o.Data, data.Options{SkipBadImages: o.SkipBad, Workers: o.Workers, Seed: o.Seed}); err != nil {
		return nil, err
	}
	for _, w := range td.ds.Warnings {
		fmt.Fprintf(log, "data: warning: %s\n", w)
	}
	if len(td.ds.Skipped) > 0 {
		fmt.Fprintf(log, "data: skipped %d files that do not decode (--skip-bad-images), e.g. %s\n", len(td.ds.Skipped), td.ds.Skipped[0])
	}
	if td.tr, td.val, td.valName, err = splits(td.ds, o.Val, o.Seed); err != nil {
		return nil, err
	}
	td.in = tensor.Shape{td.tr.C, td.tr.H, td.tr.W}
	td.mean, _ = parseFloats(o.Mean, "--mean")
	td.std, _ = parseFloats(o.Std, "--std")
	if td.mean == nil {
		td.mean = td.ds.Mean
	}
	if td.std == nil {
		td.std = td.ds.Std
	}
	return td, checkTrainData(o, spec, td)
}

// checkTrainData checks normalisation, crop and the model's shapes against
// the data: the model must end in one output per class.
func checkTrainData(o *trainOptions, spec *zoo.Spec, td *trainData) error {
	in, classes := td.in, len(td.ds.Classes)
	if len(td.mean) != in[0] || len(td.std) != in[0] {
		return usagef("--mean/--std need one value per channel: the data has %d channels, got %d means and %d stds", in[0], len(td.mean), len(td.std))
	}
	for i, s := range td.std {
		if !(s > 0) {
			return usagef("--std: value %d is %g, must be positive", i+1, s)
		}
	}
	rep, err := zoo.Summary(spec, in, classes)
	if err != nil {
		return usageError{err}
	}
	if aug := o.CropPad; strings.Contains(o.Augment, "crop") && (aug > in[1] || aug > in[2]) {
		return usagef("train: --crop-padding %d is more than the %dx%d images: at most %d", aug, in[1], in[2], min(in[1], in[2]))
	}
	if n := rep.Out.Numel(); n != classes {
		return fmt.Errorf("model %s (%s) ends with output %v per image, but the data has %d classes: end the model with a layer of out: classes (e.g. {type: linear, name: fc, out: classes})",
			spec.Name, spec.File, rep.Out, classes)
	}
	return nil
}

// newRun makes the data loaders and the training run from the options.
func newRun(o *trainOptions, spec *zoo.Spec, model *layers.Model, td *trainData, resume *checkpoint.Checkpoint, prec string) (*train.Run, error) {
	aug := data.Augment{HFlip: strings.Contains(o.Augment, "flip")}
	if strings.Contains(o.Augment, "crop") {
		aug.Pad = o.CropPad
	}
	// A last batch of one image cannot be batch-normalised in train mode
	// (PyTorch refuses it too): drop it rather than fail at the epoch's end.
	dropLast := td.tr.N%o.Batch == 1
	if dropLast {
		fmt.Fprintf(o.f.ErrOut, "data: %d training images at batch %d leave a last batch of 1 image: it is dropped each epoch\n", td.tr.N, o.Batch)
	}
	trLoader, err := data.NewLoader(td.tr, data.LoaderOptions{BatchSize: o.Batch, Shuffle: true, Seed: o.Seed, Mean: td.mean, Std: td.std, Augment: aug, Workers: o.Workers, DropLast: dropLast})
	if err != nil {
		return nil, err
	}
	var val train.Source
	if td.val != nil {
		vl, err := data.NewLoader(td.val, data.LoaderOptions{BatchSize: o.Batch, Mean: td.mean, Std: td.std, Workers: o.Workers})
		if err != nil {
			return nil, err
		}
		val = train.LoaderSource{L: vl}
	}
	recipe := map[string]any{}
	for _, k := range []string{"epochs", "batch-size", "lr", "optimizer", "momentum", "nesterov", "weight-decay", "schedule", "warmup-epochs", "step-every", "step-gamma", "label-smoothing", "seed", "augment", "crop-padding", "val-split", "precision"} {
		recipe[k] = o.f.Viper.Get(k)
	}
	// The optimiser and schedule were validated once, by resolve.
	return &train.Run{
		Cfg: train.Config{
			Epochs: o.Epochs, BatchSize: o.Batch, LabelSmoothing: o.Smooth, Out: o.Out, NaNCheck: o.NaN,
			KeepGoingOnSaveError: o.KeepGo, Optimizer: o.optimizer(), Schedule: o.schedule(), DataOn: o.DataOn,
			NoGraphs: o.NoGraph,
		},
		Model: model,
		Train: train.LoaderSource{L: trLoader},
		Val:   val,
		Meta: checkpoint.Meta{
			Model: o.Model, ModelYAML: string(spec.Source), ConfigHash: spec.Hash(), Input: td.in, Classes: td.ds.Classes,
			Mean: td.mean, Std: td.std, Data: o.Data, ValSplit: o.Val, Seed: o.Seed, Recipe: recipe, Precision: prec,
		},
		Resume:   resume,
		Progress: newProgress(o.f.ErrOut, o.f.ErrIsTerminal, o.Quiet),
	}, nil
}

// printTrained plots the curves and prints the result of a finished run.
func printTrained(o *trainOptions, spec *zoo.Spec, device string, params int64, res *train.Result) error {
	plot := filepath.Join(o.Out, "curves.png")
	if ms, err := train.ReadMetrics(o.Out); err == nil && len(ms) > 0 {
		if err := train.PlotCurves(ms, plot); err != nil {
			fmt.Fprintf(o.f.ErrOut, "warning: %v\n", err)
			plot = ""
		}
	} else {
		plot = ""
	}
	out := trainResult{Out: o.Out, Epochs: res.Epochs, Best: res.Best, Last: res.LastPath, BestPath: res.BestPath,
		Metrics: filepath.Join(o.Out, "metrics.csv"), Plot: plot, TrainLoss: res.Last.TrainLoss, TrainTop1: res.Last.TrainTop1,
		ValTop1: res.Last.ValTop1, ValLoss: res.Last.ValLoss, Device: device, Params: params, Summary: res.Summary}
	if o.JSON {
		return printJSON(o.f, out)
	}
	fmt.Fprintf(o.f.Out, "trained %s for %d epochs: best top-1 %.4f\n", spec.Name, res.Epochs, res.Best)
	fmt.Fprintln(o.f.Out, res.Summary.Line())
	fmt.Fprintf(o.f.Out, "checkpoints: %s, %s\nmetrics: %s\n", res.BestPath, res.LastPath, out.Metrics)
	if plot != "" {
		fmt.Fprintf(o.f.Out, "plot: %s\n", plot)
	}
	return nil
}

func short(h string) string { return train.ShortHash(h) }

// dryRun prints the plan: parameters, MACs and the memory estimate, and
// where a GPU is present, whether it fits and the largest batch that does.
func dryRun(o *trainOptions, spec *zoo.Spec, in tensor.Shape, classes int, tr, val *data.Split) error {
	p, err := train.EstimateMemory(nil, spec, in, classes, train.ParamSlots(o.Opt), true)
	if err != nil {
		return err
	}
	if val != nil {
		p = p.WithValidation(val.N)
	}
	w := o.f.Out
	fmt.Fprintf(w, "model:       %s (%s)\n", spec.Name, spec.File)
	fmt.Fprintf(w, "input:       %v, %d classes\n", in, classes)
	fmt.Fprintf(w, "parameters:  %s (%s MACs/image)\n", commas(p.Params), commas(p.MACs))
	fmt.Fprintf(w, "train split: %d images, %d steps/epoch at batch %d\n", tr.N, (tr.N+o.Batch-1)/o.Batch, o.Batch)
	if val != nil {
		fmt.Fprintf(w, "validation:  %d images\n", val.N)
	}
	fmt.Fprintf(w, "memory plan: %.1f MiB parameters+gradients+optimizer, %.1f MiB activations at batch %d, %.1f MiB in all\n",
		mib(p.ParamBytes), mib(p.Activations(o.Batch)), o.Batch, mib(p.Bytes(o.Batch)))
	if avail, source := train.HostMemory(); avail > 0 {
		hp := p.CPUPlan(train.LoaderBytes(in, o.Workers, numLoaders(val)))
		fmt.Fprintf(w, "host:        %.0f MiB %s, fits on the CPU: %v, largest batch about %d\n", mib(avail), source, hp.Bytes(o.Batch) <= avail, hp.LargestBatch(avail))
	}
	if o.Device != "cpu" {
		if gpus, err := gpu.Devices(); err == nil && len(gpus) > 0 {
			g := gpus[0]
			fmt.Fprintf(w, "GPU:         %s: %.0f MiB free, fits: %v, largest batch about %d\n",
				g.Name, mib(g.FreeMem), p.Bytes(o.Batch) <= g.FreeMem, p.LargestBatch(g.FreeMem))
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

func mib(b int64) float64 { return train.MiB(b) }
