package main

import (
	"bytes"
	"encoding/json"
	"image"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cnnctl/cnnctl/internal/checkpoint"
	"github.com/cnnctl/cnnctl/internal/cpu"
	"github.com/cnnctl/cnnctl/internal/safetensors"
	"github.com/cnnctl/cnnctl/internal/tensor"
	"github.com/cnnctl/cnnctl/internal/train"
	"github.com/cnnctl/cnnctl/internal/zoo"
)

// TestImportRefusesNonFinite: a weights file holding NaN or Inf is refused,
// naming the tensors, and no checkpoint is written.
func TestImportRefusesNonFinite(t *testing.T) {
	_, ts := torchWeights(t, "lenet")
	dir := t.TempDir()
	for i := range ts {
		switch ts[i].Name {
		case "conv2.weight":
			ts[i].Data[3] = float32(math.NaN())
		case "fc1.bias":
			ts[i].Data[0] = float32(math.Inf(1))
		}
	}
	path := filepath.Join(dir, "nan.safetensors")
	if err := safetensors.WriteFile(path, ts, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "ck")
	code, _, stderr := cli(t, "import", "--model", "lenet", path, "-o", out)
	if code != exitFailure {
		t.Fatalf("exit %d, want %d\n%s", code, exitFailure, stderr)
	}
	mustContain(t, "import's error", stderr, "non-finite weights", "conv2.weight: 1 of 2400 values (first conv2.weight[3] = NaN)", "fc1.bias: 1 of 120 values (first fc1.bias[0] = +Inf)")
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("import wrote %s from non-finite weights", out)
	}
}

// TestEvalPredictNonFiniteModel: a checkpoint whose last layer is NaN
// scores 0 (not 100%), eval --json still parses (loss null), predict
// prints no percentages, and both exit 1 saying the outputs are not finite.
func TestEvalPredictNonFiniteModel(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "nan.ckpt")
	lenetCheckpoint(t, path, func(ck *checkpoint.Checkpoint) {
		for i := range ck.State {
			if ck.State[i].Name == "fc3.weight" {
				for j := range ck.State[i].Data {
					ck.State[i].Data[j] = float32(math.NaN())
				}
			}
		}
	})

	code, stdout, stderr := cli(t, "eval", path, "--device", "cpu")
	if code != exitFailure {
		t.Fatalf("eval: exit %d, want %d\n%s%s", code, exitFailure, stdout, stderr)
	}
	mustContain(t, "eval's report", stdout, "top-1 0.0000   top-5 0.0000", "NON-FINITE OUTPUTS (NaN/Inf) for 256 of 256 images")
	mustContain(t, "eval's error", stderr, "the model produces non-finite outputs (NaN or Inf) for 256 of 256 images")

	code, stdout, stderr = cli(t, "eval", path, "--device", "cpu", "--json")
	if code != exitFailure {
		t.Fatalf("eval --json: exit %d, want %d\n%s", code, exitFailure, stderr)
	}
	var ev map[string]any
	if err := json.Unmarshal([]byte(stdout), &ev); err != nil {
		t.Fatalf("eval --json does not parse: %v\n%s\n%s", err, stdout, stderr)
	}
	if ev["loss"] != nil || ev["non_finite"] != 256.0 || ev["top1"] != 0.0 || ev["top5"] != 0.0 {
		t.Errorf("eval --json: loss %v non_finite %v top1 %v top5 %v, want null 256 0 0", ev["loss"], ev["non_finite"], ev["top1"], ev["top5"])
	}

	img := filepath.Join(dir, "x.png")
	writePNG(t, img, 32, 32, 0)
	code, stdout, stderr = cli(t, "predict", path, img, "--device", "cpu")
	if code != exitFailure || strings.Contains(stdout, "NaN%") || !strings.Contains(stdout, "no prediction: the model's output is not finite") {
		t.Errorf("predict: exit %d, want %d, and no NaN%%:\n%s%s", code, exitFailure, stdout, stderr)
	}
	mustContain(t, "predict's error", stderr, "predict: the model produces non-finite outputs (NaN or Inf) for 1 of 1 images")
	code, stdout, _ = cli(t, "predict", path, img, "--device", "cpu", "--json")
	var preds []map[string]any
	if err := json.Unmarshal([]byte(stdout), &preds); err != nil || code != exitFailure || len(preds) != 1 || preds[0]["non_finite"] != true {
		t.Errorf("predict --json: exit %d, err %v:\n%s", code, err, stdout)
	}
}

// lenetCheckpoint writes a checkpoint of a freshly built LeNet for 3x32x32
// synthetic data at path, after edit (nil: none) has changed it.
func lenetCheckpoint(t *testing.T, path string, edit func(*checkpoint.Checkpoint)) {
	t.Helper()
	spec, err := zoo.Load("lenet")
	if err != nil {
		t.Fatal(err)
	}
	be := cpu.New()
	defer be.Close()
	in := tensor.Shape{3, 32, 32}
	m, err := zoo.Build(spec, be, in, 10, 1)
	if err != nil {
		t.Fatal(err)
	}
	classes := make([]string, 10)
	for i := range classes {
		classes[i] = "class" + itoa(i)
	}
	ck, err := train.Snapshot(m, checkpoint.Meta{Model: "lenet", ModelYAML: string(spec.Source), ConfigHash: spec.Hash(),
		Input: in, Classes: classes, Mean: []float32{0.5, 0.5, 0.5}, Std: []float32{0.5, 0.5, 0.5}, Data: "synthetic"})
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(ck)
	}
	if err := checkpoint.Save(path, ck); err != nil {
		t.Fatal(err)
	}
}

// writePNG writes a w x h RGB image of value v (and v+1, v+2 by channel).
func writePNG(t *testing.T, path string, w, h int, v uint8) {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := 0; i < len(img.Pix); i += 4 {
		img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = v, v+1, v+2, 255
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}
