package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/cnnctl/cnnctl/internal/checkpoint"
	"github.com/cnnctl/cnnctl/internal/layers"
	"github.com/cnnctl/cnnctl/internal/safetensors"
	"github.com/cnnctl/cnnctl/internal/tensor"
	"github.com/cnnctl/cnnctl/internal/train"
	"github.com/spf13/cobra"
)

type exportOptions struct {
	f      *Factory
	Ckpt   string
	Out    string
	Format string
}

// Metadata keys of an exported file (besides "format": "pt", the tag
// safetensors.torch writes). cnnctl import reads them back as defaults.
const (
	exportKeyModel   = "model"
	exportKeyClasses = "classes" // JSON array of strings
	exportKeyInput   = "input"   // CxHxW
	exportKeyMean    = "mean"    // JSON array of numbers
	exportKeyStd     = "std"     // JSON array of numbers
)

func newExportCmd(f *Factory, runF func(*exportOptions) error) *cobra.Command {
	opts := &exportOptions{f: f}
	cmd := &cobra.Command{
		Use:   "export CHECKPOINT",
		Short: "Write a checkpoint's weights as a PyTorch state_dict (safetensors)",
		Long: `export writes the model's state_dict (parameters and BatchNorm buffers) under
the keys, shapes and layouts PyTorch gives the same model: the names come from
the model's YAML, so the file loads into the tutorial's nn.Module with
load_state_dict(..., strict=True). Tensors are F32, BatchNorm's
num_batches_tracked is I64 as in PyTorch; the optimiser state is left out.

The file's metadata records the model, its class names, input shape and
normalisation (mean, std): images must be scaled to [0,1] and normalised with
them, as in training. The write is atomic.

In PyTorch (pip install safetensors):
  from safetensors.torch import load_file
  model.load_state_dict(load_file("best.safetensors"), strict=True)`,
		Example: `  cnnctl export runs/lenet/best                  # writes runs/lenet/best.safetensors
  cnnctl export runs/resnet/best -o resnet.safetensors`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Ckpt = args[0]
			if opts.Format != "safetensors" {
				return usagef("unknown --format %q (want safetensors)", opts.Format)
			}
			if opts.Out == "" {
				opts.Out = opts.Ckpt + ".safetensors"
			}
			if filepath.Clean(opts.Out) == filepath.Clean(opts.Ckpt) {
				return usagef("-o %s would overwrite the checkpoint", opts.Out)
			}
			if runF != nil {
				return runF(opts)
			}
			return runExport(opts)
		},
	}
	cmd.Flags().StringVarP(&opts.Out, "output", "o", "", "file to write (default: CHECKPOINT.safetensors)")
	cmd.Flags().StringVar(&opts.Format, "format", "safetensors", "output format (only safetensors)")
	return cmd
}

func runExport(o *exportOptions) error {
	// Rebuilding the model checks the checkpoint against its YAML and gives
	// every BatchNorm layer, so each gets its num_batches_tracked.
	lm, err := loadCheckpointModel(o.Ckpt, "cpu", io.Discard)
	if err != nil {
		return err
	}
	defer lm.be.Close()
	tensors, err := stateDict(lm.model)
	if err != nil {
		return fmt.Errorf("export %s: %w", o.Ckpt, err)
	}
	ck := lm.ck
	classes, err1 := json.Marshal(ck.Classes)
	mean, err2 := json.Marshal(ck.Mean)
	std, err3 := json.Marshal(ck.Std)
	if err := errors.Join(err1, err2, err3); err != nil {
		return fmt.Errorf("export %s: metadata: %w", o.Ckpt, err)
	}
	meta := map[string]string{
		"format":         "pt",
		"producer":       "cnnctl " + version,
		exportKeyModel:   lm.spec.Name,
		exportKeyClasses: string(classes),
		exportKeyInput:   tensor.Shape(ck.Input).String(),
		exportKeyMean:    string(mean),
		exportKeyStd:     string(std),
	}
	if err := safetensors.WriteFile(o.Out, tensors, meta); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	fmt.Fprintf(o.f.Out, "wrote %s: %s state_dict, %d tensors, %s parameters (epoch %d of %s)\n",
		o.Out, lm.spec.Name, len(tensors), commas(lm.model.NumParams()), ck.Epoch, o.Ckpt)
	return nil
}

// stateDict is the model's state in PyTorch's state_dict order: per layer
// its parameters, its buffers, then (BatchNorm) num_batches_tracked as I64.
func stateDict(m *layers.Model) ([]safetensors.Tensor, error) {
	snap, err := train.Snapshot(m, checkpoint.Meta{})
	if err != nil {
		return nil, err
	}
	// A layer's num_batches_tracked goes after the last of its other keys.
	last := map[string]int{}
	for i, t := range snap.State {
		if j := strings.LastIndexByte(t.Name, '.'); j > 0 {
			last[t.Name[:j]] = i
		}
	}
	after := map[int][]string{}
	for name := range snap.NumBatchesTracked {
		i, ok := last[name]
		if !ok {
			return nil, fmt.Errorf("BatchNorm layer %q has no tensors in the state", name)
		}
		after[i] = append(after[i], name)
	}
	out := make([]safetensors.Tensor, 0, len(snap.State)+len(snap.NumBatchesTracked))
	for i, t := range snap.State {
		out = append(out, safetensors.Tensor{Name: t.Name, Shape: t.Shape, Data: t.Data})
		for _, name := range after[i] {
			n := snap.NumBatchesTracked[name]
			out = append(out, safetensors.Tensor{Name: name + ".num_batches_tracked", Shape: []int{}, Int64: []int64{n}})
		}
	}
	return out, nil
}
