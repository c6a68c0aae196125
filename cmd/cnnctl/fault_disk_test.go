package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// mountSmallTmpfs mounts a tmpfs of size bytes at a new folder, or skips
// the test when that is not possible (not root, no mount permission).
func mountSmallTmpfs(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("disk-full test needs root to mount a small tmpfs (the failing-writer tests in internal/checkpoint cover the rest)")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here (%v: %s); the failing-writer tests in internal/checkpoint cover the rest", err, bytes.TrimSpace(out))
	}
	t.Cleanup(func() { exec.Command("umount", dir).Run() })
	return dir
}

// TestFaultDiskFull trains into a 1.2 MB tmpfs: epoch 1's two checkpoints
// (about 500 kB each) fit, epoch 2's do not. The run stops with a clear
// error, both checkpoints of epoch 1 still load, no temp file is left; with
// --keep-going-on-save-error it trains on and says so.
func TestFaultDiskFull(t *testing.T) {
	for _, keepGoing := range []bool{false, true} {
		name := "stop"
		if keepGoing {
			name = "keep-going"
		}
		t.Run(name, func(t *testing.T) {
			out := filepath.Join(mountSmallTmpfs(t, "1200k"), "run")
			args := trainArgs(out, 3)
			if keepGoing {
				args = append(args, "--keep-going-on-save-error")
			}
			code, _, stderr := runCLI(t, args...)
			if keepGoing {
				if code != exitOK {
					t.Fatalf("exit %d with --keep-going-on-save-error\n%s", code, stderr)
				}
				mustContain(t, "warning", stderr, "no space left on device", "still holds the previous checkpoint", "training goes on")
			} else {
				if code != exitFailure {
					t.Fatalf("exit %d, want %d\n%s", code, exitFailure, stderr)
				}
				mustContain(t, "error", stderr, "save checkpoint", out, "no space left on device", "still holds the previous checkpoint", "--resume auto", "--keep-going-on-save-error")
			}
			for _, f := range []string{"last", "best"} {
				if ck := mustLoad(t, filepath.Join(out, f)); ck.Epoch != 1 {
					t.Errorf("OUT/%s is at epoch %d, want the intact epoch-1 checkpoint", f, ck.Epoch)
				}
			}
			if tmp := tempFiles(out); len(tmp) > 0 {
				t.Errorf("partial files left after the failed save: %v", tmp)
			}
		})
	}
}

// TestFaultUnwritableOut: an --out that cannot be created is a clear
// error naming it, before any training. (Permission bits do not stop root,
// so the folder's parent is a regular file.)
func TestFaultUnwritableOut(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(file, "run")
	code, _, stderr := runCLI(t, trainArgs(out, 1)...)
	if code != exitFailure {
		t.Fatalf("exit %d, want %d\n%s", code, exitFailure, stderr)
	}
	mustContain(t, "error", stderr, "cannot create the output folder", out, "not a directory")
}
