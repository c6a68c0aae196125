package main

import (
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cnnctl/cnnctl/internal/train"
)

// TestTrainDataOn: --data-on device (the CPU backend holds the training
// set) and --data-on host train lenet on augmented synthetic data to the
// same metrics bit for bit, and each run says where its batches are made;
// auto on the CPU streams.
func TestTrainDataOn(t *testing.T) {
	dir := t.TempDir()
	lines := map[string]string{
		"host":   "data: streamed from the host: asked for (--data-on host)",
		"device": "data: on the device (3 MiB: 1,024 images of 3x32x32 and their tables; validation streams from the host)",
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
			if math.Float64bits(m.TrainLoss) != math.Float64bits(h.TrainLoss) || m.TrainTop1 != h.TrainTop1 || m.ValTop1 != h.ValTop1 {
				t.Errorf("epoch %d: --data-on %s loss %v top-1 %v val %v; host %v %v %v", i+1, on, m.TrainLoss, m.TrainTop1, m.ValTop1, h.TrainLoss, h.TrainTop1, h.ValTop1)
			}
		}
	}
}
