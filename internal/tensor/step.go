package tensor

import "math"

// StepOps is implemented by backends that keep a training step's scalars
// on the device, so that a whole step (forward, loss, backward, update,
// metrics) is enqueued without the host reading or writing anything
// between ops, and can be captured once and replayed. The scalars live in
// 1-element tensors (or tables) that the ops read when they run, never as
// host arguments that a captured graph would freeze.
//
// Counters and indices are float32 holding whole numbers: exact up to 2^24
// (16,777,216 steps). internal/train falls back to the host path beyond it.
type StepOps interface {
	// SGDUpdateAt is SGDUpdate with the learning rate read on the device:
	// LR = lrs[int(at[0])]; p.LR is ignored. lrs (B), at (1). Nothing is
	// updated while skip[0] != 0 (the step's non-finite flag), so a
	// diverged step leaves the weights as they were.
	SGDUpdateAt(w, g, v, lrs, at, skip *Tensor, p SGDParams)
	// AdamUpdateAt is AdamUpdate with LR = lrs[int(at[0])] and Step =
	// int(step[0]) read on the device; p.LR and p.Step are ignored. Nothing
	// is updated while skip[0] != 0.
	AdamUpdateAt(w, g, m, v, lrs, at, step, skip *Tensor, p AdamParams)
	// StepMetrics records one batch's metrics in slot i = int(at[0]) of
	// acc (2*slots): acc[2i] = float32(Σ loss / N), the sum taken in float64
	// in sample order, and acc[2i+1] = the number of samples whose label is
	// the first maximum of their logits row (a row with a NaN or an
	// infinity counts as wrong). flag[0] is set to 1 when acc[2i] is not
	// finite and is never cleared by the op. loss (N), logits (N,K),
	// labels (N) class indices stored as float32.
	StepMetrics(loss, logits, labels, acc, at, flag *Tensor)
	// AddScalar adds v to every element of t (the step counters).
	AddScalar(t *Tensor, v float32)
}

// StepMetrics computes what StepOps.StepMetrics records, on host slices:
// loss (N), logits (N,K), labels (N). Backends that run on the host use it
// as is; the others are tested against it.
func StepMetrics(loss, logits, labels []float32) (mean float32, correct int) {
	n := len(loss)
	k := len(logits) / n
	var sum float64
	for _, v := range loss {
		sum += float64(v)
	}
	for s := 0; s < n; s++ {
		if argmax(logits[s*k:(s+1)*k]) == int(labels[s]) {
			correct++
		}
	}
	return float32(sum / float64(n)), correct
}

// argmax is the index of the first maximum of row, -1 when row holds a NaN
// or an infinity.
func argmax(row []float32) int {
	best := 0
	for i, v := range row {
		if f := float64(v); math.IsNaN(f) || math.IsInf(f, 0) {
			return -1
		}
		if v > row[best] {
			best = i
		}
	}
	return best
}

// DropoutAt is implemented by backends that read dropout's counter on the
// device, so that a captured training step draws a fresh mask each time it
// is replayed (a counter passed by value would be frozen in the graph).
type DropoutAt interface {
	// DropoutForwardAt is DropoutForward with counter = uint64(counter[0])
	// read when the op runs; counter (1) holds a whole number (float32:
	// exact up to 2^24, like StepOps' counters).
	DropoutForwardAt(x, mask, y *Tensor, p float32, seed uint64, counter *Tensor)
}
