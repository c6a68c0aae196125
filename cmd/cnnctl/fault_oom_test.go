package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cnnctl/cnnctl/internal/train"
)

// TestOutOfMemoryRefused: a batch or a layer far beyond the machine's
// memory is refused before any allocation, with the largest batch that
// fits, instead of a Go "fatal error: out of memory" (real processes, under
// a 16 GB address-space limit so that a regression fails fast). Nothing is
// left in --out. eval cuts its batch to the split.
func TestOutOfMemoryRefused(t *testing.T) {
	if avail, _ := train.HostMemory(); avail <= 0 {
		t.Skip("no /proc/meminfo or cgroup limit to check against")
	}
	bin := buildCLI(t)
	dir := t.TempDir()
	huge := filepath.Join(dir, "huge.yaml")
	if err := os.WriteFile(huge, []byte("name: huge\nlayers:\n  - {type: flatten, name: f}\n  - {type: linear, name: fc1, out: 4000000000}\n  - {type: linear, name: fc, out: classes}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := runCLI(t, trainArgs(filepath.Join(dir, "run"), 1)...); code != 0 {
		t.Fatalf("training a checkpoint: exit %d\n%s", code, stderr)
	}
	for _, c := range []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"batch", []string{"train", "--model", "lenet", "--data", "synthetic", "--batch-size", "10000000", "--device", "cpu", "--out", filepath.Join(dir, "a")}, exitFailure,
			[]string{"out of memory before starting: batch 10000000 needs about", "MiB available", "the largest batch that fits is about", "(try --batch-size "}},
		{"layer", []string{"train", "--model", huge, "--data", "synthetic", "--device", "cpu", "--out", filepath.Join(dir, "b")}, exitFailure,
			[]string{"out of memory before starting: the model's 12,332,000,000,010 parameters", "the model is too big for it"}},
		{"bench batch", []string{"bench", "--model", "lenet", "--batch-size", "10000000", "--device", "cpu"}, exitFailure,
			[]string{"out of memory before starting: batch 10000000 needs about", "the largest batch that fits is about"}},
		// eval's batch is cut to the split (256 images): it runs.
		{"eval batch", []string{"eval", filepath.Join(dir, "run", "last"), "--device", "cpu", "--batch-size", "10000000"}, 0, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			cmd := exec.Command("sh", "-c", `ulimit -v 16000000 && exec "$0" "$@"`, bin)
			cmd.Args = append(cmd.Args, c.args...)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			code := exitCode(t, cmd.Run())
			if code != c.code {
				t.Fatalf("exit %d, want %d\n%s", code, c.code, stderr.String())
			}
			mustContain(t, "the error", stderr.String(), c.want...)
			if s := stderr.String(); strings.Contains(s, "fatal error") || strings.Contains(s, "goroutine") {
				t.Errorf("a Go crash:\n%s", s)
			}
		})
	}
	for _, o := range []string{"a", "b"} {
		if _, err := os.Stat(filepath.Join(dir, o)); !os.IsNotExist(err) {
			t.Errorf("the refused run left %s", filepath.Join(dir, o))
		}
	}
}
