package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cnnctl/cnnctl/internal/checkpoint"
	"github.com/cnnctl/cnnctl/internal/safetensors"
	"github.com/cnnctl/cnnctl/internal/tensor"
	"github.com/cnnctl/cnnctl/internal/train"
	"github.com/cnnctl/cnnctl/internal/zoo"
)

// TestBadInputModelYAML: a broken model file is a message with its
// file:line:col (or layer and shapes), through summary and train alike;
// train leaves no OUT behind.
func TestBadInputModelYAML(t *testing.T) {
	tests := []struct{ name, yaml, want string }{
		{"syntax error", "name: x\ninput: 1x28x28\nlayers:\n  - {type: conv2d, name: c1, out: 6, kernel: 5\n  - {type: relu, name: r}\n",
			"m.yaml:4:5: YAML syntax: did not find expected ',' or '}'"},
		{"unknown key", "name: x\ninput: 1x28x28\nlayers:\n  - {type: conv2d, name: c1, out: 6, kernal: 5}\n",
			`m.yaml:4:38: conv2d: unknown key "kernal" (did you mean "kernel"?)`},
		{"wrong type", "name: x\ninput: 1x28x28\nlayers:\n  - {type: conv2d, name: c1, out: six, kernel: 5}\n",
			`m.yaml:4:35: out: expected an integer or classes, got "six"`},
		{"zero size", "name: x\ninput: 1x28x28\nlayers:\n  - {type: conv2d, name: c1, out: 0, kernel: 5}\n",
			"m.yaml:4:35: out: must be positive, got 0"},
		{"negative size", "name: x\ninput: 1x28x28\nlayers:\n  - {type: conv2d, name: c1, out: 4, kernel: -3}\n",
			"m.yaml:4:46: kernel: must be positive, got -3"},
		{"huge repeat", "name: x\ninput: 1x28x28\nlayers:\n  - {type: relu, name: \"r{i}\", repeat: {count: 2000000000}}\n",
			"repeat: count 2000000000 is more than 1000"},
		{"impossible shape", "name: x\ninput: 3x32x32\nlayers:\n  - {type: conv2d, name: c1, out: 6, kernel: 5}\n  - {type: maxpool, name: p, kernel: 8}\n  - {type: conv2d, name: c2, out: 6, kernel: 5}\n  - {type: flatten, name: f}\n  - {type: linear, name: fc, out: classes}\n",
			`m.yaml:6:5: conv2d "c2" on input 6x3x3: kernel 5x5 does not fit`},
		{"residual shape mismatch", "name: x\ninput: 3x32x32\nlayers:\n  - type: residual\n    name: block\n    body:\n      - {type: conv2d, name: conv1, out: 16, kernel: 3, padding: 1}\n    shortcut: identity\n  - {type: flatten, name: f}\n  - {type: linear, name: fc, out: classes}\n",
			`m.yaml:4:5: residual "block" on input 3x32x32: body gives 16x32x32 but the shortcut gives 3x32x32`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			model := write(t, filepath.Join(dir, "m.yaml"), []byte(tc.yaml))
			code, _, stderr := runCLI(t, "summary", model)
			if code != exitUsage {
				t.Fatalf("summary: exit %d, want %d (a bad model file is a usage error)", code, exitUsage)
			}
			mustContain(t, "summary's error", stderr, tc.want)
			out := filepath.Join(dir, "run")
			code, _, stderr = runCLI(t, append(trainArgs(out, 1), "--model", model)...)
			if code != exitUsage {
				t.Fatalf("train: exit %d, want %d", code, exitUsage)
			}
			mustContain(t, "train's error", stderr, tc.want)
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("train created %s for a bad model", out)
			}
		})
	}
}

