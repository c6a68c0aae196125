package bench

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/cnnctl/cnnctl/internal/tensor"
)

// PeakConfig sizes the peak measurements.
type PeakConfig struct {
	GEMM     int           // M = N = K of the GEMM
	CopyMiB  int           // size of the copied buffer
	MinTime  time.Duration // keep repeating each measurement at least this long
	MinTries int           // and at least this often
	// SetTF32 switches the backend's convolutions to TF32 tensor cores
	// (on) and back to fp32; nil where the backend has none, and NoTF32
	// then says why (the peak is recorded as unknown).
	SetTF32 func(on bool) error
	NoTF32  string
	// SetBF16 and NoBF16 are the same for bf16 tensor cores (bf16
	// operands, fp32 accumulation).
	SetBF16 func(on bool) error
	NoBF16  string
	// TF32Conv sizes the tensor-core runs (TF32 and bf16): a 1x1 convolution of TF32Conv[0] images
	// of TF32Conv[1] channels, TF32Conv[2] x TF32Conv[2] pixels, to as many
	// channels: a GEMM of M = K = channels and N = images x pixels.
	TF32Conv [3]int
}

// DefaultPeakConfig is big enough to leave the caches (a 1024³ GEMM on a
// CPU, 4096³ on a GPU) and short enough to finish in seconds.
func DefaultPeakConfig(device string) PeakConfig {
	if strings.HasPrefix(device, "cpu") {
		return PeakConfig{GEMM: 1024, CopyMiB: 64, MinTime: time.Second, MinTries: 3, TF32Conv: [3]int{16, 256, 16}}
	}
	// 2 x 1024 x 1024 x 65536 FLOPs = 137 GFLOP, as many as the 4096^3 GEMM.
	return PeakConfig{GEMM: 4096, CopyMiB: 512, MinTime: time.Second, MinTries: 10, TF32Conv: [3]int{64, 1024, 32}}
}

// MeasurePeaks times a large GEMM through the backend's LinearForward and a
// large Copy, and keeps the best of repeated runs of each: the fastest this
// backend's own kernels go, which is what each layer is compared with (not
// the hardware's datasheet numbers).
func MeasurePeaks(be tensor.Backend, cfg PeakConfig) (*Peaks, error) {
	n := cfg.GEMM
	x := be.New(tensor.Shape{n, n})
	w := be.New(tensor.Shape{n, n})
	y := be.New(tensor.Shape{n, n})
	be.Fill(x, 0.5)
	be.Fill(w, 0.25)
	gemm, err := best(be, cfg, func() { be.LinearForward(x, w, nil, y) })
	be.Free(x)
	be.Free(w)
	be.Free(y)
	if err != nil {
		return nil, fmt.Errorf("measure peaks: GEMM: %w", err)
	}
	elems := cfg.CopyMiB << 20 / 4
	src := be.New(tensor.Shape{elems})
	dst := be.New(tensor.Shape{elems})
	be.Fill(src, 1)
	cp, err := best(be, cfg, func() { be.Copy(dst, src) })
	be.Free(src)
	be.Free(dst)
	if err != nil {
		return nil, fmt.Errorf("measure peaks: copy: %w", err)
	}
	p := &Peaks{
		Device:     be.Name(),
		GFLOPS:     2 * float64(n) * float64(n) * float64(n) / seconds(gemm) / 1e9,
		GBPS:       2 * 4 * float64(elems) / seconds(cp) / 1e9,
		Method:     fmt.Sprintf("best of repeated %d^3 GEMM (LinearForward) and %d MiB Copy (read + write)", n, cfg.CopyMiB),
		MeasuredAt: time.Now().UTC().Format(time.RFC3339),
	}
	for _, tc := range []struct {
		name   string
		set    func(bool) error
		no     string
		gflops **float64
		method *string
	}{
		{"TF32", cfg.SetTF32, cfg.NoTF32, &p.TF32GFLOPS, &p.TF32Method},
		{"bf16", cfg.SetBF16, cfg.NoBF16, &p.BF16GFLOPS, &p.BF16Method},
	} {
		if err := measureTC(be, cfg, tc.name, tc.set, tc.no, tc.gflops, tc.method); err != nil {
			return nil, fmt.Errorf("measure peaks: %s: %w", tc.name, err)
		}
	}
	return p, nil
}

