//go:build cuda

package gpu

import "github.com/cnnctl/cnnctl/internal/tensor"

// SoftmaxCrossEntropy: logits (N,K), labels (N) -> loss (N), dlogits (N,K)
// or nil; one warp per sample. Labels stay on the device, so a label outside
// [0, K) is not reported as an error: its loss and gradient are NaN.
func (b *Backend) SoftmaxCrossEntropy(logits, labels, loss, dlogits *tensor.Tensor, smoothing float32) {
	c := b.call("softmax cross entropy")
	lp, labp, lossp := c.ptr("logits", logits, 2), c.ptr("labels", labels, 1), c.ptr("loss", loss, 1)
	dp := c.opt("dlogits", dlogits, 2)
	if c.err != nil {
		c.ok()
		return
	}
	n, k := logits.Shape[0], logits.Shape[1]
	c.shape("labels", labels, n)
	c.shape("loss", loss, n)
	c.shape("dlogits", dlogits, n, k)
	c.check(smoothing >= 0 && smoothing <= 1, "smoothing %g, want 0 <= smoothing <= 1", smoothing)
	const warps = 4
	c.launch("softmax_cross_entropy", dims{gx: max(1, ceilDiv(n, warps)), gy: 1, gz: 1, block: 32 * warps},
		lp, labp, lossp, dp, n, k, smoothing)
}
