package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// parseExport runs the export command's flag handling only.
func parseExport(t *testing.T, args ...string) (*exportOptions, error) {
	t.Helper()
	var out bytes.Buffer
	var got *exportOptions
	cmd := newExportCmd(newFactory(strings.NewReader(""), &out, &out), func(o *exportOptions) error { got = o; return nil })
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	return got, cmd.Execute()
}

func TestExportFlags(t *testing.T) {
	o, err := parseExport(t, "runs/lenet/best")
	if err != nil {
		t.Fatal(err)
	}
	if o.Out != "runs/lenet/best.safetensors" || o.Format != "safetensors" {
		t.Errorf("defaults: -o %q --format %q", o.Out, o.Format)
	}
	if o, err = parseExport(t, "ck", "-o", "w.safetensors", "--format", "safetensors"); err != nil || o.Out != "w.safetensors" {
		t.Errorf("-o: %v %+v", err, o)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "accepts 1 arg"},
		{[]string{"a", "b"}, "accepts 1 arg"},
		{[]string{"ck", "--format", "onnx"}, `unknown --format "onnx"`},
		{[]string{"runs/ck", "-o", "runs/./ck"}, "would overwrite the checkpoint"},
	} {
		_, err := parseExport(t, c.args...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want %q", c.args, err, c.want)
		}
	}
	if code, _, stderr := cli(t, "export", "ck", "--format", "onnx"); code != exitUsage {
		t.Errorf("--format onnx: exit %d, want %d: %s", code, exitUsage, stderr)
	}
}

func TestExportErrors(t *testing.T) {
	weights, _ := torchWeights(t, "lenet")
	code, _, stderr := cli(t, "export", weights, "-o", filepath.Join(t.TempDir(), "x"))
	if code != exitFailure || !strings.Contains(stderr, "not a cnnctl checkpoint") {
		t.Errorf("PyTorch weights as checkpoint: exit %d: %s", code, stderr)
	}
	dir := t.TempDir()
	ck := filepath.Join(dir, "ck")
	if code, _, stderr := cli(t, "import", "--model", "lenet", weights, "-o", ck); code != 0 {
		t.Fatalf("import: %s", stderr)
	}
	code, _, stderr = cli(t, "export", ck, "-o", filepath.Join(dir, "no", "such", "dir", "x.safetensors"))
	if code != exitFailure || !strings.Contains(stderr, "no such file") {
		t.Errorf("unwritable -o: exit %d: %s", code, stderr)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".*")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
	if err := os.WriteFile(filepath.Join(dir, "text"), []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = cli(t, "export", filepath.Join(dir, "text"))
	if code != exitFailure || !strings.Contains(stderr, "safetensors") {
		t.Errorf("text file: exit %d: %s", code, stderr)
	}
}
