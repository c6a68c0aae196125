package main

import (
	"bytes"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/cnnctl/cnnctl/internal/checkpoint"
	"github.com/cnnctl/cnnctl/internal/cpu"
	"github.com/cnnctl/cnnctl/internal/layers"
	"github.com/cnnctl/cnnctl/internal/safetensors"
	"github.com/cnnctl/cnnctl/internal/tensor"
	"github.com/cnnctl/cnnctl/internal/zoo"
)

// cli runs cnnctl in this process and returns its exit code and output.
func cli(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var o, e bytes.Buffer
	code = run(args, strings.NewReader(""), &o, &e)
	return code, o.String(), e.String()
}

// torchWeights writes model name's state_dict with seeded weights, as
// PyTorch would save it (BatchNorm counts 7, as I64), and returns the
// path and the tensors written.
func torchWeights(t *testing.T, name string) (string, []safetensors.Tensor) {
	t.Helper()
	spec, err := zoo.Load(name)
	if err != nil {
		t.Fatal(err)
	}
	be := cpu.New()
	defer be.Close()
	m, err := zoo.Build(spec, be, nil, 0, 3)
	if err != nil {
		t.Fatal(err)
	}
	layers.Walk(m.Root, func(l layers.Layer, _ int) {
		if bn, ok := l.(*layers.BatchNorm); ok {
			bn.SetNumBatchesTracked(7)
		}
	})
	ts, err := stateDict(m)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), name+".safetensors")
	if err := safetensors.WriteFile(path, ts, map[string]string{"format": "pt", "model": name}); err != nil {
		t.Fatal(err)
	}
	return path, ts
}

// parseImport runs the import command's flag handling only.
func parseImport(t *testing.T, args ...string) (*importOptions, error) {
	t.Helper()
	var out bytes.Buffer
	var got *importOptions
	cmd := newImportCmd(newFactory(strings.NewReader(""), &out, &out), func(o *importOptions) error { got = o; return nil })
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	return got, cmd.Execute()
}

func TestImportFlags(t *testing.T) {
	o, err := parseImport(t, "--model", "lenet", "w.safetensors", "-o", "c")
	if err != nil {
		t.Fatal(err)
	}
	if o.Model != "lenet" || o.Weights != "w.safetensors" || o.Out != "c" || o.Classes != nil || o.Input != nil || o.Mean != nil || o.Std != nil {
		t.Errorf("defaults: %+v", o)
	}
	o, err = parseImport(t, "-m", "my.yaml", "w", "-o", "c", "--classes", " no, yes", "--input", "1x28x28", "--mean", "0.1307", "--std", "0.3,0.4")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(o.Classes, []string{"no", "yes"}) || !o.Input.Equal(tensor.Shape{1, 28, 28}) ||
		!reflect.DeepEqual(o.Mean, []float32{0.1307}) || !reflect.DeepEqual(o.Std, []float32{0.3, 0.4}) {
		t.Errorf("flags: %+v", o)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"w", "-o", "c"}, "--model is required"},
		{[]string{"--model", "lenet", "w"}, "-o CHECKPOINT is required"},
		{[]string{"--model", "lenet", "-o", "c"}, "accepts 1 arg"},
		{[]string{"--model", "lenet", "w", "v", "-o", "c"}, "accepts 1 arg"},
		{[]string{"--model", "lenet", "w", "-o", "./w"}, "would overwrite the weights"},
		{[]string{"--model", "lenet", "w", "-o", "c", "--input", "32x32"}, "want CxHxW"},
		{[]string{"--model", "lenet", "w", "-o", "c", "--input", "3x0x32"}, "want CxHxW"},
		{[]string{"--model", "lenet", "w", "-o", "c", "--classes", "a,,b"}, "class 2 is empty"},
		{[]string{"--model", "lenet", "w", "-o", "c", "--classes", "a,b,a"}, `"a" appears twice`},
		{[]string{"--model", "lenet", "w", "-o", "c", "--mean", "x"}, `--mean: "x" is not a number`},
		{[]string{"--model", "lenet", "w", "-o", "c", "--std", "0.5,0"}, "--std: 0 is not positive"},
		{[]string{"--model", "lenet", "w", "-o", "c", "--std", ""}, "--std is empty"},
	} {
		_, err := parseImport(t, c.args...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want %q", c.args, err, c.want)
		}
	}
}

