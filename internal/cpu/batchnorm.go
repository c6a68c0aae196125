package cpu

import (
	"math"

	"github.com/cnnctl/cnnctl/internal/tensor"
)

// batchNorm is the geometry of x (N,C,...): channel c of sample n is the
// contiguous run x[(n*C+c)*L : (n*C+c+1)*L], L the product of the dimensions after C
// (H*W for (N,C,H,W), 1 for (N,C)).
type batchNorm struct{ N, C, L int }

func newBatchNorm(c *call, x *tensor.Tensor) batchNorm {
	if !(len(x.Shape) >= 2) {
		c.fail("x is %v, want (N,C) or (N,C,H,W)", x.Shape)
	}
	if c.err != nil {
		return batchNorm{}
	}
	return batchNorm{N: x.Shape[0], C: x.Shape[1], L: tensor.Shape(x.Shape[2:]).Numel()}
}

// channel calls f with each run of channel ch, one per sample.
func (g batchNorm) channel(x []float32, ch int, f func(run []float32, n int)) {
	for n := range g.N {
		f(x[(n*g.C+ch)*g.L:(n*g.C+ch+1)*g.L], n)
	}
}

// BatchNormForwardTrain: x (N,C,H,W) or (N,C), gamma, beta, runMean, runVar,
// saveMean, saveInvStd (C) -> y (x's shape). Per channel, with m = N*H*W values:
//
//	mean = Σx/m, var = Σ(x-mean)²/m (biased), invstd = 1/sqrt(var+eps)
//	y = gamma·(x-mean)·invstd + beta
//	runMean = (1-momentum)·runMean + momentum·mean
//	runVar  = (1-momentum)·runVar  + momentum·var·m/(m-1) (unbiased)
//
// Statistics are accumulated in float64.
func (b *Backend) BatchNormForwardTrain(x, gamma, beta, runMean, runVar, y, saveMean, saveInvStd *tensor.Tensor, p tensor.BatchNormParams) {
	if hasBF16(x, gamma, beta, runMean, runVar, y, saveMean, saveInvStd) {
		b.emulate("batchnorm forward train", []*tensor.Tensor{x, gamma, beta, runMean, runVar, y, saveMean, saveInvStd}, 1<<3|1<<4|1<<5|1<<6|1<<7, func(t []*tensor.Tensor) { b.BatchNormForwardTrain(t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7], p) })
		return
	}
	b.batchNormForwardTrain("batchnorm forward train", x, gamma, beta, runMean, runVar, y, saveMean, saveInvStd, p, false)
}

// batchNormForwardTrain is BatchNormForwardTrain, followed by a ReLU on y
// when relu is set (BatchNormReLUForwardTrain, fused.go).
func (b *Backend) batchNormForwardTrain(op string, x, gamma, beta, runMean, runVar, y, saveMean, saveInvStd *tensor.Tensor, p tensor.BatchNormParams, relu bool) {
	c := b.call(op)
	xd := c.data("x", x, 0)
	yd := c.data("y", y, 0)
	gd := c.data("gamma", gamma, 1)
	bd := c.data("beta", beta, 1)
	rm := c.data("running mean", runMean, 1)
	rv := c.data("running var", runVar, 1)
	sm := c.data("save mean", saveMean, 1)
	si := c.data("save invstd", saveInvStd, 1)
	g := newBatchNorm(c, x)
	c.shape("y", y, x.Shape...)
	for _, t := range []*tensor.Tensor{gamma, beta, runMean, runVar, saveMean, saveInvStd} {
		if !(t.Shape.Equal(tensor.Shape{g.C})) {
			c.fail("per-channel tensor is %v, want %d for x %v", t.Shape, g.C, x.Shape)
		}
	}
	m := g.N * g.L
	if !(m > 1) {
		c.fail("x %v has one value per channel: a batch needs more than one", x.Shape)
	}
	if !c.ok() {
		return
	}
	mom := float64(p.Momentum)
	if !b.ref {
		g.forwardTrainFast(xd, yd, gd, bd, rm, rv, sm, si, mom, float64(p.Eps), relu)
		return
	}
	if relu {
		defer b.ActivationForward(tensor.ReLU, y, y)
	}
	parallelFor(g.C, func(_, lo, hi int) {
		for ch := lo; ch < hi; ch++ {
			var sum float64
			g.channel(xd, ch, func(run []float32, _ int) {
				for _, v := range run {
					sum += float64(v)
				}
			})
			mean := sum / float64(m)
			var sq float64
			g.channel(xd, ch, func(run []float32, _ int) {
				for _, v := range run {
					d := float64(v) - mean
					sq += d * d
				}
			})
			variance := sq / float64(m)
			invstd := 1 / math.Sqrt(variance+float64(p.Eps))
			scale := float64(gd[ch]) * invstd
			shift := float64(bd[ch]) - mean*scale
			g.channel(xd, ch, func(run []float32, n int) {
				out := yd[(n*g.C+ch)*g.L:]
				for i, v := range run {
					out[i] = float32(float64(v)*scale + shift)
				}
			})
			sm[ch] = float32(mean)
			si[ch] = float32(invstd)
			rm[ch] = float32((1-mom)*float64(rm[ch]) + mom*mean)
			rv[ch] = float32((1-mom)*float64(rv[ch]) + mom*variance*float64(m)/float64(m-1))
		}
	})
}

