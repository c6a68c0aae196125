package train

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// LockName is the file in a run's output folder that holds its lock: an
// advisory lock the kernel drops when the process ends, however it ends,
// and the holder's pid, start time and command line for the message.
const LockName = ".cnnctl.lock"

// ErrLocked is wrapped by the error for an output folder in use.
var ErrLocked = errors.New("output folder in use by another run")

// OutLock is a held output-folder lock.
type OutLock struct {
	dir     string
	created bool // the folder did not exist before
	f       *os.File
	// Advisory is set where the file system has no locks (some network
	// file systems): the lock file is written, but a second run is not
	// kept out.
	Advisory bool
}

// errNoLocks: the file system does not support flock.
var errNoLocks = errors.New("the file system does not support locks")

// LockOut creates dir if needed and takes its lock. A folder locked by a
// live run is refused with that run's pid and command; a lock file left by
// a killed run (its lock died with it) is taken over, and stale reports
// that run's pid (0 when there was none).
func LockOut(dir string, args []string) (l *OutLock, stale int, err error) {
	_, statErr := os.Stat(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, 0, fmt.Errorf("train: cannot create the output folder %s (--out): %w", dir, err)
	}
	l = &OutLock{dir: dir, created: os.IsNotExist(statErr)}
	path := filepath.Join(dir, LockName)
	for try := 0; ; try++ {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			l.removeIfCreated()
			return nil, 0, fmt.Errorf("train: cannot lock the output folder %s: %w", dir, err)
		}
		held, err := tryLock(f)
		if errors.Is(err, errNoLocks) {
			l.Advisory, err = true, nil
		}
		if err != nil {
			f.Close()
			l.removeIfCreated()
			return nil, 0, fmt.Errorf("train: cannot lock the output folder %s: %w", dir, err)
		}
		if !held {
			owner, _ := os.ReadFile(path)
			f.Close()
			return nil, 0, fmt.Errorf("%w: %s is being written by cnnctl %s; wait for that run to end (or stop it with Ctrl-C), or pick another --out",
				ErrLocked, dir, describeOwner(owner))
		}
		// The holder may have removed the file between our open and lock:
		// then we hold a lock on a deleted file and must start again.
		if fi, err1 := f.Stat(); err1 == nil {
			if pi, err2 := os.Stat(path); err2 != nil || !os.SameFile(fi, pi) {
				f.Close()
				if try < 10 {
					continue
				}
				return nil, 0, fmt.Errorf("%w: %s: the lock file keeps changing", ErrLocked, dir)
			}
		}
		old, _ := os.ReadFile(path)
		if pid, ok := ownerPID(old); ok && pid != os.Getpid() {
			stale = pid
		}
		content := fmt.Sprintf("%d\n%s\n%s\n", os.Getpid(), time.Now().UTC().Format(time.RFC3339), strings.Join(args, " "))
		if err := f.Truncate(0); err == nil {
			f.WriteAt([]byte(content), 0)
		}
		l.f = f
		return l, stale, nil
	}
}

// Release drops the lock and deletes the lock file; a folder the lock
// created is removed again when nothing else was written into it.
func (l *OutLock) Release() {
	if l == nil || l.f == nil {
		return
	}
	os.Remove(filepath.Join(l.dir, LockName))
	l.f.Close() // closing drops the lock
	l.f = nil
	l.removeIfCreated()
}

func (l *OutLock) removeIfCreated() {
	if l.created {
		os.Remove(l.dir) // fails, as it should, unless empty
	}
}

// ownerPID reads the pid on a lock file's first line.
func ownerPID(b []byte) (int, bool) {
	line, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	return pid, err == nil && pid > 0
}

// describeOwner turns a lock file's text into "pid N (started T: CMD)".
func describeOwner(b []byte) string {
	lines := strings.SplitN(string(b), "\n", 3)
	pid, ok := ownerPID(b)
	if !ok {
		return "another process"
	}
	s := fmt.Sprintf("pid %d", pid)
	if len(lines) >= 3 {
		s += fmt.Sprintf(" (started %s: %s)", strings.TrimSpace(lines[1]), strings.TrimSpace(lines[2]))
	}
	return s
}

// runFiles are what a run writes into its output folder.
var runFiles = []string{"last", "best", "metrics.jsonl", "metrics.csv", "curves.png"}

// PriorRun names what an earlier run left in dir, e.g. "last, best,
// metrics up to epoch 3", or "" when it left nothing.
func PriorRun(dir string) string {
	var have []string
	for _, n := range runFiles[:3] {
		if _, err := os.Stat(filepath.Join(dir, n)); err == nil {
			have = append(have, n)
		}
	}
	if len(have) == 0 {
		return ""
	}
	s := strings.Join(have, ", ")
	if ms, err := ReadMetrics(dir); err == nil && len(ms) > 0 {
		s += fmt.Sprintf("; metrics up to epoch %d", ms[len(ms)-1].Epoch)
	}
	return s
}

// ClearRun deletes an earlier run's checkpoints, metrics and plot from dir.
func ClearRun(dir string) error {
	for _, n := range runFiles {
		if err := os.Remove(filepath.Join(dir, n)); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("--overwrite: %w", err)
		}
	}
	return nil
}
