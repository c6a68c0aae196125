package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cnnctl/cnnctl/internal/bench"
)

func parseBench(t *testing.T, args ...string) (*benchOptions, error) {
	t.Helper()
	return parseCmd(t, newBenchCmd, args...)
}

func TestBenchFlags(t *testing.T) {
	o, err := parseBench(t, "--model", "lenet")
	if err != nil {
		t.Fatal(err)
	}
	if o.Batch != 128 || o.Iters != 10 || o.Warmup != 2 || o.Mode != "train" || o.Device != "auto" || o.batchSet {
		t.Errorf("defaults: %+v", o)
	}
	o, err = parseBench(t, "-m", "resnet", "--device", "cpu", "-b", "4", "--input", "3x16x16", "--iters", "3", "--warmup", "0", "--mode", "infer", "--csv", "-o", "x.csv")
	if err != nil {
		t.Fatal(err)
	}
	if o.Model != "resnet" || o.Device != "cpu" || o.Batch != 4 || !o.batchSet || o.Input != "3x16x16" || o.Iters != 3 || o.Warmup != 0 || o.Mode != "infer" || !o.CSV || o.Output != "x.csv" {
		t.Errorf("parsed: %+v", o)
	}
	o, err = parseBench(t, "--all", "--models", "lenet,resnet20")
	if err != nil {
		t.Fatal(err)
	}
	if !o.All || strings.Join(o.Models, " ") != "lenet resnet20" || o.itersSet {
		t.Errorf("--all: %+v", o)
	}
	if o, err = parseBench(t, "--peak"); err != nil || !o.Peak {
		t.Errorf("--peak: %+v, %v", o, err)
	}
	for _, args := range [][]string{
		{},
		{"--model", "lenet", "--all"},
		{"--models", "lenet"},
		{"--model", "lenet", "--json", "--csv"},
		{"--model", "lenet", "--batch-size", "0"},
		{"--model", "lenet", "--iters", "0"},
		{"--model", "lenet", "--warmup", "-1"},
		{"--model", "lenet", "--mode", "eval"},
		{"--model", "lenet", "--input", "3x0x32"},
		{"--model", "lenet", "--device", "tpu"},
	} {
		_, err := parseBench(t, args...)
		var ue usageError
		if err == nil || !errors.As(err, &ue) {
			t.Errorf("%q: error %v, want a usage error", args, err)
		}
	}
}

// TestBenchRun runs the real command on the CPU with a tiny batch: JSON
// that validates (lenet's 12 leaves in 10 rows: its two conv, ReLU pairs
// run fused, one row each), a table, and compare on two outputs.
func TestBenchRun(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	dir := t.TempDir()
	a := filepath.Join(dir, "a.json")
	var out, errOut bytes.Buffer
	if code := run([]string{"bench", "--model", "lenet", "--device", "cpu", "-b", "2", "--iters", "2", "--warmup", "0", "--json", "-o", a}, nil, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	r, err := bench.ReadReport(a)
	if err != nil {
		t.Fatal(err)
	}
	if r.Tool != "cnnctl" || r.Model != "lenet" || r.Batch != 2 || len(r.Layers) != 10 || r.Version == "" {
		t.Errorf("report: tool %s model %s batch %d layers %d version %q", r.Tool, r.Model, r.Batch, len(r.Layers), r.Version)
	}
	if !strings.Contains(errOut.String(), "device: cpu") || !strings.Contains(errOut.String(), "bench --peak") {
		t.Errorf("stderr does not say the device and how to get peaks:\n%s", errOut.String())
	}
	out.Reset()
	if code := run([]string{"bench", "--model", "lenet", "--device", "cpu", "-b", "2", "--iters", "1", "--warmup", "0"}, nil, &out, &errOut); code != 0 {
		t.Fatalf("table: exit %d", code)
	}
	for _, want := range []string{"conv1", "fc3", "sum of layer medians", "overhead", "throughput: train"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
	// --cpuprofile: a pprof file (gzipped protobuf), and a clear error
	// where it cannot be written.
	prof := filepath.Join(dir, "cpu.pprof")
	if code := run([]string{"bench", "--model", "lenet", "--device", "cpu", "-b", "2", "--iters", "1", "--warmup", "0", "--cpuprofile", prof}, nil, &out, &errOut); code != 0 {
		t.Fatalf("--cpuprofile: exit %d: %s", code, errOut.String())
	}
	if b, err := os.ReadFile(prof); err != nil || len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b {
		t.Errorf("--cpuprofile wrote %d bytes (%v), want a gzipped profile", len(b), err)
	}
	errOut.Reset()
	if code := run([]string{"bench", "--model", "lenet", "--device", "cpu", "-b", "1", "--iters", "1", "--cpuprofile", filepath.Join(dir, "no", "such", "dir", "p")}, nil, &out, &errOut); code == 0 || !strings.Contains(errOut.String(), "--cpuprofile") {
		t.Errorf("--cpuprofile into a missing directory: exit %d, stderr %q", code, errOut.String())
	}
	out.Reset()
	if code := run([]string{"bench", "compare", a, a}, nil, &out, &errOut); code != 0 {
		t.Fatalf("compare: exit %d: %s", code, errOut.String())
	}
	if !strings.Contains(out.String(), "1.00x") {
		t.Errorf("compare of a file with itself:\n%s", out.String())
	}
	out.Reset()
	if code := run([]string{"bench", "--all", "--models", "lenet,mlp", "--device", "cpu", "-b", "1", "--iters", "1", "--warmup", "0", "--json"}, nil, &out, &errOut); code != 0 {
		t.Fatalf("--all: exit %d: %s", code, errOut.String())
	}
	var all []json.RawMessage
	if err := json.Unmarshal(out.Bytes(), &all); err != nil || len(all) != 2 {
		t.Fatalf("--all --json: %d reports, %v", len(all), err)
	}
	for _, raw := range all {
		if err := bench.Validate(raw); err != nil {
			t.Error(err)
		}
	}
	out.Reset()
	if code := run([]string{"bench", "show", a}, nil, &out, &errOut); code != 0 || !strings.Contains(out.String(), "conv1") {
		t.Errorf("show: exit %d:\n%s", code, out.String())
	}
	if code := run([]string{"bench", "compare", a, filepath.Join(dir, "missing.json")}, nil, &out, &errOut); code != exitFailure {
		t.Errorf("compare with a missing file: exit %d, want %d", code, exitFailure)
	}
}

// TestDevicePeaks: `cnnctl device --json` lists the cached peaks.
func TestDevicePeaks(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	path, err := bench.PeakCachePath()
	if err != nil {
		t.Skip(err)
	}
	if err := bench.SavePeaks(path, &bench.Peaks{Device: "cpu (test)", GFLOPS: 3, GBPS: 4}); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if code := run([]string{"device", "--json"}, nil, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	var rep struct{ Peaks []bench.Peaks }
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil || len(rep.Peaks) != 1 || rep.Peaks[0].GFLOPS != 3 {
		t.Errorf("device --json peaks: %+v, %v", rep.Peaks, err)
	}
}
