package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cnnctl/cnnctl/internal/checkpoint"
	"github.com/cnnctl/cnnctl/internal/cpu"
	"github.com/cnnctl/cnnctl/internal/gpu"
	"github.com/cnnctl/cnnctl/internal/tensor"
)

// TestPrecisionFlag: --precision on train, eval, predict and bench: the
// default is the one named constant, tf32 and bf16 parse, unknown values
// are usage errors that say why.
func TestPrecisionFlag(t *testing.T) {
	if defaultPrecision != precisionTF32 {
		t.Fatalf("defaultPrecision = %q, want tf32 (PyTorch's default for convolutions; the self-check guards it)", defaultPrecision)
	}
	get := map[string]func(args ...string) (string, error){
		"train": func(args ...string) (string, error) {
			o, err := parseTrain(t, append([]string{"--model", "lenet", "--data", "synthetic"}, args...)...)
			if o == nil {
				return "", err
			}
			return o.Prec, err
		},
		"eval": func(args ...string) (string, error) {
			o, err := parseCmd(t, newEvalCmd, append([]string{"ck"}, args...)...)
			if o == nil {
				return "", err
			}
			return o.Prec, err
		},
		"predict": func(args ...string) (string, error) {
			o, err := parseCmd(t, newPredictCmd, append([]string{"ck", "a.png"}, args...)...)
			if o == nil {
				return "", err
			}
			return o.Prec, err
		},
		"bench": func(args ...string) (string, error) {
			o, err := parseBench(t, append([]string{"--model", "lenet"}, args...)...)
			if o == nil {
				return "", err
			}
			return o.Prec, err
		},
	}
	for name, parse := range get {
		if p, err := parse(); err != nil || p != defaultPrecision {
			t.Errorf("%s: default precision %q, %v; want %q", name, p, err, defaultPrecision)
		}
		for _, val := range []string{"tf32", "bf16"} {
			if p, err := parse("--precision", val); err != nil || p != val {
				t.Errorf("%s --precision %s: %q, %v", name, val, p, err)
			}
		}
		for _, c := range []struct{ val, want string }{
			{"fp16", `unknown --precision "fp16"`},
			{"BF16", `unknown --precision "BF16"`},
			{"TF32", `unknown --precision "TF32"`},
		} {
			_, err := parse("--precision", c.val)
			var ue usageError
			if err == nil || !errors.As(err, &ue) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%s --precision %s: error %v, want a usage error saying %q", name, c.val, err, c.want)
			}
		}
	}
	// The whole command line: an unknown value exits 2 before any work, with the reason.
	code, _, stderr := runCLI(t, "bench", "--model", "lenet", "--device", "cpu", "--precision", "fp16")
	if code != exitUsage || !strings.Contains(stderr, "want fp32, tf32 or bf16") {
		t.Errorf("bench --precision fp16: exit %d, stderr %q; want exit %d and the reason", code, stderr, exitUsage)
	}
	help := helpOf(t, "train")
	if !strings.Contains(help, "--precision") || !strings.Contains(help, `(default "tf32")`) || !strings.Contains(help, "checked against the CPU reference") {
		t.Errorf("train --help does not teach --precision and its default:\n%s", help)
	}
	if !strings.Contains(strings.Join(strings.Fields(help), " "), "bf16 (bf16 tensor cores: convolution and linear operands rounded to bf16, fp32 accumulation and fp32 storage") {
		t.Errorf("train --help does not say what bf16 is (bf16 operands, fp32 accumulation and storage):\n%s", help)
	}
	if flat := strings.Join(strings.Fields(help), " "); !strings.Contains(flat, "tf32 (TF32 tensor cores for the convolutions and linears") ||
		strings.Contains(flat, "linears stay fp32") {
		t.Errorf("train --help does not say what tf32 and bf16 cover (both: convolutions and linears):\n%s", help)
	}
}

