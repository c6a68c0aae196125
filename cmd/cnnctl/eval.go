package main

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/cnnctl/cnnctl/internal/data"
	"github.com/cnnctl/cnnctl/internal/train"
	"github.com/spf13/cobra"
)

type evalOptions struct {
	f      *Factory
	Ckpts  []string
	Data   string
	Split  string
	Batch  int
	Device string
	Prec   string
	JSON   bool
	// NoGraph is --no-graphs.
	NoGraph bool
	// DataOn is --data-on: auto, device or host.
	DataOn string

	precNote precisionNote // the CPU's precision line, once for all checkpoints
}

func newEvalCmd(f *Factory, runF func(*evalOptions) error) *cobra.Command {
	opts := &evalOptions{f: f}
	cmd := &cobra.Command{
		Use:   "eval CHECKPOINT...",
		Short: "Evaluate checkpoints: top-1, top-5, loss, per-class accuracy, confusion matrix",
		Long: `eval runs a checkpoint in inference mode over a data set and reports top-1
and top-5 accuracy, the mean cross-entropy loss, per-class accuracy and the
confusion matrix (rows: true class, columns: predicted). The first line says
which images were evaluated: the data set, the split and how many.

Which images:
  no --data       the data set the checkpoint was trained on: its test split,
                  else the part of its training split held out by the run's
                  --val-split
  --data SPEC     that data set's test split (test/ or val/ of an imagefolder,
                  CIFAR-10's test batch, the IDX t10k files) if it has one,
                  else every image in it; a folder or tarball holding only
                  test/ (or val/) works
  --split S       test, train or val; val is the training data set's held-out
                  part (the run's --val-split), so it needs the checkpoint's
                  own data set

With several checkpoints, eval prints one comparison table (run, model,
parameters, top-1, top-5, loss, images, images/s), each checkpoint on the data
set it was trained on unless --data is given; --json then prints an array.
For imagefolder data, class folders are matched to the checkpoint's class
names by name.

` + evalDataOnHelp + `

` + graphsHelp,
		Example: `  cnnctl eval runs/lenet/best
  cnnctl eval runs/resnet/best --data imagefolder:cifar10-test-jpeg/      # every image there
  cnnctl eval runs/resnet/best --data cifar10:~/data/cifar-10-binary.tar.gz --json
  cnnctl eval runs/resnet/best --split val                                # the run's held-out part
  cnnctl eval runs/*/best                                                 # one comparison table`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Ckpts = args
			switch opts.Split {
			case "", "test", "val", "train":
			default:
				return usagef("--split must be test, val or train, got %q", opts.Split)
			}
			if opts.Batch < 1 {
				return usagef("--batch-size must be at least 1, got %d", opts.Batch)
			}
			if err := checkDeviceFlag(opts.Device); err != nil {
				return err
			}
			if err := checkPrecision(opts.Prec); err != nil {
				return err
			}
			if err := checkDataOn("eval", opts.DataOn); err != nil {
				return err
			}
			if runF != nil {
				return runF(opts)
			}
			if len(opts.Ckpts) > 1 {
				return runEvalCompare(opts)
			}
			return runEval(opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&opts.Data, "data", "d", "", "data set spec KIND:PATH (default: the checkpoint's own)")
	fl.StringVar(&opts.Split, "split", "", "test, val or train (default: test; else val of the checkpoint's own data, all images of --data)")
	fl.IntVarP(&opts.Batch, "batch-size", "b", 256, "images per forward pass")
	fl.StringVar(&opts.Device, "device", "auto", "auto, cpu, cuda or cuda:N")
	addPrecisionFlag(fl, &opts.Prec)
	addGraphsFlag(fl, &opts.NoGraph)
	fl.StringVar(&opts.DataOn, "data-on", "auto", "where the batches are made: auto (on the GPU when the split fits beside the model), device, or host (the loader's workers)")
	fl.BoolVar(&opts.JSON, "json", false, "print JSON: checkpoint, model, params, data, split (test, val, train or all), images (which, in words), precision (what eval ran in), trained_precision, n, top1, top5, loss, images_per_sec, classes, per_class, confusion (an array for several checkpoints)")
	return cmd
}

// evalDataOnHelp is the paragraph of eval's long help on --data-on.
const evalDataOnHelp = `Where the batches are made (--data-on, one line on stderr says which and
why): auto uploads the split's decoded images (uint8) once to a GPU when they
fit beside the model's forward pass in the free memory, and each batch is
gathered and normalised there, in order, inside the batch's CUDA graph; the
loss and top-1 hits are summed on the device and the logits kept there, read
once at the end (every 64 MiB of logits for large splits) instead of after
every batch. On the CPU auto streams batches from the loader; device holds the
split on the CPU backend too; host always streams. The results are the same
bits.`

// checkDataOn rejects a --data-on other than auto, device and host.
func checkDataOn(cmd, v string) error {
	if v != train.DataAuto && v != train.DataDevice && v != train.DataHost {
		return usagef("%s: --data-on must be auto, device or host, got %q", cmd, v)
	}
	return nil
}

func runEval(o *evalOptions) error {
	r, err := evalCheckpoint(o, o.Ckpts[0])
	if err != nil {
		return err
	}
	ev := r.Evaluation
	if o.JSON {
		if err := printJSON(o.f, r); err != nil {
			return err
		}
		return nonFiniteOutputs("eval", ev.NonFinite, ev.N)
	}
	w := o.f.Out
	fmt.Fprintf(w, "%s on %s: %s, %d images\n", r.Checkpoint, r.Data, r.Images, ev.N)
	fmt.Fprintf(w, "top-1 %.4f   top-5 %.4f   loss %.4f\n\n", ev.Top1, ev.Top5, ev.Loss)
	if ev.NonFinite > 0 {
		fmt.Fprintf(w, "NON-FINITE OUTPUTS (NaN/Inf) for %d of %d images: counted as wrong, in no column below\n\n", ev.NonFinite, ev.N)
	}
	width := len("class")
	for i, c := range ev.Classes {
		width = max(width, len(fmt.Sprintf("%d %s", i, c)))
	}
	tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "%-*s\taccuracy\t\t", width, "class")
	for i := range ev.Classes {
		fmt.Fprintf(tw, "%d\t", i)
	}
	fmt.Fprintln(tw)
	for i, c := range ev.Classes {
		fmt.Fprintf(tw, "%-*s\t%.4f\t\t", width, fmt.Sprintf("%d %s", i, c), ev.PerClass[i])
		for _, n := range ev.Confusion[i] {
			fmt.Fprintf(tw, "%d\t", n)
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
	fmt.Fprintln(w, "(rows: true class; columns: predicted class)")
	return nonFiniteOutputs("eval", ev.NonFinite, ev.N)
}

// matchClasses maps the data's class indices to the checkpoint's by name.
func matchClasses(s *data.Split, dataClasses, ckClasses []string) (*data.Split, error) {
	if strings.Join(dataClasses, "\x00") == strings.Join(ckClasses, "\x00") {
		return s, nil
	}
	index := map[string]int{}
	for i, c := range ckClasses {
		index[c] = i
	}
	remap := make([]int32, len(dataClasses))
	var missing []string
	for i, c := range dataClasses {
		j, ok := index[c]
		if !ok {
			missing = append(missing, c)
		}
		remap[i] = int32(j)
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("eval: the data's classes do not match the checkpoint's:\n  data:       %s\n  checkpoint: %s\n  not in the checkpoint: %s",
			strings.Join(dataClasses, ", "), strings.Join(ckClasses, ", "), strings.Join(missing, ", "))
	}
	out := *s
	out.Labels = make([]int32, len(s.Labels))
	for i, l := range s.Labels {
		out.Labels[i] = remap[l]
	}
	return &out, nil
}
