package cpu

import (
	"math"
	"strings"
	"testing"

	"github.com/cnnctl/cnnctl/internal/tensor"
)

func TestStepMetricsByHand(t *testing.T) {
	be := New()
	nan := float32(math.NaN())
	// Three samples, three classes: sample 0 hits (class 2), sample 1
	// misses (the first of two maxima is class 0, label 1), sample 2's row
	// holds a NaN and counts as a miss.
	loss := from(be, []float32{0.5, 1, 2}, 3)
	logits := from(be, []float32{0, 1, 3, 2, 2, 1, 0, nan, 1}, 3, 3)
	labels := from(be, []float32{2, 1, 2}, 3)
	acc := poisoned(be, 4)
	at, flag := from(be, []float32{1}, 1), from(be, []float32{0}, 1)
	be.StepMetrics(loss, logits, labels, acc, at, flag)
	noErr(t, be)
	got := values(be, acc)
	if got[2] != float32(3.5/3) || got[3] != 1 {
		t.Fatalf("slot 1 = (%g, %g), want (%g, 1)", got[2], got[3], float32(3.5/3))
	}
	if !math.IsNaN(float64(got[0])) {
		t.Errorf("slot 0 was written: %g", got[0])
	}
	if values(be, flag)[0] != 0 {
		t.Error("flag set for a finite loss")
	}
	be.Upload(loss, []float32{1, float32(math.Inf(1)), 0})
	be.Fill(at, 0)
	be.StepMetrics(loss, logits, labels, acc, at, flag)
	noErr(t, be)
	if values(be, flag)[0] != 1 {
		t.Error("flag not set for an infinite loss")
	}
}

func TestUpdateAtMatchesHostArguments(t *testing.T) {
	be := New()
	lrs, at, skip := from(be, []float32{0.5, 0.125, 0.25}, 3), from(be, []float32{2}, 1), from(be, []float32{0}, 1)
	step := from(be, []float32{7}, 1)
	w0, g0 := []float32{1, -2, 3}, []float32{0.5, 0.25, -1}
	sgd := tensor.SGDParams{Momentum: 0.9, WeightDecay: 0.01, Nesterov: true}
	adam := tensor.AdamParams{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.01, Decoupled: true}

	w, g, v := from(be, w0, 3), from(be, g0, 3), from(be, []float32{0.1, 0.1, 0.1}, 3)
	be.SGDUpdateAt(w, g, v, lrs, at, skip, sgd)
	wr, vr := from(be, w0, 3), from(be, []float32{0.1, 0.1, 0.1}, 3)
	sgd.LR = 0.25
	be.SGDUpdate(wr, g, vr, sgd)
	noErr(t, be)
	expect(t, "sgd w", values(be, w), f64(values(be, wr)), 0)

	m, v2 := from(be, []float32{0, 0, 0}, 3), from(be, []float32{0, 0, 0}, 3)
	w = from(be, w0, 3)
	be.AdamUpdateAt(w, g, m, v2, lrs, at, step, skip, adam)
	mr, vr2, wr := from(be, []float32{0, 0, 0}, 3), from(be, []float32{0, 0, 0}, 3), from(be, w0, 3)
	adam.LR, adam.Step = 0.25, 7
	be.AdamUpdate(wr, g, mr, vr2, adam)
	noErr(t, be)
	expect(t, "adam w", values(be, w), f64(values(be, wr)), 0)

	// A set flag skips the update.
	be.Fill(skip, 1)
	w = from(be, w0, 3)
	be.SGDUpdateAt(w, g, v, lrs, at, skip, sgd)
	be.AdamUpdateAt(w, g, m, v2, lrs, at, step, skip, adam)
	noErr(t, be)
	expect(t, "skipped w", values(be, w), f64(w0), 0)

	// An index outside the table is an error naming the op.
	be.Fill(skip, 0)
	be.Fill(at, 3)
	be.SGDUpdateAt(w, g, v, lrs, at, skip, sgd)
	if err := be.Err(); err == nil || !strings.Contains(err.Error(), "sgd update") || !strings.Contains(err.Error(), "not an index below 3") {
		t.Errorf("err = %v, want the sgd update's index error", err)
	}
}

func TestAddScalar(t *testing.T) {
	be := New()
	c := from(be, []float32{0, 41}, 2)
	be.AddScalar(c, 1)
	noErr(t, be)
	expect(t, "counters", values(be, c), []float64{1, 42}, 0)
}
