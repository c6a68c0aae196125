// Package data reads the image classification data sets cnnctl trains on and
// turns them into normalised, augmented batches.
//
// A data set is named by a spec KIND:PATH:
//
//	cifar10:PATH        the official binary version: a folder holding
//	                    data_batch_1..5.bin, test_batch.bin and
//	                    batches.meta.txt, a folder holding cifar-10-batches-bin/
//	                    or cifar-10-binary.tar.gz, or the .tar.gz itself
//	mnist:PATH          IDX files train-images-idx3-ubyte, train-labels-idx1-ubyte,
//	fashion-mnist:PATH  t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte, each
//	                    plain or gzipped (.gz); fashion-mnist defaults to
//	                    /usr/share/datasets/fashion-mnist (Debian's
//	                    dataset-fashion-mnist package)
//	imagefolder:PATH    PATH/<class>/*.{jpg,jpeg,png}, or PATH/train/<class>/…
//	                    with an optional PATH/test/ (or val/), or a .tar.gz of
//	                    either tree; decoded once and cached (see Options.CacheDir)
//	synthetic[:CxHxW]   seeded random images, default 3x32x32, 10 classes,
//	                    1024 train and 256 test images
//
// Every split is held in memory as uint8 pixels (N,C,H,W) and int32 labels (N).
package data

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Split is one split of a data set, held in memory.
type Split struct {
	N, C, H, W int
	Pixels     []uint8 // (N,C,H,W)
	Labels     []int32 // (N), in [0, len(Dataset.Classes))
}

// Dataset is an opened data set.
type Dataset struct {
	Kind    string // cifar10, mnist, fashion-mnist, imagefolder, synthetic
	Name    string // the spec it was opened with
	Path    string // the resolved source path ("" for synthetic)
	Classes []string
	Train   *Split
	Test    *Split // nil when the source has no test split

	// Mean and Std are the default per-channel normalisation (pixel/255
	// units) for this data set; see DefaultNorm.
	Mean, Std []float32

	// Decoded is the number of images decoded by this Open (imagefolder:
	// 0 when the cache was used), Cache the cache file used or written
	// ("" when none), Skipped the bad images left out under SkipBadImages.
	Decoded int
	Cache   string
	Skipped []string
	// Warnings are problems that did not stop Open (an unreadable or
	// unwritable cache); the caller should show them.
	Warnings []string
}

// Options controls Open. The zero value is usable.
type Options struct {
	// CacheDir holds the decoded imagefolder cache. Empty: $XDG_CACHE_HOME/cnnctl,
	// else the user cache directory (os.UserCacheDir)/cnnctl.
	CacheDir string
	// NoCache disables reading and writing the imagefolder cache.
	NoCache bool
	// SkipBadImages leaves out images that fail to decode (listed in
	// Dataset.Skipped) instead of failing.
	SkipBadImages bool
	// Workers is the number of decoding goroutines; 0 means GOMAXPROCS.
	Workers int
	// Seed, SyntheticTrain, SyntheticTest and SyntheticClasses shape the
	// synthetic data set (defaults 1, 1024, 256, 10).
	Seed             int64
	SyntheticTrain   int
	SyntheticTest    int
	SyntheticClasses int
}

// DefaultFashionMNISTDir is where Debian's dataset-fashion-mnist installs the files.
const DefaultFashionMNISTDir = "/usr/share/datasets/fashion-mnist"

// Kinds lists the data set kinds Open accepts.
var Kinds = []string{"cifar10", "mnist", "fashion-mnist", "imagefolder", "synthetic"}

// Open opens the data set named by spec (KIND:PATH, see the package comment).
func Open(spec string, opts Options) (*Dataset, error) {
	kind, path, _ := strings.Cut(spec, ":")
	kind = strings.ToLower(strings.TrimSpace(kind))
	var d *Dataset
	var err error
	switch kind {
	case "synthetic":
		d, err = openSynthetic(path, opts)
	case "cifar10", "cifar-10":
		kind = "cifar10"
		if path, err = needPath(kind, path); err == nil {
			d, err = openCIFAR10(path)
		}
	case "mnist":
		if path, err = needPath(kind, path); err == nil {
			d, err = openIDX(path, mnistClasses)
		}
	case "fashion-mnist", "fashionmnist", "fmnist":
		kind = "fashion-mnist"
		if path == "" {
			path = DefaultFashionMNISTDir
		}
		d, err = openIDX(path, fashionClasses)
	case "imagefolder":
		if path, err = needPath(kind, path); err == nil {
			d, err = openImageFolder(path, opts)
		}
	default:
		return nil, fmt.Errorf("open data %q: unknown kind %q (want one of %s)", spec, kind, strings.Join(Kinds, ", "))
	}
	if err != nil {
		return nil, fmt.Errorf("open data %q: %w", spec, err)
	}
	d.Kind, d.Name = kind, spec
	if kind != "synthetic" {
		d.Path = path
	}
	d.Mean, d.Std = DefaultNorm(kind, d.Train.C, d.Train.H, d.Train.W)
	return d, nil
}

