package data

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
)

// imageExts are the file name endings an imagefolder reads (case-insensitive);
// other files, and names starting with a dot, are ignored.
var imageExts = []string{".jpg", ".jpeg", ".png"}

// splitNames are the folder names of an imagefolder with splits; test falls
// back to val when there is no test folder.
var splitNames = []string{"train", "test", "val"}

// imgFile is one image of an imagefolder.
type imgFile struct {
	rel   string // slash-separated, relative to the source, for errors
	path  string // on disk ("" inside a tarball)
	data  []byte // contents (tarball only)
	split string
	class string
	label int32
}

// source lists what an imagefolder path holds.
type source struct {
	files []imgFile
	dirs  []string // slash-separated folders, relative to the source
}

func openImageFolder(p string, opts Options) (*Dataset, error) {
	st, err := os.Stat(p)
	if err != nil {
		return nil, err
	}
	isTar := !st.IsDir()
	if isTar && !isTarGz(p) {
		return nil, fmt.Errorf("imagefolder %s: not a folder or a .tar.gz", p)
	}

	// The cache key comes from the tarball's stat, or every file's stat.
	var src *source
	var key string
	if isTar {
		key, err = cacheKey(p, opts, func(h io.Writer) error {
			fmt.Fprintf(h, "file %d %d\n", st.Size(), st.ModTime().UnixNano())
			return nil
		})
	} else {
		if src, err = listDir(p); err != nil {
			return nil, err
		}
		key, err = cacheKey(p, opts, func(h io.Writer) error {
			for _, f := range src.files {
				fi, err := os.Stat(f.path)
				if err != nil {
					return err
				}
				fmt.Fprintf(h, "%s %d %d\n", f.rel, fi.Size(), fi.ModTime().UnixNano())
			}
			return nil
		})
	}
	if err != nil {
		return nil, err
	}

	var warnings []string
	cachePath := ""
	if !opts.NoCache {
		dir, err := cacheDir(opts)
		if err != nil {
			warnings = append(warnings, fmt.Sprintf("no image cache: %v", err))
		} else {
			warnings = append(warnings, removeStaleTemps(dir)...)
			cachePath = filepath.Join(dir, "imagefolder-"+key+".bin")
			d, err := readCache(cachePath)
			if err == nil {
				d.Cache = cachePath
				d.Warnings = warnings
				return d, nil
			}
			if !errors.Is(err, fs.ErrNotExist) {
				warnings = append(warnings, fmt.Sprintf("ignoring image cache: %v", err))
			}
		}
	}

	if isTar {
		if src, err = listTar(p); err != nil {
			return nil, err
		}
	}
	d, err := decodeSource(p, src, opts)
	if err != nil {
		return nil, err
	}
	d.Warnings = append(warnings, d.Warnings...)
	if cachePath != "" {
		if err := writeCache(cachePath, d); err != nil {
			d.Warnings = append(d.Warnings, fmt.Sprintf("image cache not written: %v", err))
		} else {
			d.Cache = cachePath
		}
	}
	return d, nil
}

func isTarGz(p string) bool {
	l := strings.ToLower(p)
	return strings.HasSuffix(l, ".tar.gz") || strings.HasSuffix(l, ".tgz")
}

func isImageName(name string) bool {
	if strings.HasPrefix(name, ".") {
		return false
	}
	ext := strings.ToLower(path.Ext(name))
	return slices.Contains(imageExts, ext)
}

