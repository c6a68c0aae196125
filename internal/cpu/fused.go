package cpu

import (
	"github.com/cnnctl/cnnctl/internal/parallel"
	"github.com/cnnctl/cnnctl/internal/tensor"
)

// The fused ops of tensor/fused.go. The reference engine runs each as the
// plain op sequence it stands for (that sequence is the specification);
// the fast engine runs the same loops in one pass over memory, each piece
// of the tensor finished while it is in the cache, so that its results
// are the sequence's bits (TestFusedBitIdentical).

var (
	_ tensor.BatchNormReLU      = (*Backend)(nil)
	_ tensor.ConvEpilogue       = (*Backend)(nil)
	_ tensor.AddReLU            = (*Backend)(nil)
	_ tensor.ConvBatchNormInfer = (*Backend)(nil)
)

// fusedChunk is how many elements the fast engine's elementwise epilogues
// finish at a time: 16 KiB of float32, well inside the L1 cache.
const fusedChunk = 4096

// BatchNormReLUForwardTrain is BatchNormForwardTrain then ReLU on y; the
// fast engine applies the ReLU to each run of a channel as it is written.
func (b *Backend) BatchNormReLUForwardTrain(x, gamma, beta, runMean, runVar, y, saveMean, saveInvStd *tensor.Tensor, p tensor.BatchNormParams) {
	if hasBF16(x, gamma, beta, runMean, runVar, y, saveMean, saveInvStd) {
		b.emulate("batchnorm+relu forward train", []*tensor.Tensor{x, gamma, beta, runMean, runVar, y, saveMean, saveInvStd}, 1<<3|1<<4|1<<5|1<<6|1<<7, func(t []*tensor.Tensor) {
			b.BatchNormReLUForwardTrain(t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7], p)
		})
		return
	}
	b.batchNormForwardTrain("batchnorm+relu forward train", x, gamma, beta, runMean, runVar, y, saveMean, saveInvStd, p, true)
}

// BatchNormReLUForwardInfer is BatchNormForwardInfer then ReLU on y.
func (b *Backend) BatchNormReLUForwardInfer(x, gamma, beta, runMean, runVar, y *tensor.Tensor, p tensor.BatchNormParams) {
	if hasBF16(x, gamma, beta, runMean, runVar, y) {
		b.emulate("batchnorm+relu forward infer", []*tensor.Tensor{x, gamma, beta, runMean, runVar, y}, 1<<5, func(t []*tensor.Tensor) { b.BatchNormReLUForwardInfer(t[0], t[1], t[2], t[3], t[4], t[5], p) })
		return
	}
	b.batchNormForwardInfer("batchnorm+relu forward infer", x, gamma, beta, runMean, runVar, y, p, true)
}

// BatchNormReLUBackward: x, y (the fused forward's output), dy (x's shape),
// gamma, saveMean, saveInvStd (C) -> dx, dgamma, dbeta: ReLU's gradient
// (dy where y > 0 or y is NaN, else 0), then BatchNormBackward's.
func (b *Backend) BatchNormReLUBackward(x, y, dy, gamma, saveMean, saveInvStd, dx, dgamma, dbeta *tensor.Tensor) {
	if hasBF16(x, y, dy, gamma, saveMean, saveInvStd, dx, dgamma, dbeta) {
		b.emulate("batchnorm+relu backward", []*tensor.Tensor{x, y, dy, gamma, saveMean, saveInvStd, dx, dgamma, dbeta}, 1<<6|1<<7|1<<8, func(t []*tensor.Tensor) {
			b.BatchNormReLUBackward(t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7], t[8])
		})
		return
	}
	b.batchNormBackward("batchnorm+relu backward", x, y, dy, gamma, saveMean, saveInvStd, dx, dgamma, dbeta)
}

