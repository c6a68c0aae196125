package train

import (
	"os"
	"path/filepath"
	"testing"
)

// TestPlotCurvesMode: curves.png is readable by others (0644) like the
// checkpoints and metrics beside it; it used to keep CreateTemp's 0600.
func TestPlotCurvesMode(t *testing.T) {
	p := filepath.Join(t.TempDir(), "curves.png")
	ms := []EpochMetrics{{Epoch: 1, TrainLoss: 2, TrainTop1: 0.2, HasVal: true, ValLoss: 2.1, ValTop1: 0.25}, {Epoch: 2, TrainLoss: 1.5, TrainTop1: 0.4, HasVal: true, ValLoss: 1.7, ValTop1: 0.35}}
	if err := PlotCurves(ms, p); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o644 {
		t.Errorf("curves.png mode %v, want -rw-r--r--", fi.Mode().Perm())
	}
}
