package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"github.com/cnnctl/cnnctl/internal/train"
)

// TestConcurrentRunsRefused starts a long run, then a second one on the
// same --out (real processes): the second is refused, naming the first's
// pid, and nothing of the first is touched. After kill -9 of the first, its
// lock is taken over by pid and --resume auto trains on; a finished run
// leaves no lock file.
func TestConcurrentRunsRefused(t *testing.T) {
	bin := buildCLI(t)
	out := filepath.Join(t.TempDir(), "run")
	a, aErr, done := startTrain(t, bin, trainArgs(out, 1000)...)
	defer func() {
		a.Process.Kill()
		<-done
	}()
	for _, extra := range [][]string{nil, {"--resume", "auto"}, {"--overwrite"}} {
		b := exec.Command(bin, trainArgs(out, 1, extra...)...)
		var stderr bytes.Buffer
		b.Stderr = &stderr
		code := exitCode(t, b.Run())
		if code != exitFailure {
			t.Fatalf("second run %v: exit %d, want %d\n%s\nfirst run:\n%s", extra, code, exitFailure, stderr.String(), aErr.String())
		}
		mustContain(t, "the second run's error", stderr.String(), "output folder in use by another run", out+" is being written by cnnctl pid "+strconv.Itoa(a.Process.Pid), "pick another --out")
	}
	select {
	case err := <-done:
		t.Fatalf("the first run ended while the second was refused: %v\n%s", err, aErr.String())
	default:
	}
	a.Process.Kill()
	<-done
	done <- nil // for the deferred cleanup
	if _, err := os.Stat(filepath.Join(out, train.LockName)); err != nil {
		t.Fatalf("kill -9 should leave the lock file behind for this test: %v", err)
	}
	args := slices.DeleteFunc(trainArgs(out, 1, "--resume", "auto"), func(s string) bool { return s == "-q" })
	c := exec.Command(bin, args...)
	var stderr bytes.Buffer
	c.Stderr = &stderr
	if code := exitCode(t, c.Run()); code != 0 {
		t.Fatalf("run after kill -9: exit %d\n%s", code, stderr.String())
	}
	mustContain(t, "the run after kill -9", stderr.String(), "took over the lock of pid "+strconv.Itoa(a.Process.Pid))
	if _, err := os.Stat(filepath.Join(out, train.LockName)); !os.IsNotExist(err) {
		t.Errorf("a finished run left its lock file: %v", err)
	}
}

// TestRerunIntoFinishedRun: train into a folder holding a run, without
// --resume, is a usage error that leaves the run alone; --overwrite
// replaces it. A run that fails before training leaves no empty folder.
func TestRerunIntoFinishedRun(t *testing.T) {
	out := filepath.Join(t.TempDir(), "run")
	if code, _, stderr := runCLI(t, trainArgs(out, 1)...); code != 0 {
		t.Fatalf("first run: exit %d\n%s", code, stderr)
	}
	last, err := os.ReadFile(filepath.Join(out, "last"))
	if err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runCLI(t, trainArgs(out, 1, "--seed", "2")...)
	if code != exitUsage {
		t.Fatalf("re-run without --resume: exit %d, want %d\n%s", code, exitUsage, stderr)
	}
	mustContain(t, "the re-run's error", stderr, out+" already holds a run (last, best, metrics.jsonl; metrics up to epoch 1)", "--resume auto", "a new --out", "--overwrite")
	if now, _ := os.ReadFile(filepath.Join(out, "last")); !bytes.Equal(now, last) {
		t.Error("the refused re-run changed OUT/last")
	}
	code, _, stderr = runCLI(t, trainArgs(out, 1, "--seed", "2", "--overwrite")...)
	if code != 0 {
		t.Fatalf("--overwrite: exit %d\n%s", code, stderr)
	}
	if now, _ := os.ReadFile(filepath.Join(out, "last")); bytes.Equal(now, last) {
		t.Error("--overwrite did not replace OUT/last")
	}
	if got := metricEpochs(t, out); !slices.Equal(got, []int{1}) {
		t.Errorf("metrics epochs after --overwrite %v, want [1]", got)
	}

	none := filepath.Join(t.TempDir(), "none")
	if code, _, stderr := runCLI(t, append(trainArgs(none, 1), "--data", "cifar10:"+filepath.Join(none, "x"))...); code == 0 {
		t.Fatalf("bad data: exit 0\n%s", stderr)
	}
	if _, err := os.Stat(none); !os.IsNotExist(err) {
		t.Errorf("a run that failed before training left %s", none)
	}
}

// TestResumeAfterTornMetrics: a metrics.jsonl whose last line a kill cut
// short no longer blocks --resume auto; the line is dropped with a note.
func TestResumeAfterTornMetrics(t *testing.T) {
	out := filepath.Join(t.TempDir(), "run")
	if code, _, stderr := runCLI(t, trainArgs(out, 1)...); code != 0 {
		t.Fatalf("epoch 1: exit %d\n%s", code, stderr)
	}
	f, err := os.OpenFile(filepath.Join(out, "metrics.jsonl"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"epoch":2,"step":6`)
	f.Close()
	args := slices.DeleteFunc(trainArgs(out, 2, "--resume", "auto"), func(s string) bool { return s == "-q" })
	code, _, stderr := runCLI(t, args...)
	if code != 0 {
		t.Fatalf("--resume auto after a torn metrics line: exit %d\n%s", code, stderr)
	}
	mustContain(t, "the resume", stderr, "metrics.jsonl ended in a line cut short")
	if got := metricEpochs(t, out); !slices.Equal(got, []int{1, 2}) {
		t.Errorf("metrics epochs %v, want [1 2]", got)
	}
}