// TestBadInputFlagsAndRecipes: bad flags and recipe values are usage errors
// (exit 2) found before any work: no OUT folder appears.
func TestBadInputFlagsAndRecipes(t *testing.T) {
	dir := t.TempDir()
	recipe := func(name, body string) string { return write(t, filepath.Join(dir, name), []byte(body)) }
	tests := []struct {
		name  string
		extra []string
		want  []string
		code  int
	}{
		{"unknown device", []string{"--device", "tpu"}, []string{`unknown --device "tpu"`, "auto, cpu, cuda or cuda:N"}, exitUsage},
		{"batch size 0", []string{"--batch-size", "0"}, []string{"--batch-size must be at least 1, got 0"}, exitUsage},
		{"negative lr", []string{"--lr", "-0.1"}, []string{"--lr must be positive, got -0.1"}, exitUsage},
		{"epochs 0", []string{"--epochs", "0"}, []string{"--epochs must be at least 1, got 0"}, exitUsage},
		{"unknown flag", []string{"--learning-rate", "0.1"}, []string{"unknown flag: --learning-rate"}, exitUsage},
		{"bad nan-check", []string{"--nan-check", "always"}, []string{"--nan-check must be off, step or layer"}, exitUsage},
		{"bad data-on", []string{"--data-on", "gpu"}, []string{`--data-on must be auto, device or host, got "gpu"`}, exitUsage},
		{"unknown optimizer", []string{"--optimizer", "rmsprop"}, []string{`unknown optimizer "rmsprop"`}, exitUsage},
		{"unknown model", []string{"--model", "lenett"}, []string{"lenett"}, exitUsage},
		{"crop padding beyond the image", []string{"--augment", "crop", "--crop-padding", "100000"}, []string{"--crop-padding 100000 is more than the 32x32 images: at most 32"}, exitUsage},
		{"infinite lr", []string{"--lr", "inf"}, []string{"--lr must be a finite number, got +Inf"}, exitUsage},
		{"recipe unknown key", []string{"--config", recipe("r1.yaml", "lr: 0.1\nbatch_size: 64\n")},
			[]string{"r1.yaml:2:1", `unknown key "batch_size"`, `did you mean "batch-size"?`}, exitUsage},
		{"recipe wrong type", []string{"--config", recipe("r2.yaml", "epochs: many\n")},
			[]string{"r2.yaml:1:9", `epochs: want a whole number, got "many"`}, exitUsage},
		{"recipe list for a number", []string{"--config", recipe("r3.yaml", "lr: [0.1, 0.2]\n")},
			[]string{"r3.yaml:1:5", "lr: want a number"}, exitUsage},
		{"recipe syntax error", []string{"--config", recipe("r4.yaml", "lr: [0.1\n")}, []string{"r4.yaml"}, exitUsage},
		{"recipe missing", []string{"--config", filepath.Join(dir, "nope.yaml")}, []string{"nope.yaml"}, exitUsage},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "run")
			code, _, stderr := runCLI(t, append(trainArgs(out, 1), tc.extra...)...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\n%s", code, tc.code, stderr)
			}
			mustContain(t, "error", stderr, tc.want...)
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("a rejected command created %s", out)
			}
		})
	}
}

