package main

import (
	"fmt"

	"github.com/cnnctl/cnnctl/internal/cpu"
	"github.com/cnnctl/cnnctl/internal/plan"
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
	Plan    int    // batch size of the plan view; 0: none
	Prec    string // the plan view's --precision: bf16 lays out bf16 activations
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
  cnnctl summary my-net.yaml --classes 100 --json
  cnnctl summary resnet20 --plan 128
  cnnctl summary resnet20 --plan 128 --precision bf16`,
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
	cmd.Flags().IntVar(&opts.Plan, "plan", 0, "also print the training plan for this batch size: the fused nodes and the arena (internal/plan)")
	cmd.Flags().StringVar(&opts.Prec, "precision", precisionFP32, "the plan's precision: bf16 keeps activations and their gradients in bf16 (half the arena); fp32 and tf32 lay out float32")
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
	if err := checkPrecision(opts.Prec); err != nil {
		return err
	}
	if opts.Plan < 0 || opts.Plan > 0 && opts.JSON {
		return usagef("--plan takes a batch size >= 1 and prints text only (not with --json)")
	}
	rep, err := zoo.Summary(spec, in, opts.Classes)
	if err != nil {
		return usageError{err}
	}
	if opts.JSON {
		return printJSON(opts.f, rep)
	}
	if err := rep.WriteText(opts.f.Out); err != nil || opts.Plan == 0 {
		return err
	}
	return writePlan(opts, spec, in)
}

// writePlan prints what the training plan of the model does at batch
// opts.Plan (built on the CPU; the arena is laid out, not allocated).
func writePlan(opts *summaryOptions, spec *zoo.Spec, in tensor.Shape) error {
	be := cpu.New()
	m, err := zoo.Build(spec, be, in, opts.Classes, 1)
	if err != nil {
		return err
	}
	if err := setActivations(m, be, opts.Prec); err != nil {
		return err
	}
	p, err := plan.Describe(m, opts.Plan, true, plan.FromEnv())
	if err != nil {
		return err
	}
	_, err = fmt.Fprint(opts.f.Out, "\n", p.String())
	return err
}
