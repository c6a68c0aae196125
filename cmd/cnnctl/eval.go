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
	Ckpt   string
	Data   string
	Split  string
	Batch  int
	Device string
	JSON   bool
}

func newEvalCmd(f *Factory, runF func(*evalOptions) error) *cobra.Command {
	opts := &evalOptions{f: f}
	cmd := &cobra.Command{
		Use:   "eval CHECKPOINT",
		Short: "Evaluate a checkpoint: top-1, top-5, loss, per-class accuracy, confusion matrix",
		Long: `eval runs a checkpoint in inference mode over a data split and reports top-1
and top-5 accuracy, the mean cross-entropy loss, per-class accuracy and the
confusion matrix (rows: true class, columns: predicted).

By default it uses the data set the checkpoint was trained on and its test
split, or the validation split held out by --val-split when there is no test
split. For imagefolder data, class folders are matched to the checkpoint's
class names by name.`,
		Example: `  cnnctl eval runs/lenet/best
  cnnctl eval runs/resnet/best --data cifar10:~/data/cifar-10-binary.tar.gz --split test --json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Ckpt = args[0]
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
			if runF != nil {
				return runF(opts)
			}
			return runEval(opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&opts.Data, "data", "d", "", "data set spec (default: the checkpoint's)")
	fl.StringVar(&opts.Split, "split", "", "test, val or train (default: test, else val)")
	fl.IntVarP(&opts.Batch, "batch-size", "b", 256, "images per forward pass")
	fl.StringVar(&opts.Device, "device", "auto", "auto, cpu, cuda or cuda:N")
	fl.BoolVar(&opts.JSON, "json", false, "print one JSON object: top1, top5, loss, n, classes, per_class, confusion")
	return cmd
}

func runEval(o *evalOptions) error {
	lm, err := loadCheckpointModel(o.Ckpt, o.Device, o.f.ErrOut)
	if err != nil {
		return err
	}
	defer lm.be.Close()
	ck := lm.ck
	spec := o.Data
	if spec == "" {
		spec = ck.Data
	}
	if spec == "" {
		return usagef("eval: the checkpoint records no data set: give --data")
	}
	ds, err := data.Open(spec, data.Options{Seed: ck.Seed})
	if err != nil {
		return err
	}
	split, name, err := evalSplit(ds, o.Split, ck.ValSplit, ck.Seed)
	if err != nil {
		return err
	}
	if split.C != ck.Input[0] || split.H != ck.Input[1] || split.W != ck.Input[2] {
		return fmt.Errorf("eval: the data's images are %dx%dx%d, the checkpoint's model takes %dx%dx%d", split.C, split.H, split.W, ck.Input[0], ck.Input[1], ck.Input[2])
	}
	split, err = matchClasses(split, ds.Classes, ck.Classes)
	if err != nil {
		return err
	}
	o.Batch = min(o.Batch, split.N) // a larger batch allocates for nothing
	if err := checkInferenceMemory(lm, o.Batch); err != nil {
		return err
	}
	loader, err := data.NewLoader(split, data.LoaderOptions{BatchSize: o.Batch, Mean: ck.Mean, Std: ck.Std, Workers: 2})
	if err != nil {
		return err
	}
	ev, err := train.Evaluate(lm.model, loaderSource{loader}, ck.Classes, o.Batch)
	if err != nil {
		return err
	}
	if o.JSON {
		if err := printJSON(o.f, ev); err != nil {
			return err
		}
		return nonFiniteOutputs("eval", ev.NonFinite, ev.N)
	}
	w := o.f.Out
	fmt.Fprintf(w, "%s on %s (%s split, %d images)\n", o.Ckpt, ds.Name, name, ev.N)
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

// evalSplit picks the split to evaluate.
func evalSplit(ds *data.Dataset, want string, valFrac float64, seed int64) (*data.Split, string, error) {
	if want == "" {
		want = "test"
		if ds.Test == nil {
			want = "val"
		}
	}
	switch want {
	case "test":
		if ds.Test == nil {
			return nil, "", fmt.Errorf("eval: %s has no test split (use --split val for the held-out part of train)", ds.Name)
		}
		return ds.Test, "test", nil
	case "train":
		if valFrac > 0 {
			tr, _, err := data.ValSplit(ds.Train, valFrac, seed)
			return tr, "train (without the held-out part)", err
		}
		return ds.Train, "train", nil
	}
	if valFrac <= 0 {
		return nil, "", fmt.Errorf("eval: the checkpoint was trained without --val-split, so there is no validation split; use --split test or train")
	}
	_, val, err := data.ValSplit(ds.Train, valFrac, seed)
	return val, fmt.Sprintf("val, %.0f%% of train held out with seed %d", valFrac*100, seed), err
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
