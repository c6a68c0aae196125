package main

// Helpers shared by the reliability tests (fault_*_test.go, badinput_*_test.go):
// in-process runs of the CLI, a real binary for signals, checkpoint checks.

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cnnctl/cnnctl/internal/checkpoint"
	"github.com/cnnctl/cnnctl/internal/train"
)

// runCLI runs cnnctl in this process and returns its exit code and output.
func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var o, e bytes.Buffer
	code = run(args, strings.NewReader(""), &o, &e)
	return code, o.String(), e.String()
}

// buildCLI builds the pure-Go binary into a temporary folder, for tests
// that send it signals.
func buildCLI(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "cnnctl")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// trainArgs is a small, fast training run of LeNet on synthetic data.
func trainArgs(out string, epochs int, extra ...string) []string {
	return append([]string{"train", "--model", "lenet", "--data", "synthetic", "--epochs", itoa(epochs),
		"--batch-size", "32", "--device", "cpu", "--workers", "1", "--out", out, "-q"}, extra...)
}

// stepsPerEpoch is synthetic's 1024 training images at batch 32.
const stepsPerEpoch = 32

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func mustLoad(t *testing.T, path string) *checkpoint.Checkpoint {
	t.Helper()
	ck, err := checkpoint.Load(path)
	if err != nil {
		t.Fatalf("%v", err)
	}
	return ck
}

// sameState fails unless a and b hold bit-identical model and optimiser state.
func sameState(t *testing.T, a, b *checkpoint.Checkpoint, what string) {
	t.Helper()
	if len(a.State) != len(b.State) {
		t.Fatalf("%s: %d tensors vs %d", what, len(a.State), len(b.State))
	}
	diff := func(name string, x, y []float32) {
		if len(x) != len(y) {
			t.Fatalf("%s: %s has %d values vs %d", what, name, len(x), len(y))
		}
		for i := range x {
			if math.Float32bits(x[i]) != math.Float32bits(y[i]) {
				t.Fatalf("%s: %s[%d] = %v vs %v: not bit-identical", what, name, i, x[i], y[i])
			}
		}
	}
	for i := range a.State {
		if a.State[i].Name != b.State[i].Name {
			t.Fatalf("%s: tensor %d is %s vs %s", what, i, a.State[i].Name, b.State[i].Name)
		}
		diff(a.State[i].Name, a.State[i].Data, b.State[i].Data)
	}
	if len(a.Optim) != len(b.Optim) {
		t.Fatalf("%s: %d optimiser buffers vs %d", what, len(a.Optim), len(b.Optim))
	}
	for k, v := range a.Optim {
		diff("optim."+k, v, b.Optim[k])
	}
	if a.Epoch != b.Epoch || a.Step != b.Step || a.OptimizerStep != b.OptimizerStep {
		t.Fatalf("%s: epoch/step/optimizer step %d/%d/%d vs %d/%d/%d", what, a.Epoch, a.Step, a.OptimizerStep, b.Epoch, b.Step, b.OptimizerStep)
	}
}

// metricEpochs lists the epochs in OUT/metrics.jsonl (none if it is missing).
func metricEpochs(t *testing.T, out string) []int {
	t.Helper()
	ms, err := train.ReadMetrics(out)
	if err != nil && !os.IsNotExist(err) {
		t.Fatalf("metrics: %v", err)
	}
	var e []int
	for _, m := range ms {
		e = append(e, m.Epoch)
	}
	return e
}

// tempFiles lists leftovers of interrupted writes in dir.
func tempFiles(dir string) []string {
	ents, _ := os.ReadDir(dir)
	var out []string
	for _, e := range ents {
		if strings.Contains(e.Name(), ".tmp-") {
			out = append(out, e.Name())
		}
	}
	return out
}

// mustContain fails unless s holds every one of subs.
func mustContain(t *testing.T, what, s string, subs ...string) {
	t.Helper()
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			t.Errorf("%s does not mention %q:\n%s", what, sub, s)
		}
	}
}

func TestDryRunPrintsPlanWithoutTraining(t *testing.T) {
	out := filepath.Join(t.TempDir(), "run")
	code, stdout, stderr := runCLI(t, trainArgs(out, 3, "--dry-run")...)
	if code != exitOK {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	mustContain(t, "dry run", stdout, "parameters:  62,006", "memory plan:", "MiB", "steps/epoch at batch 32", "nothing trained")
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("--dry-run created %s", out)
	}
}
