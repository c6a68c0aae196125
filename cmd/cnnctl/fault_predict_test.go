package main

import (
	"encoding/binary"
	"encoding/json"
	"hash/crc32"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestPredictStreamsFolders: a folder argument stands for its images in
// name order; images are classified --batch-size at a time and printed as
// each batch is done, so a bad fifth image stops the run after the first
// four results are out (they used to be printed only after all loaded);
// batched logits match one-at-a-time ones.
func TestPredictStreamsFolders(t *testing.T) {
	dir := t.TempDir()
	ck := filepath.Join(dir, "ck")
	lenetCheckpoint(t, ck, nil)
	imgs := filepath.Join(dir, "imgs")
	os.MkdirAll(filepath.Join(imgs, "sub"), 0o755)
	names := []string{"a.png", "b.png", "c.png", "sub/d.png"}
	for i, n := range names {
		writePNG(t, filepath.Join(imgs, n), 32, 32, uint8(40*i))
	}
	os.WriteFile(filepath.Join(imgs, "notes.txt"), []byte("not an image"), 0o644)

	code, stdout, stderr := cli(t, "predict", ck, imgs, "--device", "cpu", "--batch-size", "3", "--json")
	if code != 0 {
		t.Fatalf("predict FOLDER: exit %d\n%s", code, stderr)
	}
	var batched []prediction
	if err := json.Unmarshal([]byte(stdout), &batched); err != nil {
		t.Fatalf("predict --json does not parse: %v\n%s", err, stdout)
	}
	if len(batched) != len(names) {
		t.Fatalf("%d predictions for %d images", len(batched), len(names))
	}
	for i, n := range names {
		if batched[i].Path != filepath.Join(imgs, n) {
			t.Errorf("prediction %d is for %s, want %s", i, batched[i].Path, filepath.Join(imgs, n))
		}
		_, one, _ := cli(t, "predict", ck, filepath.Join(imgs, n), "--device", "cpu", "--json")
		var single []prediction
		if err := json.Unmarshal([]byte(one), &single); err != nil || len(single) != 1 {
			t.Fatalf("predict %s: %v\n%s", n, err, one)
		}
		for j, v := range single[0].Logits {
			if d := math.Abs(float64(v - batched[i].Logits[j])); d > 1e-5*math.Max(1, math.Abs(float64(v))) {
				t.Errorf("%s logit %d: %v alone, %v in a batch", n, j, v, batched[i].Logits[j])
			}
		}
	}

	os.WriteFile(filepath.Join(imgs, "sub", "e.png"), []byte("\x89PNG broken"), 0o644)
	code, stdout, stderr = cli(t, "predict", ck, imgs, "--device", "cpu", "--batch-size", "2")
	if code != exitFailure || !strings.Contains(stderr, filepath.Join(imgs, "sub", "e.png")+": not a PNG or JPEG image") {
		t.Fatalf("a broken fifth image: exit %d\n%s", code, stderr)
	}
	for _, n := range names {
		if !strings.Contains(stdout, filepath.Join(imgs, n)+"\n") {
			t.Errorf("the result of %s, in a batch before the broken image, was not printed:\n%s", n, stdout)
		}
	}
	code, stdout, _ = cli(t, "predict", ck, imgs, "--device", "cpu", "--batch-size", "2", "--json")
	var partial []prediction
	if err := json.Unmarshal([]byte(stdout), &partial); code != exitFailure || err != nil || len(partial) != 4 {
		t.Errorf("--json with a broken fifth image: exit %d, %d predictions, %v\n%s", code, len(partial), err, stdout)
	}

	empty := filepath.Join(dir, "empty")
	os.MkdirAll(empty, 0o755)
	code, _, stderr = cli(t, "predict", ck, empty)
	if code != exitFailure || !strings.Contains(stderr, empty+" is a folder with no .png, .jpg or .jpeg images") {
		t.Errorf("empty folder: exit %d\n%s", code, stderr)
	}
}

// TestPredictHugeDeclaredSize: a small PNG whose header declares 30000x30000
// is refused from its header, at once, with and without --resize (it was
// decoded first: 3.5 GB and seconds before the size was looked at).
func TestPredictHugeDeclaredSize(t *testing.T) {
	dir := t.TempDir()
	ck := filepath.Join(dir, "ck")
	lenetCheckpoint(t, ck, nil)
	img := filepath.Join(dir, "huge.png")
	writePNG(t, img, 1, 1, 7)
	b, _ := os.ReadFile(img)
	// The IHDR chunk: length (4), "IHDR" at 12, width and height at 16 and
	// 20, its CRC over type and data at 29.
	binary.BigEndian.PutUint32(b[16:], 30000)
	binary.BigEndian.PutUint32(b[20:], 30000)
	binary.BigEndian.PutUint32(b[29:], crc32.ChecksumIEEE(b[12:29]))
	os.WriteFile(img, b, 0o644)
	for _, c := range []struct {
		resize bool
		want   string
	}{
		{false, img + " is 30000x30000 (png), the model takes 32x32 images: pass --resize"},
		{true, img + " declares 30000x30000 pixels (900 megapixels), more than --max-megapixels 64"},
	} {
		args := []string{"predict", ck, img, "--device", "cpu"}
		if c.resize {
			args = append(args, "--resize")
		}
		start := time.Now()
		code, _, stderr := cli(t, args...)
		if code != exitFailure || !strings.Contains(stderr, c.want) {
			t.Errorf("--resize %v: exit %d, want %d and %q:\n%s", c.resize, code, exitFailure, c.want, stderr)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("--resize %v: took %v: the image was decoded", c.resize, d)
		}
	}
}
