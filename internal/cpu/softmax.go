package cpu

import (
	"math"

	"github.com/cnnctl/cnnctl/internal/tensor"
)

// SoftmaxCrossEntropy: logits (N,K), labels (N) class indices as float32
// -> loss (N), dlogits (N,K) or nil. With target = (1-eps)·onehot(label) + eps/K
// and lse = log Σ_k exp(z_k) (computed stably, after subtracting the row's max):
//
//	loss[n]       = Σ_k target_k·(lse - z_k) = lse - Σ_k target_k·z_k
//	dlogits[n][k] = (softmax(z)_k - target_k) / N
//
// Each row is computed in float64.
func (b *Backend) SoftmaxCrossEntropy(logits, labels, loss, dlogits *tensor.Tensor, smoothing float32) {
	if hasBF16(logits, labels, loss, dlogits) {
		b.emulate("softmax cross entropy", []*tensor.Tensor{logits, labels, loss, dlogits}, 1<<2|1<<3, func(t []*tensor.Tensor) { b.SoftmaxCrossEntropy(t[0], t[1], t[2], t[3], smoothing) })
		return
	}
	c := b.call("softmax cross-entropy")
	zd := c.data("logits", logits, 2)
	ld := c.data("labels", labels, 1)
	lossd := c.data("loss", loss, 1)
	var dd []float32
	if dlogits != nil {
		dd = c.data("dlogits", dlogits, 2)
	}
	if c.err != nil {
		c.ok()
		return
	}
	n, k := logits.Shape[0], logits.Shape[1]
	c.shape("labels", labels, n)
	c.shape("loss", loss, n)
	if dlogits != nil {
		c.shape("dlogits", dlogits, n, k)
	}
	if !(smoothing >= 0 && smoothing <= 1) {
		c.fail("smoothing %g, want 0 <= smoothing <= 1", smoothing)
	}
	for i := 0; i < n && c.err == nil; i++ {
		// The condition outside c.check: its arguments would be boxed (an
		// allocation per sample) even when the label is good.
		if l := ld[i]; !(l >= 0 && l < float32(k) && l == float32(int(l))) {
			c.fail("label %g of sample %d is not a class in [0, %d)", l, i, k)
		}
	}
	if !c.ok() {
		return
	}
	eps := float64(smoothing)
	for i := range n {
		z := zd[i*k : (i+1)*k]
		label := int(ld[i])
		zmax := math.Inf(-1)
		for _, v := range z {
			zmax = math.Max(zmax, float64(v))
		}
		var sum float64
		for _, v := range z {
			sum += math.Exp(float64(v) - zmax)
		}
		lse := zmax + math.Log(sum)
		var tz float64 // Σ_k target_k·z_k
		for j, v := range z {
			tz += target(j, label, k, eps) * float64(v)
		}
		lossd[i] = float32(lse - tz)
		if dd != nil {
			for j, v := range z {
				dd[i*k+j] = float32((math.Exp(float64(v)-lse) - target(j, label, k, eps)) / float64(n))
			}
		}
	}
}

// target is class j's smoothed target probability for a sample of class label.
func target(j, label, k int, eps float64) float64 {
	t := eps / float64(k)
	if j == label {
		t += 1 - eps
	}
	return t
}
