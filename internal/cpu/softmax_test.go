package cpu

import (
	"math"
	"testing"
)

func TestSoftmaxCrossEntropyByHand(t *testing.T) {
	be := New()
	// logits [1,2,3], label 2: lse = 3 + log(1 + e^-1 + e^-2) = 3.4076059644.
	const lse = 3.4076059644443806
	softmax := []float64{math.Exp(1 - lse), math.Exp(2 - lse), math.Exp(3 - lse)} // 0.0900, 0.2447, 0.6652
	logits, labels := from(be, []float32{1, 2, 3}, 1, 3), from(be, []float32{2}, 1)
	loss, d := poisoned(be, 1), poisoned(be, 1, 3)

	be.SoftmaxCrossEntropy(logits, labels, loss, d, 0)
	expect(t, "loss", values(be, loss), []float64{lse - 3}, 1e-6) // 0.4076
	expect(t, "dlogits", values(be, d), []float64{softmax[0], softmax[1], softmax[2] - 1}, 1e-6)

	// Smoothing 0.1: target = [0.1/3, 0.1/3, 0.9 + 0.1/3]; Σ target·z = 2.9.
	be.SoftmaxCrossEntropy(logits, labels, loss, d, 0.1)
	expect(t, "smoothed loss", values(be, loss), []float64{lse - 2.9}, 1e-6)
	expect(t, "smoothed dlogits", values(be, d),
		[]float64{softmax[0] - 0.1/3, softmax[1] - 0.1/3, softmax[2] - 0.9 - 0.1/3}, 1e-6)
	noErr(t, be)
}

func TestSoftmaxCrossEntropyStableAndMean(t *testing.T) {
	be := New()
	// Logits far apart would overflow exp without the max subtracted.
	logits := from(be, []float32{1000, 0, -1000, 0}, 2, 2)
	loss, d := poisoned(be, 2), poisoned(be, 2, 2)
	be.SoftmaxCrossEntropy(logits, from(be, []float32{1, 1}, 2), loss, d, 0)
	// Sample 0 is wrong by 1000; sample 1 right by 1000. The gradient is of
	// the mean over N = 2.
	expect(t, "loss", values(be, loss), []float64{1000, 0}, 1e-6)
	expect(t, "dlogits", values(be, d), []float64{0.5, -0.5, 0, 0}, 1e-6)

	// nil dlogits: only the loss.
	be.SoftmaxCrossEntropy(logits, from(be, []float32{0, 0}, 2), loss, nil, 0)
	expect(t, "loss without gradient", values(be, loss), []float64{0, 1000}, 1e-6)
	noErr(t, be)
}

func TestSoftmaxCrossEntropyRejectsBadLabels(t *testing.T) {
	for _, label := range []float32{-1, 3, 1.5, float32(math.NaN())} {
		be := New()
		loss := poisoned(be, 1)
		be.SoftmaxCrossEntropy(from(be, []float32{1, 2, 3}, 1, 3), from(be, []float32{label}, 1), loss, nil, 0)
		if be.Err() == nil {
			t.Errorf("label %v of 3 classes: no error", label)
		}
	}
}
