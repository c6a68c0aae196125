package main

import (
	"encoding/json"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cnnctl/cnnctl/internal/checkpoint"
	"github.com/cnnctl/cnnctl/internal/train"
)

// TestTrainDataOn: --data-on device (the CPU backend holds the training
// set and the validation split) and --data-on host train lenet on
// augmented synthetic data to the same metrics bit for bit, validation's
// included, and each run says where its batches are made; auto on the CPU
// streams.
func TestTrainDataOn(t *testing.T) {
	dir := t.TempDir()
	lines := map[string]string{
		"host":   "data: streamed from the host: asked for (--data-on host); validation too",
		"device": "data: on the device (3 MiB: 1,024 images of 3x32x32 and their tables); validation on the device (1 MiB: 256 images of 3x32x32)",
		"auto":   "data: streamed from the host: the backend (cpu ",
	}
	metrics := map[string][]train.EpochMetrics{}
	for _, on := range []string{"host", "device", "auto"} {
		out := filepath.Join(dir, on)
		code, _, stderr := runCLI(t, "train", "--model", "lenet", "--data", "synthetic", "--epochs", "2", "--batch-size", "100",
			"--device", "cpu", "--workers", "1", "--augment", "crop+flip", "--out", out, "--data-on", on)
		if code != 0 {
			t.Fatalf("--data-on %s: exit %d\n%s", on, code, stderr)
		}
		if !strings.Contains(stderr, lines[on]) {
			t.Errorf("--data-on %s: stderr lacks %q:\n%s", on, lines[on], stderr)
		}
		ms, err := train.ReadMetrics(out)
		if err != nil || len(ms) != 2 {
			t.Fatalf("--data-on %s: %d epochs of metrics, %v", on, len(ms), err)
		}
		metrics[on] = ms
	}
	for _, on := range []string{"device", "auto"} {
		for i, m := range metrics[on] {
			h := metrics["host"][i]
			if math.Float64bits(m.TrainLoss) != math.Float64bits(h.TrainLoss) || m.TrainTop1 != h.TrainTop1 || m.ValTop1 != h.ValTop1 ||
				math.Float64bits(m.ValLoss) != math.Float64bits(h.ValLoss) || m.ValTop5 != h.ValTop5 {
				t.Errorf("epoch %d: --data-on %s loss %v top-1 %v val %v/%v/%v; host %v %v %v/%v/%v", i+1, on, m.TrainLoss, m.TrainTop1, m.ValLoss, m.ValTop1, m.ValTop5,
					h.TrainLoss, h.TrainTop1, h.ValLoss, h.ValTop1, h.ValTop5)
			}
		}
	}
}

// TestEvalDataOn: eval --data-on device (the CPU backend holds the split,
// sums loss and hits in its slots and keeps the logits) and --data-on
// host report the same evaluation bit for bit, on a trained checkpoint's
// held-out split and on a checkpoint whose outputs are all NaN; each run
// says where its batches are made, and a bad value is a usage error.
func TestEvalDataOn(t *testing.T) {
	ckpt, _ := evalFixture(t)
	nan := filepath.Join(t.TempDir(), "nan.ckpt")
	lenetCheckpoint(t, nan, func(ck *checkpoint.Checkpoint) {
		for i := range ck.State {
			if ck.State[i].Name == "fc3.weight" {
				for j := range ck.State[i].Data {
					ck.State[i].Data[j] = float32(math.NaN())
				}
			}
		}
	})
	lines := map[string]string{
		"host":   "data: streamed from the host: asked for (--data-on host)",
		"device": "data: on the device (0 MiB: 12 images of 3x32x32)",
		"auto":   "data: streamed from the host: the backend (cpu ",
	}
	for _, tc := range []struct {
		ckpt, line string
		code       int
	}{{ckpt, lines["device"], 0}, {nan, "data: on the device (1 MiB: 256 images of 3x32x32)", exitFailure}} {
		out := map[string]string{}
		for _, on := range []string{"host", "device", "auto"} {
			code, stdout, stderr := runCLI(t, "eval", tc.ckpt, "--device", "cpu", "--json", "--batch-size", "5", "--data-on", on)
			if code != tc.code {
				t.Fatalf("eval %s --data-on %s: exit %d, want %d\n%s", tc.ckpt, on, code, tc.code, stderr)
			}
			want := lines[on]
			if on == "device" {
				want = tc.line
			}
			if !strings.Contains(stderr, want) {
				t.Errorf("eval %s --data-on %s: stderr lacks %q:\n%s", tc.ckpt, on, want, stderr)
			}
			var r map[string]any
			if err := json.Unmarshal([]byte(stdout), &r); err != nil {
				t.Fatalf("eval --json does not parse: %v\n%s", err, stdout)
			}
			delete(r, "images_per_sec")
			b, _ := json.Marshal(r)
			out[on] = string(b)
		}
		if out["device"] != out["host"] || out["auto"] != out["host"] {
			t.Errorf("eval %s:\n--data-on host   %s\n--data-on device %s\n--data-on auto   %s", tc.ckpt, out["host"], out["device"], out["auto"])
		}
	}
	if code, _, stderr := runCLI(t, "eval", ckpt, "--device", "cpu", "--data-on", "gpu"); code != exitUsage || !strings.Contains(stderr, `eval: --data-on must be auto, device or host, got "gpu"`) {
		t.Errorf("--data-on gpu: exit %d\n%s", code, stderr)
	}
}