func helpOf(t *testing.T, command string) string {
	t.Helper()
	code, stdout, stderr := runCLI(t, command, "--help")
	if code != 0 {
		t.Fatalf("%s --help: exit %d: %s", command, code, stderr)
	}
	return stdout
}

// TestPrecisionRecipe: precision is a recipe key (train's flag name) and a
// CNNCTL_ variable, below the flag; a bad value in a recipe is refused.
func TestPrecisionRecipe(t *testing.T) {
	recipe := writeFile(t, "r.yaml", "precision: tf32\nepochs: 2\n")
	o, err := parseTrain(t, "--model", "lenet", "--data", "synthetic", "--config", recipe)
	if err != nil || o.Prec != "tf32" {
		t.Fatalf("recipe precision: %+v, %v", o, err)
	}
	if o, err = parseTrain(t, "--model", "lenet", "--data", "synthetic", "--config", recipe, "--precision", "fp32"); err != nil || o.Prec != "fp32" {
		t.Errorf("--precision fp32 over the recipe's tf32: %q, %v", o.Prec, err)
	}
	t.Setenv("CNNCTL_PRECISION", "tf32")
	if o, err = parseTrain(t, "--model", "lenet", "--data", "synthetic"); err != nil || o.Prec != "tf32" {
		t.Errorf("CNNCTL_PRECISION=tf32: %q, %v", o.Prec, err)
	}
	t.Setenv("CNNCTL_PRECISION", "")
	bf16 := writeFile(t, "bf16.yaml", "precision: bf16\n")
	if o, err = parseTrain(t, "--model", "lenet", "--data", "synthetic", "--config", bf16); err != nil || o.Prec != "bf16" {
		t.Errorf("recipe precision: bf16: %+v, %v", o, err)
	}
	bad := writeFile(t, "bad.yaml", "precision: fp16\n")
	_, err = parseTrain(t, "--model", "lenet", "--data", "synthetic", "--config", bad)
	var ue usageError
	if err == nil || !errors.As(err, &ue) || !strings.Contains(err.Error(), "fp16") {
		t.Errorf("recipe precision: fp16: %v, want a usage error", err)
	}
}

// fakeGPU is a backend with a choice of arithmetic: SetMath(MathTF32) and
// SetMath(MathBF16) fail with tf32Err (a GPU below sm_80) or succeed.
type fakeGPU struct {
	tensor.Backend
	tf32Err error
	set     []gpu.Math
	// broken, with tf32 set, makes Conv2DForward wrong at one element by
	// an amount that only a mis-indexed kernel gives (or, with tiny, by
	// an amount within TF32's rounding, which the self-check must accept).
	broken, tiny bool
}

func (f *fakeGPU) SetMath(m gpu.Math) error {
	if m != gpu.MathFP32 && f.tf32Err != nil {
		return f.tf32Err
	}
	f.set = append(f.set, m)
	return nil
}

func (f *fakeGPU) Conv2DForward(x, w, b, y *tensor.Tensor, p tensor.ConvParams) {
	f.Backend.Conv2DForward(x, w, b, y, p)
	if !f.broken || len(f.set) == 0 || f.set[len(f.set)-1] != gpu.MathTF32 {
		return
	}
	v := make([]float32, y.Numel())
	f.Backend.Download(v, y)
	i := len(v) / 3
	if f.tiny {
		v[i] *= 1 + 1.0/(1<<14) // a quarter of TF32's unit roundoff on one product's worth
	} else {
		v[i] += 0.05 * (1 + abs32(v[i])) // a term too many or too few
	}
	f.Backend.Upload(y, v)
}

func abs32(x float32) float32 {
	if x < 0 {
		return -x
	}
	return x
}

