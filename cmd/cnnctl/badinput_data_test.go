package main

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func write(t *testing.T, p string, b []byte) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// idx encodes an unsigned-byte IDX file.
func idx(dims []int, data []byte) []byte {
	var b bytes.Buffer
	b.Write([]byte{0, 0, 8, byte(len(dims))})
	for _, d := range dims {
		binary.Write(&b, binary.BigEndian, uint32(d))
	}
	b.Write(data)
	return b.Bytes()
}

// writeIDXSet writes a valid 4-image train and test set of 28x28 images.
func writeIDXSet(t *testing.T, dir string) {
	for _, p := range []string{"train", "t10k"} {
		write(t, filepath.Join(dir, p+"-images-idx3-ubyte"), idx([]int{4, 28, 28}, make([]byte, 4*28*28)))
		write(t, filepath.Join(dir, p+"-labels-idx1-ubyte"), idx([]int{4}, []byte{0, 1, 2, 3}))
	}
}

func pngOf(t *testing.T, w, h int) []byte {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = uint8(i)
	}
	img.Set(0, 0, color.NRGBA{1, 2, 3, 255})
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// writeImageFolder writes root/<class>/<i>.png (32x32) for classes a and b.
func writeImageFolder(t *testing.T, root string) {
	for _, c := range []string{"a", "b"} {
		for _, n := range []string{"1.png", "2.png"} {
			write(t, filepath.Join(root, c, n), pngOf(t, 32, 32))
		}
	}
}

