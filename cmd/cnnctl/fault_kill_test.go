package main

import (
	"bytes"
	"io"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestFaultKill9 kills a real training process with SIGKILL many times, at
// random moments and right when a checkpoint file is being written, and
// checks after each kill that OUT/last and OUT/best load and agree and that
// the metrics hold each finished epoch once; then --resume auto finishes
// the run, and its weights are bit-identical to a run never killed.
func TestFaultKill9(t *testing.T) {
	const epochs = 5
	kills, budget := 18, 45*time.Second
	if testing.Short() {
		kills, budget = 8, 20*time.Second
	}
	bin := buildCLI(t)
	seed := time.Now().UnixNano()
	t.Logf("random seed %d", seed)
	rng := rand.New(rand.NewSource(seed))
	dir := t.TempDir()
	out := filepath.Join(dir, "run")
	args := trainArgs(out, epochs, "--resume", "auto")

	start := time.Now()
	var killed, atWrite, midWrite, finished int
	for killed < kills && time.Since(start) < budget {
		cmd := exec.Command(bin, args...)
		var stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = io.Discard, &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		var exited bool
		var werr error
		if rng.Intn(2) == 0 {
			// Kill while the n-th checkpoint write of this process is in flight.
			exited, werr = waitForWrite(out, done, 1+rng.Intn(3), 8*time.Second)
			atWrite++
		} else {
			select {
			case werr = <-done:
				exited = true
			case <-time.After(time.Duration(20+rng.Intn(1500)) * time.Millisecond):
			}
		}
		if exited {
			if werr != nil {
				t.Fatalf("training failed without being killed: %v\n%s", werr, stderr.String())
			}
			finished++
			checkKilledRun(t, out, epochs)
			os.RemoveAll(out) // and start again
			continue
		}
		if err := cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		<-done
		killed++
		if len(tempFiles(out)) > 0 {
			midWrite++
		}
		checkKilledRun(t, out, epochs)
	}
	if killed < kills/2 {
		t.Fatalf("only %d kills in %v", killed, budget)
	}

	// --resume auto continues from the newest good checkpoint to the end.
	cmd := exec.Command(bin, args...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("--resume auto after %d kills: %v\n%s", killed, err, b)
	}
	last := checkKilledRun(t, out, epochs)
	if last != epochs {
		t.Fatalf("after the final resume OUT/last is at epoch %d, want %d", last, epochs)
	}
	if got := metricEpochs(t, out); !slices.Equal(got, []int{1, 2, 3, 4, 5}) {
		t.Errorf("metrics.jsonl epochs %v after the kills, want 1..%d", got, epochs)
	}
	if tmp := tempFiles(out); len(tmp) > 0 {
		t.Errorf("temporary files of interrupted writes are left in OUT: %v", tmp)
	}
	killedFor := time.Since(start)

	straight := filepath.Join(dir, "straight")
	if code, _, stderr := runCLI(t, trainArgs(straight, epochs)...); code != 0 {
		t.Fatalf("straight run: exit %d\n%s", code, stderr)
	}
	sameState(t, mustLoad(t, filepath.Join(straight, "last")), mustLoad(t, filepath.Join(out, "last")), "killed-and-resumed vs straight run")
	t.Logf("%d kills (%d aimed at a checkpoint write, %d left a partial temp file), %d runs finished before a kill; %v of kills and resumes, %v in all",
		killed, atWrite, midWrite, finished, killedFor.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
}

// waitForWrite polls dir until the n-th checkpoint temp file of this
// process appears (or the process ends, or timeout passes).
func waitForWrite(dir string, done <-chan error, n int, timeout time.Duration) (exited bool, err error) {
	seen := map[string]bool{}
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case err := <-done:
			return true, err
		default:
		}
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			name := e.Name()
			if (strings.HasPrefix(name, ".last.tmp-") || strings.HasPrefix(name, ".best.tmp-")) && !seen[name] {
				seen[name] = true
				if len(seen) >= n {
					return false, nil
				}
			}
		}
		time.Sleep(200 * time.Microsecond)
	}
	return false, nil
}

// checkKilledRun checks the invariants that must hold whenever the process
// dies: last and best load, agree, and the metrics hold each epoch once.
// It returns last's epoch (0 when there is no last yet).
func checkKilledRun(t *testing.T, out string, epochs int) int {
	t.Helper()
	lastPath, bestPath := filepath.Join(out, "last"), filepath.Join(out, "best")
	_, lerr := os.Stat(lastPath)
	_, berr := os.Stat(bestPath)
	le := 0
	if lerr == nil {
		last := mustLoad(t, lastPath)
		le = last.Epoch
		if le < 1 || le > epochs || last.Step != int64(le*stepsPerEpoch) {
			t.Fatalf("OUT/last: epoch %d step %d", last.Epoch, last.Step)
		}
		if berr != nil {
			t.Fatalf("OUT/last (epoch %d) exists but OUT/best does not", le)
		}
		best := mustLoad(t, bestPath)
		// best is written before last: it may be one epoch ahead; otherwise
		// it is the checkpoint whose score last records as the best.
		if best.Epoch != le+1 && (best.Epoch > le || best.ValTop1 != last.BestTop1) {
			t.Fatalf("OUT/best (epoch %d, top-1 %v) does not match OUT/last (epoch %d, best top-1 %v)", best.Epoch, best.ValTop1, le, last.BestTop1)
		}
	} else if berr == nil {
		if best := mustLoad(t, bestPath); best.Epoch != 1 {
			t.Fatalf("no OUT/last but OUT/best at epoch %d", best.Epoch)
		}
	}
	got := metricEpochs(t, out)
	for i, e := range got {
		if e != i+1 {
			t.Fatalf("metrics.jsonl epochs %v are not 1..n", got)
		}
	}
	if len(got) != le && len(got) != le+1 {
		t.Fatalf("metrics.jsonl has epochs %v but OUT/last is at epoch %d", got, le)
	}
	return le
}
