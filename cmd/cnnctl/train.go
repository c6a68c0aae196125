package main

import (
	"context"
	"encoding/json"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/cnnctl/cnnctl/internal/fetch"
	"github.com/cnnctl/cnnctl/internal/train"
	"github.com/cnnctl/cnnctl/internal/zoo"
	"github.com/spf13/cobra"
)

type trainOptions struct {
	f       *Factory
	cmd     *cobra.Command
	Model   string
	Config  string
	Data    string
	Epochs  int
	Batch   int
	LR      float64
	Opt     string
	Mom     float64
	Nest    bool
	WD      float64
	Sched   string
	Warmup  float64
	StepEv  int
	StepG   float64
	Smooth  float64
	Seed    int64
	Device  string
	Prec    string
	Out     string
	Resume  string
	Clobber bool // --overwrite
	Val     float64
	Mean    string
	Std     string
	Augment string
	CropPad int
	NaN     string
	KeepGo  bool
	DryRun  bool
	Quiet   bool
	JSON    bool
	SkipBad bool
	Workers int
	DataOn  string // --data-on: auto, device or host
	NoGraph bool   // --no-graphs

	// source and fetchOpts replace the official CIFAR-10 download of the
	// default data (tests only; see fetchDefaultData).
	source    *fetch.Dataset
	fetchOpts fetch.Options
}

