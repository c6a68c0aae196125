package main

import (
	"bytes"
	"encoding/json"
	"runtime"
	"strings"
	"testing"
)

// TestThreadsFlag: --threads (and CNNCTL_THREADS) sets the CPU engine's
// thread count for one command line (device --json reports it), 0 leaves
// every core, a bad value is a usage error naming where it came from, and
// the count is restored afterwards.
func TestThreadsFlag(t *testing.T) {
	before := runtime.GOMAXPROCS(0)
	threads := func(args ...string) int {
		t.Helper()
		var out, errOut bytes.Buffer
		if code := run(append([]string{"device", "--json"}, args...), nil, &out, &errOut); code != 0 {
			t.Fatalf("device --json %v: exit %d: %s", args, code, errOut.String())
		}
		var d struct {
			CPU struct {
				Threads int `json:"threads"`
			} `json:"cpu"`
		}
		if err := json.Unmarshal(out.Bytes(), &d); err != nil {
			t.Fatalf("device --json: %v", err)
		}
		if got := runtime.GOMAXPROCS(0); got != before {
			t.Fatalf("after device %v GOMAXPROCS is %d, want %d restored", args, got, before)
		}
		return d.CPU.Threads
	}
	if got := threads("--threads", "1"); got != 1 {
		t.Errorf("--threads 1: the engine has %d threads", got)
	}
	if got := threads("--threads", "3"); got != 3 {
		t.Errorf("--threads 3: the engine has %d threads", got)
	}
	if got := threads(); got != before {
		t.Errorf("no --threads: %d threads, want %d", got, before)
	}
	t.Setenv("CNNCTL_THREADS", "2")
	if got := threads(); got != 2 {
		t.Errorf("CNNCTL_THREADS=2: %d threads", got)
	}
	if got := threads("--threads", "1"); got != 1 {
		t.Errorf("--threads 1 over CNNCTL_THREADS=2: %d threads", got)
	}
	for _, c := range []struct {
		env  string
		args []string
		want string
	}{
		{"", []string{"--threads", "-1"}, `--threads="-1"`},
		{"many", nil, `CNNCTL_THREADS="many"`},
	} {
		t.Setenv("CNNCTL_THREADS", c.env)
		var out, errOut bytes.Buffer
		code := run(append([]string{"device"}, c.args...), nil, &out, &errOut)
		if code != exitUsage || !strings.Contains(errOut.String(), c.want) {
			t.Errorf("device %v (CNNCTL_THREADS=%q): exit %d, %q; want exit %d naming %s", c.args, c.env, code, errOut.String(), exitUsage, c.want)
		}
	}
}
