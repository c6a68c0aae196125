// Package checkpoint saves and loads training state. A checkpoint is a
// safetensors file: the model's state_dict under its PyTorch keys, the
// optimiser's buffers under "optim.<name>", and everything else (config,
// epoch, classes, normalisation, recipe) as JSON in the metadata. Writes are
// atomic, so a crash leaves the previous checkpoint intact.
package checkpoint

import (
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"sort"
	"strconv"

	"github.com/cnnctl/cnnctl/internal/safetensors"
)

// Version is the checkpoint format version this build writes. It reads
// this one and every older one:
//
//	1  the CRC-32 in the metadata covers the tensor data only
//	2  a second CRC-32, of the metadata text itself (model, classes,
//	   normalisation, recipe, scores: all that affects results), is stored
//	   beside it under "cnnctl.crc32"
const Version = 2

const (
	formatName = "cnnctl-checkpoint"
	metaKey    = "cnnctl"
	metaCRCKey = "cnnctl.crc32"
	optimKey   = "optim."
)

// ErrVersion is wrapped by errors about a checkpoint of another format version.
var ErrVersion = errors.New("unsupported checkpoint version")

// Meta is everything in a checkpoint that is not a tensor.
type Meta struct {
	Format  string `json:"format"`
	Version int    `json:"version"`
	// Model is the zoo name or YAML path the run was started with;
	// ModelYAML the spec's text, so a checkpoint stands on its own.
	Model      string    `json:"model"`
	ModelYAML  string    `json:"model_yaml"`
	ConfigHash string    `json:"config_hash"`
	Input      []int     `json:"input"`
	Classes    []string  `json:"classes"`
	Mean       []float32 `json:"mean"`
	Std        []float32 `json:"std"`
	// Data is the --data spec of the training run.
	Data string `json:"data,omitempty"`
	// ValSplit and Seed rebuild the same validation split on eval.
	ValSplit float64 `json:"val_split,omitempty"`
	Seed     int64   `json:"seed"`
	// Epoch is the number of completed epochs; Step the optimiser steps.
	Epoch         int     `json:"epoch"`
	Step          int64   `json:"step"`
	OptimizerStep int     `json:"optimizer_step"`
	BestTop1      float64 `json:"best_top1"`
	ValTop1       float64 `json:"val_top1"`
	// EpochLossSum, EpochCorrect, EpochSeen and EpochSeconds are the
	// running sums of the unfinished epoch of a mid-epoch checkpoint
	// (Ctrl-C), so that the resumed epoch's metrics cover all its steps.
	EpochLossSum float64 `json:"epoch_loss_sum,omitempty"`
	EpochCorrect int     `json:"epoch_correct,omitempty"`
	EpochSeen    int     `json:"epoch_seen,omitempty"`
	EpochSeconds float64 `json:"epoch_seconds,omitempty"`
	// Recipe holds the resolved training options (flags and config).
	Recipe map[string]any `json:"recipe,omitempty"`
	// Precision is the arithmetic the run trained in ("fp32", "tf32"); the
	// weights are stored as float32 whatever it is. Checkpoints written
	// before the key existed have none: see TrainedPrecision.
	Precision string `json:"precision,omitempty"`
	// NumBatchesTracked per BatchNorm layer (PyTorch keeps it as int64).
	NumBatchesTracked map[string]int64 `json:"num_batches_tracked,omitempty"`
	// CRC is the CRC-32 (IEEE) of all tensor data in file order (the
	// metadata text has its own, outside it: see Version).
	CRC uint32 `json:"crc32"`
}

// TrainedPrecision is the recorded precision, "fp32" for a checkpoint that
// records none (written before the key existed, or by import).
func (m *Meta) TrainedPrecision() string {
	if m.Precision == "" {
		return "fp32"
	}
	return m.Precision
}

// Named is one tensor of the model state.
type Named struct {
	Name  string
	Shape []int
	Data  []float32
}

// Checkpoint is a loaded or to-be-saved checkpoint.
type Checkpoint struct {
	Meta
	// State is the model's state_dict (parameters and buffers) in order.
	State []Named
	// Optim holds the optimiser's buffers by name (may be empty).
	Optim map[string][]float32
}

// Save writes ck to path atomically (temp file in the same folder, fsync,
// rename, fsync of the folder).
func Save(path string, ck *Checkpoint) error {
	return saveVersion(path, ck, Version)
}

// saveVersion writes format version v (tests write version 1 files with it).
func saveVersion(path string, ck *Checkpoint, v int) error {
	tensors, md, err := encode(ck, v)
	if err != nil {
		return fmt.Errorf("save checkpoint %s: %w", path, err)
	}
	if err := safetensors.WriteFile(path, tensors, md); err != nil {
		return fmt.Errorf("save checkpoint: %w", err)
	}
	return nil
}