func listDir(root string) (*source, error) {
	src := &source{}
	err := filepath.WalkDir(root, func(fp string, de fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, fp)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if de.IsDir() {
			if rel != "." && strings.HasPrefix(de.Name(), ".") {
				return filepath.SkipDir
			}
			if rel != "." {
				src.dirs = append(src.dirs, rel)
			}
			return nil
		}
		if isImageName(de.Name()) {
			src.files = append(src.files, imgFile{rel: rel, path: fp})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("imagefolder: %w", err)
	}
	return src, nil
}

func listTar(p string) (*source, error) {
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
	src := &source{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		name := strings.TrimPrefix(path.Clean(strings.TrimPrefix(h.Name, "./")), "/")
		switch h.Typeflag {
		case tar.TypeDir:
			if name != "." {
				src.dirs = append(src.dirs, name)
			}
		case tar.TypeReg:
			if !isImageName(path.Base(name)) {
				continue
			}
			b, err := io.ReadAll(tr)
			if err != nil {
				return nil, fmt.Errorf("%s: %s: %w", p, h.Name, err)
			}
			src.files = append(src.files, imgFile{rel: name, data: b})
		}
	}
	return src, nil
}

// assignLayout finds the class and split of every file: the tree is
// <class>/<image> or <split>/<class>/<image>, below any single common folder.
// It returns the sorted class names and the files of each split.
func (src *source) assignLayout(root string) (classes []string, train, test []imgFile, err error) {
	if len(src.files) == 0 {
		return nil, nil, nil, fmt.Errorf("imagefolder %s: no %s images", root, strings.Join(imageExts, "/"))
	}
	parts := make([][]string, len(src.files))
	for i, f := range src.files {
		parts[i] = strings.Split(f.rel, "/")
	}
	// Strip common leading folders that are not split names.
	prefix := 0
	for {
		first := parts[0][prefix]
		all := !slices.Contains(splitNames, first)
		for _, ps := range parts {
			if len(ps)-prefix < 3 || ps[prefix] != first {
				all = false
				break
			}
		}
		if !all {
			break
		}
		prefix++
	}
	depth := len(parts[0]) - prefix
	for i, ps := range parts {
		if len(ps)-prefix != depth || (depth == 3 && !slices.Contains(splitNames, ps[prefix])) || depth < 2 || depth > 3 {
			return nil, nil, nil, fmt.Errorf("imagefolder %s: unexpected layout at %s: want <class>/<image> or train|test|val/<class>/<image> throughout", root, src.files[i].rel)
		}
	}
	stripped := strings.Join(parts[0][:prefix], "/")
	counts := map[string]int{} // "split/class" → images
	for i := range src.files {
		ps := parts[i][prefix:]
		if depth == 2 {
			src.files[i].split, src.files[i].class = "train", ps[0]
		} else {
			src.files[i].split, src.files[i].class = ps[0], ps[1]
		}
		counts[src.files[i].split+"/"+src.files[i].class]++
	}
	// Class folders without images.
	for _, dir := range src.dirs {
		rel, ok := strings.CutPrefix(dir, stripped)
		if stripped != "" && (!ok || !strings.HasPrefix(rel, "/")) {
			continue
		}
		ps := strings.Split(strings.TrimPrefix(rel, "/"), "/")
		key := ""
		switch {
		case depth == 2 && len(ps) == 1:
			key = "train/" + ps[0]
		case depth == 3 && len(ps) == 2 && slices.Contains(splitNames, ps[0]):
			key = ps[0] + "/" + ps[1]
		default:
			continue
		}
		if counts[key] == 0 {
			return nil, nil, nil, fmt.Errorf("imagefolder %s: empty class folder %s (no %s images)", root, dir, strings.Join(imageExts, "/"))
		}
	}
	testName := "test"
	if depth == 3 && !hasSplit(src.files, "test") {
		testName = "val"
	}
	// The classes are the train/ folders'; a tree with only test/ (or val/),
	// for evaluation, takes them from there.
	classSplit := "train"
	if !hasSplit(src.files, "train") {
		classSplit = testName
	}
	seen := map[string]bool{}
	for _, f := range src.files {
		if f.split == classSplit && !seen[f.class] {
			seen[f.class] = true
			classes = append(classes, f.class)
		}
	}
	if len(classes) == 0 {
		return nil, nil, nil, fmt.Errorf("imagefolder %s: no train/, test/ or val/ images", root)
	}
	sort.Strings(classes)
	index := map[string]int32{}
	for i, c := range classes {
		index[c] = int32(i)
	}
	for _, f := range src.files {
		switch f.split {
		case "train":
			f.label = index[f.class]
			train = append(train, f)
		case testName:
			l, ok := index[f.class]
			if !ok {
				return nil, nil, nil, fmt.Errorf("imagefolder %s: %s: class %q is not among the train classes", root, f.rel, f.class)
			}
			f.label = l
			test = append(test, f)
		}
	}
	byLabel := func(s []imgFile) {
		sort.Slice(s, func(i, j int) bool {
			if s[i].label != s[j].label {
				return s[i].label < s[j].label
			}
			return s[i].rel < s[j].rel
		})
	}
	byLabel(train)
	byLabel(test)
	return classes, train, test, nil
}

func hasSplit(files []imgFile, split string) bool {
	for _, f := range files {
		if f.split == split {
			return true
		}
	}
	return false
}

// decodeSource decodes every image, in parallel, into (N,C,H,W) splits.
func decodeSource(root string, src *source, opts Options) (*Dataset, error) {
	classes, trainFiles, testFiles, err := src.assignLayout(root)
	if err != nil {
		return nil, err
	}
	workers := opts.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	// The first decodable image fixes the size.
	h, w := 0, 0
	var firstErr error
	for _, f := range slices.Concat(trainFiles, testFiles) {
		img, err := decodeFile(f)
		if err != nil {
			if !opts.SkipBadImages {
				return nil, fmt.Errorf("imagefolder %s: %w", root, err)
			}
			firstErr = err
			continue
		}
		b := img.Bounds()
		h, w = b.Dy(), b.Dx()
		break
	}
	if h == 0 || w == 0 {
		return nil, fmt.Errorf("imagefolder %s: no image decodes: %v", root, firstErr)
	}

	d := &Dataset{Classes: classes}
	type job struct {
		f   imgFile
		dst []uint8 // (3,H,W)
	}
	type result struct {
		err  error
		h, w int
		gray bool
	}
	var jobs []job
	var trainPix, testPix []uint8
	trainPix = make([]uint8, len(trainFiles)*3*h*w)
	for i, f := range trainFiles {
		jobs = append(jobs, job{f, trainPix[i*3*h*w : (i+1)*3*h*w]})
	}
	if len(testFiles) > 0 {
		testPix = make([]uint8, len(testFiles)*3*h*w)
		for i, f := range testFiles {
			jobs = append(jobs, job{f, testPix[i*3*h*w : (i+1)*3*h*w]})
		}
	}
	results := make([]result, len(jobs))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(jobs) {
					return
				}
				img, err := decodeFile(jobs[i].f)
				if err != nil {
					results[i].err = err
					continue
				}
				b := img.Bounds()
				results[i].h, results[i].w = b.Dy(), b.Dx()
				if b.Dy() != h || b.Dx() != w {
					continue
				}
				results[i].gray = toPlanes(jobs[i].dst, img)
			}
		}()
	}
	wg.Wait()

	// Mixed sizes: name one file of each size.
	sizes := map[[2]int]string{}
	var order [][2]int
	var bad []string
	var firstBad error
	allGray := true
	for i, r := range results {
		if r.err != nil {
			bad = append(bad, jobs[i].f.rel)
			if firstBad == nil {
				firstBad = r.err
			}
			continue
		}
		d.Decoded++
		k := [2]int{r.w, r.h}
		if _, ok := sizes[k]; !ok {
			sizes[k] = jobs[i].f.rel
			order = append(order, k)
		}
		allGray = allGray && r.gray
	}
	if len(bad) > 0 && !opts.SkipBadImages {
		more := ""
		if len(bad) > 1 {
			more = fmt.Sprintf(" (and %d more bad images)", len(bad)-1)
		}
		return nil, fmt.Errorf("imagefolder %s: %w%s; remove the file, or pass --skip-bad-images to leave bad images out", root, firstBad, more)
	}
	if len(order) > 1 {
		var msg []string
		for _, k := range order {
			msg = append(msg, fmt.Sprintf("%s is %dx%d", sizes[k], k[0], k[1]))
		}
		return nil, fmt.Errorf("imagefolder %s: mixed image sizes, all must be one size: %s", root, strings.Join(msg, ", "))
	}
	d.Skipped = bad

	c := 3
	if allGray {
		c = 1
	}
	build := func(files []imgFile, pix []uint8, res []result) *Split {
		s := &Split{C: c, H: h, W: w}
		n := 0
		for i, f := range files {
			if res[i].err != nil {
				continue
			}
			src := pix[i*3*h*w : i*3*h*w+c*h*w]
			copy(pix[n*c*h*w:], src)
			s.Labels = append(s.Labels, f.label)
			n++
		}
		s.N, s.Pixels = n, pix[:n*c*h*w:n*c*h*w]
		return s
	}
	d.Train = build(trainFiles, trainPix, results[:len(trainFiles)])
	if len(testFiles) > 0 {
		d.Test = build(testFiles, testPix, results[len(trainFiles):])
	}
	if d.Train.N == 0 && (d.Test == nil || d.Test.N == 0) {
		return nil, fmt.Errorf("imagefolder %s: no image decodes", root)
	}
	if len(bad) > 0 {
		d.Warnings = append(d.Warnings, emptiedClasses(d.Train, d.Classes, "train")...)
		if d.Test != nil {
			d.Warnings = append(d.Warnings, emptiedClasses(d.Test, d.Classes, "test")...)
		}
	}
	return d, nil
}