// BatchNormForwardInfer: as the training forward with the running statistics:
// y = gamma·(x-runMean)/sqrt(runVar+eps) + beta.
func (b *Backend) BatchNormForwardInfer(x, gamma, beta, runMean, runVar, y *tensor.Tensor, p tensor.BatchNormParams) {
	if hasBF16(x, gamma, beta, runMean, runVar, y) {
		b.emulate("batchnorm forward infer", []*tensor.Tensor{x, gamma, beta, runMean, runVar, y}, 1<<5, func(t []*tensor.Tensor) { b.BatchNormForwardInfer(t[0], t[1], t[2], t[3], t[4], t[5], p) })
		return
	}
	b.batchNormForwardInfer("batchnorm forward infer", x, gamma, beta, runMean, runVar, y, p, false)
}

// batchNormForwardInfer is BatchNormForwardInfer, followed by a ReLU on y
// when relu is set.
func (b *Backend) batchNormForwardInfer(op string, x, gamma, beta, runMean, runVar, y *tensor.Tensor, p tensor.BatchNormParams, relu bool) {
	c := b.call(op)
	xd := c.data("x", x, 0)
	yd := c.data("y", y, 0)
	gd := c.data("gamma", gamma, 1)
	bd := c.data("beta", beta, 1)
	rm := c.data("running mean", runMean, 1)
	rv := c.data("running var", runVar, 1)
	g := newBatchNorm(c, x)
	c.shape("y", y, x.Shape...)
	for _, t := range []*tensor.Tensor{gamma, beta, runMean, runVar} {
		if !(t.Shape.Equal(tensor.Shape{g.C})) {
			c.fail("per-channel tensor is %v, want %d for x %v", t.Shape, g.C, x.Shape)
		}
	}
	if !c.ok() {
		return
	}
	if !b.ref {
		g.forwardInferFast(xd, yd, gd, bd, rm, rv, float64(p.Eps), relu)
		return
	}
	if relu {
		defer b.ActivationForward(tensor.ReLU, y, y)
	}
	parallelFor(g.C, func(_, lo, hi int) {
		for ch := lo; ch < hi; ch++ {
			invstd := 1 / math.Sqrt(float64(rv[ch])+float64(p.Eps))
			scale := float64(gd[ch]) * invstd
			shift := float64(bd[ch]) - float64(rm[ch])*scale
			g.channel(xd, ch, func(run []float32, n int) {
				out := yd[(n*g.C+ch)*g.L:]
				for i, v := range run {
					out[i] = float32(float64(v)*scale + shift)
				}
			})
		}
	})
}

