package train

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReadMetricsTornLine: a last line cut short by a kill is ignored (it
// used to block --resume auto); a damaged line before the end is an error
// naming the line.
func TestReadMetricsTornLine(t *testing.T) {
	dir := t.TempDir()
	for e := 1; e <= 2; e++ {
		if err := appendMetrics(dir, EpochMetrics{Epoch: e, Step: int64(32 * e)}); err != nil {
			t.Fatal(err)
		}
	}
	p := filepath.Join(dir, "metrics.jsonl")
	good, _ := os.ReadFile(p)
	os.WriteFile(p, append(append([]byte{}, good...), `{"epoch":3,"step":9`...), 0o644)
	ms, torn, err := readMetrics(dir)
	if err != nil || !torn || len(ms) != 2 || ms[1].Epoch != 2 {
		t.Fatalf("torn last line: %d epochs, torn %v, %v", len(ms), torn, err)
	}
	if err := truncateMetrics(dir, 2); err != nil {
		t.Fatal(err)
	}
	if now, _ := os.ReadFile(p); string(now) != string(good) {
		t.Errorf("the rewrite kept the torn line:\n%s", now)
	}

	lines := strings.SplitAfter(string(good), "\n")
	os.WriteFile(p, []byte(lines[0]+`{"epoch":2,"st`+"\n"+lines[1]), 0o644)
	if _, err := ReadMetrics(dir); err == nil || !strings.Contains(err.Error(), "line 2") || !strings.Contains(err.Error(), "damaged") {
		t.Errorf("damaged middle line: %v", err)
	}
}
