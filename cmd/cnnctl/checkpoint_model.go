package main

import (
	"fmt"
	"io"

	"github.com/cnnctl/cnnctl/internal/checkpoint"
	"github.com/cnnctl/cnnctl/internal/layers"
	"github.com/cnnctl/cnnctl/internal/tensor"
	"github.com/cnnctl/cnnctl/internal/train"
	"github.com/cnnctl/cnnctl/internal/zoo"
)

// loadedModel is a checkpoint rebuilt on a backend, ready to run.
type loadedModel struct {
	ck    *checkpoint.Checkpoint
	spec  *zoo.Spec
	be    tensor.Backend
	model *layers.Model
}

// loadCheckpointModel reads a checkpoint, rebuilds its model from the YAML
// it carries and loads the weights.
func loadCheckpointModel(path, device string, log io.Writer) (*loadedModel, error) {
	ck, err := checkpoint.Load(path)
	if err != nil {
		return nil, err
	}
	spec, err := zoo.Parse(path+" (model "+ck.Model+")", []byte(ck.ModelYAML))
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s: its model config: %w", path, err)
	}
	if h := spec.Hash(); h != ck.ConfigHash {
		return nil, fmt.Errorf("checkpoint %s: model config hash %s… does not match the recorded %s…: the file was edited or is corrupt", path, short(h), short(ck.ConfigHash))
	}
	be, err := openBackend(device, log)
	if err != nil {
		return nil, err
	}
	m, err := zoo.Build(spec, be, tensor.Shape(ck.Input), len(ck.Classes), ck.Seed)
	if err != nil {
		be.Close()
		return nil, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	if err := train.LoadState(m, ck); err != nil {
		be.Close()
		return nil, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	return &loadedModel{ck: ck, spec: spec, be: be, model: m}, nil
}
