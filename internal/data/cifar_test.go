package data

import (
	"os"
	"path/filepath"
	"testing"
)

// writeCIFAR writes a small binary CIFAR-10 into dir: 3 records per train
// file, 2 in the test file, and a batches.meta.txt.
func writeCIFAR(t *testing.T, dir string) map[string][]byte {
	files := map[string][]byte{}
	for k, name := range cifarTrainFiles {
		files[name] = cifarRecords(3, func(i int) byte { return byte((3*k + i) % 10) })
	}
	files[cifarTestFile] = cifarRecords(2, func(i int) byte { return byte(9 - i) })
	files[cifarMetaFile] = []byte("a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n\n")
	for n, b := range files {
		writeFile(t, filepath.Join(dir, n), b)
	}
	return files
}

func checkCIFAR(t *testing.T, d *Dataset) {
	t.Helper()
	if d.Train.N != 15 || d.Test.N != 2 || d.Train.C != 3 || d.Train.H != 32 || d.Train.W != 32 {
		t.Fatalf("shapes: train %+v test %d", *d.Train, d.Test.N)
	}
	if len(d.Classes) != 10 || d.Classes[0] != "a" || d.Classes[9] != "j" {
		t.Errorf("classes %q", d.Classes)
	}
	for i := range 15 {
		if d.Train.Labels[i] != int32(i%10) {
			t.Errorf("train label %d = %d, want %d", i, d.Train.Labels[i], i%10)
		}
	}
	// Record 1 of data_batch_2 is train image 4: its G plane, pixel (0,0), is byte 1+1024.
	if got, want := d.Train.Image(4)[1024], byte((1*7+1+1024)%256); got != want {
		t.Errorf("pixel = %d, want %d", got, want)
	}
	if d.Test.Labels[0] != 9 || d.Test.Labels[1] != 8 {
		t.Errorf("test labels %v", d.Test.Labels)
	}
	if d.Mean[0] != 0.4914 || d.Std[2] != 0.2616 {
		t.Errorf("default norm %v %v", d.Mean, d.Std)
	}
}

func TestCIFAR10Folder(t *testing.T) {
	dir := t.TempDir()
	writeCIFAR(t, filepath.Join(dir, "cifar-10-batches-bin"))
	for _, p := range []string{dir, filepath.Join(dir, "cifar-10-batches-bin")} {
		d, err := Open("cifar10:"+p, Options{})
		if err != nil {
			t.Fatal(err)
		}
		checkCIFAR(t, d)
	}
}

func TestCIFAR10Tarball(t *testing.T) {
	dir := t.TempDir()
	files := writeCIFAR(t, filepath.Join(dir, "x"))
	members := map[string][]byte{"cifar-10-batches-bin/": nil, "cifar-10-batches-bin/readme.html": []byte("hi")}
	for n, b := range files {
		members["cifar-10-batches-bin/"+n] = b
	}
	tarGz(t, filepath.Join(dir, "y", cifarTarball), members)
	for _, p := range []string{filepath.Join(dir, "y", cifarTarball), filepath.Join(dir, "y")} {
		d, err := Open("cifar10:"+p, Options{})
		if err != nil {
			t.Fatal(err)
		}
		checkCIFAR(t, d)
	}
}

func TestCIFAR10Errors(t *testing.T) {
	t.Run("missing path", func(t *testing.T) {
		_, err := Open("cifar10:"+filepath.Join(t.TempDir(), "nope"), Options{})
		wantErr(t, err, "nope", "no such file")
	})
	t.Run("no path", func(t *testing.T) {
		_, err := Open("cifar10:", Options{})
		wantErr(t, err, "needs a path")
	})
	t.Run("missing file", func(t *testing.T) {
		dir := t.TempDir()
		writeCIFAR(t, dir)
		os.Remove(filepath.Join(dir, "data_batch_3.bin"))
		_, err := Open("cifar10:"+dir, Options{})
		wantErr(t, err, "missing data_batch_3.bin")
	})
	t.Run("size", func(t *testing.T) {
		dir := t.TempDir()
		writeCIFAR(t, dir)
		writeFile(t, filepath.Join(dir, "data_batch_2.bin"), cifarRecords(2, func(int) byte { return 0 })[:2*cifarRecord-5])
		_, err := Open("cifar10:"+dir, Options{})
		wantErr(t, err, "data_batch_2.bin", "6141 bytes", "multiple of the 3073-byte")
	})
	t.Run("label", func(t *testing.T) {
		dir := t.TempDir()
		writeCIFAR(t, dir)
		writeFile(t, filepath.Join(dir, cifarTestFile), cifarRecords(2, func(i int) byte { return byte(10 * i) }))
		_, err := Open("cifar10:"+dir, Options{})
		wantErr(t, err, "test_batch.bin", "record 1: label 10 out of range [0,10)")
	})
	t.Run("not gzip", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "c.tar.gz")
		writeFile(t, p, []byte("plain text"))
		_, err := Open("cifar10:"+p, Options{})
		wantErr(t, err, "c.tar.gz", "not a .tar.gz")
	})
	t.Run("unknown kind", func(t *testing.T) {
		_, err := Open("cifar100:/x", Options{})
		wantErr(t, err, `unknown kind "cifar100"`)
	})
}

func FuzzCIFAR(f *testing.F) {
	f.Add(cifarRecords(1, func(int) byte { return 3 }))
	f.Add(cifarRecords(2, func(i int) byte { return byte(11 * i) }))
	f.Add([]byte{})
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		n := len(b) / cifarRecord
		pix, lab := make([]uint8, n*(cifarRecord-1)), make([]int32, n)
		m, err := parseCIFAR(b, 10, pix, lab)
		if err == nil && (m != n || len(b)%cifarRecord != 0) {
			t.Fatalf("accepted %d bytes as %d records", len(b), m)
		}
		if _, err := parseCIFARFiles([]cifarFile{{"fuzz", b}}, 10); err == nil {
			if len(b) == 0 || len(b)%cifarRecord != 0 {
				t.Fatalf("accepted %d bytes", len(b))
			}
		}
	})
}