// decodeFile decodes a JPEG or PNG file, telling them apart by their magic.
func decodeFile(f imgFile) (image.Image, error) {
	b := f.data
	if f.path != "" {
		var err error
		if b, err = os.ReadFile(f.path); err != nil {
			return nil, err
		}
	}
	var img image.Image
	var err error
	switch {
	case len(b) >= 3 && b[0] == 0xff && b[1] == 0xd8 && b[2] == 0xff:
		img, err = jpeg.Decode(bytes.NewReader(b))
	case len(b) >= 8 && string(b[:8]) == "\x89PNG\r\n\x1a\n":
		img, err = png.Decode(bytes.NewReader(b))
	default:
		return nil, fmt.Errorf("%s: not a JPEG or PNG image", f.rel)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: corrupt image: %w", f.rel, err)
	}
	if b := img.Bounds(); b.Dx() <= 0 || b.Dy() <= 0 {
		return nil, fmt.Errorf("%s: empty image", f.rel)
	}
	return img, nil
}

// toPlanes writes img as R, G, B planes into dst (3,H,W) and reports whether
// it is a grey image.
func toPlanes(dst []uint8, img image.Image) (gray bool) {
	b := img.Bounds()
	h, w := b.Dy(), b.Dx()
	r, g, bl := dst[:h*w], dst[h*w:2*h*w], dst[2*h*w:3*h*w]
	switch m := img.(type) {
	case *image.YCbCr:
		for y := range h {
			for x := range w {
				yi := m.YOffset(b.Min.X+x, b.Min.Y+y)
				ci := m.COffset(b.Min.X+x, b.Min.Y+y)
				r[y*w+x], g[y*w+x], bl[y*w+x] = color.YCbCrToRGB(m.Y[yi], m.Cb[ci], m.Cr[ci])
			}
		}
		return false
	case *image.Gray:
		for y := range h {
			row := m.Pix[y*m.Stride : y*m.Stride+w]
			copy(r[y*w:], row)
			copy(g[y*w:], row)
			copy(bl[y*w:], row)
		}
		return true
	case *image.NRGBA:
		for y := range h {
			row := m.Pix[y*m.Stride : y*m.Stride+4*w]
			for x := range w {
				r[y*w+x], g[y*w+x], bl[y*w+x] = row[4*x], row[4*x+1], row[4*x+2]
			}
		}
		return false
	}
	_, isGray16 := img.(*image.Gray16)
	for y := range h {
		for x := range w {
			c := color.NRGBAModel.Convert(img.At(b.Min.X+x, b.Min.Y+y)).(color.NRGBA)
			r[y*w+x], g[y*w+x], bl[y*w+x] = c.R, c.G, c.B
		}
	}
	return isGray16
}

// emptiedClasses warns of classes that skipping bad images left without
// any image in split s.
func emptiedClasses(s *Split, classes []string, name string) []string {
	counts := make([]int, len(classes))
	for _, l := range s.Labels {
		counts[l]++
	}
	var out []string
	for i, n := range counts {
		if n == 0 {
			out = append(out, fmt.Sprintf("class %q has no %s images left: all of them were skipped as bad (--skip-bad-images); the model will never learn or be tested on it", classes[i], name))
		}
	}
	return out
}