// resnetCheckpoint saves a freshly built ResNet as OUT/last.
func resnetCheckpoint(t *testing.T, out string) {
	t.Helper()
	spec, err := zoo.Load("resnet")
	if err != nil {
		t.Fatal(err)
	}
	be, err := openBackend("cpu", io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer be.Close()
	in := tensor.Shape{3, 32, 32}
	m, err := zoo.Build(spec, be, in, 10, 1)
	if err != nil {
		t.Fatal(err)
	}
	ck, err := train.Snapshot(m, checkpoint.Meta{Model: "resnet", ModelYAML: string(spec.Source), ConfigHash: spec.Hash(), Input: in,
		Classes: strings.Split("0 1 2 3 4 5 6 7 8 9", " "), Mean: []float32{0, 0, 0}, Std: []float32{1, 1, 1}, Data: "synthetic", Epoch: 1, Step: 32})
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(out, 0o755)
	if err := checkpoint.Save(filepath.Join(out, "last"), ck); err != nil {
		t.Fatal(err)
	}
}

// TestBadInputCheckpoints: checkpoints of another model or format version,
// and damaged files, are clear errors naming the file, from train --resume
// and eval alike.
func TestBadInputCheckpoints(t *testing.T) {
	dir := t.TempDir()

	t.Run("other model", func(t *testing.T) {
		out := filepath.Join(dir, "resnet-run")
		resnetCheckpoint(t, out)
		code, _, stderr := runCLI(t, trainArgs(out, 2, "--resume", "auto")...)
		if code == exitOK {
			t.Fatal("a ResNet checkpoint resumed as LeNet")
		}
		mustContain(t, "error", stderr, `trained with model "resnet"`, "not lenet", "pick the matching --model or another --out")
	})

	// A real LeNet checkpoint to damage.
	good := filepath.Join(dir, "good")
	if code, _, stderr := runCLI(t, trainArgs(good, 1)...); code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	raw, err := os.ReadFile(filepath.Join(good, "last"))
	if err != nil {
		t.Fatal(err)
	}
	hlen := binary.LittleEndian.Uint64(raw)
	withHeader := func(h string) []byte { // raw's data under another header
		b := binary.LittleEndian.AppendUint64(nil, uint64(len(h)))
		return append(append(b, h...), raw[8+hlen:]...)
	}
	header := string(raw[8 : 8+hlen])
	files := []struct {
		name string
		data func() []byte
		want []string
	}{
		{"version", func() []byte {
			f, err := safetensors.ReadFile(filepath.Join(good, "last"))
			if err != nil {
				t.Fatal(err)
			}
			f.Metadata["cnnctl"] = strings.Replace(f.Metadata["cnnctl"], `"version":2,`, `"version":7,`, 1)
			// As a newer cnnctl would write it: with a matching metadata checksum.
			f.Metadata["cnnctl.crc32"] = fmt.Sprintf("%08x", crc32.ChecksumIEEE([]byte(f.Metadata["cnnctl"])))
			p := filepath.Join(dir, "v7")
			if err := safetensors.WriteFile(p, f.Tensors, f.Metadata); err != nil {
				t.Fatal(err)
			}
			b, _ := os.ReadFile(p)
			return b
		}, []string{"format version 7", "this cnnctl reads versions 1 to 2"}},
		{"flipped metadata bit", func() []byte {
			b := append([]byte{}, raw...)
			i := bytes.Index(b, []byte(`class0`))
			b[i+5] ^= 1 // class0 -> class1: the class names would be silently wrong
			return b
		}, []string{"metadata checksum", "corrupt"}},
		{"truncated", func() []byte { return raw[:len(raw)/2] }, []string{"load checkpoint"}},
		{"header only", func() []byte { return raw[:8+hlen] }, []string{"load checkpoint"}},
		{"header too large", func() []byte {
			b := append([]byte{}, raw...)
			binary.LittleEndian.PutUint64(b, 200_000_000)
			return b
		}, []string{"header length 200000000 exceeds"}},
		{"offsets out of range", func() []byte {
			return withHeader(strings.Replace(header, `"data_offsets":[0,`, `"data_offsets":[0,`+"9", 1))
		}, []string{"load checkpoint"}},
		{"offsets overlapping", func() []byte {
			i := strings.Index(header, `"data_offsets":[`)
			j := strings.Index(header[i+16:], `,`)
			h := header[:i+16] + "4" + header[i+16+j:] // first tensor starts 4 bytes late
			return withHeader(h)
		}, []string{"load checkpoint"}},
		{"flipped bit", func() []byte {
			b := append([]byte{}, raw...)
			b[len(b)-100] ^= 1
			return b
		}, []string{"checksum", "corrupt"}},
		{"not safetensors", func() []byte { return []byte("\x89PNG\r\n\x1a\n and so on") }, []string{"load checkpoint"}},
	}
	for _, tc := range files {
		t.Run(tc.name, func(t *testing.T) {
			p := write(t, filepath.Join(t.TempDir(), "ckpt"), tc.data())
			code, _, stderr := runCLI(t, "eval", p, "--device", "cpu")
			if code != exitFailure {
				t.Fatalf("eval: exit %d, want %d\n%s", code, exitFailure, stderr)
			}
			mustContain(t, "eval's error", stderr, append([]string{p}, tc.want...)...)
			out := filepath.Join(t.TempDir(), "run")
			code, _, stderr = runCLI(t, trainArgs(out, 2, "--resume", p)...)
			if code != exitFailure {
				t.Fatalf("train --resume: exit %d, want %d\n%s", code, exitFailure, stderr)
			}
			mustContain(t, "train's error", stderr, append([]string{p}, tc.want...)...)
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("train --resume of a bad file created %s", out)
			}
		})
	}
}

// TestBadInputModelWithoutClassifier: a model whose output is not one value
// per class is refused before training (it used to train an epoch, create
// OUT and then fail in the validation).
func TestBadInputModelWithoutClassifier(t *testing.T) {
	dir := t.TempDir()
	model := write(t, filepath.Join(dir, "m.yaml"), []byte("name: headless\ninput: 3x32x32\nlayers:\n  - {type: conv2d, name: c1, out: 6, kernel: 5}\n"))
	out := filepath.Join(dir, "run")
	code, _, stderr := runCLI(t, append(trainArgs(out, 1), "--model", model)...)
	if code != exitFailure {
		t.Fatalf("exit %d, want %d\n%s", code, exitFailure, stderr)
	}
	mustContain(t, "error", stderr, "m.yaml", "ends with output 6x28x28 per image, but the data has 10 classes", "out: classes")
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("created %s", out)
	}
}