// TestPrecisionApply: the CPU runs bf16 as its emulation of mixed
// precision and says so once, and fp32 for the rest; a GPU gets SetMath,
// and one below sm_80 falls back to fp32 with one line why.
func TestPrecisionApply(t *testing.T) {
	var log bytes.Buffer
	var note precisionNote
	be := cpu.New()
	for range 2 {
		if got := note.apply(be, "bf16", &log); got != "bf16" {
			t.Errorf("CPU, bf16 asked: runs %q, want bf16 (the emulation)", got)
		}
	}
	if n := strings.Count(log.String(), "bf16 on the CPU emulates mixed precision"); n != 1 {
		t.Errorf("CPU line said %d times, want once:\n%s", n, log.String())
	}
	log.Reset()
	if got := (&precisionNote{}).apply(be, "tf32", &log); got != "fp32" || log.Len() != 0 {
		t.Errorf("CPU, tf32 (the default, a GPU mode): %q, log %q; want fp32 and no line", got, log.String())
	}
	if got := (&precisionNote{}).apply(be, "fp32", &log); got != "fp32" || log.Len() != 0 {
		t.Errorf("CPU, fp32: %q, log %q; want fp32 and no line", got, log.String())
	}

	g := &fakeGPU{Backend: be}
	if got := (&precisionNote{}).apply(g, "tf32", &log); got != "tf32" || len(g.set) != 1 || g.set[0] != gpu.MathTF32 {
		t.Errorf("GPU, tf32: runs %q, SetMath calls %v", got, g.set)
	}
	g = &fakeGPU{Backend: be}
	log.Reset()
	if got := (&precisionNote{}).apply(g, "bf16", &log); got != "bf16" || len(g.set) != 1 || g.set[0] != gpu.MathBF16 ||
		!strings.Contains(log.String(), "bf16 operands, fp32 accumulation and storage") {
		t.Errorf("GPU, bf16: runs %q, SetMath calls %v, log %q", got, g.set, log.String())
	}
	log.Reset()
	if got := (&precisionNote{}).apply(plainCPU{be}, "bf16", &log); got != "fp32" || !strings.Contains(log.String(), "bf16 applies to the GPU only; the CPU engine runs fp32") {
		t.Errorf("a backend without bf16 storage or SetMath, bf16 asked: runs %q, log %q; want fp32 and the line", got, log.String())
	}
	for _, c := range []struct {
		be   tensor.Backend
		p    string
		want tensor.DType
	}{{be, "bf16", tensor.BF16}, {be, "fp32", tensor.F32}, {be, "tf32", tensor.F32}, {plainCPU{be}, "bf16", tensor.F32}} {
		if got := activations(c.be, c.p); got != c.want {
			t.Errorf("activations(%s, %s) = %v, want %v", c.be.Name(), c.p, got, c.want)
		}
	}
	g = &fakeGPU{Backend: be}
	if got := (&precisionNote{}).apply(g, "fp32", io.Discard); got != "fp32" || len(g.set) != 1 || g.set[0] != gpu.MathFP32 {
		t.Errorf("GPU, fp32: runs %q, SetMath calls %v", got, g.set)
	}
	log.Reset()
	old := &fakeGPU{Backend: be, tf32Err: errors.New("Tesla V100 has compute capability 7.0")}
	if got := (&precisionNote{}).apply(old, "tf32", &log); got != "fp32" {
		t.Errorf("GPU below sm_80, tf32: runs %q, want fp32", got)
	}
	if s := log.String(); strings.Count(s, "\n") != 1 || !strings.Contains(s, "running fp32") || !strings.Contains(s, "compute capability 7.0") {
		t.Errorf("fallback line %q: want one line with the reason", s)
	}
}