// BatchNormBackward: x, dy (N,C,H,W) or (N,C), gamma, saveMean, saveInvStd (C)
// -> dx (x's shape), dgamma, dbeta (C). Per channel, with xhat = (x-mean)·invstd
// and m values:
//
//	dbeta  = Σ dy
//	dgamma = Σ dy·xhat
//	dx     = gamma·invstd/m · (m·dy - dbeta - xhat·dgamma)
func (b *Backend) BatchNormBackward(x, dy, gamma, saveMean, saveInvStd, dx, dgamma, dbeta *tensor.Tensor) {
	if hasBF16(x, dy, gamma, saveMean, saveInvStd, dx, dgamma, dbeta) {
		b.emulate("batchnorm backward", []*tensor.Tensor{x, dy, gamma, saveMean, saveInvStd, dx, dgamma, dbeta}, 1<<5|1<<6|1<<7, func(t []*tensor.Tensor) { b.BatchNormBackward(t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7]) })
		return
	}
	b.batchNormBackward("batchnorm backward", x, nil, dy, gamma, saveMean, saveInvStd, dx, dgamma, dbeta)
}

// batchNormBackward is BatchNormBackward when y is nil, and
// BatchNormReLUBackward otherwise: dy goes through ReLU's gradient (mask
// y > 0, written into dx) before the batch norm's, which then reads its dy
// from dx (each element read before it is written, at the same index).
func (b *Backend) batchNormBackward(op string, x, y, dy, gamma, saveMean, saveInvStd, dx, dgamma, dbeta *tensor.Tensor) {
	c := b.call(op)
	xd := c.data("x", x, 0)
	var yd []float32
	if y != nil {
		yd = c.data("y", y, 0)
		c.shape("y", y, x.Shape...)
	}
	dyd := c.data("dy", dy, 0)
	dxd := c.data("dx", dx, 0)
	gd := c.data("gamma", gamma, 1)
	sm := c.data("save mean", saveMean, 1)
	si := c.data("save invstd", saveInvStd, 1)
	dgd := c.data("dgamma", dgamma, 1)
	dbd := c.data("dbeta", dbeta, 1)
	g := newBatchNorm(c, x)
	c.shape("dy", dy, x.Shape...)
	c.shape("dx", dx, x.Shape...)
	for _, t := range []*tensor.Tensor{gamma, saveMean, saveInvStd, dgamma, dbeta} {
		if !(t.Shape.Equal(tensor.Shape{g.C})) {
			c.fail("per-channel tensor is %v, want %d for x %v", t.Shape, g.C, x.Shape)
		}
	}
	if !c.ok() {
		return
	}
	if !b.ref {
		g.backwardFast(xd, yd, dyd, dxd, gd, sm, si, dgd, dbd)
		return
	}
	if y != nil {
		// ReLU's gradient into dx, then the batch norm's with dy = dx.
		b.ActivationBackward(tensor.ReLU, y, dy, dx)
		dyd = dxd
	}
	m := float64(g.N * g.L)
	parallelFor(g.C, func(_, lo, hi int) {
		for ch := lo; ch < hi; ch++ {
			mean, invstd := float64(sm[ch]), float64(si[ch])
			var sdy, sdyx float64
			g.channel(xd, ch, func(run []float32, n int) {
				d := dyd[(n*g.C+ch)*g.L:]
				for i, v := range run {
					sdy += float64(d[i])
					sdyx += float64(d[i]) * (float64(v) - mean) * invstd
				}
			})
			k := float64(gd[ch]) * invstd / m
			g.channel(xd, ch, func(run []float32, n int) {
				d := dyd[(n*g.C+ch)*g.L:]
				out := dxd[(n*g.C+ch)*g.L:]
				for i, v := range run {
					xhat := (float64(v) - mean) * invstd
					out[i] = float32(k * (m*float64(d[i]) - sdy - xhat*sdyx))
				}
			})
			dgd[ch] = float32(sdyx)
			dbd[ch] = float32(sdy)
		}
	})
}
