package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// colourPNG is a 32x32 colour image that differs with seed.
func colourPNG(t *testing.T, seed int) []byte {
	img := image.NewNRGBA(image.Rect(0, 0, 32, 32))
	for i := range img.Pix {
		img.Pix[i] = uint8(i*7 + seed*31)
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// writeSplitFolder writes root/<prefix><class>/<i>.png, counts[class] images each.
func writeSplitFolder(t *testing.T, root, prefix string, counts map[string]int) {
	for c, n := range counts {
		for i := range n {
			write(t, filepath.Join(root, prefix+c, fmt.Sprintf("%d.png", i)), colourPNG(t, i+len(c)))
		}
	}
}

// tarDir packs the files under dir into a .tar.gz at p.
func tarDir(t *testing.T, dir, p string) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	err := filepath.Walk(dir, func(fp string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, fp)
		b, err := os.ReadFile(fp)
		if err != nil {
			return err
		}
		if err := tw.WriteHeader(&tar.Header{Name: filepath.ToSlash(rel), Mode: 0o644, Size: int64(len(b)), Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		_, err = tw.Write(b)
		return err
	})
	if err == nil {
		err = tw.Close()
	}
	if err == nil {
		err = zw.Close()
	}
	if err == nil {
		err = os.WriteFile(p, buf.Bytes(), 0o644)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// evalFixture trains a LeNet for one epoch on a small imagefolder (classes
// cat, dog; 12 images each) with --val-split 0.5 and returns its best
// checkpoint and the training data spec.
func evalFixture(t *testing.T) (ckpt, trainSpec string) {
	t.Helper()
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	dir := t.TempDir()
	trainDir := filepath.Join(dir, "train-imgs")
	writeSplitFolder(t, trainDir, "", map[string]int{"cat": 12, "dog": 12})
	out := filepath.Join(dir, "run")
	spec := "imagefolder:" + trainDir
	code, _, stderr := runCLI(t, "train", "--model", "lenet", "--data", spec, "--val-split", "0.5", "--epochs", "1",
		"--batch-size", "8", "--device", "cpu", "--workers", "1", "--out", out, "-q")
	if code != 0 {
		t.Fatalf("train: exit %d: %s", code, stderr)
	}
	return filepath.Join(out, "best"), spec
}

func evalJSON(t *testing.T, args ...string) evalResult {
	t.Helper()
	code, stdout, stderr := runCLI(t, append([]string{"eval", "--device", "cpu", "--json"}, args...)...)
	if code != 0 {
		t.Fatalf("eval %v: exit %d: %s", args, code, stderr)
	}
	var r evalResult
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatalf("eval %v --json: %v\n%s", args, err, stdout)
	}
	return r
}

// TestEvalCountsEveryImage: with --data, eval runs on that data set's test
// split, else on every image in it, never on a --val-split fraction of it;
// folders and tarballs holding only test/ or val/ work; --split val is the
// training data's held-out part only.
func TestEvalCountsEveryImage(t *testing.T) {
	ckpt, trainSpec := evalFixture(t)
	dir := t.TempDir()

	flat := filepath.Join(dir, "flat") // <class>/<image>: all 17 images
	writeSplitFolder(t, flat, "", map[string]int{"cat": 10, "dog": 7})
	testOnly := filepath.Join(dir, "test-only") // test/<class>/<image>: 9 images
	writeSplitFolder(t, testOnly, "test/", map[string]int{"dog": 5, "cat": 4})
	valOnly := filepath.Join(dir, "val-only") // a tarball of val/<class>/<image>: 6 images
	writeSplitFolder(t, valOnly, "val/", map[string]int{"cat": 3, "dog": 3})
	valTar := filepath.Join(dir, "val-only.tar.gz")
	tarDir(t, valOnly, valTar)
	both := filepath.Join(dir, "both") // train 8 + test 11: the test split
	writeSplitFolder(t, both, "train/", map[string]int{"cat": 4, "dog": 4})
	writeSplitFolder(t, both, "test/", map[string]int{"cat": 6, "dog": 5})

	for _, tc := range []struct {
		args         []string
		n            int
		split, words string
	}{
		{[]string{"--data", "imagefolder:" + flat}, 17, "all", "all images"},
		{[]string{"--data", "imagefolder:" + testOnly}, 9, "test", "test split"},
		{[]string{"--data", "imagefolder:" + valTar}, 6, "test", "test split"},
		{[]string{"--data", "imagefolder:" + both}, 11, "test", "test split"},
		{[]string{"--data", "imagefolder:" + both, "--split", "train"}, 8, "train", "train split"},
		{[]string{"--data", "imagefolder:" + flat, "--split", "train"}, 17, "train", "train split"},
		{nil, 12, "val", "val split (50% of train held out"},                                            // the run's own held-out half
		{[]string{"--data", trainSpec}, 12, "val", "val split (50% of train held out"},                  // the same data set, named
		{[]string{"--data", trainSpec, "--split", "train"}, 12, "train", "train split without the 50%"}, // the half it trained on
	} {
		r := evalJSON(t, append([]string{ckpt}, tc.args...)...)
		if r.N != tc.n || r.Split != tc.split || !strings.HasPrefix(r.Images, tc.words) {
			t.Errorf("eval %v: n %d split %q (%q), want n %d split %q (%q…)", tc.args, r.N, r.Split, r.Images, tc.n, tc.split, tc.words)
		}
		if r.Model != "lenet" || r.Params <= 0 || r.Checkpoint != ckpt || r.ImagesPerSec <= 0 || len(r.Confusion) != 2 {
			t.Errorf("eval %v: checkpoint %q model %q params %d images/s %g confusion %v", tc.args, r.Checkpoint, r.Model, r.Params, r.ImagesPerSec, r.Confusion)
		}
		sum := 0
		for _, row := range r.Confusion {
			for _, v := range row {
				sum += v
			}
		}
		if sum != tc.n {
			t.Errorf("eval %v: the confusion matrix counts %d images, want %d", tc.args, sum, tc.n)
		}
	}

	// The report's first line names the data set, the split and the count.
	code, stdout, stderr := runCLI(t, "eval", ckpt, "--device", "cpu", "--data", "imagefolder:"+testOnly)
	if code != 0 {
		t.Fatalf("eval: exit %d: %s", code, stderr)
	}
	first, _, _ := strings.Cut(stdout, "\n")
	if want := ckpt + " on imagefolder:" + testOnly + ": test split, 9 images"; first != want {
		t.Errorf("first line %q, want %q", first, want)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--data", "imagefolder:" + flat, "--split", "val"}, "--split val is the part of the checkpoint's training data held out"},
		{[]string{"--data", "imagefolder:" + flat, "--split", "test"}, "has no test split (leave --split out"},
		{[]string{"--data", "imagefolder:" + testOnly, "--split", "train"}, "has no training images"},
	} {
		code, _, stderr := runCLI(t, append([]string{"eval", ckpt, "--device", "cpu"}, tc.args...)...)
		if code != 1 || !strings.Contains(stderr, tc.want) {
			t.Errorf("eval %v: exit %d, stderr %q; want exit 1 and %q", tc.args, code, stderr, tc.want)
		}
	}
}

// TestEvalCompare: several checkpoints give one table, or a JSON array, each
// row on the data the checkpoint was trained on unless --data is given.
func TestEvalCompare(t *testing.T) {
	ckpt, _ := evalFixture(t)
	last := filepath.Join(filepath.Dir(ckpt), "last")
	code, stdout, stderr := runCLI(t, "eval", ckpt, last, "--device", "cpu")
	if code != 0 {
		t.Fatalf("eval: exit %d: %s", code, stderr)
	}
	lines := strings.Split(strings.TrimRight(stdout, "\n"), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "RUN") {
		t.Fatalf("want a header and 2 rows, got:\n%s", stdout)
	}
	for _, col := range []string{"MODEL", "PARAMS", "TOP-1", "TOP-5", "LOSS", "IMAGES/S", "DATA"} {
		if !strings.Contains(lines[0], col) {
			t.Errorf("header %q lacks %s", lines[0], col)
		}
	}
	for i, p := range []string{ckpt, last} {
		if f := strings.Fields(lines[i+1]); len(f) < 9 || f[0] != p || f[1] != "lenet" || f[2] != "61,326" || f[6] != "12" {
			t.Errorf("row %d %q: want %s, lenet, 61,326 params (2 classes), 12 images", i+1, lines[i+1], p)
		}
	}

	other := filepath.Join(t.TempDir(), "other")
	writeSplitFolder(t, other, "", map[string]int{"cat": 2, "dog": 3})
	code, stdout, stderr = runCLI(t, "eval", ckpt, last, "--device", "cpu", "--json", "--data", "imagefolder:"+other)
	if code != 0 {
		t.Fatalf("eval --json: exit %d: %s", code, stderr)
	}
	var rs []evalResult
	if err := json.Unmarshal([]byte(stdout), &rs); err != nil {
		t.Fatalf("eval --json: %v\n%s", err, stdout)
	}
	if len(rs) != 2 || rs[0].Checkpoint != ckpt || rs[1].Checkpoint != last {
		t.Fatalf("want an array of 2 results in order, got %s", stdout)
	}
	for _, r := range rs {
		if r.N != 5 || r.Data != "imagefolder:"+other || r.Params != 61326 {
			t.Errorf("%s: n %d data %q params %d, want 5 images of --data", r.Checkpoint, r.N, r.Data, r.Params)
		}
	}
}

// TestEvalCompareNamesTheFailure: with several checkpoints, an error names
// the checkpoint it belongs to.
func TestEvalCompareNamesTheFailure(t *testing.T) {
	ckpt, _ := evalFixture(t)
	gray := filepath.Join(t.TempDir(), "gray")
	for _, c := range []string{"cat", "dog"} {
		write(t, filepath.Join(gray, c, "1.png"), pngGray(t))
	}
	code, _, stderr := runCLI(t, "eval", ckpt, ckpt, "--device", "cpu", "--data", "imagefolder:"+gray)
	if code != 1 || !strings.Contains(stderr, ckpt+": eval: the data's images are 1x32x32") {
		t.Errorf("exit %d, stderr %q; want exit 1 and the checkpoint named", code, stderr)
	}
}

func pngGray(t *testing.T) []byte {
	img := image.NewGray(image.Rect(0, 0, 32, 32))
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
