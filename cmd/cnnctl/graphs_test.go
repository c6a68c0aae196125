package main

import (
	"encoding/json"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/cnnctl/cnnctl/internal/cpu"
	"github.com/cnnctl/cnnctl/internal/zoo"
)

// TestNoGraphsFlag: --no-graphs reaches train's and eval's options, and
// is off by default; train's --help says what graphs are.
func TestNoGraphsFlag(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want bool
	}{{nil, false}, {[]string{"--no-graphs"}, true}} {
		o, err := parseTrain(t, append([]string{"--model", "lenet", "--data", "synthetic"}, tc.args...)...)
		if err != nil || o.NoGraph != tc.want {
			t.Errorf("train %v: no-graphs %v (%v), want %v", tc.args, o != nil && o.NoGraph, err, tc.want)
		}
		e, err := parseCmd(t, newEvalCmd, append([]string{"runs/x/best"}, tc.args...)...)
		if err != nil || e.NoGraph != tc.want {
			t.Errorf("eval %v: no-graphs %v (%v), want %v", tc.args, e != nil && e.NoGraph, err, tc.want)
		}
	}
	code, out, _ := runCLI(t, "train", "--help")
	if code != 0 || !strings.Contains(out, "CUDA graph") || !strings.Contains(out, "--no-graphs runs every step op by op") {
		t.Errorf("train --help (exit %d) does not explain graphs:\n%s", code, out)
	}
}

var summaryLine = regexp.MustCompile(`(?m)^run: \S+ wall, \S+ s/epoch over 1 epochs, [0-9,]+ img/s, GPU idle: cpu \(no device to wait for\)$`)

// TestTrainSummaryLine: a finished run prints its summary line once, on
// stdout after the result; with --json it is the "summary" object instead.
func TestTrainSummaryLine(t *testing.T) {
	dir := t.TempDir()
	code, out, errOut := runCLI(t, trainArgs(filepath.Join(dir, "text"), 1)...)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	if n := len(summaryLine.FindAllString(out, -1)); n != 1 || strings.Count(out+errOut, "run: ") != 1 {
		t.Errorf("%d summary lines on stdout, want 1:\n%s\nstderr:\n%s", n, out, errOut)
	}
	code, out, errOut = runCLI(t, trainArgs(filepath.Join(dir, "json"), 1, "--json")...)
	if code != 0 {
		t.Fatalf("--json: exit %d\n%s", code, errOut)
	}
	var res struct {
		Summary map[string]any `json:"summary"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("--json: %v\n%s", err, out)
	}
	s := res.Summary
	if s["epochs"] != 1.0 || s["images"] != float64(stepsPerEpoch*32) || !(s["wall_s"].(float64) > 0) || s["gpu_idle_share"] != nil {
		t.Errorf("--json summary %v", s)
	}
	if v, ok := s["gpu_idle_share"]; !ok || v != nil {
		t.Errorf("--json summary: gpu_idle_share %v (present %v), want null on the CPU", v, ok)
	}
	if strings.Contains(out+errOut, "run: ") {
		t.Errorf("--json also printed the line:\n%s\n%s", out, errOut)
	}
}

// TestNoGraphsReachesTheRun: --no-graphs becomes train.Config.NoGraphs,
// which TestExecuteNoGraphs (internal/train) shows takes the plain path.
func TestNoGraphsReachesTheRun(t *testing.T) {
	for _, want := range []bool{false, true} {
		args := []string{"--model", "lenet", "--data", "synthetic", "--device", "cpu", "--workers", "1"}
		if want {
			args = append(args, "--no-graphs")
		}
		o, err := parseTrain(t, args...)
		if err != nil {
			t.Fatal(err)
		}
		spec, err := zoo.Load(o.Model)
		if err != nil {
			t.Fatal(err)
		}
		td, err := openTrainData(o, spec)
		if err != nil {
			t.Fatal(err)
		}
		m, err := zoo.Build(spec, cpu.New(), td.in, len(td.ds.Classes), o.Seed)
		if err != nil {
			t.Fatal(err)
		}
		run, err := newRun(o, spec, m, td, nil, "fp32")
		if err != nil {
			t.Fatal(err)
		}
		if run.Cfg.NoGraphs != want {
			t.Errorf("--no-graphs %v: Config.NoGraphs %v", want, run.Cfg.NoGraphs)
		}
	}
}