// Conv2DForwardEpilogue is Conv2DForward, then y += e.Residual (when set),
// then ReLU on y (when e.ReLU). The fast engine applies a lone ReLU to
// each image's output as the convolution writes it (convEpilogue), and
// otherwise finishes the epilogue in one pass over y, a chunk at a time.
func (b *Backend) Conv2DForwardEpilogue(x, w, bias, y *tensor.Tensor, p tensor.ConvParams, e tensor.Epilogue) {
	if hasBF16(x, w, bias, y, e.Residual) {
		b.emulate("conv2d forward epilogue", []*tensor.Tensor{x, w, bias, y, e.Residual}, 1<<3, func(t []*tensor.Tensor) {
			b.Conv2DForwardEpilogue(t[0], t[1], t[2], t[3], p, tensor.Epilogue{Residual: t[4], ReLU: e.ReLU})
		})
		return
	}
	c := b.call("conv2d forward epilogue")
	yd := c.data("y", y, 4)
	var rd []float32
	if e.Residual != nil {
		rd = c.data("residual", e.Residual, 0)
		c.shape("residual", e.Residual, y.Shape...)
		for _, t := range []*tensor.Tensor{x, w, bias, y} {
			if !(t == nil || !overlap(e.Residual, t)) {
				c.fail("residual (%v) overlaps the convolution's tensors", e.Residual.Shape)
			}
		}
	}
	if !c.ok() {
		return
	}
	if !b.ref && rd == nil && e.ReLU {
		c := b.call("conv2d forward")
		g, xd, wd, bd, yd := convForwardArgs(c, x, w, bias, y, p)
		if c.ok() {
			b.conv2DForwardEpi(&g, xd, wd, bd, yd, &convEpilogue{relu: true})
		}
		return
	}
	b.Conv2DForward(x, w, bias, y, p)
	if b.Err() != nil || (rd == nil && !e.ReLU) {
		return
	}
	if b.ref {
		if rd != nil {
			b.Add(y, e.Residual, y)
		}
		if e.ReLU {
			b.ActivationForward(tensor.ReLU, y, y)
		}
		return
	}
	parallelChunks(len(yd), func(lo, hi int) {
		if rd != nil {
			addRange(yd[lo:hi], rd[lo:hi], yd[lo:hi])
		}
		if e.ReLU {
			reluForward(yd[lo:hi], yd[lo:hi])
		}
	})
}

// Conv2DBatchNormInfer is Conv2DForward, then BatchNormForwardInfer on y
// in place, then (with relu) ReLU. The reference engine runs the three
// ops; the fast engine normalizes each output channel's values
// (convEpilogue: the fast batch norm's arithmetic, with its per-channel
// scale) as the convolution writes them, on the worker that wrote them:
// the bits of the sequence (TestFusedBitIdentical, TestConvBatchNormPaths),
// one pass over memory fewer.
func (b *Backend) Conv2DBatchNormInfer(x, w, bias, y *tensor.Tensor, p tensor.ConvParams, gamma, beta, runMean, runVar *tensor.Tensor, bp tensor.BatchNormParams, relu bool) {
	if b.ref {
		b.Conv2DForward(x, w, bias, y, p)
		if b.Err() != nil {
			return
		}
		b.BatchNormForwardInfer(y, gamma, beta, runMean, runVar, y, bp)
		if relu {
			b.ActivationForward(tensor.ReLU, y, y)
		}
		return
	}
	c := b.call("conv2d+batchnorm forward infer")
	g, xd, wd, bd, yd := convForwardArgs(c, x, w, bias, y, p)
	gd := c.data("gamma", gamma, 1)
	bed := c.data("beta", beta, 1)
	rm := c.data("running mean", runMean, 1)
	rv := c.data("running var", runVar, 1)
	for _, t := range []*tensor.Tensor{gamma, beta, runMean, runVar} {
		c.check(t.Shape.Equal(tensor.Shape{g.K}), "per-channel tensor is %v, want %d for w %v", t.Shape, g.K, w.Shape)
	}
	if !c.ok() {
		return
	}
	scale := b.bufs(slotBNScale, 1, g.K)[0]
	for k := range g.K {
		scale[k] = bnScale(gd[k], rv[k], float64(bp.Eps))
	}
	b.conv2DForwardEpi(&g, xd, wd, bd, yd, &convEpilogue{mean: rm, scale: scale, beta: bed, relu: relu})
}

