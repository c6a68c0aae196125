package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

// TestMixedOnCPU: `train --precision bf16` on the CPU runs the mixed
// precision emulation (said once), records bf16 in the checkpoint, resumes
// bit-identically (1 epoch + --resume vs 2 straight, weights and optimiser
// state), and its float32 checkpoint evaluates in fp32 and in bf16.
func TestMixedOnCPU(t *testing.T) {
	dir := t.TempDir()
	bf16 := []string{"--precision", "bf16", "--model", "lenet-bn"}
	straight := filepath.Join(dir, "straight")
	code, _, stderr := runCLI(t, trainArgs(straight, 2, bf16...)...)
	if code != 0 {
		t.Fatalf("straight run: exit %d\n%s", code, stderr)
	}
	if n := strings.Count(stderr, "bf16 on the CPU emulates mixed precision"); n != 1 {
		t.Errorf("the emulation line appears %d times, want once:\n%s", n, stderr)
	}
	want := mustLoad(t, filepath.Join(straight, "last"))
	if want.TrainedPrecision() != "bf16" {
		t.Errorf("checkpoint trained in %q, want bf16", want.TrainedPrecision())
	}

	split := filepath.Join(dir, "split")
	if code, _, stderr := runCLI(t, trainArgs(split, 1, bf16...)...); code != 0 {
		t.Fatalf("epoch 1: exit %d\n%s", code, stderr)
	}
	if code, _, stderr := runCLI(t, trainArgs(split, 2, append(bf16, "--resume", filepath.Join(split, "last"))...)...); code != 0 {
		t.Fatalf("resume: exit %d\n%s", code, stderr)
	}
	sameState(t, want, mustLoad(t, filepath.Join(split, "last")), "bf16: 1 epoch + resume vs 2 straight")

	for _, prec := range []string{"fp32", "bf16"} {
		code, stdout, stderr := runCLI(t, "eval", filepath.Join(straight, "last"), "--device", "cpu", "--json", "--precision", prec)
		if code != 0 {
			t.Fatalf("eval --precision %s: exit %d\n%s", prec, code, stderr)
		}
		var r struct {
			Precision        string `json:"precision"`
			TrainedPrecision string `json:"trained_precision"`
			N                int    `json:"n"`
		}
		if err := json.Unmarshal([]byte(stdout), &r); err != nil {
			t.Fatalf("eval --precision %s: %v\n%s", prec, err, stdout)
		}
		if r.Precision != prec || r.TrainedPrecision != "bf16" || r.N == 0 {
			t.Errorf("eval --precision %s: precision %q, trained %q, %d images", prec, r.Precision, r.TrainedPrecision, r.N)
		}
	}
}
