package data

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// CIFAR-10 binary version: each record is one label byte then 3072 pixel
// bytes, the R, G and B planes of a 32x32 image.
const (
	cifarC, cifarH, cifarW = 3, 32, 32
	cifarRecord            = 1 + cifarC*cifarH*cifarW
	cifarTarball           = "cifar-10-binary.tar.gz"
)

var cifarTrainFiles = []string{"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin"}

const cifarTestFile, cifarMetaFile = "test_batch.bin", "batches.meta.txt"

var cifarClasses = []string{"airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"}

// openCIFAR10 reads the binary CIFAR-10 from a folder or a .tar.gz.
func openCIFAR10(p string) (*Dataset, error) {
	files, err := cifarFiles(p)
	if err != nil {
		return nil, err
	}
	var missing []string
	for _, name := range append(append([]string{}, cifarTrainFiles...), cifarTestFile) {
		if _, ok := files[name]; !ok {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("cifar10 %s: missing %s", p, strings.Join(missing, ", "))
	}
	classes := cifarClasses
	if meta, ok := files[cifarMetaFile]; ok {
		if classes, err = parseCIFARMeta(meta.data); err != nil {
			return nil, fmt.Errorf("%s: %w", meta.name, err)
		}
	}
	d := &Dataset{Classes: classes}
	var train []cifarFile
	for _, name := range cifarTrainFiles {
		train = append(train, files[name])
	}
	if d.Train, err = parseCIFARFiles(train, len(classes)); err != nil {
		return nil, err
	}
	if d.Test, err = parseCIFARFiles([]cifarFile{files[cifarTestFile]}, len(classes)); err != nil {
		return nil, err
	}
	return d, nil
}

type cifarFile struct {
	name string // for errors: the file path, or tarball:member
	data []byte
}

// cifarFiles loads the CIFAR-10 files, keyed by base name, from the folder p,
// p/cifar-10-batches-bin, p/cifar-10-binary.tar.gz, or the tarball p.
func cifarFiles(p string) (map[string]cifarFile, error) {
	st, err := os.Stat(p)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return cifarTar(p)
	}
	dir := p
	if _, err := os.Stat(filepath.Join(p, cifarTrainFiles[0])); err != nil {
		sub := filepath.Join(p, "cifar-10-batches-bin")
		if _, err := os.Stat(filepath.Join(sub, cifarTrainFiles[0])); err == nil {
			dir = sub
		} else if _, err := os.Stat(filepath.Join(p, cifarTarball)); err == nil {
			return cifarTar(filepath.Join(p, cifarTarball))
		} else {
			return nil, fmt.Errorf("cifar10 %s: no %s here, in cifar-10-batches-bin/ or in %s", p, cifarTrainFiles[0], cifarTarball)
		}
	}
	files := map[string]cifarFile{}
	for _, name := range append([]string{cifarMetaFile, cifarTestFile}, cifarTrainFiles...) {
		fp := filepath.Join(dir, name)
		b, err := os.ReadFile(fp)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		files[name] = cifarFile{fp, b}
	}
	return files, nil
}

// cifarTar reads the CIFAR-10 members of a .tar.gz (any folder inside).
func cifarTar(p string) (map[string]cifarFile, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("%s: not a .tar.gz: %w", p, err)
	}
	tr := tar.NewReader(zr)
	want := map[string]bool{cifarMetaFile: true, cifarTestFile: true}
	for _, n := range cifarTrainFiles {
		want[n] = true
	}
	files := map[string]cifarFile{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		base := path.Base(h.Name)
		if h.Typeflag != tar.TypeReg || !want[base] {
			continue
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", p, h.Name, err)
		}
		files[base] = cifarFile{p + ":" + h.Name, b}
	}
	return files, nil
}

func parseCIFARMeta(b []byte) ([]string, error) {
	var classes []string
	for _, line := range strings.Split(string(b), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			classes = append(classes, line)
		}
	}
	if len(classes) == 0 || len(classes) > 256 {
		return nil, fmt.Errorf("want 1 to 256 class names, one a line, found %d", len(classes))
	}
	return classes, nil
}

// parseCIFARFiles concatenates the records of several CIFAR binary files.
func parseCIFARFiles(files []cifarFile, numClasses int) (*Split, error) {
	n := 0
	for _, f := range files {
		if len(f.data)%cifarRecord != 0 || len(f.data) == 0 {
			return nil, fmt.Errorf("%s: size %d bytes is not a positive multiple of the %d-byte CIFAR-10 record", f.name, len(f.data), cifarRecord)
		}
		n += len(f.data) / cifarRecord
	}
	s := &Split{N: n, C: cifarC, H: cifarH, W: cifarW, Pixels: make([]uint8, n*(cifarRecord-1)), Labels: make([]int32, n)}
	i := 0
	for _, f := range files {
		m, err := parseCIFAR(f.data, numClasses, s.Pixels[i*(cifarRecord-1):], s.Labels[i:])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.name, err)
		}
		i += m
	}
	return s, nil
}

// parseCIFAR decodes the records in b into pixels (N,3,32,32) and labels (N),
// which must have room for them, and returns N.
func parseCIFAR(b []byte, numClasses int, pixels []uint8, labels []int32) (int, error) {
	if len(b)%cifarRecord != 0 {
		return 0, fmt.Errorf("size %d bytes is not a multiple of the %d-byte CIFAR-10 record", len(b), cifarRecord)
	}
	n := len(b) / cifarRecord
	if len(labels) < n || len(pixels) < n*(cifarRecord-1) {
		return 0, fmt.Errorf("%d records do not fit the destination", n)
	}
	for i := range n {
		rec := b[i*cifarRecord : (i+1)*cifarRecord]
		if int(rec[0]) >= numClasses {
			return 0, fmt.Errorf("record %d: label %d out of range [0,%d)", i, rec[0], numClasses)
		}
		labels[i] = int32(rec[0])
		copy(pixels[i*(cifarRecord-1):], rec[1:])
	}
	return n, nil
}
