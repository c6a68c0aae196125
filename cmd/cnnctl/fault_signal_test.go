package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// lockedBuffer is a bytes.Buffer safe to read while a process writes it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startTrain starts the built binary with args and waits until its stderr
// shows the data line, printed just before training (and the signal
// handler) starts.
func startTrain(t *testing.T, bin string, args ...string) (*exec.Cmd, *lockedBuffer, chan error) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(stderr.String(), "training images") {
		select {
		case err := <-done:
			done <- err
			return cmd, stderr, done
		default:
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			<-done
			t.Fatalf("no data line after 60 s\n%s", stderr.String())
		}
		time.Sleep(time.Millisecond)
	}
	return cmd, stderr, done
}

// exitCode turns cmd.Wait's error into an exit code.
func exitCode(t *testing.T, err error) int {
	t.Helper()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.ExitCode()
	}
	t.Fatal(err)
	return -1
}

// TestInterruptInEpoch1Saves sends SIGINT and SIGTERM during the first
// epoch (no validation score yet): the run must save OUT/last at epoch 0
// with its step, exit 130 saying so, and --resume auto must continue from
// that step rather than start over.
func TestInterruptInEpoch1Saves(t *testing.T) {
	bin := buildCLI(t)
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "run")
			args := trainArgs(out, 2, "--batch-size", "4") // 256 steps an epoch
			_, stderr, done := startTrainSignal(t, bin, sig, args...)
			code := exitCode(t, <-done)
			if code != exitInterrupted {
				t.Fatalf("after %v in epoch 1: exit %d, want %d\n%s", sig, code, exitInterrupted, stderr)
			}
			mustContain(t, "the interrupted run's message", stderr.String(), "the state is saved in "+filepath.Join(out, "last"), "--resume auto")
			if n := strings.Count(stderr.String(), "\nrun: "); n != 1 {
				t.Errorf("the interrupted run printed %d summary lines, want 1:\n%s", n, stderr)
			}
			ck := mustLoad(t, filepath.Join(out, "last"))
			if ck.Epoch != 0 || ck.Step <= 0 || ck.Step >= 256 {
				t.Fatalf("OUT/last after %v in epoch 1: epoch %d step %d, want epoch 0 and a step inside epoch 1", sig, ck.Epoch, ck.Step)
			}
			// Without -q, so that the resume note is printed.
			args = slices.DeleteFunc(trainArgs(out, 1, "--batch-size", "4", "--resume", "auto"), func(s string) bool { return s == "-q" })
			code, _, errOut := runCLI(t, args...)
			if code != 0 {
				t.Fatalf("--resume auto: exit %d\n%s", code, errOut)
			}
			if want := "resuming from epoch 0, step " + itoa(int(ck.Step)); !strings.Contains(errOut, want) {
				t.Errorf("--resume auto did not say %q:\n%s", want, errOut)
			}
		})
	}
}

// TestInterruptSaveFailureIsNotSuccess: when the save on SIGINT fails
// (OUT/last is made a non-empty folder once the run started, so the rename
// cannot replace it), the run
// must not claim a saved state nor exit 130.
func TestInterruptSaveFailureIsNotSuccess(t *testing.T) {
	bin := buildCLI(t)
	out := filepath.Join(t.TempDir(), "run")
	cmd, stderr, done := startTrain(t, bin, trainArgs(out, 2, "--batch-size", "4")...)
	if err := os.MkdirAll(filepath.Join(out, "last", "blocker"), 0o755); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond) // the signal handler is installed just after the data line
	cmd.Process.Signal(syscall.SIGINT)
	code := exitCode(t, <-done)
	if code != exitFailure {
		t.Fatalf("exit %d, want %d\n%s", code, exitFailure, stderr)
	}
	mustContain(t, "the failed save's message", stderr.String(), "interrupted at epoch 1", "saving "+filepath.Join(out, "last")+" failed", "nothing of this run is saved")
	if strings.Contains(stderr.String(), "the state is saved") {
		t.Errorf("claims a save that failed:\n%s", stderr)
	}
}

// startTrainSignal starts a run and sends sig early in epoch 1.
func startTrainSignal(t *testing.T, bin string, sig syscall.Signal, args ...string) (*exec.Cmd, *lockedBuffer, chan error) {
	t.Helper()
	cmd, stderr, done := startTrain(t, bin, args...)
	time.Sleep(5 * time.Millisecond) // the signal handler is installed just after the data line
	cmd.Process.Signal(sig)
	return cmd, stderr, done
}
