package main

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestFaultNaN: an absurd learning rate makes the loss non-finite. The run
// stops at that step with a non-zero exit, names the first layer that went
// non-finite (--nan-check layer), keeps the last good checkpoint and its
// metrics, and suggests a lower lr and warm-up. With --nan-check off the end
// of the epoch still catches it, before any metrics or checkpoint.
func TestFaultNaN(t *testing.T) {
	out := filepath.Join(t.TempDir(), "run")
	if code, _, stderr := runCLI(t, trainArgs(out, 1)...); code != 0 {
		t.Fatalf("epoch 1: exit %d\n%s", code, stderr)
	}
	good, err := os.ReadFile(filepath.Join(out, "last"))
	if err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runCLI(t, trainArgs(out, 2, "--resume", "auto", "--lr", "1e6", "--nan-check", "layer")...)
	if code != exitFailure {
		t.Fatalf("exit %d, want %d\n%s", code, exitFailure, stderr)
	}
	mustContain(t, "error", stderr, "training diverged at epoch 2 step", "non-finite loss", "first non-finite output: layer conv2 (conv2d)",
		filepath.Join(out, "last")+" keeps the last good state (epoch 1)", "lower --lr", "--warmup-epochs")
	if now, _ := os.ReadFile(filepath.Join(out, "last")); !bytes.Equal(now, good) {
		t.Error("OUT/last changed: the last good checkpoint was not kept")
	}
	mustLoad(t, filepath.Join(out, "best"))
	if got := metricEpochs(t, out); !slices.Equal(got, []int{1}) {
		t.Errorf("metrics epochs %v, want [1]", got)
	}

	t.Run("nan-check off", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "run")
		code, _, stderr := runCLI(t, trainArgs(out, 2, "--lr", "1e6", "--nan-check", "off")...)
		if code != exitFailure {
			t.Fatalf("exit %d, want %d\n%s", code, exitFailure, stderr)
		}
		mustContain(t, "error", stderr, "diverged at epoch 1", "found at the end of the epoch", "no checkpoint had been written yet", "lower --lr")
		for _, f := range []string{"last", "best", "metrics.jsonl"} {
			if _, err := os.Stat(filepath.Join(out, f)); err == nil {
				t.Errorf("a diverged epoch wrote OUT/%s", f)
			}
		}
	})
}
