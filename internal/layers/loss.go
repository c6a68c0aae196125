package layers

import (
	"github.com/cnnctl/cnnctl/internal/tensor"
)

// Loss is nn.CrossEntropyLoss (mean over the batch, with label smoothing)
// on the logits of a batch.
type Loss struct {
	be        tensor.Backend
	Smoothing float32

	loss, dlogits *tensor.Tensor
	grad          *tensor.Tensor // dlogits viewed as the logits' shape
	host          []float32
	hostLabels    []float32
}

// NewLoss returns a cross-entropy loss with label smoothing in [0, 1].
func NewLoss(be tensor.Backend, smoothing float32) *Loss {
	return &Loss{be: be, Smoothing: smoothing}
}

// Forward computes the mean loss of logits (N,K) (or (N,K,1,1): any shape
// whose trailing dimensions hold the K classes) against labels (N), class
// indices stored as float32, and keeps the gradient for Backward.
func (l *Loss) Forward(logits, labels *tensor.Tensor) float32 {
	n := logits.Shape[0]
	if n == 0 {
		return 0
	}
	return l.Mean(l.Enqueue(logits, labels))
}

// Mean copies the per-sample losses (N) that Enqueue returned to the host
// and returns their mean, the sum taken in float64 in sample order.
func (l *Loss) Mean(loss *tensor.Tensor) float32 {
	n := loss.Numel()
	if n == 0 {
		return 0
	}
	l.host = grow(l.host, n)
	l.be.Download(l.host, loss)
	var sum float64
	for _, v := range l.host {
		sum += float64(v)
	}
	return float32(sum / float64(n))
}

// Enqueue is Forward without the copy to the host: it queues the loss and
// its gradient and returns the per-sample losses (N) on the backend, for
// a training step that reads its metrics on the device.
func (l *Loss) Enqueue(logits, labels *tensor.Tensor) *tensor.Tensor {
	n := logits.Shape[0]
	z := logits.View(tensor.Shape{n, logits.Numel() / n})
	loss := ensure(l.be, &l.loss, tensor.Shape{n}, tensor.F32)
	dz := ensure(l.be, &l.dlogits, z.Shape, z.DType)
	l.be.SoftmaxCrossEntropy(z, labels, loss, dz, l.Smoothing)
	l.grad = dz.View(logits.Shape)
	return loss
}

// Free releases the loss's device buffers (it may be used again after).
func (l *Loss) Free() {
	for _, t := range []**tensor.Tensor{&l.loss, &l.dlogits} {
		if *t != nil {
			l.be.Free(*t)
			*t = nil
		}
	}
	l.grad = nil
}

// Backward returns the gradient of the mean loss with respect to the
// logits of the last Forward, shaped as they were.
func (l *Loss) Backward() *tensor.Tensor { return l.grad }

// Correct counts the samples of a batch whose label is the top-1 class of
// its logits (N,K), and those where it is among the top 5. Ties rank in
// class order, as torch.topk does. It copies logits and labels to the host.
func (l *Loss) Correct(logits, labels *tensor.Tensor) (top1, top5 int) {
	n := logits.Shape[0]
	if n == 0 {
		return 0, 0
	}
	k := logits.Numel() / n
	l.host = grow(l.host, n*k)
	l.hostLabels = grow(l.hostLabels, n)
	l.be.Download(l.host, logits)
	l.be.Download(l.hostLabels, labels)
	for i := range n {
		row := l.host[i*k : (i+1)*k]
		label := int(l.hostLabels[i])
		if label < 0 || label >= k {
			continue
		}
		rank := 0
		for j, v := range row {
			if j != label && (v > row[label] || (v == row[label] && j < label)) {
				rank++
			}
		}
		if rank == 0 {
			top1++
		}
		if rank < 5 {
			top5++
		}
	}
	return top1, top5
}

// grow returns s resized to n elements, reusing its memory when it can.
func grow(s []float32, n int) []float32 {
	if cap(s) < n {
		return make([]float32, n)
	}
	return s[:n]
}
