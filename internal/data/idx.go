package data

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

var (
	mnistClasses   = []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}
	fashionClasses = []string{"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"}
)

// maxIDXBytes bounds what an IDX file may claim, and a gzipped one expand to.
const maxIDXBytes = 1 << 32

// openIDX reads MNIST-style IDX files from the folder p (or p/raw).
func openIDX(p string, classes []string) (*Dataset, error) {
	st, err := os.Stat(p)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("%s is not a folder of IDX files", p)
	}
	dir := p
	if findIDX(p, "train-images", "idx3") == "" && findIDX(filepath.Join(p, "raw"), "train-images", "idx3") != "" {
		dir = filepath.Join(p, "raw")
	}
	d := &Dataset{Classes: classes}
	if d.Train, err = readIDXSplit(dir, "train", len(classes)); err != nil {
		return nil, err
	}
	if d.Test, err = readIDXSplit(dir, "t10k", len(classes)); err != nil {
		return nil, err
	}
	return d, nil
}

// findIDX finds prefix-kind-ubyte (or prefix.kind-ubyte), plain or .gz, in dir.
func findIDX(dir, prefix, kind string) string {
	for _, sep := range []string{"-", "."} {
		for _, ext := range []string{"", ".gz"} {
			fp := filepath.Join(dir, prefix+sep+kind+"-ubyte"+ext)
			if st, err := os.Stat(fp); err == nil && !st.IsDir() {
				return fp
			}
		}
	}
	return ""
}

func readIDXSplit(dir, prefix string, numClasses int) (*Split, error) {
	imgPath := findIDX(dir, prefix+"-images", "idx3")
	if imgPath == "" {
		return nil, fmt.Errorf("%s: no %s-images-idx3-ubyte[.gz]", dir, prefix)
	}
	lblPath := findIDX(dir, prefix+"-labels", "idx1")
	if lblPath == "" {
		return nil, fmt.Errorf("%s: no %s-labels-idx1-ubyte[.gz]", dir, prefix)
	}
	imgs, err := readIDXFile(imgPath, 3)
	if err != nil {
		return nil, err
	}
	lbls, err := readIDXFile(lblPath, 1)
	if err != nil {
		return nil, err
	}
	if imgs.dims[0] != lbls.dims[0] {
		return nil, fmt.Errorf("%s has %d images but %s has %d labels", imgPath, imgs.dims[0], lblPath, lbls.dims[0])
	}
	n := imgs.dims[0]
	s := &Split{N: n, C: 1, H: imgs.dims[1], W: imgs.dims[2], Pixels: imgs.data, Labels: make([]int32, n)}
	for i, l := range lbls.data {
		if int(l) >= numClasses {
			return nil, fmt.Errorf("%s: label %d of item %d out of range [0,%d)", lblPath, l, i, numClasses)
		}
		s.Labels[i] = int32(l)
	}
	return s, nil
}

type idxArray struct {
	dims []int
	data []byte // the values, aliasing the input
}

func readIDXFile(p string, ndim int) (*idxArray, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	if len(b) >= 2 && b[0] == 0x1f && b[1] == 0x8b {
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		if b, err = io.ReadAll(io.LimitReader(zr, maxIDXBytes+1)); err != nil {
			return nil, fmt.Errorf("%s: gunzip: %w", p, err)
		}
	}
	a, err := parseIDX(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	if len(a.dims) != ndim {
		return nil, fmt.Errorf("%s: has %d dimensions, want %d", p, len(a.dims), ndim)
	}
	return a, nil
}

// parseIDX decodes an IDX file of unsigned bytes: magic 0x00 0x00 0x08 NDIM,
// then NDIM big-endian uint32 sizes, then the values.
func parseIDX(b []byte) (*idxArray, error) {
	if len(b) < 4 {
		return nil, errors.New("truncated: shorter than the 4-byte IDX magic")
	}
	if b[0] != 0 || b[1] != 0 {
		return nil, fmt.Errorf("wrong magic %02x%02x%02x%02x: not an IDX file (want 000008NN)", b[0], b[1], b[2], b[3])
	}
	if b[2] != 0x08 {
		return nil, fmt.Errorf("wrong magic %02x%02x%02x%02x: element type 0x%02x, only unsigned bytes (0x08) are supported", b[0], b[1], b[2], b[3], b[2])
	}
	ndim := int(b[3])
	if ndim < 1 || ndim > 4 {
		return nil, fmt.Errorf("wrong magic %02x%02x%02x%02x: %d dimensions, want 1 to 4", b[0], b[1], b[2], b[3], ndim)
	}
	if len(b) < 4+4*ndim {
		return nil, fmt.Errorf("truncated: header needs %d bytes, file has %d", 4+4*ndim, len(b))
	}
	dims := make([]int, ndim)
	total := uint64(1)
	for i := range dims {
		v := binary.BigEndian.Uint32(b[4+4*i:])
		dims[i] = int(v)
		if i > 0 && v == 0 {
			return nil, fmt.Errorf("bad dims %v: zero size", dims[:i+1])
		}
		total *= uint64(v)
		if total > maxIDXBytes {
			return nil, fmt.Errorf("bad dims: more than %d values", uint64(maxIDXBytes))
		}
	}
	data := b[4+4*ndim:]
	if n := uint64(len(data)); n != total {
		what := "truncated"
		if n > total {
			what = "size mismatch"
		}
		return nil, fmt.Errorf("%s: dims %v need %d bytes of data, file has %d%s", what, dims, total, n, idxHint(dims, n))
	}
	return &idxArray{dims: dims, data: data}, nil
}

// idxHint says which size in the header looks damaged when the data holds
// a whole number of items of another size, or another count of items.
func idxHint(dims []int, n uint64) string {
	if len(dims) < 2 || dims[0] == 0 {
		return ""
	}
	per := uint64(1)
	for _, d := range dims[1:] {
		per *= uint64(d)
	}
	switch {
	case per > 0 && n%per == 0:
		return fmt.Sprintf("; that is %d items of %v, not the %d the header counts: the count in the header is damaged, or the file was cut or appended to", n/per, dims[1:], dims[0])
	case n%uint64(dims[0]) == 0:
		return fmt.Sprintf("; each of the %d items would be %d bytes, not the %d that sizes %v give: a size in the header is damaged (or the file is not of this data set)", dims[0], n/uint64(dims[0]), per, dims[1:])
	}
	return "; the file was cut short or appended to: download it again"
}
