package bench

import (
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
}

// DefaultPeakConfig is big enough to leave the caches (a 1024³ GEMM on a
// CPU, 4096³ on a GPU) and short enough to finish in seconds.
func DefaultPeakConfig(device string) PeakConfig {
	if strings.HasPrefix(device, "cpu") {
		return PeakConfig{GEMM: 1024, CopyMiB: 64, MinTime: time.Second, MinTries: 3}
	}
	return PeakConfig{GEMM: 4096, CopyMiB: 512, MinTime: time.Second, MinTries: 10}
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
	return &Peaks{
		Device:     be.Name(),
		GFLOPS:     2 * float64(n) * float64(n) * float64(n) / seconds(gemm) / 1e9,
		GBPS:       2 * 4 * float64(elems) / seconds(cp) / 1e9,
		Method:     fmt.Sprintf("best of repeated %d^3 GEMM (LinearForward) and %d MiB Copy (read + write)", n, cfg.CopyMiB),
		MeasuredAt: time.Now().UTC().Format(time.RFC3339),
	}, nil
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