func needPath(kind, path string) (string, error) {
	if path == "" {
		return "", fmt.Errorf("%s needs a path: %s:PATH", kind, kind)
	}
	if strings.HasPrefix(path, "~/") {
		if home, err := os.UserHomeDir(); err == nil {
			path = filepath.Join(home, path[2:])
		}
	}
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("%s: %w", kind, err)
	}
	return path, nil
}

// DefaultNorm gives the default per-channel mean and std (in pixel/255 units)
// for a data set kind and image shape:
//
//	cifar10, and 3x32x32 imagefolder/synthetic: mean (0.4914, 0.4822, 0.4465), std (0.2470, 0.2435, 0.2616)
//	mnist:                                      mean 0.1307, std 0.3081
//	fashion-mnist:                              mean 0.2860, std 0.3530
//	other 3-channel imagefolder (ImageNet):     mean (0.485, 0.456, 0.406), std (0.229, 0.224, 0.225)
//	anything else:                              mean 0.5, std 0.5 per channel
func DefaultNorm(kind string, c, h, w int) (mean, std []float32) {
	switch {
	case kind == "cifar10" || (c == 3 && h == 32 && w == 32):
		return []float32{0.4914, 0.4822, 0.4465}, []float32{0.2470, 0.2435, 0.2616}
	case kind == "mnist" && c == 1:
		return []float32{0.1307}, []float32{0.3081}
	case kind == "fashion-mnist" && c == 1:
		return []float32{0.2860}, []float32{0.3530}
	case kind == "imagefolder" && c == 3:
		return []float32{0.485, 0.456, 0.406}, []float32{0.229, 0.224, 0.225}
	}
	mean, std = make([]float32, c), make([]float32, c)
	for i := range mean {
		mean[i], std[i] = 0.5, 0.5
	}
	return mean, std
}

// validate checks a split's shape and labels against the class count.
func (s *Split) validate(numClasses int) error {
	if s.N < 0 || s.C <= 0 || s.H <= 0 || s.W <= 0 {
		return fmt.Errorf("bad shape %dx%dx%dx%d", s.N, s.C, s.H, s.W)
	}
	if len(s.Pixels) != s.N*s.C*s.H*s.W || len(s.Labels) != s.N {
		return fmt.Errorf("%d images of %dx%dx%d but %d pixel bytes and %d labels", s.N, s.C, s.H, s.W, len(s.Pixels), len(s.Labels))
	}
	for i, l := range s.Labels {
		if l < 0 || int(l) >= numClasses {
			return fmt.Errorf("label %d of image %d out of range [0,%d)", l, i, numClasses)
		}
	}
	return nil
}

// Image returns image i's pixels (C,H,W); the slice aliases the split.
func (s *Split) Image(i int) []uint8 {
	n := s.C * s.H * s.W
	return s.Pixels[i*n : (i+1)*n]
}

// Subset returns a new split holding the images at idx, in that order.
func (s *Split) Subset(idx []int) *Split {
	n := s.C * s.H * s.W
	out := &Split{N: len(idx), C: s.C, H: s.H, W: s.W, Pixels: make([]uint8, len(idx)*n), Labels: make([]int32, len(idx))}
	for j, i := range idx {
		copy(out.Pixels[j*n:(j+1)*n], s.Pixels[i*n:(i+1)*n])
		out.Labels[j] = s.Labels[i]
	}
	return out
}

// SameSource reports whether two specs name the same data set: the same kind
// (aliases such as cifar-10 or fmnist count as theirs) and the same path once
// made absolute ("~/" expanded, fashion-mnist's default filled in).
func SameSource(a, b string) bool {
	return canonical(a) == canonical(b)
}

func canonical(spec string) string {
	kind, p, _ := strings.Cut(spec, ":")
	kind = strings.ToLower(strings.TrimSpace(kind))
	switch kind {
	case "cifar-10":
		kind = "cifar10"
	case "fashionmnist", "fmnist":
		kind = "fashion-mnist"
	}
	if kind == "synthetic" {
		return kind + ":" + p
	}
	if kind == "fashion-mnist" && p == "" {
		p = DefaultFashionMNISTDir
	}
	if strings.HasPrefix(p, "~/") {
		if home, err := os.UserHomeDir(); err == nil {
			p = filepath.Join(home, p[2:])
		}
	}
	if abs, err := filepath.Abs(p); err == nil && p != "" {
		p = abs
	}
	return kind + ":" + filepath.Clean(p)
}
