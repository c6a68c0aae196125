package main

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/cnnctl/cnnctl/internal/tensor"
	"github.com/cnnctl/cnnctl/internal/train"
	"github.com/cnnctl/cnnctl/internal/zoo"
	"github.com/spf13/cobra"
)

type modelsOptions struct {
	f       *Factory
	JSON    bool
	Input   string
	Classes int
	Kinds   bool
}

type modelRow struct {
	Name        string `json:"name"`
	Params      int64  `json:"params"`
	MACs        int64  `json:"macs"`
	Layers      int    `json:"layers"`
	Input       string `json:"input"`
	Description string `json:"description"`
}

func newModelsCmd(f *Factory, runF func(*modelsOptions) error) *cobra.Command {
	opts := &modelsOptions{f: f}
	cmd := &cobra.Command{
		Use:   "models",
		Short: "List the model zoo with parameter counts and multiply-adds",
		Long: `models lists every built-in model (configs/models/*.yaml) with its trainable
parameters and multiply-accumulates per image (convolutions and linear layers,
as PyTorch counters report them) for a 3x32x32 input and 10 classes, unless
--input/--classes say otherwise. Any command that takes --model also accepts
a path to your own YAML file (see configs/README.md).

--kinds lists instead the layer types a model file may use, each with its
keys, their defaults and an example layer.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(opts)
			}
			return runModels(opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print a JSON array of {name, params, macs, layers, input, description}")
	cmd.Flags().StringVar(&opts.Input, "input", "3x32x32", "per-image input shape CxHxW")
	cmd.Flags().IntVar(&opts.Classes, "classes", 10, "number of classes")
	cmd.Flags().BoolVar(&opts.Kinds, "kinds", false, "list the layer types of model files, their keys and an example of each")
	return cmd
}

func runModels(opts *modelsOptions) error {
	if opts.Kinds {
		return runKinds(opts)
	}
	in, err := tensor.ParseShape(opts.Input)
	if err != nil {
		return usageError{err}
	}
	if opts.Classes < 1 {
		return usagef("--classes must be at least 1, got %d", opts.Classes)
	}
	rows := []modelRow{}
	for _, name := range zoo.Names() {
		spec, err := zoo.Load(name)
		if err != nil {
			return err
		}
		rep, err := zoo.Summary(spec, in, opts.Classes)
		if err != nil {
			return fmt.Errorf("model %s: %w", name, err)
		}
		leaves := 0
		for _, r := range rep.Rows {
			if r.Leaf {
				leaves++
			}
		}
		rows = append(rows, modelRow{Name: name, Params: rep.Params, MACs: rep.MACs, Layers: leaves, Input: in.String(), Description: spec.Description})
	}
	if opts.JSON {
		return printJSON(opts.f, rows)
	}
	tw := tabwriter.NewWriter(opts.f.Out, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "MODEL\t%12s\t%14s\t%6s\tDESCRIPTION\n", "PARAMS", "MACs/IMAGE", "LAYERS")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%12s\t%14s\t%6d\t%s\n", r.Name, commas(r.Params), commas(r.MACs), r.Layers, headline(r.Description))
	}
	return tw.Flush()
}

// commas writes 1234567 as 1,234,567.
func commas(n int64) string { return train.Commas(n) }

// headline is a description's first clause, short enough for a table row.
func headline(d string) string {
	for _, sep := range []string{": ", ". ", " ("} {
		if i := strings.Index(d, sep); i > 0 {
			d = d[:i]
		}
	}
	if r := []rune(d); len(r) > 60 {
		d = string(r[:59]) + "…"
	}
	return d
}