func newTrainCmd(f *Factory, runF func(*trainOptions) error) *cobra.Command {
	opts := &trainOptions{f: f}
	cmd := &cobra.Command{
		Use:   "train --model NAME|FILE.yaml [--data KIND:PATH] [flags]",
		Short: "Train a model on a data set, with checkpoints, metrics and a plot",
		Long: `train trains a zoo model (see 'cnnctl models') or a model YAML file on a data
set and writes, under --out:
  last, best          checkpoints (atomic; best by validation top-1)
  metrics.csv/.jsonl  one line per epoch
  curves.png          loss and accuracy curves

Data specs (--data KIND:PATH):
  fashion-mnist[:DIR]     IDX files (default DIR /usr/share/datasets/fashion-mnist)
  mnist:DIR               IDX files, gzipped or not
  cifar10:DIR|FILE.tar.gz the official CIFAR-10 binary version
  imagefolder:DIR|.tar.gz DIR/<class>/*.jpg|png (or DIR/train, DIR/test|val)
  synthetic[:CxHxW]       random images, for smoke tests

With no --data, a model that takes 3-channel images (every zoo model) trains
on CIFAR-10, as the tutorial does: the official binary version, downloaded
once from www.cs.toronto.edu (170 MB, MD5-checked, resumed if cut) into the
user cache directory ($XDG_CACHE_HOME or ~/.cache, then cnnctl/cifar10) and
read from there afterwards. Offline, copy cifar-10-binary.tar.gz there or
give --data cifar10:PATH.

Settings come from flags, then CNNCTL_* environment variables, then a recipe
file (--config, YAML whose keys are these flag names), then the defaults.

--precision chooses the GPU's arithmetic: tf32 (the default, PyTorch's own
for convolutions: TF32 tensor cores for convolutions and linears, float32
storage and accumulation), fp32 (strict float32 on CUDA cores) or bf16 (bf16
operands for convolutions, float32 accumulation and storage). tf32 and bf16
need sm_80 or later and are checked against the CPU reference when the GPU
opens; otherwise fp32 runs, with one line saying why. On the CPU, bf16
emulates mixed precision (bf16 activations and gradients, float32 master
weights, batch-norm statistics and loss; every op widens, computes in
float32 and rounds): the GPU's numerics, slower than fp32; tf32 runs fp32
there. Checkpoints record the precision the run trained in; their weights
are float32 always and load in any precision.
Ctrl-C finishes the current step, saves --out/last and exits; continue with
--resume auto.

` + graphsHelp + `

At the end, one line sums the run up: wall time, time per epoch, images per
second, and the share of the time the GPU sat idle (the device's own timing
of the steps against the wall clock; "cpu" on the CPU, where there is no
separate device to wait for).`,
		Example: `  cnnctl train --model resnet                  # CIFAR-10, downloaded once into the user cache
  cnnctl train --model lenet --data fashion-mnist --epochs 5 --lr 0.01 --optimizer sgd --momentum 0.9
  cnnctl train --model resnet --data imagefolder:cifar10-train-jpeg.tar.gz --val-split 0.1 --config resnet-fast
  cnnctl train --model vgg11-bn --config vgg --data cifar10:cifar-10-binary.tar.gz --out runs/vgg
  cnnctl train --model resnet --data cifar10:DIR --out runs/r --resume auto`,
		Args: cobra.NoArgs,
		PreRunE: func(cmd *cobra.Command, args []string) error {
			opts.cmd = cmd
			if err := bindFlags(f, cmd); err != nil {
				return err
			}
			if opts.Config != "" {
				if err := loadRecipe(f, cmd, opts.Config); err != nil {
					return err
				}
			}
			return opts.resolve()
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(opts)
			}
			return runTrain(opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&opts.Model, "model", "m", "", "zoo model name or model YAML file (required)")
	fl.StringVar(&opts.Config, "config", "", "training recipe YAML (a file, or a recipe name: tutorial, vgg, resnet-fast, resnet-fast-512)")
	fl.StringVarP(&opts.Data, "data", "d", "", "data set spec KIND:PATH (default for 3-channel models: CIFAR-10 in the user cache, downloaded once; see above)")
	fl.IntVar(&opts.Epochs, "epochs", 10, "total epochs (a resumed run trains the remaining ones)")
	fl.IntVarP(&opts.Batch, "batch-size", "b", 128, "images per step")
	fl.Float64Var(&opts.LR, "lr", 0.01, "learning rate (peak for onecycle)")
	fl.StringVar(&opts.Opt, "optimizer", "sgd", "sgd, adam or adamw")
	fl.Float64Var(&opts.Mom, "momentum", 0.9, "SGD momentum")
	fl.BoolVar(&opts.Nest, "nesterov", false, "Nesterov momentum (SGD)")
	fl.Float64Var(&opts.WD, "weight-decay", 0, "L2 weight decay (decoupled for adamw)")
	fl.StringVar(&opts.Sched, "schedule", "constant", "learning-rate schedule: constant, step, cosine or onecycle")
	fl.Float64Var(&opts.Warmup, "warmup-epochs", 0, "linear warm-up epochs (constant, step, cosine)")
	fl.IntVar(&opts.StepEv, "step-every", 30, "step schedule: epochs between decays")
	fl.Float64Var(&opts.StepG, "step-gamma", 0.5, "step schedule: decay factor")
	fl.Float64Var(&opts.Smooth, "label-smoothing", 0, "label smoothing epsilon in [0, 1)")
	fl.Int64Var(&opts.Seed, "seed", 1, "seed for weights, shuffling, augmentation and dropout")
	fl.StringVar(&opts.Device, "device", "auto", "auto (GPU if present), cpu, cuda or cuda:N")
	addPrecisionFlag(fl, &opts.Prec)
	fl.StringVarP(&opts.Out, "out", "o", "", "output folder (default runs/MODEL)")
	fl.StringVar(&opts.Resume, "resume", "", "checkpoint to continue from, or 'auto' for OUT/last if it exists")
	fl.BoolVar(&opts.Clobber, "overwrite", false, "replace an earlier run in --out (without it, train refuses a folder holding one; continue it with --resume auto)")
	fl.Float64Var(&opts.Val, "val-split", 0, "fraction of the training split held out (class-balanced) for validation when the data has no test split; with one, 0 validates on the test split")
	fl.StringVar(&opts.Mean, "mean", "", "per-channel normalisation mean, e.g. 0.5,0.5,0.5 (default: the data set's)")
	fl.StringVar(&opts.Std, "std", "", "per-channel normalisation std (default: the data set's)")
	fl.StringVar(&opts.Augment, "augment", "none", "training augmentation: none, flip, crop or crop+flip")
	fl.IntVar(&opts.CropPad, "crop-padding", 4, "zero padding for random crops")
	fl.StringVar(&opts.NaN, "nan-check", "step", "non-finite loss check: off, step, or layer (also names the layer)")
	fl.BoolVar(&opts.KeepGo, "keep-going-on-save-error", false, "warn and train on when a checkpoint cannot be written")
	fl.BoolVar(&opts.DryRun, "dry-run", false, "build the model and data, print the plan (parameters, memory), do not train")
	fl.BoolVarP(&opts.Quiet, "quiet", "q", false, "no progress output")
	fl.BoolVar(&opts.JSON, "json", false, "print the final result as JSON on stdout")
	fl.BoolVar(&opts.SkipBad, "skip-bad-images", false, "imagefolder: skip (and count) files that do not decode")
	fl.IntVar(&opts.Workers, "workers", 2, "background batch preparation goroutines")
	fl.StringVar(&opts.DataOn, "data-on", "auto", "where training and validation batches are made: auto (on the GPU when each set fits beside the run), device, or host (the loader's workers)")
	addGraphsFlag(fl, &opts.NoGraph)
	return cmd
}

// resolve reads every value back through viper (flag > env > recipe >
// default) and rejects bad settings before any work.
func (o *trainOptions) resolve() error {
	v := o.f.Viper
	o.Model, o.Data = v.GetString("model"), v.GetString("data")
	o.Epochs, o.Batch = v.GetInt("epochs"), v.GetInt("batch-size")
	o.LR, o.Opt, o.Mom, o.Nest = v.GetFloat64("lr"), v.GetString("optimizer"), v.GetFloat64("momentum"), v.GetBool("nesterov")
	o.WD, o.Sched, o.Warmup = v.GetFloat64("weight-decay"), v.GetString("schedule"), v.GetFloat64("warmup-epochs")
	o.StepEv, o.StepG, o.Smooth = v.GetInt("step-every"), v.GetFloat64("step-gamma"), v.GetFloat64("label-smoothing")
	o.Seed, o.Device, o.Out = v.GetInt64("seed"), v.GetString("device"), v.GetString("out")
	o.Clobber = v.GetBool("overwrite")
	o.Resume, o.Val, o.Mean, o.Std = v.GetString("resume"), v.GetFloat64("val-split"), v.GetString("mean"), v.GetString("std")
	o.Augment, o.CropPad, o.NaN = v.GetString("augment"), v.GetInt("crop-padding"), v.GetString("nan-check")
	o.KeepGo, o.SkipBad, o.Workers = v.GetBool("keep-going-on-save-error"), v.GetBool("skip-bad-images"), v.GetInt("workers")
	o.Prec, o.DataOn, o.NoGraph = v.GetString("precision"), v.GetString("data-on"), v.GetBool("no-graphs")
	switch {
	case o.Model == "":
		return usagef("train: --model is required (a zoo name from 'cnnctl models' or a YAML file)")
	case o.Epochs <= 0:
		return usagef("train: --epochs must be at least 1, got %d", o.Epochs)
	case o.Batch <= 0:
		return usagef("train: --batch-size must be at least 1, got %d", o.Batch)
	case !(o.LR > 0):
		return usagef("train: --lr must be positive, got %g", o.LR)
	case o.Smooth < 0 || o.Smooth >= 1:
		return usagef("train: --label-smoothing must be in [0, 1), got %g", o.Smooth)
	case o.Val < 0 || o.Val >= 1:
		return usagef("train: --val-split must be in [0, 1), got %g", o.Val)
	case o.Workers < 1 || o.Workers > 256:
		return usagef("train: --workers must be in [1, 256], got %d", o.Workers)
	case o.CropPad < 0:
		return usagef("train: --crop-padding must not be negative, got %d", o.CropPad)
	}
	if err := checkDataOn("train", o.DataOn); err != nil {
		return err
	}
	if err := checkFiniteFlags(o.f, o.cmd); err != nil {
		return err
	}
	switch o.NaN {
	case "off", "step", "layer":
	default:
		return usagef("train: --nan-check must be off, step or layer, got %q", o.NaN)
	}
	switch o.Augment {
	case "none", "flip", "crop", "crop+flip", "flip+crop":
	default:
		return usagef("train: --augment must be none, flip, crop or crop+flip, got %q", o.Augment)
	}
	if o.Data == "" {
		// A model that cannot load is reported by runTrain, with its position.
		if spec, err := zoo.Load(o.Model); err == nil && !takesDefaultData(spec) {
			return usagef("train: --data is required for %s (its input is %v; only 3-channel models default to CIFAR-10), e.g. --data fashion-mnist or --data mnist:DIR", o.Model, inputDesc(spec))
		}
	}
	if err := checkDeviceFlag(o.Device); err != nil {
		return err
	}
	if err := checkPrecision(o.Prec); err != nil {
		return err
	}
	// The one validation of the optimiser and schedule, whether their
	// settings came from flags, the environment or a recipe.
	if err := o.schedule().Validate(); err != nil {
		return usageError{err}
	}
	if err := o.optimizer().Validate(); err != nil {
		return usageError{err}
	}
	if _, err := parseFloats(o.Mean, "--mean"); err != nil {
		return err
	}
	if _, err := parseFloats(o.Std, "--std"); err != nil {
		return err
	}
	if o.Out == "" {
		o.Out = filepath.Join("runs", strings.TrimSuffix(filepath.Base(o.Model), ".yaml"))
	}
	return nil
}

// optimizer is the optimiser the resolved settings select (Adam's betas
// and eps are PyTorch's defaults).
func (o *trainOptions) optimizer() train.OptimizerConfig {
	return train.OptimizerConfig{Kind: o.Opt, Momentum: o.Mom, Nesterov: o.Nest, WeightDecay: o.WD, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8}
}

// schedule is the learning-rate schedule of the resolved settings.
func (o *trainOptions) schedule() train.Schedule {
	return train.Schedule{Kind: o.Sched, BaseLR: o.LR, Epochs: o.Epochs, WarmupEpochs: o.Warmup, StepEvery: o.StepEv, StepGamma: o.StepG}
}

// checkDeviceFlag accepts auto, cpu, cuda and cuda:N.
func checkDeviceFlag(d string) error {
	switch {
	case d == "auto", d == "cpu", d == "cuda":
		return nil
	case strings.HasPrefix(d, "cuda:"):
		if n, err := strconv.Atoi(d[5:]); err == nil && n >= 0 {
			return nil
		}
	}
	return usagef("unknown --device %q (want auto, cpu, cuda or cuda:N)", d)
}

// parseFloats reads "0.5,0.5,0.5"; empty gives nil.
func parseFloats(s, flag string) ([]float32, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []float32
	for _, p := range strings.Split(s, ",") {
		x, err := strconv.ParseFloat(strings.TrimSpace(p), 32)
		if err != nil {
			return nil, usagef("%s: %q is not a number", flag, p)
		}
		out = append(out, float32(x))
	}
	return out, nil
}

// signalContext is cancelled by the first SIGINT/SIGTERM; a second one
// kills the process the usual way.
func signalContext() (context.Context, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	go func() {
		select {
		case <-ch:
			cancel()
			signal.Stop(ch)
		case <-ctx.Done():
		}
	}()
	return ctx, func() { signal.Stop(ch); cancel() }
}

func printJSON(f *Factory, v any) error {
	enc := json.NewEncoder(f.Out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
