package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/cnnctl/cnnctl/internal/checkpoint"
	"github.com/cnnctl/cnnctl/internal/cpu"
	"github.com/cnnctl/cnnctl/internal/safetensors"
	"github.com/cnnctl/cnnctl/internal/tensor"
	"github.com/cnnctl/cnnctl/internal/train"
	"github.com/cnnctl/cnnctl/internal/zoo"
	"github.com/spf13/cobra"
)

// The tutorial's CIFAR-10 pipeline: the defaults of cnnctl import.
var (
	cifar10Classes = []string{"airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"}
	tutorialInput  = tensor.Shape{3, 32, 32}
	tutorialMean   = float32(0.5)
	tutorialStd    = float32(0.5)
)

type importOptions struct {
	f       *Factory
	Model   string
	Weights string
	Out     string
	// Classes, Input, Mean and Std are nil when neither a flag nor the
	// weights file's metadata gives them (then the tutorial's apply).
	Classes []string
	Input   tensor.Shape
	Mean    []float32
	Std     []float32
	// set records which of classes, input, mean, std came from flags.
	set map[string]bool
}

func newImportCmd(f *Factory, runF func(*importOptions) error) *cobra.Command {
	opts := &importOptions{f: f}
	var classes, input, mean, std string
	cmd := &cobra.Command{
		Use:   "import --model NAME|FILE.yaml WEIGHTS.safetensors -o CHECKPOINT",
		Short: "Build a checkpoint from PyTorch weights (a state_dict as safetensors)",
		Long: `import reads a PyTorch state_dict saved as safetensors (F32, F16 or BF16;
num_batches_tracked as I64 or a float) and writes a cnnctl checkpoint (epoch 0,
no optimiser state) for the model, ready for predict, eval, export, or train
--resume. Every key the model needs must be in the file with its shape, and
no other; otherwise one error lists all missing, unexpected and mis-shaped keys.

Class names, input shape and normalisation come from the flags, else from the
file's metadata when cnnctl export wrote it, else the tutorial's CIFAR-10
pipeline: 3x32x32 input, pixels/255 then mean 0.5, std 0.5 per channel, and the
CIFAR-10 classes (airplane … truck).

In PyTorch (pip install safetensors):
  from safetensors.torch import save_file
  save_file(model.state_dict(), "lenet.safetensors")`,
		Example: `  cnnctl import --model lenet lenet.safetensors -o lenet.ckpt
  cnnctl predict lenet.ckpt cat.png
  cnnctl import --model mynet.yaml w.safetensors -o mynet.ckpt --classes no,yes --input 1x28x28 --mean 0.1307 --std 0.3081`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Weights = args[0]
			if opts.Model == "" {
				return usagef("--model is required (a zoo name or a model YAML file)")
			}
			if opts.Out == "" {
				return usagef("-o CHECKPOINT is required")
			}
			if filepath.Clean(opts.Out) == filepath.Clean(opts.Weights) {
				return usagef("-o %s would overwrite the weights file", opts.Out)
			}
			fl := cmd.Flags()
			opts.set = map[string]bool{}
			for _, name := range []string{"classes", "input", "mean", "std"} {
				opts.set[name] = fl.Changed(name)
			}
			var err error
			if opts.set["classes"] {
				if opts.Classes, err = parseClasses(classes); err != nil {
					return err
				}
			}
			if opts.set["input"] {
				if opts.Input, err = tensor.ParseShape(input); err != nil || len(opts.Input) != 3 {
					return usagef("--input %q: want CxHxW, e.g. 3x32x32", input)
				}
			}
			if opts.set["mean"] {
				if opts.Mean, err = parseStats(mean, "--mean"); err != nil {
					return err
				}
			}
			if opts.set["std"] {
				if opts.Std, err = parseStats(std, "--std"); err != nil {
					return err
				}
				for _, s := range opts.Std {
					if !(s > 0) {
						return usagef("--std: %g is not positive", s)
					}
				}
			}
			if runF != nil {
				return runF(opts)
			}
			return runImport(opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&opts.Model, "model", "m", "", "zoo model name or model YAML file")
	fl.StringVarP(&opts.Out, "output", "o", "", "checkpoint to write")
	fl.StringVar(&classes, "classes", "", "comma-separated class names, in the order of the logits (default: the CIFAR-10 names)")
	fl.StringVar(&input, "input", "", "per-image input shape CxHxW (default 3x32x32)")
	fl.StringVar(&mean, "mean", "", "per-channel mean after pixels/255, one value or one per channel (default 0.5)")
	fl.StringVar(&std, "std", "", "per-channel std, one value or one per channel (default 0.5)")
	return cmd
}

// parseClasses reads "cat,dog": names non-empty and distinct.
func parseClasses(s string) ([]string, error) {
	names := strings.Split(s, ",")
	seen := map[string]bool{}
	for i, n := range names {
		n = strings.TrimSpace(n)
		switch {
		case n == "":
			return nil, usagef("--classes %q: class %d is empty", s, i+1)
		case seen[n]:
			return nil, usagef("--classes %q: %q appears twice", s, n)
		}
		seen[n] = true
		names[i] = n
	}
	return names, nil
}

// parseStats reads one number or a comma-separated list of them.
func parseStats(s, flag string) ([]float32, error) {
	v, err := parseFloats(s, flag)
	if err != nil {
		return nil, err
	}
	if len(v) == 0 {
		return nil, usagef("%s is empty", flag)
	}
	return v, nil
}

func runImport(o *importOptions) error {
	spec, err := zoo.Load(o.Model)
	if err != nil {
		return err
	}
	wf, err := safetensors.ReadFile(o.Weights)
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	if wf.Metadata["format"] == "cnnctl-checkpoint" {
		return fmt.Errorf("import %s: this is already a cnnctl checkpoint (use it directly, or 'cnnctl export' it for PyTorch)", o.Weights)
	}
	if err := checkFiniteWeights(o.Weights, wf.Tensors); err != nil {
		return err
	}
	if err := o.fillDefaults(wf.Metadata); err != nil {
		return fmt.Errorf("import %s: %w", o.Weights, err)
	}
	c := o.Input[0]
	if o.Mean, err = perChannel(o.Mean, c, "mean"); err != nil {
		return err
	}
	if o.Std, err = perChannel(o.Std, c, "std"); err != nil {
		return err
	}

	be := cpu.New()
	defer be.Close()
	m, err := zoo.Build(spec, be, o.Input, len(o.Classes), 0)
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	state := make(map[string]checkpoint.Named, len(wf.Tensors))
	counts := map[string]int64{}
	for _, t := range wf.Tensors {
		state[t.Name] = checkpoint.Named{Name: t.Name, Shape: t.Shape, Data: t.Data}
		if layer, ok := strings.CutSuffix(t.Name, ".num_batches_tracked"); ok && len(t.Int64) == 1 {
			counts[layer] = t.Int64[0] // exact, where Data is rounded to float32
		}
	}
	if err := train.LoadTensors(m, state, o.Weights); err != nil {
		if name := wf.Metadata[exportKeyModel]; name != "" && name != spec.Name {
			err = fmt.Errorf("%w\n  (the file's metadata says it holds model %q, not %q)", err, name, spec.Name)
		}
		return fmt.Errorf("import into model %s: %w", spec.Name, err)
	}
	train.ApplyBatchCounts(m, counts)

	ck, err := train.Snapshot(m, checkpoint.Meta{
		Model: o.Model, ModelYAML: string(spec.Source), ConfigHash: spec.Hash(),
		Input: o.Input, Classes: o.Classes, Mean: o.Mean, Std: o.Std,
		Recipe: map[string]any{"imported_from": o.Weights},
	})
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(o.Out), 0o755); err != nil {
		return fmt.Errorf("import: %w", err)
	}
	if err := checkpoint.Save(o.Out, ck); err != nil {
		return err
	}
	fmt.Fprintf(o.f.Out, "wrote %s: %s with the weights of %s (%s parameters), input %v, %d classes, mean %v std %v\n",
		o.Out, spec.Name, o.Weights, commas(m.NumParams()), o.Input, len(o.Classes), o.Mean, o.Std)
	return nil
}