// TestPrecisionSelfCheck: a GPU whose tensor-core convolution is wrong at
// one element of one case fails the self-check, goes back to fp32 and says
// so in one line naming the op; one whose error stays within TF32's
// rounding bound passes and runs tf32.
func TestPrecisionSelfCheck(t *testing.T) {
	if n := len(selfCheckCases()); n < 12 {
		t.Fatalf("%d self-check cases, want the forward, data and filter cases of each geometry and the linears", n)
	}
	var log bytes.Buffer
	bad := &fakeGPU{Backend: cpu.New(), broken: true}
	if got := (&precisionNote{}).apply(bad, "tf32", &log); got != "fp32" {
		t.Errorf("broken TF32 convolution: runs %q, want fp32", got)
	}
	if len(bad.set) != 2 || bad.set[0] != gpu.MathTF32 || bad.set[1] != gpu.MathFP32 {
		t.Errorf("broken TF32 convolution: SetMath calls %v, want [tf32 fp32]", bad.set)
	}
	s := log.String()
	if strings.Count(s, "\n") != 1 || !strings.Contains(s, "failed its self-check") || !strings.Contains(s, "Conv2DForward") || !strings.Contains(s, "running fp32") {
		t.Errorf("fallback line %q: want one line naming the failing op", s)
	}
	log.Reset()
	ok := &fakeGPU{Backend: cpu.New(), broken: true, tiny: true}
	if got := (&precisionNote{}).apply(ok, "tf32", &log); got != "tf32" {
		t.Errorf("TF32 convolution within rounding: runs %q, want tf32; log %q", got, log.String())
	}
	if s := log.String(); !strings.Contains(s, "self-checked") {
		t.Errorf("tf32 line %q: want it to say the kernels were checked", s)
	}
}

// TestPrecisionCheckpoint: train records the precision that ran (the CPU:
// fp32, asked tf32) in the checkpoint and the asked one in its recipe; on
// the CPU, tf32 (a GPU mode and the default) runs fp32 without a line, for
// train and for eval of two checkpoints.
func TestPrecisionCheckpoint(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	dir := t.TempDir()
	imgs := filepath.Join(dir, "imgs")
	writeSplitFolder(t, imgs, "", map[string]int{"cat": 4, "dog": 4})
	out := filepath.Join(dir, "run")
	code, _, stderr := runCLI(t, "train", "--model", "lenet", "--data", "imagefolder:"+imgs, "--val-split", "0.5", "--epochs", "1",
		"--batch-size", "4", "--device", "cpu", "--workers", "1", "--out", out, "-q", "--precision", "tf32")
	if code != 0 {
		t.Fatalf("train: exit %d: %s", code, stderr)
	}
	if strings.Contains(stderr, "precision") {
		t.Errorf("train on the CPU with tf32 (a GPU mode, the default) says a precision line:\n%s", stderr)
	}
	ck, err := checkpoint.Load(filepath.Join(out, "last"))
	if err != nil {
		t.Fatal(err)
	}
	if ck.Precision != "fp32" || ck.Recipe["precision"] != "tf32" {
		t.Errorf("checkpoint precision %q, recipe precision %v; want fp32 (what ran) and tf32 (what was asked)", ck.Precision, ck.Recipe["precision"])
	}
	code, _, stderr = runCLI(t, "eval", filepath.Join(out, "last"), filepath.Join(out, "best"), "--device", "cpu", "--precision", "tf32")
	if code != 0 {
		t.Fatalf("eval: exit %d: %s", code, stderr)
	}
	if strings.Contains(stderr, "precision") {
		t.Errorf("eval of two checkpoints on the CPU, tf32: a precision line:\n%s", stderr)
	}
	code, stdout, stderr := runCLI(t, "eval", filepath.Join(out, "last"), "--device", "cpu", "--json")
	if code != 0 || strings.Contains(stderr, "precision") {
		t.Errorf("eval at the default: exit %d, stderr %q; want no precision line", code, stderr)
	}
	var ev struct {
		Precision string `json:"precision"`
		Trained   string `json:"trained_precision"`
	}
	if err := json.Unmarshal([]byte(stdout), &ev); err != nil || ev.Precision != "fp32" || ev.Trained != "fp32" {
		t.Errorf("eval --json: precision %q, trained_precision %q (%v); want fp32 and fp32", ev.Precision, ev.Trained, err)
	}
}

// plainCPU is the CPU without its optional interfaces: a backend that
// stores no bf16 (tensor.BF16Storage) and has no SetMath.
type plainCPU struct{ tensor.Backend }
