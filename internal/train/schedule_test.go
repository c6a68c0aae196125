package train

import (
	"math"
	"testing"
)

func TestScheduleShapes(t *testing.T) {
	near := func(got, want float64) bool { return math.Abs(got-want) <= 1e-12*math.Max(1, math.Abs(want)) }
	step := Schedule{Kind: "step", BaseLR: 0.05, Epochs: 300, StepEvery: 30, StepGamma: 0.5}
	for _, c := range []struct{ t, want float64 }{{0, 0.05}, {29.99, 0.05}, {30, 0.025}, {65, 0.0125}} {
		if got := step.LR(c.t); !near(got, c.want) {
			t.Errorf("step LR(%g) = %g, want %g", c.t, got, c.want)
		}
	}
	cos := Schedule{Kind: "cosine", BaseLR: 0.1, Epochs: 10}
	if got := cos.LR(0); !near(got, 0.1) {
		t.Errorf("cosine LR(0) = %g, want 0.1", got)
	}
	if got := cos.LR(5); !near(got, 0.05) {
		t.Errorf("cosine LR(5) = %g, want 0.05 (half way)", got)
	}
	if got := cos.LR(10); !near(got, 0) {
		t.Errorf("cosine LR(10) = %g, want 0", got)
	}
	warm := Schedule{Kind: "constant", BaseLR: 0.1, Epochs: 10, WarmupEpochs: 2}
	if got := warm.LR(0); !near(got, 0.001) {
		t.Errorf("warm-up LR(0) = %g, want 0.001 (base/100)", got)
	}
	if got := warm.LR(1); !near(got, 0.0505) {
		t.Errorf("warm-up LR(1) = %g, want 0.0505", got)
	}
	if got := warm.LR(3); !near(got, 0.1) {
		t.Errorf("after warm-up LR(3) = %g, want 0.1", got)
	}
	one := Schedule{Kind: "onecycle", BaseLR: 0.1, Epochs: 10}
	if got := one.LR(0); !near(got, 0.004) {
		t.Errorf("onecycle LR(0) = %g, want peak/25 = 0.004", got)
	}
	if got := one.LR(3); !near(got, 0.1) {
		t.Errorf("onecycle LR(3) = %g, want the peak 0.1 at 30%%", got)
	}
	if got := one.LR(10); !near(got, 0.1/25/1e4) {
		t.Errorf("onecycle LR(10) = %g, want peak/25/1e4", got)
	}
	for i := 1; i < 100; i++ { // rises then falls
		a, b := one.LR(float64(i-1)/10), one.LR(float64(i)/10)
		if i <= 30 && b < a || i > 30 && b > a {
			t.Fatalf("onecycle not unimodal at %d: %g -> %g", i, a, b)
		}
	}
}

func TestScheduleValidate(t *testing.T) {
	for _, s := range []Schedule{
		{Kind: "linear"},
		{Kind: "step", StepEvery: 0, StepGamma: 0.5},
		{Kind: "step", StepEvery: 3, StepGamma: 0},
		{Kind: "constant", WarmupEpochs: -1},
	} {
		if err := s.Validate(); err == nil {
			t.Errorf("%+v: no error", s)
		}
	}
	if err := (Schedule{Kind: "cosine"}).Validate(); err != nil {
		t.Error(err)
	}
}

func TestArgmaxRank(t *testing.T) {
	row := []float32{0.1, 0.7, 0.7, -1, 0.3}
	for _, c := range []struct{ label, pred, rank int }{{1, 1, 0}, {2, 1, 1}, {4, 1, 2}, {3, 1, 4}} {
		p, r := argmaxRank(row, c.label)
		if p != c.pred || r != c.rank {
			t.Errorf("label %d: pred %d rank %d, want %d %d", c.label, p, r, c.pred, c.rank)
		}
	}
	if got := TopK(row, 3); got[0] != 1 || got[1] != 2 || got[2] != 4 {
		t.Errorf("TopK = %v, want [1 2 4]", got)
	}
}

// A row with NaN or Inf predicts nothing: never a correct answer, never in
// the top 5 (NaN compares false, so it used to rank first).
func TestArgmaxRankNonFinite(t *testing.T) {
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	for _, row := range [][]float32{{nan, nan, nan}, {nan, 1, 2}, {0, inf, 1}, {float32(math.Inf(-1)), 0, 0}} {
		for label := range row {
			if p, r := argmaxRank(row, label); p != -1 || r != len(row) {
				t.Errorf("%v label %d: pred %d rank %d, want -1 %d", row, label, p, r, len(row))
			}
		}
	}
}
