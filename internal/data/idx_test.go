package data

import (
	"path/filepath"
	"testing"
)

// writeMNIST writes n train and m test 4x3 images whose pixels are the image
// index, labels index mod 10; gzipped or not.
func writeMNIST(t *testing.T, dir string, n, m int, gzipped bool) {
	for _, s := range []struct {
		prefix string
		n      int
	}{{"train", n}, {"t10k", m}} {
		pix := make([]byte, s.n*12)
		lab := make([]byte, s.n)
		for i := range s.n {
			for j := range 12 {
				pix[i*12+j] = byte(i)
			}
			lab[i] = byte(i % 10)
		}
		img, lbl := idxBytes([]int{s.n, 4, 3}, pix), idxBytes([]int{s.n}, lab)
		ext := ""
		if gzipped {
			img, lbl, ext = gz(t, img), gz(t, lbl), ".gz"
		}
		writeFile(t, filepath.Join(dir, s.prefix+"-images-idx3-ubyte"+ext), img)
		writeFile(t, filepath.Join(dir, s.prefix+"-labels-idx1-ubyte"+ext), lbl)
	}
}

func TestIDX(t *testing.T) {
	for _, gzipped := range []bool{false, true} {
		dir := t.TempDir()
		writeMNIST(t, dir, 13, 5, gzipped)
		for _, kind := range []string{"mnist", "fashion-mnist"} {
			d, err := Open(kind+":"+dir, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if d.Train.N != 13 || d.Test.N != 5 || d.Train.C != 1 || d.Train.H != 4 || d.Train.W != 3 {
				t.Fatalf("%s: shape %d %d %dx%dx%d", kind, d.Train.N, d.Test.N, d.Train.C, d.Train.H, d.Train.W)
			}
			if d.Train.Labels[12] != 2 || d.Train.Image(12)[11] != 12 || d.Test.Image(4)[0] != 4 {
				t.Errorf("%s: wrong contents", kind)
			}
			if kind == "mnist" && (d.Classes[3] != "3" || d.Mean[0] != 0.1307 || d.Std[0] != 0.3081) {
				t.Errorf("mnist classes %q norm %v %v", d.Classes, d.Mean, d.Std)
			}
			if kind == "fashion-mnist" && (d.Classes[0] != "T-shirt/top" || d.Classes[9] != "Ankle boot" || d.Mean[0] != 0.2860 || d.Std[0] != 0.3530) {
				t.Errorf("fashion classes %q norm %v %v", d.Classes, d.Mean, d.Std)
			}
		}
	}
}

func TestIDXErrors(t *testing.T) {
	cases := []struct {
		name  string
		file  string
		data  []byte
		parts []string
	}{
		{"magic", "train-images-idx3-ubyte", []byte{1, 2, 3, 4, 0, 0, 0, 0}, []string{"train-images-idx3-ubyte", "wrong magic 01020304"}},
		{"type", "train-images-idx3-ubyte", idxBytes([]int{2, 2, 2}, make([]byte, 8))[:2], []string{"truncated"}},
		{"float", "train-images-idx3-ubyte", append([]byte{0, 0, 0x0d, 3}, make([]byte, 12)...), []string{"element type 0x0d"}},
		{"dims", "train-images-idx3-ubyte", idxBytes([]int{13, 12}, make([]byte, 13*12)), []string{"2 dimensions, want 3"}},
		{"truncated", "train-images-idx3-ubyte", idxBytes([]int{13, 4, 3}, make([]byte, 13*12-1)), []string{"train-images-idx3-ubyte", "truncated: dims [13 4 3] need 156 bytes of data, file has 155"}},
		{"changed size byte", "train-images-idx3-ubyte", idxBytes([]int{13, 4, 2}, make([]byte, 13*12)), []string{"train-images-idx3-ubyte",
			"size mismatch: dims [13 4 2] need 104 bytes of data, file has 156; each of the 13 items would be 12 bytes, not the 8 that sizes [4 2] give: a size in the header is damaged"}},
		{"changed count byte", "train-images-idx3-ubyte", idxBytes([]int{12, 4, 3}, make([]byte, 13*12)), []string{"that is 13 items of [4 3], not the 12 the header counts"}},
		{"header", "train-labels-idx1-ubyte", []byte{0, 0, 8, 1, 0}, []string{"train-labels-idx1-ubyte", "truncated: header needs 8 bytes"}},
		{"count", "train-labels-idx1-ubyte", idxBytes([]int{12}, make([]byte, 12)), []string{"13 images", "12 labels"}},
		{"label", "t10k-labels-idx1-ubyte", idxBytes([]int{5}, []byte{0, 1, 2, 10, 4}), []string{"t10k-labels-idx1-ubyte", "label 10 of item 3 out of range [0,10)"}},
		{"gzip", "train-labels-idx1-ubyte", []byte{0x1f, 0x8b, 1, 2, 3}, []string{"train-labels-idx1-ubyte"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			writeMNIST(t, dir, 13, 5, false)
			writeFile(t, filepath.Join(dir, c.file), c.data)
			_, err := Open("mnist:"+dir, Options{})
			wantErr(t, err, c.parts...)
		})
	}
	t.Run("missing", func(t *testing.T) {
		_, err := Open("mnist:"+t.TempDir(), Options{})
		wantErr(t, err, "no train-images-idx3-ubyte[.gz]")
	})
}

func FuzzIDX(f *testing.F) {
	f.Add(idxBytes([]int{2, 2, 2}, make([]byte, 8)))
	f.Add(idxBytes([]int{3}, []byte{1, 2, 3}))
	f.Add([]byte{0, 0, 8, 3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{0, 0, 8})
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := parseIDX(b)
		if err != nil {
			return
		}
		n := 1
		for _, d := range a.dims {
			n *= d
		}
		if n != len(a.data) {
			t.Fatalf("dims %v but %d values", a.dims, len(a.data))
		}
	})
}