// TestBadInputData: each bad data set reaches the user as a message that
// names the file, with exit code 1 and no OUT folder.
func TestBadInputData(t *testing.T) {
	tests := []struct {
		name string
		// make builds the data under dir and returns the --data spec and
		// the words the message must contain.
		make  func(t *testing.T, dir string) (spec string, want []string)
		extra []string
		code  int
	}{
		{"missing path", func(t *testing.T, dir string) (string, []string) {
			p := filepath.Join(dir, "nowhere")
			return "cifar10:" + p, []string{p}
		}, nil, exitFailure},
		{"cifar size not a multiple of 3073", func(t *testing.T, dir string) (string, []string) {
			for _, n := range []string{"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin", "test_batch.bin"} {
				write(t, filepath.Join(dir, n), make([]byte, 2*3073))
			}
			bad := write(t, filepath.Join(dir, "data_batch_3.bin"), make([]byte, 2*3073+7))
			return "cifar10:" + dir, []string{bad, "6153 bytes", "3073"}
		}, nil, exitFailure},
		{"cifar label out of range", func(t *testing.T, dir string) (string, []string) {
			for _, n := range []string{"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin", "test_batch.bin"} {
				write(t, filepath.Join(dir, n), make([]byte, 3073))
			}
			rec := make([]byte, 2*3073)
			rec[3073] = 10
			bad := write(t, filepath.Join(dir, "test_batch.bin"), rec)
			return "cifar10:" + dir, []string{bad, "label 10 out of range"}
		}, nil, exitFailure},
		{"idx wrong magic", func(t *testing.T, dir string) (string, []string) {
			writeIDXSet(t, dir)
			b := idx([]int{4, 28, 28}, make([]byte, 4*28*28))
			b[2] = 0x0d
			bad := write(t, filepath.Join(dir, "train-images-idx3-ubyte"), b)
			return "mnist:" + dir, []string{bad, "wrong magic"}
		}, nil, exitFailure},
		{"idx wrong dimensions", func(t *testing.T, dir string) (string, []string) {
			writeIDXSet(t, dir)
			bad := write(t, filepath.Join(dir, "train-images-idx3-ubyte"), idx([]int{4, 784}, make([]byte, 4*784)))
			return "mnist:" + dir, []string{bad, "2 dimensions, want 3"}
		}, nil, exitFailure},
		{"idx truncated", func(t *testing.T, dir string) (string, []string) {
			writeIDXSet(t, dir)
			bad := write(t, filepath.Join(dir, "t10k-images-idx3-ubyte"), idx([]int{4, 28, 28}, make([]byte, 100)))
			return "fashion-mnist:" + dir, []string{bad, "truncated"}
		}, nil, exitFailure},
		{"idx label out of range", func(t *testing.T, dir string) (string, []string) {
			writeIDXSet(t, dir)
			bad := write(t, filepath.Join(dir, "train-labels-idx1-ubyte"), idx([]int{4}, []byte{0, 1, 12, 3}))
			return "mnist:" + dir, []string{bad, "label 12", "out of range"}
		}, nil, exitFailure},
		{"imagefolder corrupt image", func(t *testing.T, dir string) (string, []string) {
			writeImageFolder(t, dir)
			write(t, filepath.Join(dir, "b", "3.png"), []byte("not a png at all"))
			return "imagefolder:" + dir, []string{dir, "b/3.png", "not a JPEG or PNG image"}
		}, nil, exitFailure},
		{"imagefolder corrupt image skipped", func(t *testing.T, dir string) (string, []string) {
			writeImageFolder(t, dir)
			write(t, filepath.Join(dir, "b", "3.png"), []byte("not a png at all"))
			return "imagefolder:" + dir, []string{"skipped 1 files", "b/3.png", "train split: 4 images"}
		}, []string{"--skip-bad-images", "--dry-run"}, exitOK},
		{"imagefolder class emptied by skipping", func(t *testing.T, dir string) (string, []string) {
			writeImageFolder(t, dir)
			write(t, filepath.Join(dir, "b", "1.png"), []byte("not a png at all"))
			write(t, filepath.Join(dir, "b", "2.png"), []byte("not a png either"))
			return "imagefolder:" + dir, []string{"skipped 2 files", `warning: class "b" has no train images left: all of them were skipped as bad`}
		}, []string{"--skip-bad-images", "--dry-run"}, exitOK},
		{"imagefolder empty class folder", func(t *testing.T, dir string) (string, []string) {
			writeImageFolder(t, dir)
			os.MkdirAll(filepath.Join(dir, "c"), 0o755)
			return "imagefolder:" + dir, []string{"empty class folder", "c"}
		}, nil, exitFailure},
		{"imagefolder mixed sizes", func(t *testing.T, dir string) (string, []string) {
			writeImageFolder(t, dir)
			write(t, filepath.Join(dir, "b", "2.png"), pngOf(t, 16, 12))
			return "imagefolder:" + dir, []string{"2.png", "16x12", "32x32"}
		}, nil, exitFailure},
		{"unknown kind", func(t *testing.T, dir string) (string, []string) {
			return "cifar100:" + dir, []string{"cifar100"}
		}, nil, exitFailure},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			spec, want := tc.make(t, filepath.Join(dir, "data"))
			out := filepath.Join(dir, "run")
			args := append([]string{"train", "--model", "lenet", "--data", spec, "--epochs", "1", "--device", "cpu", "--out", out}, tc.extra...)
			code, stdout, stderr := runCLI(t, args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\n%s%s", code, tc.code, stdout, stderr)
			}
			mustContain(t, "output", stdout+stderr, want...)
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("a run that failed on its data created %s", out)
			}
		})
	}
}

// TestDataInfoSkipBadImages: data info's error suggests --skip-bad-images,
// and data info takes it (it used to reject the flag it suggested).
func TestDataInfoSkipBadImages(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	writeImageFolder(t, dir)
	write(t, filepath.Join(dir, "b", "3.png"), []byte("not a png at all"))
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	code, _, stderr := runCLI(t, "data", "info", "imagefolder:"+dir)
	if code != exitFailure || !strings.Contains(stderr, "pass --skip-bad-images") {
		t.Fatalf("exit %d, want %d and the hint:\n%s", code, exitFailure, stderr)
	}
	code, stdout, stderr := runCLI(t, "data", "info", "imagefolder:"+dir, "--skip-bad-images")
	if code != 0 {
		t.Fatalf("with --skip-bad-images: exit %d\n%s", code, stderr)
	}
	mustContain(t, "data info", stdout+stderr, "skipped 1 files", "b/3.png", "train: 4 images")
}
