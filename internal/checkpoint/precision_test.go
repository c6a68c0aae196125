package checkpoint

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestPrecisionRoundTrip: the training precision is recorded in the
// metadata and read back; the weights stay float32 either way.
func TestPrecisionRoundTrip(t *testing.T) {
	for _, prec := range []string{"fp32", "tf32"} {
		p := filepath.Join(t.TempDir(), "last")
		ck := sample(1)
		ck.Precision = prec
		raw := save(t, p, ck)
		if !strings.Contains(string(raw), `\"precision\":\"`+prec+`\"`) {
			t.Errorf("%s: the file's metadata has no \"precision\":%q", prec, prec)
		}
		got, err := Load(p)
		if err != nil {
			t.Fatal(err)
		}
		if got.Precision != prec || got.TrainedPrecision() != prec {
			t.Errorf("precision %q (trained %q), want %q", got.Precision, got.TrainedPrecision(), prec)
		}
		if got.State[0].Data[0] != 1 || len(got.State[0].Data) != 6 {
			t.Errorf("%s: weights changed: %v", prec, got.State[0].Data)
		}
	}
}

// TestPrecisionOldCheckpoint: a checkpoint written before the key existed
// has no "precision" in its metadata and loads as fp32.
func TestPrecisionOldCheckpoint(t *testing.T) {
	p := filepath.Join(t.TempDir(), "old")
	raw := save(t, p, sample(1)) // Precision "": omitted, as the old writer wrote it
	if strings.Contains(string(raw), `\"precision\"`) {
		t.Fatal("a checkpoint without a precision still writes the key: not the old format")
	}
	got, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if got.Precision != "" || got.TrainedPrecision() != "fp32" {
		t.Errorf("old checkpoint: precision %q, trained %q; want \"\" and fp32", got.Precision, got.TrainedPrecision())
	}
}
