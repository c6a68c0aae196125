package main

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime/pprof"

	"github.com/cnnctl/cnnctl/internal/bench"
	"github.com/cnnctl/cnnctl/internal/tensor"
	"github.com/cnnctl/cnnctl/internal/zoo"
	"github.com/spf13/cobra"
)

type benchOptions struct {
	f       *Factory
	Model   string
	Device  string
	Batch   int
	Input   string
	Classes int
	Iters   int
	Warmup  int
	Mode    string
	JSON    bool
	CSV     bool
	Output  string
	Peak    bool
	All     bool
	Models  []string
	Seed    int64
	Prec    string
	NoGraph bool   // --no-graphs
	Profile string // --cpuprofile

	// set by the flag parsing: which of batch, iters and warmup the user gave
	batchSet, itersSet, warmupSet bool
}

// Defaults of `bench --all` on the CPU, where the whole zoo at batch 128
// would take hours with the reference engine.
const (
	allCPUBatch  = 8
	allCPUIters  = 3
	allCPUWarmup = 1
)

func newBenchCmd(f *Factory, runF func(*benchOptions) error) *cobra.Command {
	opts := &benchOptions{f: f}
	cmd := &cobra.Command{
		Use:   "bench --model NAME|FILE.yaml | --all | --peak",
		Short: "Per-layer forward/backward timings, FLOPs, bandwidth, roofline and step time",
		Long: `bench times a model on one device and prints one row per leaf layer (its
YAML name): forward and backward medians with their p10-p90 spread, FLOPs,
achieved GFLOP/s and GB/s, percent of the device's roofline, and its share of
the step; then the whole training step (forward + loss + backward + SGD
update) measured on its own without per-layer syncs, the sum of the layer
rows and the difference as overhead, and training and inference images/s.
Rows are sorted by time; the slowest are marked with '*'.

--peak measures the device's peaks once (a large GEMM through the backend's
LinearForward and a large copy) and caches them in the user cache directory;
later runs use them for the percentages. On a GPU of sm_80 or later it also
measures the TF32 and the bf16 tensor-core peaks, each on a large 1x1
convolution through that math's convolution kernel (a GEMM's shape; bf16
has no linear kernel); elsewhere they are recorded as unknown, with the
reason.

--precision fp32|tf32|bf16 sets the GPU's arithmetic as for train (default
tf32, self-checked against the CPU reference when the GPU opens; the CPU runs
fp32). tf32 and bf16 cover the convolutions and linears.
Each convolution and linear row says the arithmetic it ran in (math), its
achieved TFLOP/s and the percentage of that arithmetic's peak (%peak).

--all runs the whole zoo (or --models) and prints one line per model: step
time, training and inference images/s. On the CPU it defaults to batch 8,
3 iterations and 1 warmup unless those flags are given.

In train mode it also times the host's side of a step through train.Step, the
loop 'cnnctl train' runs: how long queueing one step takes op by op and as a
replay of its CUDA graph (the device's work not waited for; --no-graphs skips
the replay). On the CPU both are n/a: its ops run as they are queued.

--json writes the schema of docs/bench-schema.md (also written by
scripts/torch_cpu_bench.py); 'cnnctl bench compare A.json B.json' prints
per-layer and per-step ratios of two such files.`,
		Example: `  cnnctl bench --peak
  cnnctl bench --model resnet --batch-size 128
  cnnctl bench --model lenet --mode infer --json -o lenet.json
  cnnctl bench --all --models lenet,resnet20
  cnnctl bench compare old.json new.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			fl := cmd.Flags()
			opts.batchSet, opts.itersSet, opts.warmupSet = fl.Changed("batch-size"), fl.Changed("iters"), fl.Changed("warmup")
			if err := opts.validate(); err != nil {
				return err
			}
			if runF != nil {
				return runF(opts)
			}
			if opts.Profile != "" {
				stop, err := startCPUProfile(opts.Profile)
				if err != nil {
					return err
				}
				defer stop()
			}
			return runBench(opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&opts.Model, "model", "m", "", "zoo model name or model YAML file")
	fl.StringVar(&opts.Device, "device", "auto", "auto, cpu, cuda or cuda:N")
	fl.IntVarP(&opts.Batch, "batch-size", "b", 128, "images per step")
	fl.StringVar(&opts.Input, "input", "", "per-image input shape CxHxW (default: the model's)")
	fl.IntVar(&opts.Classes, "classes", 0, "number of classes (default: the model's)")
	fl.IntVar(&opts.Iters, "iters", 10, "timed iterations of each measurement (medians over these)")
	fl.IntVar(&opts.Warmup, "warmup", 2, "untimed steps first")
	fl.StringVar(&opts.Mode, "mode", "train", "train (forward+loss+backward+SGD) or infer (forward)")
	fl.BoolVar(&opts.JSON, "json", false, "write JSON (docs/bench-schema.md)")
	fl.BoolVar(&opts.CSV, "csv", false, "write CSV: one line per layer (per model with --all)")
	fl.StringVarP(&opts.Output, "output", "o", "", "write to FILE instead of standard output")
	fl.BoolVar(&opts.Peak, "peak", false, "measure the device's peak GFLOP/s and GB/s and cache them")
	fl.BoolVar(&opts.All, "all", false, "run every zoo model (or --models), one line each")
	fl.StringSliceVar(&opts.Models, "models", nil, "with --all: these models only (comma-separated)")
	fl.Int64Var(&opts.Seed, "seed", 1, "seed of the weights and the random batch")
	fl.StringVar(&opts.Profile, "cpuprofile", "", "write a Go CPU profile of the run to FILE (go tool pprof FILE): where the host's time goes, the CPU engine's kernels by name")
	addGraphsFlag(fl, &opts.NoGraph)
	addPrecisionFlag(fl, &opts.Prec)
	cmd.AddCommand(newBenchCompareCmd(f, nil), newBenchShowCmd(f))
	return cmd
}

// startCPUProfile starts a Go CPU profile into path; stop ends it and
// closes the file.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("--cpuprofile %s: %w", path, err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

func (o *benchOptions) validate() error {
	switch {
	case o.JSON && o.CSV:
		return usagef("--json and --csv: choose one")
	case o.All && o.Model != "":
		return usagef("--all and --model: choose one")
	case len(o.Models) > 0 && !o.All:
		return usagef("--models needs --all")
	case o.Model == "" && !o.All && !o.Peak:
		return usagef("bench needs --model NAME, --all or --peak")
	case o.Batch < 1:
		return usagef("--batch-size must be at least 1, got %d", o.Batch)
	case o.Iters < 1:
		return usagef("--iters must be at least 1, got %d", o.Iters)
	case o.Warmup < 0:
		return usagef("--warmup must not be negative, got %d", o.Warmup)
	case o.Mode != "train" && o.Mode != "infer":
		return usagef("--mode must be train or infer, got %q", o.Mode)
	case o.Classes < 0:
		return usagef("--classes must not be negative, got %d", o.Classes)
	}
	if o.Input != "" {
		if _, err := tensor.ParseShape(o.Input); err != nil {
			return usageError{err}
		}
	}
	if err := checkPrecision(o.Prec); err != nil {
		return err
	}
	return checkDeviceFlag(o.Device)
}

func runBench(opts *benchOptions) error {
	errOut := opts.f.ErrOut
	be, err := openBackend(opts.Device, errOut)
	if err != nil {
		return err
	}
	defer be.Close()

	cachePath, cacheErr := bench.PeakCachePath()
	var peaks *bench.Peaks
	if opts.Peak {
		if cacheErr != nil {
			return cacheErr
		}
		fmt.Fprintf(errOut, "measuring the peaks of %s ...\n", be.Name())
		if peaks, err = bench.MeasurePeaks(be, peakConfig(be)); err != nil {
			return err
		}
		if err := bench.SavePeaks(cachePath, peaks); err != nil {
			return err
		}
		if opts.Model == "" && !opts.All {
			if opts.JSON {
				return printJSON(opts.f, peaks)
			}
			fmt.Fprintf(opts.f.Out, "%s: %.1f GFLOP/s, %.1f GB/s\n%s\ntf32: %s\nbf16: %s\ncached in %s\n", peaks.Device, peaks.GFLOPS, peaks.GBPS, peaks.Method,
				peaks.TF32Line(), peaks.BF16Line(), cachePath)
			return nil
		}
	} else if cacheErr == nil {
		if peaks, err = bench.LoadPeaks(cachePath, be.Name()); err != nil {
			fmt.Fprintf(errOut, "warning: %v\n", err)
		}
	}
	if peaks == nil {
		fmt.Fprintf(errOut, "no cached peaks for %s: run 'cnnctl bench --peak' once for %%peak and %%roof\n", be.Name())
	}

	prec := (&precisionNote{}).apply(be, opts.Prec, errOut)
	if activations(be, prec) != tensor.F32 {
		fmt.Fprintf(errOut, "bench: bf16 activations are a CPU emulation, not timed; benchmarking fp32\n")
		prec = precisionFP32
	}
	cfg := bench.Config{Batch: opts.Batch, Classes: opts.Classes, Iters: opts.Iters, Warmup: opts.Warmup, Mode: opts.Mode, Seed: opts.Seed, Peaks: peaks,
		Precision: prec, TensorCore: precisionMath(prec).LayerTypes(), NoGraphs: opts.NoGraph}
	if opts.Input != "" {
		cfg.Input, _ = tensor.ParseShape(opts.Input) // checked by validate
	}
	vi := buildInfo()
	var out bytes.Buffer
	if opts.All {
		// A backend without memory of its own runs on the host: the CPU.
		if _, device := be.(tensor.MemInfo); !device {
			if !opts.batchSet {
				cfg.Batch = allCPUBatch
			}
			if !opts.itersSet {
				cfg.Iters = allCPUIters
			}
			if !opts.warmupSet {
				cfg.Warmup = allCPUWarmup
			}
		}
		cfg.StepOnly = true
		names := opts.Models
		if len(names) == 0 {
			names = zoo.Names()
		}
		var reports []*bench.Report
		for _, name := range names {
			spec, err := zoo.Load(name)
			if err != nil {
				return err
			}
			fmt.Fprintf(errOut, "bench %s: batch %d, %d warmup, %d iterations\n", name, cfg.Batch, cfg.Warmup, cfg.Iters)
			if err := checkBenchMemory(be, spec, cfg); err != nil {
				return err
			}
			r, err := bench.Run(spec, be, cfg)
			if err != nil {
				return err
			}
			r.Version, r.Commit = vi.Version, vi.Commit
			reports = append(reports, r)
		}
		if err := writeAll(&out, reports, opts); err != nil {
			return err
		}
		return emit(opts, out.Bytes())
	}

	spec, err := zoo.Load(opts.Model)
	if err != nil {
		return err
	}
	fmt.Fprintf(errOut, "bench %s: batch %d, %s, %d warmup, %d iterations of the step, then of inference, then per layer\n", spec.Name, cfg.Batch, cfg.Mode, cfg.Warmup, cfg.Iters)
	if err := checkBenchMemory(be, spec, cfg); err != nil {
		return err
	}
	r, err := bench.Run(spec, be, cfg)
	if err != nil {
		return err
	}
	r.Version, r.Commit = vi.Version, vi.Commit
	switch {
	case opts.JSON:
		err = r.WriteJSON(&out)
	case opts.CSV:
		err = r.WriteCSV(&out)
	default:
		err = r.WriteTable(&out)
	}
	if err != nil {
		return err
	}
	return emit(opts, out.Bytes())
}

// writeAll prints --all's one line per model (or a JSON array of reports).
func writeAll(w io.Writer, reports []*bench.Report, opts *benchOptions) error {
	if opts.JSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(reports)
	}
	if opts.CSV {
		fmt.Fprintln(w, "model,device,batch,step_ms,train_images_per_s,infer_images_per_s,infer_ms")
		for _, r := range reports {
			fmt.Fprintf(w, "%s,%q,%d,%.4g,%.4g,%.4g,%.4g\n", r.Model, r.Device, r.Batch, r.Step.MedianMS, r.Throughput.TrainImagesPerS, r.Throughput.InferImagesPerS, r.Throughput.InferMS)
		}
		return nil
	}
	if len(reports) > 0 {
		r := reports[0]
		fmt.Fprintf(w, "%s, batch %d, precision %s, median of %d iterations after %d warmup\n", r.Device, r.Batch, cmp.Or(r.Precision, "fp32"), r.Iters, r.Warmup)
	}
	fmt.Fprintf(w, "%-10s  %12s  %12s  %14s\n", "MODEL", "STEP ms", "TRAIN img/s", "INFER img/s")
	for _, r := range reports {
		fmt.Fprintf(w, "%-10s  %12.2f  %12.1f  %14.1f\n", r.Model, r.Step.MedianMS, r.Throughput.TrainImagesPerS, r.Throughput.InferImagesPerS)
	}
	return nil
}

// emit writes the result to -o FILE or standard output.
func emit(opts *benchOptions, data []byte) error {
	if opts.Output == "" {
		_, err := opts.f.Out.Write(data)
		return err
	}
	if err := os.WriteFile(opts.Output, data, 0o644); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	fmt.Fprintf(opts.f.ErrOut, "wrote %s\n", opts.Output)
	return nil
}

type benchCompareOptions struct {
	f    *Factory
	A, B string
}

func newBenchCompareCmd(f *Factory, runF func(*benchCompareOptions) error) *cobra.Command {
	opts := &benchCompareOptions{f: f}
	return &cobra.Command{
		Use:   "compare A.json B.json",
		Short: "Per-layer and per-step ratios (B/A) of two bench --json reports",
		Long: `compare reads two reports in the bench schema (cnnctl bench --json, or
scripts/torch_cpu_bench.py) and prints, for each layer found in both (by name),
the forward and backward medians and B/A, then the step, the sum of the layers,
the overhead and the throughputs with B/A. A ratio above 1 means B takes longer
(for images/s: B is faster). Two commits, two devices, or cnnctl vs PyTorch.`,
		Example: `  cnnctl bench --model resnet --json -o new.json
  cnnctl bench compare old.json new.json`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.A, opts.B = args[0], args[1]
			if runF != nil {
				return runF(opts)
			}
			a, err := bench.ReadReport(opts.A)
			if err != nil {
				return err
			}
			b, err := bench.ReadReport(opts.B)
			if err != nil {
				return err
			}
			return bench.Compare(opts.f.Out, a, b)
		},
	}
}

// newBenchShowCmd prints a saved report as the terminal table.
func newBenchShowCmd(f *Factory) *cobra.Command {
	return &cobra.Command{
		Use:     "show FILE.json",
		Short:   "Print a saved bench --json report (or a PyTorch one) as the table",
		Example: "  cnnctl bench show resnet.json",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := bench.ReadReport(args[0])
			if err != nil {
				return err
			}
			return r.WriteTable(f.Out)
		},
	}
}
