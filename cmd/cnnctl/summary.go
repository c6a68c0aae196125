package main

import (
	"github.com/cnnctl/cnnctl/internal/tensor"
	"github.com/cnnctl/cnnctl/internal/zoo"
	"github.com/spf13/cobra"
)

type summaryOptions struct {
	f       *Factory
	Model   string
	Input   string
	Classes int
	JSON    bool
}

func newSummaryCmd(f *Factory, runF func(*summaryOptions) error) *cobra.Command {
	opts := &summaryOptions{f: f}
	cmd := &cobra.Command{
		Use:   "summary MODEL|FILE.yaml",
		Short: "Print a model layer by layer: shapes, parameters, multiply-adds",
		Long: `summary prints one line per layer — the PyTorch module name, its type, input
and output shape per image, parameters and multiply-accumulates — then the
totals. MODEL is a zoo name ('cnnctl models') or the path of a model YAML.`,
		Example: `  cnnctl summary resnet
  cnnctl summary lenet --input 1x28x28
  cnnctl summary my-net.yaml --classes 100 --json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Model = args[0]
			if runF != nil {
				return runF(opts)
			}
			return runSummary(opts)
		},
	}
	cmd.Flags().StringVar(&opts.Input, "input", "", "per-image input shape CxHxW (default: the model's, else 3x32x32)")
	cmd.Flags().IntVar(&opts.Classes, "classes", 10, "number of classes")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print as JSON")
	return cmd
}

func runSummary(opts *summaryOptions) error {
	// A bad model name or file is a usage error (exit 2), as in train.
	spec, err := zoo.Load(opts.Model)
	if err != nil {
		return usageError{err}
	}
	var in tensor.Shape
	if opts.Input != "" {
		if in, err = tensor.ParseShape(opts.Input); err != nil {
			return usageError{err}
		}
	} else if spec.Input == nil {
		in = tensor.Shape{3, 32, 32}
	}
	if opts.Classes < 1 {
		return usagef("--classes must be at least 1, got %d", opts.Classes)
	}
	rep, err := zoo.Summary(spec, in, opts.Classes)
	if err != nil {
		return usageError{err}
	}
	if opts.JSON {
		return printJSON(opts.f, rep)
	}
	return rep.WriteText(opts.f.Out)
}