// TestImportExportRoundTrip: PyTorch-style weights → checkpoint (tutorial
// defaults, epoch 0, no optimiser state) → export gives the same tensors,
// keys, order and I64 counts back, and metadata that a second import reads.
func TestImportExportRoundTrip(t *testing.T) {
	weights, want := torchWeights(t, "lenet-bn")
	dir := t.TempDir()
	ck := filepath.Join(dir, "sub", "imported")
	if code, _, stderr := cli(t, "import", "--model", "lenet-bn", weights, "-o", ck); code != 0 {
		t.Fatalf("import: exit %d: %s", code, stderr)
	}
	c, err := checkpoint.Load(ck)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c.Classes, cifar10Classes) || !reflect.DeepEqual(c.Input, []int{3, 32, 32}) ||
		!reflect.DeepEqual(c.Mean, []float32{0.5, 0.5, 0.5}) || !reflect.DeepEqual(c.Std, []float32{0.5, 0.5, 0.5}) {
		t.Errorf("defaults: classes %v input %v mean %v std %v", c.Classes, c.Input, c.Mean, c.Std)
	}
	if c.Epoch != 0 || len(c.Optim) != 0 || c.Model != "lenet-bn" {
		t.Errorf("epoch %d, %d optimiser buffers, model %q", c.Epoch, len(c.Optim), c.Model)
	}
	if len(c.NumBatchesTracked) != 2 || c.NumBatchesTracked["conv.1"] != 7 || c.NumBatchesTracked["conv.6"] != 7 {
		t.Errorf("num_batches_tracked %v, want 7 for conv.1 and conv.6", c.NumBatchesTracked)
	}

	out := filepath.Join(dir, "back.safetensors")
	if code, stdout, stderr := cli(t, "export", ck, "-o", out); code != 0 || !strings.Contains(stdout, "wrote "+out) {
		t.Fatalf("export: exit %d: %s%s", code, stdout, stderr)
	}
	f, err := safetensors.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Tensors) != len(want) {
		t.Fatalf("exported %d tensors, want %d", len(f.Tensors), len(want))
	}
	for i, w := range want {
		g := f.Tensors[i]
		if g.Name != w.Name || !reflect.DeepEqual(g.Shape, w.Shape) || !reflect.DeepEqual(g.Int64, w.Int64) ||
			(w.Int64 == nil && !reflect.DeepEqual(g.Data, w.Data)) {
			t.Errorf("tensor %d: %s %v %v, want %s %v %v", i, g.Name, g.Shape, g.Int64, w.Name, w.Shape, w.Int64)
		}
	}
	if got := f.Metadata; got["model"] != "lenet-bn" || got["format"] != "pt" || got["input"] != "3x32x32" || got["mean"] != "[0.5,0.5,0.5]" {
		t.Errorf("metadata %v", got)
	}

	// Flags beat metadata; metadata beats the tutorial's defaults.
	ck2 := filepath.Join(dir, "custom")
	if code, _, stderr := cli(t, "import", "--model", "lenet-bn", out, "-o", ck2,
		"--classes", "a,b,c,d,e,f,g,h,i,j", "--mean", "0.1,0.2,0.3", "--std", "2"); code != 0 {
		t.Fatalf("import --classes: exit %d: %s", code, stderr)
	}
	out2 := filepath.Join(dir, "custom.safetensors")
	if code, _, stderr := cli(t, "export", ck2); code != 0 {
		t.Fatalf("export with default -o: exit %d: %s", code, stderr)
	}
	ck3 := filepath.Join(dir, "again")
	if code, _, stderr := cli(t, "import", "--model", "lenet-bn", out2, "-o", ck3, "--std", "0.25"); code != 0 {
		t.Fatalf("re-import: exit %d: %s", code, stderr)
	}
	c3, err := checkpoint.Load(ck3)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c3.Classes, strings.Split("a,b,c,d,e,f,g,h,i,j", ",")) ||
		!reflect.DeepEqual(c3.Mean, []float32{0.1, 0.2, 0.3}) || !reflect.DeepEqual(c3.Std, []float32{0.25, 0.25, 0.25}) {
		t.Errorf("re-import: classes %v mean %v std %v", c3.Classes, c3.Mean, c3.Std)
	}
}

