package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cnnctl/cnnctl/internal/zoo"
)

func parseTrain(t *testing.T, args ...string) (*trainOptions, error) {
	t.Helper()
	return parseCmd(t, newTrainCmd, args...)
}

func writeFile(t *testing.T, name, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestTrainPrecedence(t *testing.T) {
	recipe := writeFile(t, "r.yaml", "lr: 0.05\nbatch-size: 64\noptimizer: adam\nmean: [0.1, 0.2, 0.3]\nepochs: 7\n")
	t.Setenv("CNNCTL_EPOCHS", "9")           // env is below the recipe
	t.Setenv("CNNCTL_WEIGHT_DECAY", "0.001") // env is above the default
	o, err := parseTrain(t, "--model", "lenet", "--data", "synthetic", "--config", recipe, "--lr", "0.2")
	if err != nil {
		t.Fatal(err)
	}
	if o.LR != 0.2 {
		t.Errorf("lr = %g, want the flag's 0.2 over the recipe's 0.05", o.LR)
	}
	if o.Batch != 64 || o.Opt != "adam" {
		t.Errorf("batch-size %d optimizer %q, want the recipe's 64 adam over the defaults", o.Batch, o.Opt)
	}
	if o.Mean != "0.1,0.2,0.3" {
		t.Errorf("mean = %q, want the recipe's list as 0.1,0.2,0.3", o.Mean)
	}
	if o.WD != 0.001 {
		t.Errorf("weight-decay = %g, want CNNCTL_WEIGHT_DECAY's 0.001 over the default", o.WD)
	}
	if o.Epochs != 9 {
		t.Errorf("epochs = %d, want CNNCTL_EPOCHS's 9 over the recipe's 7", o.Epochs)
	}
	if o.Mom != 0.9 {
		t.Errorf("momentum = %g, want the default 0.9", o.Mom)
	}
	if o.Out != filepath.Join("runs", "lenet") {
		t.Errorf("out = %q, want runs/lenet by default", o.Out)
	}
}

func TestTrainBuiltinRecipe(t *testing.T) {
	o, err := parseTrain(t, "--model", "vgg11", "--data", "synthetic", "--config", "vgg")
	if err != nil {
		t.Fatal(err)
	}
	if o.LR != 0.05 || o.Sched != "step" || o.StepEv != 30 || o.StepG != 0.5 || o.Augment != "crop+flip" || o.Epochs != 300 {
		t.Errorf("vgg recipe resolved to lr %g schedule %s every %d × %g augment %s epochs %d", o.LR, o.Sched, o.StepEv, o.StepG, o.Augment, o.Epochs)
	}
}

func TestTrainRejectsBadSettings(t *testing.T) {
	badRecipe := writeFile(t, "bad.yaml", "lr: 0.1\nbatchsize: 3\n")
	gray := writeFile(t, "gray.yaml", "name: gray\ninput: 1x28x28\nlayers:\n  - {type: flatten, name: flatten}\n  - {type: linear, name: fc, out: classes}\n")
	free := writeFile(t, "free.yaml", "name: free\nlayers:\n  - {type: flatten, name: flatten}\n  - {type: linear, name: fc, out: classes}\n")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--data", "synthetic"}, "--model is required"},
		{[]string{"--model", gray}, "--data is required for " + gray + " (its input is 1x28x28; only 3-channel models default to CIFAR-10)"},
		{[]string{"--model", free}, "(its input is not declared;"},
		{[]string{"--model", "lenet", "--data", "synthetic", "--batch-size", "0"}, "--batch-size must be at least 1"},
		{[]string{"--model", "lenet", "--data", "synthetic", "--lr", "-1"}, "--lr must be positive"},
		{[]string{"--model", "lenet", "--data", "synthetic", "--epochs", "0"}, "--epochs must be at least 1"},
		{[]string{"--model", "lenet", "--data", "synthetic", "--device", "tpu"}, `unknown --device "tpu"`},
		{[]string{"--model", "lenet", "--data", "synthetic", "--label-smoothing", "1"}, "--label-smoothing must be in [0, 1)"},
		{[]string{"--model", "lenet", "--data", "synthetic", "--nan-check", "sometimes"}, "--nan-check must be off, step or layer"},
		{[]string{"--model", "lenet", "--data", "synthetic", "--mean", "0.5,x"}, `--mean: "x" is not a number`},
		{[]string{"--model", "lenet", "--data", "synthetic", "--config", badRecipe}, `unknown key "batchsize" (did you mean "batch-size"?)`},
		{[]string{"--model", "lenet", "--data", "synthetic", "--config", "no-such-recipe"}, "recipe:"},
		{[]string{"--model", "lenet", "--data", "synthetic", "--optimizer", "rmsprop"}, `unknown optimizer "rmsprop"`},
		{[]string{"--model", "lenet", "--data", "synthetic", "--schedule", "linear"}, `unknown schedule "linear"`},
		{[]string{"--model", "lenet", "--data", "synthetic", "--nesterov", "--momentum", "0"}, "--nesterov needs a positive --momentum"},
	} {
		_, err := parseTrain(t, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want it to contain %q", tc.args, err, tc.want)
			continue
		}
		var ue usageError
		if !errors.As(err, &ue) {
			t.Errorf("%v: %v is not a usage error (exit code 2)", tc.args, err)
		}
	}
}

func TestExitCodes(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"train", "--model", "lenet", "--data", "synthetic", "--batch-size", "0"}, strings.NewReader(""), &out, &errOut); code != exitUsage {
		t.Errorf("bad flag: exit %d, want %d; stderr %s", code, exitUsage, errOut.String())
	}
	errOut.Reset()
	if code := run([]string{"frobnicate"}, strings.NewReader(""), &out, &errOut); code != exitUsage {
		t.Errorf("unknown command: exit %d, want %d", code, exitUsage)
	}
	errOut.Reset()
	if code := run([]string{"summary", "no-such-model"}, strings.NewReader(""), &out, &errOut); code != exitUsage || !strings.Contains(errOut.String(), "not a built-in model") {
		t.Errorf("unknown model: exit %d, stderr %q", code, errOut.String())
	}
}

func mustLoadSpec(t *testing.T, name string) *zoo.Spec {
	t.Helper()
	s, err := zoo.Load(name)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
