package train

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
)

// EpochMetrics is one line of OUT/metrics.csv and OUT/metrics.jsonl.
type EpochMetrics struct {
	Epoch     int     `json:"epoch"`
	Step      int64   `json:"step"`
	LR        float64 `json:"lr"`
	TrainLoss float64 `json:"train_loss"`
	TrainTop1 float64 `json:"train_top1"`
	ValLoss   float64 `json:"val_loss"`
	ValTop1   float64 `json:"val_top1"`
	ValTop5   float64 `json:"val_top5"`
	Seconds   float64 `json:"seconds"`
	ImagesPS  float64 `json:"images_per_s"`
	HasVal    bool    `json:"has_val"`
	// RSSMiB is the process's resident memory at the end of the epoch,
	// after garbage is returned to the OS (0 where /proc is missing).
	RSSMiB float64 `json:"rss_mib"`
}

const csvHeader = "epoch,step,lr,train_loss,train_top1,val_loss,val_top1,val_top5,seconds,images_per_s\n"

// appendMetrics adds one epoch to both metric files, creating them with a
// header when new. On resume the files are first cut back to the
// checkpoint's epoch by truncateMetrics, so no epoch appears twice.
func appendMetrics(dir string, m EpochMetrics) error {
	csvPath := filepath.Join(dir, "metrics.csv")
	_, statErr := os.Stat(csvPath)
	f, err := os.OpenFile(csvPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("write metrics: %w", err)
	}
	if os.IsNotExist(statErr) {
		if _, err := f.WriteString(csvHeader); err != nil {
			f.Close()
			return fmt.Errorf("write metrics: %w", err)
		}
	}
	_, err = fmt.Fprintf(f, "%d,%d,%.6g,%.6f,%.6f,%.6f,%.6f,%.6f,%.3f,%.1f\n",
		m.Epoch, m.Step, m.LR, m.TrainLoss, m.TrainTop1, m.ValLoss, m.ValTop1, m.ValTop5, m.Seconds, m.ImagesPS)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write metrics: %w", err)
	}
	j, err := os.OpenFile(filepath.Join(dir, "metrics.jsonl"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("write metrics: %w", err)
	}
	err = json.NewEncoder(j).Encode(m)
	if cerr := j.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write metrics: %w", err)
	}
	return nil
}

// ReadMetrics loads OUT/metrics.jsonl. A last line cut short (no newline,
// not JSON: what a kill during the write leaves) is ignored.
func ReadMetrics(dir string) ([]EpochMetrics, error) {
	ms, _, err := readMetrics(dir)
	return ms, err
}

// readMetrics is ReadMetrics that also says whether it ignored a torn last
// line.
func readMetrics(dir string) (out []EpochMetrics, torn bool, err error) {
	path := filepath.Join(dir, "metrics.jsonl")
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, false, err
	}
	lines := bytes.Split(b, []byte("\n"))
	for i, line := range lines {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var m EpochMetrics
		if err := json.Unmarshal(line, &m); err != nil {
			if i == len(lines)-1 { // no newline after it: the write was cut
				return out, true, nil
			}
			return out, false, fmt.Errorf("read %s: line %d: %w; the file is damaged: delete that line (epochs after it are redone by --resume auto) or the file", path, i+1, err)
		}
		out = append(out, m)
	}
	return out, false, nil
}

// truncateMetrics rewrites both files keeping epochs <= upto. The new files
// are written in a temporary folder and renamed over the old ones, jsonl (the
// one read back) last, so a crash in between loses no epoch.
func truncateMetrics(dir string, upto int) error {
	ms, err := ReadMetrics(dir)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(dir, ".metrics.tmp-*")
	if err != nil {
		return fmt.Errorf("rewrite metrics: %w", err)
	}
	defer os.RemoveAll(tmp)
	for _, m := range ms {
		if m.Epoch <= upto {
			if err := appendMetrics(tmp, m); err != nil {
				return err
			}
		}
	}
	for _, name := range []string{"metrics.csv", "metrics.jsonl"} {
		src := filepath.Join(tmp, name)
		if _, err := os.Stat(src); os.IsNotExist(err) {
			err = os.Remove(filepath.Join(dir, name))
			if err != nil && !os.IsNotExist(err) {
				return fmt.Errorf("rewrite metrics: %w", err)
			}
			continue
		}
		if err := os.Rename(src, filepath.Join(dir, name)); err != nil {
			return fmt.Errorf("rewrite metrics: %w", err)
		}
	}
	return nil
}

// releaseMemory runs the garbage collector and returns free memory to the
// OS at the end of an epoch, so a long run's footprint stays flat instead
// of growing to the collector's next target, and reports the resident set.
func releaseMemory() float64 {
	debug.FreeOSMemory()
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	var size, resident int64
	if _, err := fmt.Sscan(string(b), &size, &resident); err != nil {
		return 0
	}
	return float64(resident*int64(os.Getpagesize())) / (1 << 20)
}