// TestImportErrors: every missing, unexpected and mis-shaped key in one
// message; a wrong model; a cnnctl checkpoint; a file that is not safetensors.
func TestImportErrors(t *testing.T) {
	_, ts := torchWeights(t, "lenet")
	dir := t.TempDir()
	var bad []safetensors.Tensor
	for _, x := range ts {
		switch x.Name {
		case "conv1.bias", "fc2.weight": // missing
		case "fc3.bias": // mis-shaped
			bad = append(bad, safetensors.Tensor{Name: x.Name, Shape: []int{5}, Data: x.Data[:5]})
		default:
			bad = append(bad, x)
		}
	}
	bad = append(bad, safetensors.Tensor{Name: "fc4.weight", Shape: []int{1}, Data: []float32{1}},
		safetensors.Tensor{Name: "conv1.num_batches_tracked", Shape: []int{}, Int64: []int64{3}})
	path := filepath.Join(dir, "bad.safetensors")
	if err := safetensors.WriteFile(path, bad, nil); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := cli(t, "import", "--model", "lenet", path, "-o", filepath.Join(dir, "c"))
	if code != exitFailure {
		t.Errorf("exit %d, want %d", code, exitFailure)
	}
	for _, want := range []string{"missing keys (2): conv1.bias, fc2.weight", "unexpected keys (1): fc4.weight",
		"wrong shape: fc3.bias: " + path + " has 5, model wants 10"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("error lacks %q:\n%s", want, stderr)
		}
	}
	if strings.Count(stderr, "cnnctl:") != 1 {
		t.Errorf("want one error message:\n%s", stderr)
	}

	lenet, _ := torchWeights(t, "lenet")
	code, _, stderr = cli(t, "import", "--model", "mlp", lenet, "-o", filepath.Join(dir, "c"))
	if code != exitFailure || !strings.Contains(stderr, "wrong shape: fc1.weight") ||
		!strings.Contains(stderr, "unexpected keys (4): conv1.bias") || !strings.Contains(stderr, `holds model "lenet", not "mlp"`) {
		t.Errorf("wrong model: exit %d:\n%s", code, stderr)
	}

	ck := filepath.Join(dir, "ck")
	if code, _, stderr := cli(t, "import", "--model", "lenet", lenet, "-o", ck); code != 0 {
		t.Fatalf("import: %s", stderr)
	}
	code, _, stderr = cli(t, "import", "--model", "lenet", ck, "-o", filepath.Join(dir, "c2"))
	if code != exitFailure || !strings.Contains(stderr, "already a cnnctl checkpoint") {
		t.Errorf("checkpoint as weights: exit %d: %s", code, stderr)
	}

	code, _, stderr = cli(t, "import", "--model", "lenet", "--input", "1x32x32", lenet, "-o", filepath.Join(dir, "c3"))
	if code != exitFailure || !strings.Contains(stderr, "conv1.weight") || !strings.Contains(stderr, "model wants 6x1x5x5") {
		t.Errorf("--input 1x32x32: exit %d: %s", code, stderr)
	}
	code, _, stderr = cli(t, "import", "--model", "lenet", "--mean", "0.1,0.2", lenet, "-o", filepath.Join(dir, "c4"))
	if code != exitUsage || !strings.Contains(stderr, "--mean has 2 values for an input of 3 channels") {
		t.Errorf("--mean: exit %d: %s", code, stderr)
	}
	code, _, stderr = cli(t, "import", "--model", "nosuch", lenet, "-o", filepath.Join(dir, "c5"))
	if code != exitFailure || !strings.Contains(stderr, "not a built-in model") {
		t.Errorf("unknown model: exit %d: %s", code, stderr)
	}
	code, _, stderr = cli(t, "import", "--model", "lenet", filepath.Join(dir, "none"), "-o", filepath.Join(dir, "c6"))
	if code != exitFailure || !strings.Contains(stderr, "no such file") {
		t.Errorf("missing file: exit %d: %s", code, stderr)
	}
}