// fillDefaults gives classes, input, mean and std not set by flags the
// values cnnctl export recorded in the file's metadata, else the tutorial's.
func (o *importOptions) fillDefaults(md map[string]string) error {
	if !o.set["classes"] {
		o.Classes = cifar10Classes
		if s, ok := md[exportKeyClasses]; ok {
			if err := json.Unmarshal([]byte(s), &o.Classes); err != nil || len(o.Classes) == 0 {
				return fmt.Errorf("metadata %q = %q: want a JSON array of class names", exportKeyClasses, s)
			}
		}
	}
	if !o.set["input"] {
		o.Input = tutorialInput
		if s, ok := md[exportKeyInput]; ok {
			in, err := tensor.ParseShape(s)
			if err != nil || len(in) != 3 {
				return fmt.Errorf("metadata %q = %q: want CxHxW", exportKeyInput, s)
			}
			o.Input = in
		}
	}
	for _, st := range []struct {
		key string
		dst *[]float32
		def float32
	}{{exportKeyMean, &o.Mean, tutorialMean}, {exportKeyStd, &o.Std, tutorialStd}} {
		if o.set[st.key] {
			continue
		}
		*st.dst = []float32{st.def}
		if s, ok := md[st.key]; ok {
			if err := json.Unmarshal([]byte(s), st.dst); err != nil || len(*st.dst) == 0 {
				return fmt.Errorf("metadata %q = %q: want a JSON array of numbers", st.key, s)
			}
		}
	}
	return nil
}

// perChannel repeats a single value for c channels, or checks there are c.
func perChannel(v []float32, c int, what string) ([]float32, error) {
	if len(v) == 1 && c > 1 {
		out := make([]float32, c)
		for i := range out {
			out[i] = v[0]
		}
		return out, nil
	}
	if len(v) != c {
		return nil, usagef("--%s has %d values for an input of %d channels", what, len(v), c)
	}
	return v, nil
}
