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
