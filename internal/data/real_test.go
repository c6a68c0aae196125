package data

import (
	"os"
	"slices"
	"testing"
	"time"
)

// TestRealCIFARJPEG opens the shared CIFAR-10 JPEG tarball named by
// $CNNCTL_CIFAR_JPEG, decoding it once and then from the cache.
func TestRealCIFARJPEG(t *testing.T) {
	p := os.Getenv("CNNCTL_CIFAR_JPEG")
	if p == "" {
		t.Skip("CNNCTL_CIFAR_JPEG not set (e.g. /work/shared/data/cifar10-train-jpeg.tar.gz)")
	}
	if _, err := os.Stat(p); err != nil {
		t.Skipf("CNNCTL_CIFAR_JPEG: %v", err)
	}
	cache := t.TempDir()
	for run, wantDecoded := range []int{50000, 0} {
		start := time.Now()
		d, err := Open("imagefolder:"+p, Options{CacheDir: cache})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("open %d: %v (decoded %d, cache %s)", run, time.Since(start), d.Decoded, d.Cache)
		if d.Decoded != wantDecoded {
			t.Errorf("open %d decoded %d images, want %d", run, d.Decoded, wantDecoded)
		}
		want := []string{"airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"}
		if !slices.Equal(d.Classes, want) {
			t.Errorf("classes %q", d.Classes)
		}
		if d.Train.N != 50000 || d.Train.C != 3 || d.Train.H != 32 || d.Train.W != 32 || d.Test != nil {
			t.Fatalf("shape %d x %dx%dx%d", d.Train.N, d.Train.C, d.Train.H, d.Train.W)
		}
		si := d.Train.Stats("train", 10)
		for c, n := range si.Counts {
			if n != 5000 {
				t.Errorf("class %s has %d images", d.Classes[c], n)
			}
		}
		t.Logf("mean %.4f std %.4f", si.Mean, si.Std)
		for c := range 3 {
			if d := si.Mean[c] - float64(d.Mean[c]); d > 0.01 || d < -0.01 {
				t.Errorf("channel %d mean %.4f far from the CIFAR-10 mean", c, si.Mean[c])
			}
		}
	}
}

// TestRealFashionMNIST opens Debian's dataset-fashion-mnist files when installed.
func TestRealFashionMNIST(t *testing.T) {
	if _, err := os.Stat(DefaultFashionMNISTDir); err != nil {
		t.Skipf("%v (apt-get install dataset-fashion-mnist)", err)
	}
	d, err := Open("fashion-mnist:", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if d.Train.N != 60000 || d.Test.N != 10000 || d.Train.C != 1 || d.Train.H != 28 || d.Train.W != 28 {
		t.Fatalf("shape %d/%d %dx%dx%d", d.Train.N, d.Test.N, d.Train.C, d.Train.H, d.Train.W)
	}
	si := d.Train.Stats("train", 10)
	for c, n := range si.Counts {
		if n != 6000 {
			t.Errorf("class %s has %d images", d.Classes[c], n)
		}
	}
	if m := si.Mean[0]; m < 0.28 || m > 0.29 {
		t.Errorf("mean %.4f, want about 0.2860", m)
	}
	t.Logf("mean %.4f std %.4f", si.Mean[0], si.Std[0])
}

// TestCIFARSubsetFixture checks the committed CIFAR-10 JPEG subset that
// scripts/test-accuracy.sh trains on against what testdata/README.md says:
// 400 train and 100 test images of each class, 3x32x32.
func TestCIFARSubsetFixture(t *testing.T) {
	d, err := Open("imagefolder:../../testdata/cifar10-jpeg-subset.tar.gz", Options{NoCache: true})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"}
	if !slices.Equal(d.Classes, want) {
		t.Errorf("classes %q, want %q", d.Classes, want)
	}
	for _, s := range []struct {
		name string
		sp   *Split
		per  int
	}{{"train", d.Train, 400}, {"test", d.Test, 100}} {
		if s.sp == nil {
			t.Fatalf("no %s split", s.name)
		}
		if s.sp.N != 10*s.per || s.sp.C != 3 || s.sp.H != 32 || s.sp.W != 32 {
			t.Fatalf("%s split: %d images of %dx%dx%d, want %d of 3x32x32", s.name, s.sp.N, s.sp.C, s.sp.H, s.sp.W, 10*s.per)
		}
		for c, n := range s.sp.Stats(s.name, 10).Counts {
			if n != s.per {
				t.Errorf("%s: class %s has %d images, want %d", s.name, want[c], n, s.per)
			}
		}
	}
}
