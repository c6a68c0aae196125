package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBadEnvironmentValues: a CNNCTL_* value its flag cannot take is a
// usage error naming the variable (it used to read as 0 or false); a flag
// on the command line still wins over the variable; infinite floats are
// refused from flags, variables and recipes alike.
func TestBadEnvironmentValues(t *testing.T) {
	for _, c := range []struct{ env, val, want string }{
		{"CNNCTL_LR", "abc", `environment variable CNNCTL_LR="abc" (it sets --lr): want a number, got "abc"`},
		{"CNNCTL_VAL_SPLIT", "lots", `environment variable CNNCTL_VAL_SPLIT="lots" (it sets --val-split): want a number`},
		{"CNNCTL_NESTEROV", "maybe", `environment variable CNNCTL_NESTEROV="maybe" (it sets --nesterov): want true or false`},
		{"CNNCTL_SEED", "12x", `environment variable CNNCTL_SEED="12x" (it sets --seed): want a whole number`},
		{"CNNCTL_LR", "inf", `environment variable CNNCTL_LR="inf" (it sets --lr): want a finite number`},
	} {
		t.Run(c.env+"="+c.val, func(t *testing.T) {
			t.Setenv(c.env, c.val)
			out := filepath.Join(t.TempDir(), "run")
			code, _, stderr := runCLI(t, trainArgs(out, 1)...)
			if code != exitUsage || !strings.Contains(stderr, c.want) {
				t.Errorf("exit %d, want %d and %q:\n%s", code, exitUsage, c.want, stderr)
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("a refused run created %s", out)
			}
		})
	}

	t.Setenv("CNNCTL_LR", "abc")
	if o, err := parseCmd(t, newTrainCmd, "--model", "lenet", "--data", "synthetic", "--lr", "0.5"); err != nil || o.LR != 0.5 {
		t.Errorf("--lr 0.5 with CNNCTL_LR=abc: %v (lr %v); the flag should win", err, o)
	}
	t.Setenv("CNNCTL_LR", "0.25")
	t.Setenv("CNNCTL_NESTEROV", "true")
	if o, err := parseCmd(t, newTrainCmd, "--model", "lenet", "--data", "synthetic"); err != nil || o.LR != 0.25 || !o.Nest {
		t.Errorf("CNNCTL_LR=0.25 CNNCTL_NESTEROV=true: %v %+v", err, o)
	}

	recipe := filepath.Join(t.TempDir(), "r.yaml")
	if err := os.WriteFile(recipe, []byte("lr: .inf\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Unsetenv("CNNCTL_LR")
	for _, args := range [][]string{{"--lr", "inf"}, {"--momentum", "NaN"}, {"--config", recipe}} {
		_, err := parseCmd(t, newTrainCmd, append([]string{"--model", "lenet", "--data", "synthetic"}, args...)...)
		if _, ok := err.(usageError); !ok || !strings.Contains(err.Error(), "finite number") {
			t.Errorf("%v: error %v, want a usage error about a finite number", args, err)
		}
	}
}