// AddReLU: y = max(0, a + b) elementwise (NaN kept); y may be a or b. The
// fast engine adds and rectifies each chunk while it is in the cache.
func (b *Backend) AddReLU(a, bt, y *tensor.Tensor) {
	if hasBF16(a, bt, y) {
		b.emulate("add+relu", []*tensor.Tensor{a, bt, y}, 1<<2, func(t []*tensor.Tensor) { b.AddReLU(t[0], t[1], t[2]) })
		return
	}
	if b.ref {
		b.Add(a, bt, y)
		b.ActivationForward(tensor.ReLU, y, y)
		return
	}
	b.binary("add+relu", a, bt, y, nil, addReLURange)
}

// addReLURange writes y = max(0, a + b): addRange then reluForward, in
// one vector pass (addVector) and the two Go loops on the tail.
func addReLURange(a, b, y []float32) {
	b, y = b[:len(a)], y[:len(a)]
	done := addVector(a, b, y, true)
	addRange(a[done:], b[done:], y[done:])
	reluForward(y[done:], y[done:])
}

// parallelChunks is parallelElems whose ranges are cut into fusedChunk
// pieces: f runs on each piece in order within a worker's range.
func parallelChunks(n int, f func(lo, hi int)) {
	if n < 1<<15 {
		chunked(f).Run(0, 0, n)
		return
	}
	parallel.Split(n, workers(n), chunked(f))
}

// chunked is a parallel.Body that runs f on its range fusedChunk elements
// at a time.
type chunked func(lo, hi int)

// Run calls f on [lo, hi) in fusedChunk pieces, in order.
func (f chunked) Run(_, lo, hi int) {
	for ; lo < hi; lo += fusedChunk {
		f(lo, min(lo+fusedChunk, hi))
	}
}

// overlap reports whether two tensors of this backend share an element.
func overlap(a, b *tensor.Tensor) bool {
	return a.Buf == b.Buf && a.Off < b.Off+b.Numel() && b.Off < a.Off+a.Numel()
}

var _ tensor.ConvBatchNorm = (*Backend)(nil)

// ConvBatchNormForwardTrain is Conv2DForward, then BatchNormForwardTrain
// (BatchNormReLUForwardTrain when relu) on its output: the plain sequence,
// bit for bit, on both engines (the batch statistics are a pass over y
// either way on the CPU, and the sequence is the specification the GPU's
// epilogue statistics are tested against).
func (b *Backend) ConvBatchNormForwardTrain(x, w, bias, y *tensor.Tensor, p tensor.ConvParams, bn tensor.BatchNormTrain, relu bool) {
	c := b.call("conv2d+batchnorm forward train")
	if hasBF16(y, bn.Y) {
		// Mixed precision: each op of the sequence widens and rounds its
		// own bf16 tensors (bf16.go); here only the buffers are checked.
		c.raw("y", y)
		c.raw("bn y", bn.Y)
	} else {
		c.data("y", y, 4)
		c.data("bn y", bn.Y, 4)
	}
	c.check(c.err != nil || !overlap(y, bn.Y), "the batch norm's output (%v) overlaps the convolution's", bn.Y.Shape)
	if !c.ok() {
		return
	}
	b.Conv2DForward(x, w, bias, y, p)
	if b.Err() != nil {
		return
	}
	if relu {
		b.BatchNormReLUForwardTrain(y, bn.Gamma, bn.Beta, bn.RunMean, bn.RunVar, bn.Y, bn.SaveMean, bn.SaveInvStd, bn.P)
		return
	}
	b.BatchNormForwardTrain(y, bn.Gamma, bn.Beta, bn.RunMean, bn.RunVar, bn.Y, bn.SaveMean, bn.SaveInvStd, bn.P)
}
