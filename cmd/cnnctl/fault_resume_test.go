package main

import (
	"bytes"
	"errors"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/cnnctl/cnnctl/internal/train"
)

// TestResumeBitIdentical: on the CPU, 2 epochs straight, 1 epoch + --resume
// for 1 more, and a run stopped by Ctrl-C in the middle of epoch 2 then
// continued with --resume auto all end with bit-identical weights and
// optimiser state.
func TestResumeBitIdentical(t *testing.T) {
	dir := t.TempDir()
	straight := filepath.Join(dir, "straight")
	if code, _, stderr := runCLI(t, trainArgs(straight, 2)...); code != 0 {
		t.Fatalf("straight run: exit %d\n%s", code, stderr)
	}
	want := mustLoad(t, filepath.Join(straight, "last"))

	t.Run("epoch boundary", func(t *testing.T) {
		out := filepath.Join(dir, "split")
		if code, _, stderr := runCLI(t, trainArgs(out, 1)...); code != 0 {
			t.Fatalf("epoch 1: exit %d\n%s", code, stderr)
		}
		if code, _, stderr := runCLI(t, trainArgs(out, 2, "--resume", filepath.Join(out, "last"))...); code != 0 {
			t.Fatalf("resume: exit %d\n%s", code, stderr)
		}
		sameState(t, want, mustLoad(t, filepath.Join(out, "last")), "1 epoch + resume vs 2 straight")
	})

	t.Run("ctrl-c mid-epoch", func(t *testing.T) {
		bin := buildCLI(t)
		var out string
		// A fast machine may finish epoch 2 before the signal: try again.
		for try := 1; ; try++ {
			out = filepath.Join(dir, "interrupted"+itoa(try))
			code, stderr := interruptInEpoch2(t, bin, out)
			if code == exitOK && try < 5 {
				t.Logf("try %d: the run finished before SIGINT", try)
				continue
			}
			if code != exitInterrupted {
				t.Fatalf("after SIGINT: exit %d, want %d\n%s", code, exitInterrupted, stderr)
			}
			mustContain(t, "the interrupted run's message", stderr, "interrupted", filepath.Join(out, "last"), "--resume auto")
			break
		}
		ck := mustLoad(t, filepath.Join(out, "last"))
		if ck.Epoch != 1 || ck.Step <= stepsPerEpoch || ck.Step >= 2*stepsPerEpoch {
			t.Fatalf("interrupted checkpoint at epoch %d step %d, want epoch 1 and a step inside epoch 2", ck.Epoch, ck.Step)
		}
		t.Logf("interrupted at step %d of %d", ck.Step, 2*stepsPerEpoch)
		code, _, errOut := runCLI(t, trainArgs(out, 2, "--resume", "auto")...)
		if code != 0 {
			t.Fatalf("--resume auto: exit %d\n%s", code, errOut)
		}
		sameState(t, want, mustLoad(t, filepath.Join(out, "last")), "ctrl-c + --resume auto vs 2 straight")
		// The interrupted epoch's metrics cover all its steps, not only
		// those after the resume.
		a, err := train.ReadMetrics(straight)
		if err != nil {
			t.Fatal(err)
		}
		b, err := train.ReadMetrics(out)
		if err != nil {
			t.Fatal(err)
		}
		if len(a) != 2 || len(b) != 2 || a[1].TrainLoss != b[1].TrainLoss || a[1].TrainTop1 != b[1].TrainTop1 {
			t.Errorf("epoch 2 train loss/top-1: straight %+v, interrupted and resumed %+v", a[len(a)-1], b[len(b)-1])
		}
	})
}

// interruptInEpoch2 starts a 2-epoch run, sends SIGINT shortly after
// OUT/last of epoch 1 appears, and returns the exit code and stderr.
func interruptInEpoch2(t *testing.T, bin, out string) (int, string) {
	t.Helper()
	cmd := exec.Command(bin, trainArgs(out, 2)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(out, "last")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			<-done
			t.Fatalf("no OUT/last after 30 s\n%s", stderr.String())
		}
		time.Sleep(time.Millisecond)
	}
	time.Sleep(time.Duration(10+rand.Intn(40)) * time.Millisecond)
	cmd.Process.Signal(syscall.SIGINT)
	err := <-done
	var ee *exec.ExitError
	switch {
	case err == nil:
		return exitOK, stderr.String()
	case errors.As(err, &ee):
		return ee.ExitCode(), stderr.String()
	}
	t.Fatal(err)
	return 0, ""
}