// measureTC fills a tensor-core peak (TF32 or bf16, named name): it times
// the convolution kernel of that math on a 1x1 convolution, which is a
// GEMM (the TF32 linears share that kernel's GEMM core; there are no bf16
// linears). Without the math (set
// nil, and no says why, or set refused) the peak is unknown and *method
// says why. The backend is left in fp32.
func measureTC(be tensor.Backend, cfg PeakConfig, name string, set func(on bool) error, no string, gflops **float64, method *string) error {
	if set == nil {
		*method = "unknown: " + cmp.Or(no, "this backend has no "+name+" tensor cores")
		return nil
	}
	if err := set(true); err != nil {
		*method = "unknown: " + err.Error()
		return nil
	}
	defer set(false)
	n, c, hw := cfg.TF32Conv[0], cfg.TF32Conv[1], cfg.TF32Conv[2]
	if n < 1 || c < 1 || hw < 1 {
		return fmt.Errorf("1x1 convolution of %d images, %d channels, %dx%d pixels: want all positive", n, c, hw, hw)
	}
	x := be.New(tensor.Shape{n, c, hw, hw})
	w := be.New(tensor.Shape{c, c, 1, 1})
	y := be.New(tensor.Shape{n, c, hw, hw})
	be.Fill(x, 0.5)
	be.Fill(w, 0.25)
	d, err := best(be, cfg, func() { be.Conv2DForward(x, w, nil, y, tensor.ConvParams{StrideH: 1, StrideW: 1}) })
	be.Free(x)
	be.Free(w)
	be.Free(y)
	if err != nil {
		return err
	}
	g := 2 * float64(c) * float64(c) * float64(n*hw*hw) / seconds(d) / 1e9
	*gflops = &g
	*method = fmt.Sprintf("best of repeated 1x1 convolutions (Conv2DForward, %[1]s math) of %[2]d images of %[3]d channels at %[4]dx%[4]d to %[3]d channels: "+
		"a GEMM of M = K = %[3]d, N = %[5]d; timed through cnnctl's %[1]s convolution kernel on a GEMM's shape",
		name, n, c, hw, n*hw*hw)
	return nil
}

// seconds is a duration in seconds, never zero.
func seconds(d time.Duration) float64 { return max(d.Seconds(), 1e-9) }

// best runs fn (one warm-up first) until MinTime and MinTries are reached
// and returns the fastest run.
func best(be tensor.Backend, cfg PeakConfig, fn func()) (time.Duration, error) {
	fn()
	if err := be.Sync(); err != nil {
		return 0, err
	}
	var fastest, total time.Duration
	for i := 0; i < cfg.MinTries || total < cfg.MinTime; i++ {
		start := time.Now()
		fn()
		if err := be.Sync(); err != nil {
			return 0, err
		}
		d := time.Since(start)
		total += d
		if fastest == 0 || d < fastest {
			fastest = d
		}
	}
	return fastest, nil
}

// PeakCachePath is where peaks are cached: <user cache dir>/cnnctl/peaks.json.
func PeakCachePath() (string, error) {
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("peak cache: %w", err)
	}
	return filepath.Join(dir, "cnnctl", "peaks.json"), nil
}

// LoadPeaks returns the cached peaks of device, or nil when there are none.
func LoadPeaks(path, device string) (*Peaks, error) {
	all, err := readPeaks(path)
	if err != nil {
		return nil, err
	}
	if p, ok := all[device]; ok {
		return &p, nil
	}
	return nil, nil
}

// SavePeaks stores p in the cache at path, keyed by its device, keeping
// the other devices' entries; the file is replaced atomically.
func SavePeaks(path string, p *Peaks) error {
	all, err := readPeaks(path)
	if err != nil {
		return err
	}
	all[p.Device] = *p
	data, err := json.MarshalIndent(all, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("save peaks: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".peaks-*.json")
	if err != nil {
		return fmt.Errorf("save peaks: %w", err)
	}
	_, werr := tmp.Write(append(data, '\n'))
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("save peaks: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("save peaks: %w", err)
	}
	return nil
}

func readPeaks(path string) (map[string]Peaks, error) {
	all := map[string]Peaks{}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return all, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read peaks: %w", err)
	}
	if err := json.Unmarshal(data, &all); err != nil {
		return nil, fmt.Errorf("read peaks %s: %w (delete it and run 'cnnctl bench --peak')", path, err)
	}
	return all, nil
}

// CachedPeaks lists every device's cached peaks, sorted by device, and the
// cache's path; none cached is an empty list.
func CachedPeaks() ([]Peaks, string, error) {
	path, err := PeakCachePath()
	if err != nil {
		return nil, "", err
	}
	all, err := readPeaks(path)
	if err != nil {
		return nil, path, err
	}
	out := make([]Peaks, 0, len(all))
	for _, p := range all {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Device < out[j].Device })
	return out, path, nil
}
