package data

import (
	"bytes"
	"image"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeFolder writes root/<class>/<i>.png, images 4x3 with value base v = 10*class+i.
func writeFolder(t *testing.T, root string, classes []string, per int) {
	for c, name := range classes {
		for i := range per {
			writeFile(t, filepath.Join(root, name, string(rune('a'+i))+".png"), pngBytes(t, testImage(4, 3, uint8(10*c+i))))
		}
	}
}

func checkPixel(t *testing.T, s *Split, i int, v uint8) {
	t.Helper()
	img := s.Image(i)
	// (x, y) = (2, 1): R = v+2, G = v+1, B = v+3.
	hw, o := s.H*s.W, 1*s.W+2
	if img[o] != v+2 || img[hw+o] != v+1 || img[2*hw+o] != v+3 {
		t.Errorf("image %d: pixel (2,1) = %d,%d,%d, want base %d", i, img[o], img[hw+o], img[2*hw+o], v)
	}
}

func TestImageFolder(t *testing.T) {
	root := filepath.Join(t.TempDir(), "imgs")
	writeFolder(t, root, []string{"zebra", "ant", "moth"}, 2)
	writeFile(t, filepath.Join(root, "ant", "notes.txt"), []byte("ignored"))
	writeFile(t, filepath.Join(root, "ant", ".hidden.png"), []byte("ignored"))
	d, err := Open("imagefolder:"+root, Options{NoCache: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(d.Classes, ","); got != "ant,moth,zebra" {
		t.Errorf("classes %s", got)
	}
	if d.Test != nil || d.Train.N != 6 || d.Train.C != 3 || d.Train.H != 3 || d.Train.W != 4 {
		t.Fatalf("shape %d %dx%dx%d test %v", d.Train.N, d.Train.C, d.Train.H, d.Train.W, d.Test)
	}
	wantLabels := []int32{0, 0, 1, 1, 2, 2}
	wantBase := []uint8{10, 11, 20, 21, 0, 1}
	for i := range 6 {
		if d.Train.Labels[i] != wantLabels[i] {
			t.Errorf("labels %v", d.Train.Labels)
		}
		checkPixel(t, d.Train, i, wantBase[i])
	}
	if d.Decoded != 6 || d.Cache != "" {
		t.Errorf("decoded %d cache %q", d.Decoded, d.Cache)
	}
	if d.Mean[0] != 0.485 {
		t.Errorf("default mean %v", d.Mean)
	}
}

func TestImageFolderSplitsAndGray(t *testing.T) {
	root := t.TempDir()
	for _, split := range []string{"train", "val"} {
		for c, name := range []string{"b", "a"} {
			g := image.NewGray(image.Rect(0, 0, 5, 5))
			g.Pix[0] = uint8(100*c + len(split))
			writeFile(t, filepath.Join(root, split, name, "x.jpg"), jpegBytes(t, g))
		}
	}
	d, err := Open("imagefolder:"+root, Options{NoCache: true})
	if err != nil {
		t.Fatal(err)
	}
	if d.Train.N != 2 || d.Test == nil || d.Test.N != 2 || d.Train.C != 1 {
		t.Fatalf("train %d test %v C %d", d.Train.N, d.Test, d.Train.C)
	}
	if d.Test.Labels[0] != 0 || d.Test.Labels[1] != 1 || d.Classes[0] != "a" {
		t.Errorf("labels %v classes %v", d.Test.Labels, d.Classes)
	}
}

func TestImageFolderCache(t *testing.T) {
	root, cache, first := cachedFolder(t, 3)
	if first.Decoded != 6 || first.Cache == "" || len(first.Warnings) > 0 {
		t.Fatalf("first open: decoded %d cache %q warnings %v", first.Decoded, first.Cache, first.Warnings)
	}
	second, err := Open("imagefolder:"+root, Options{CacheDir: cache})
	if err != nil {
		t.Fatal(err)
	}
	if second.Decoded != 0 || second.Cache != first.Cache {
		t.Fatalf("second open decoded %d images (cache %q)", second.Decoded, second.Cache)
	}
	if !bytes.Equal(first.Train.Pixels, second.Train.Pixels) || strings.Join(first.Classes, ",") != strings.Join(second.Classes, ",") {
		t.Error("cached data differs")
	}
	for i, l := range first.Train.Labels {
		if second.Train.Labels[i] != l {
			t.Fatal("cached labels differ")
		}
	}
	entries, _ := os.ReadDir(cache)
	if len(entries) != 1 {
		t.Errorf("cache dir holds %d files, want 1 (no temporaries)", len(entries))
	}
	// A changed image invalidates the cache.
	p := filepath.Join(root, "y", "b.png")
	writeFile(t, p, pngBytes(t, testImage(4, 3, 200)))
	future := time.Now().Add(time.Hour)
	os.Chtimes(p, future, future)
	third, err := Open("imagefolder:"+root, Options{CacheDir: cache})
	if err != nil {
		t.Fatal(err)
	}
	if third.Decoded != 6 {
		t.Errorf("after a change: decoded %d, want 6", third.Decoded)
	}
	checkPixel(t, third.Train, 4, 200)
	// A corrupt cache file is ignored with a warning and rewritten.
	writeFile(t, third.Cache, []byte("garbage"))
	fourth, err := Open("imagefolder:"+root, Options{CacheDir: cache})
	if err != nil {
		t.Fatal(err)
	}
	if fourth.Decoded != 6 || len(fourth.Warnings) != 1 || !strings.Contains(fourth.Warnings[0], "wrong magic") {
		t.Errorf("corrupt cache: decoded %d warnings %q", fourth.Decoded, fourth.Warnings)
	}
	// XDG_CACHE_HOME is the default.
	xdg := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", xdg)
	d, err := Open("imagefolder:"+root, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(d.Cache, filepath.Join(xdg, "cnnctl")+string(filepath.Separator)) {
		t.Errorf("cache %q not under $XDG_CACHE_HOME/cnnctl", d.Cache)
	}
}

func TestImageFolderTarball(t *testing.T) {
	dir := t.TempDir()
	files := map[string][]byte{"train/": nil, "train/cat/": nil, "train/dog/": nil}
	for i := range 3 {
		files["train/cat/000"+string(rune('0'+i))+".jpg"] = jpegBytes(t, testImage(8, 8, 10))
		files["train/dog/000"+string(rune('0'+i))+".png"] = pngBytes(t, testImage(8, 8, 50))
	}
	files["train/dog/README"] = []byte("not an image")
	p := filepath.Join(dir, "pets.tar.gz")
	tarGz(t, p, files)
	cache := t.TempDir()
	d, err := Open("imagefolder:"+p, Options{CacheDir: cache, Workers: 3})
	if err != nil {
		t.Fatal(err)
	}
	if d.Train.N != 6 || d.Test != nil || strings.Join(d.Classes, ",") != "cat,dog" || d.Decoded != 6 {
		t.Fatalf("N %d classes %v decoded %d", d.Train.N, d.Classes, d.Decoded)
	}
	checkPixel(t, d.Train, 5, 50)
	// JPEG is lossy: near, not equal.
	if v := d.Train.Image(0)[1*8+2]; v < 9 || v > 15 {
		t.Errorf("jpeg pixel %d, want about 12", v)
	}
	again, err := Open("imagefolder:"+p, Options{CacheDir: cache})
	if err != nil || again.Decoded != 0 {
		t.Fatalf("second open: %v, decoded %d", err, again.Decoded)
	}
	// Under a common top folder too.
	nested := map[string][]byte{}
	for n, b := range files {
		nested["export/"+n] = b
	}
	tarGz(t, filepath.Join(dir, "nested.tgz"), nested)
	d, err = Open("imagefolder:"+filepath.Join(dir, "nested.tgz"), Options{NoCache: true})
	if err != nil || d.Train.N != 6 {
		t.Fatalf("nested: %v", err)
	}
}

func TestImageFolderErrors(t *testing.T) {
	t.Run("corrupt", func(t *testing.T) {
		root := t.TempDir()
		writeFolder(t, root, []string{"a", "b"}, 2)
		writeFile(t, filepath.Join(root, "b", "bad.png"), []byte("\x89PNG\r\n\x1a\nnot really"))
		writeFile(t, filepath.Join(root, "a", "text.jpg"), []byte("hello"))
		_, err := Open("imagefolder:"+root, Options{NoCache: true})
		wantErr(t, err, "a/text.jpg: not a JPEG or PNG image", "and 1 more bad images")
		d, err := Open("imagefolder:"+root, Options{NoCache: true, SkipBadImages: true})
		if err != nil {
			t.Fatal(err)
		}
		if d.Train.N != 4 || strings.Join(d.Skipped, ",") != "a/text.jpg,b/bad.png" {
			t.Errorf("N %d skipped %q", d.Train.N, d.Skipped)
		}
		checkPixel(t, d.Train, 3, 11)
		if d.Train.Labels[3] != 1 {
			t.Errorf("labels %v", d.Train.Labels)
		}
	})
	t.Run("empty class", func(t *testing.T) {
		root := t.TempDir()
		writeFolder(t, root, []string{"a"}, 1)
		os.MkdirAll(filepath.Join(root, "b"), 0o755)
		_, err := Open("imagefolder:"+root, Options{NoCache: true})
		wantErr(t, err, "empty class folder b")
	})
	t.Run("empty tar class", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "e.tar.gz")
		tarGz(t, p, map[string][]byte{"train/a/x.png": pngBytes(t, testImage(2, 2, 0)), "train/b/": nil})
		_, err := Open("imagefolder:"+p, Options{NoCache: true})
		wantErr(t, err, "empty class folder train/b")
	})
	t.Run("mixed sizes", func(t *testing.T) {
		root := t.TempDir()
		writeFolder(t, root, []string{"a"}, 2)
		writeFile(t, filepath.Join(root, "b", "big.png"), pngBytes(t, testImage(6, 5, 0)))
		_, err := Open("imagefolder:"+root, Options{NoCache: true})
		wantErr(t, err, "mixed image sizes", "a/a.png is 4x3", "b/big.png is 6x5")
	})
	t.Run("layout", func(t *testing.T) {
		root := t.TempDir()
		writeFolder(t, root, []string{"a"}, 1)
		writeFile(t, filepath.Join(root, "loose.png"), pngBytes(t, testImage(4, 3, 0)))
		_, err := Open("imagefolder:"+root, Options{NoCache: true})
		wantErr(t, err, "unexpected layout")
	})
	t.Run("no images", func(t *testing.T) {
		_, err := Open("imagefolder:"+t.TempDir(), Options{NoCache: true})
		wantErr(t, err, "no .jpg/.jpeg/.png images")
	})
	t.Run("unknown test class", func(t *testing.T) {
		root := t.TempDir()
		writeFolder(t, filepath.Join(root, "train"), []string{"a"}, 1)
		writeFolder(t, filepath.Join(root, "test"), []string{"z"}, 1)
		_, err := Open("imagefolder:"+root, Options{NoCache: true})
		wantErr(t, err, `test/z/a.png: class "z" is not among the train classes`)
	})
}

func TestSynthetic(t *testing.T) {
	d, err := Open("synthetic", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if d.Train.N != 1024 || d.Test.N != 256 || d.Train.C != 3 || d.Train.H != 32 || len(d.Classes) != 10 {
		t.Fatalf("default synthetic: %d %d %d %d %d", d.Train.N, d.Test.N, d.Train.C, d.Train.H, len(d.Classes))
	}
	e, _ := Open("synthetic", Options{})
	if !bytes.Equal(d.Train.Pixels, e.Train.Pixels) {
		t.Error("synthetic is not deterministic")
	}
	d, err = Open("synthetic:1x28x20", Options{SyntheticTrain: 30, SyntheticTest: 7, SyntheticClasses: 3, Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	if d.Train.N != 30 || d.Test.N != 7 || d.Train.C != 1 || d.Train.H != 28 || d.Train.W != 20 || len(d.Classes) != 3 {
		t.Fatalf("synthetic:1x28x20: %+v", d.Train.Stats("train", 3))
	}
	if err := d.Train.validate(3); err != nil {
		t.Error(err)
	}
	_, err = Open("synthetic:3x32", Options{})
	wantErr(t, err, "want CxHxW")
}

// TestImageFolderTestOnly: a folder or tarball holding only test/ (or val/)
// opens for evaluation: no training images, every image in the test split,
// classes from its folders; the cache keeps it so.
func TestImageFolderTestOnly(t *testing.T) {
	root := filepath.Join(t.TempDir(), "only-test")
	writeFolder(t, filepath.Join(root, "test"), []string{"b", "a", "c"}, 3)
	files := map[string][]byte{}
	for c, name := range []string{"b", "a"} {
		for i := range 4 {
			files["export/val/"+name+"/"+string(rune('a'+i))+".png"] = pngBytes(t, testImage(4, 3, uint8(10*c+i)))
		}
	}
	tgz := filepath.Join(t.TempDir(), "only-val.tar.gz")
	tarGz(t, tgz, files)
	cache := t.TempDir()
	for _, tc := range []struct {
		spec    string
		n       int
		classes string
	}{
		{"imagefolder:" + root, 9, "a,b,c"},
		{"imagefolder:" + tgz, 8, "a,b"},
	} {
		for _, pass := range []string{"decoded", "cached"} {
			d, err := Open(tc.spec, Options{CacheDir: cache})
			if err != nil {
				t.Fatalf("%s (%s): %v", tc.spec, pass, err)
			}
			if d.Train == nil || d.Train.N != 0 || d.Test == nil || d.Test.N != tc.n || strings.Join(d.Classes, ",") != tc.classes {
				t.Fatalf("%s (%s): train %v, test %v, classes %v; want 0 train, %d test, %s", tc.spec, pass, d.Train, d.Test, d.Classes, tc.n, tc.classes)
			}
			if pass == "cached" && d.Decoded != 0 {
				t.Errorf("%s: decoded %d images again, want the cache", tc.spec, d.Decoded)
			}
			if in := d.Info(); len(in.Splits) != 1 || in.Splits[0].Name != "test" || in.Splits[0].N != tc.n {
				t.Errorf("%s: info splits %+v, want only test with %d images", tc.spec, in.Splits, tc.n)
			}
		}
	}
	d, _ := Open("imagefolder:"+root, Options{NoCache: true})
	checkPixel(t, d.Test, 0, 10) // a/a.png: class b was written first, so a's base is 10
}

func TestSameSource(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		a, b string
		same bool
	}{
		{"cifar10:data", "cifar-10:" + filepath.Join(wd, "data"), true},
		{"cifar10:data", "cifar10:./data/", true},
		{"fashion-mnist", "fmnist:" + DefaultFashionMNISTDir, true},
		{"imagefolder:a", "imagefolder:b", false},
		{"cifar10:data", "imagefolder:data", false},
		{"synthetic", "synthetic:1x28x28", false},
	} {
		if got := SameSource(tc.a, tc.b); got != tc.same {
			t.Errorf("SameSource(%q, %q) = %v, want %v", tc.a, tc.b, got, tc.same)
		}
	}
}