// encode turns ck into the tensors and metadata of a version v file.
func encode(ck *Checkpoint, v int) ([]safetensors.Tensor, map[string]string, error) {
	ck.Format, ck.Version = formatName, v
	tensors := make([]safetensors.Tensor, 0, len(ck.State)+len(ck.Optim))
	for _, t := range ck.State {
		tensors = append(tensors, safetensors.Tensor{Name: t.Name, Shape: t.Shape, Data: t.Data})
	}
	names := make([]string, 0, len(ck.Optim))
	for k := range ck.Optim {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		v := ck.Optim[k]
		tensors = append(tensors, safetensors.Tensor{Name: optimKey + k, Shape: []int{len(v)}, Data: v})
	}
	ck.CRC = checksum(tensors)
	meta, err := json.Marshal(ck.Meta)
	if err != nil {
		return nil, nil, err
	}
	md := map[string]string{metaKey: string(meta), "format": formatName, "version": strconv.Itoa(v)}
	if v >= 2 {
		md[metaCRCKey] = fmt.Sprintf("%08x", crc32.ChecksumIEEE(meta))
	}
	return tensors, md, nil
}

// Load reads and verifies a checkpoint.
func Load(path string) (*Checkpoint, error) {
	f, err := safetensors.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load checkpoint: %w", err)
	}
	return decode(path, f)
}

// decode verifies a read safetensors file (named path in errors) and
// returns the checkpoint it holds.
func decode(path string, f *safetensors.File) (*Checkpoint, error) {
	raw, ok := f.Metadata[metaKey]
	if !ok {
		return nil, fmt.Errorf("load checkpoint %s: not a cnnctl checkpoint (a safetensors file without cnnctl metadata; to use PyTorch weights run 'cnnctl import')", path)
	}
	// The metadata's own checksum is checked before it is parsed: a
	// flipped bit in the normalisation or the class names must not load.
	sum, hasSum := f.Metadata[metaCRCKey]
	if hasSum {
		if got := fmt.Sprintf("%08x", crc32.ChecksumIEEE([]byte(raw))); got != sum {
			return nil, fmt.Errorf("load checkpoint %s: metadata checksum %s does not match the recorded %q: the file is corrupt (its model, classes, normalisation or recipe changed after it was written)", path, got, sum)
		}
	}
	ck := &Checkpoint{Optim: map[string][]float32{}}
	if err := json.Unmarshal([]byte(raw), &ck.Meta); err != nil {
		return nil, fmt.Errorf("load checkpoint %s: metadata: %w", path, err)
	}
	if ck.Format != formatName {
		return nil, fmt.Errorf("load checkpoint %s: format %q is not %q", path, ck.Format, formatName)
	}
	if ck.Version < 1 || ck.Version > Version {
		return nil, fmt.Errorf("load checkpoint %s: format version %d, this cnnctl reads versions 1 to %d: %w", path, ck.Version, Version, ErrVersion)
	}
	if ck.Version >= 2 && !hasSum {
		return nil, fmt.Errorf("load checkpoint %s: version %d file without its metadata checksum (%s): the file is corrupt or was edited", path, ck.Version, metaCRCKey)
	}
	tensors := f.Tensors
	if got := checksum(tensors); got != ck.CRC {
		return nil, fmt.Errorf("load checkpoint %s: data checksum %08x does not match the recorded %08x: the file is corrupt", path, got, ck.CRC)
	}
	for _, t := range tensors {
		if len(t.Name) > len(optimKey) && t.Name[:len(optimKey)] == optimKey {
			ck.Optim[t.Name[len(optimKey):]] = t.Data
			continue
		}
		ck.State = append(ck.State, Named{Name: t.Name, Shape: t.Shape, Data: t.Data})
	}
	return ck, nil
}

// checksum is the CRC-32 of every tensor's float32 bits, in order.
func checksum(ts []safetensors.Tensor) uint32 {
	h := crc32.NewIEEE()
	var b [4]byte
	buf := make([]byte, 0, 4096)
	for _, t := range ts {
		h.Write([]byte(t.Name))
		for _, v := range t.Data {
			u := math.Float32bits(v)
			b[0], b[1], b[2], b[3] = byte(u), byte(u>>8), byte(u>>16), byte(u>>24)
			buf = append(buf, b[:]...)
			if len(buf) == cap(buf) {
				h.Write(buf)
				buf = buf[:0]
			}
		}
		h.Write(buf)
		buf = buf[:0]
	}
	return h.Sum32()
}
