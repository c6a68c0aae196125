//go:build cuda

package gpu

import (
	"gorgonia.org/cu"

	"github.com/cnnctl/cnnctl/internal/kernelhost"
	"github.com/cnnctl/cnnctl/internal/tensor"
)

// named is a tensor with its name for error messages.
type named struct {
	name string
	t    *tensor.Tensor
}

// bn reads x (N,C,...) and checks that every per-channel tensor has C
// elements; the plan is kernels/batchnorm.cuh's split of x (N,C,L), L the
// product of x's dimensions after C, over this device's SMs.
func (c *call) bn(x *tensor.Tensor, perChannel ...named) kernelhost.BNPlan {
	if c.err != nil {
		return kernelhost.BNPlan{}
	}
	c.check(len(x.Shape) >= 2, "x is %v, want (N,C) or (N,C,...)", x.Shape)
	if c.err != nil {
		return kernelhost.BNPlan{}
	}
	n, ch, l := x.Shape[0], x.Shape[1], tensor.Shape(x.Shape[2:]).Numel()
	for _, t := range perChannel {
		c.check(t.t.Numel() == ch, "%s is %v, want %d elements (x %v)", t.name, t.t.Shape, ch, x.Shape)
	}
	p, err := kernelhost.PlanBN(n, ch, l, c.be.info.SMs)
	if err != nil {
		c.fail("x is %v: %v", x.Shape, err)
	}
	return p
}

// bnDims is the plan's grid: (B, tiles_c) blocks of 256 threads.
func bnDims(p kernelhost.BNPlan) dims {
	return dims{gx: p.B, gy: p.TilesC, gz: 1, block: kernelhost.BNThreads}
}

// bnArgs appends the plan's fields and the float4 switch to args: vec when
// a lane's group is 4 floats and every streamed tensor is 16-byte aligned
// (the same arithmetic in the same order either way).
func bnArgs(p kernelhost.BNPlan, args []any, streamed ...cu.DevicePtr) []any {
	for _, v := range p.Args() {
		args = append(args, v)
	}
	vec := p.G == 4
	for _, s := range streamed {
		vec = vec && s%16 == 0
	}
	return append(args, vec)
}

// bnTwoPass launches a statistics kernel and the kernel that applies them,
// the scratch of partial sums (plan.Partials() doubles) passed to both as
// argument statsAt and applyAt.
func (c *call) bnTwoPass(g kernelhost.BNPlan, statsName string, stats []uint64, statsAt int, applyName string, apply []uint64, applyAt int) {
	c.be.do(c.op, func() {
		ws, release, ok := c.scratch(int64(g.Partials()) * 8)
		if !ok {
			return
		}
		stats[statsAt], apply[applyAt] = uint64(ws), uint64(ws)
		c.launchHere(statsName, bnDims(g), stats)
		c.launchHere(applyName, bnDims(g), apply)
		release()
	})
}

var _ tensor.BatchNormReLU = (*Backend)(nil)

// BatchNormForwardTrain: x (N,C,...) -> y, with batch statistics per
// channel, saving mean and invstd and updating the running statistics in
// place. Two kernels: per-block partial sums into scratch, then the combine
// in a fixed order and the normalisation (batchnorm.cu).
func (b *Backend) BatchNormForwardTrain(x, gamma, beta, runMean, runVar, y, saveMean, saveInvStd *tensor.Tensor, p tensor.BatchNormParams) {
	b.bnForwardTrain("batchnorm forward train", false, x, gamma, beta, runMean, runVar, y, saveMean, saveInvStd, p)
}

// BatchNormReLUForwardTrain is BatchNormForwardTrain then a ReLU on y, in
// the same two kernels (y = relu(bn(x)) written once). Its backward is
// BatchNormReLUBackward.
func (b *Backend) BatchNormReLUForwardTrain(x, gamma, beta, runMean, runVar, y, saveMean, saveInvStd *tensor.Tensor, p tensor.BatchNormParams) {
	b.bnForwardTrain("batchnorm+relu forward train", true, x, gamma, beta, runMean, runVar, y, saveMean, saveInvStd, p)
}

func (b *Backend) bnForwardTrain(op string, relu bool, x, gamma, beta, runMean, runVar, y, saveMean, saveInvStd *tensor.Tensor, p tensor.BatchNormParams) {
	c := b.call(op)
	xp, yp := c.ptr("x", x, 0), c.ptr("y", y, 0)
	gp, bp, rmp, rvp := c.ptr("gamma", gamma, 0), c.ptr("beta", beta, 0), c.ptr("running mean", runMean, 0), c.ptr("running var", runVar, 0)
	smp, sip := c.ptr("save mean", saveMean, 0), c.ptr("save invstd", saveInvStd, 0)
	g := c.bn(x, named{"gamma", gamma}, named{"beta", beta}, named{"running mean", runMean}, named{"running var", runVar}, named{"save mean", saveMean}, named{"save invstd", saveInvStd})
	c.check(c.err != nil || y.Shape.Equal(x.Shape), "y is %v, want x's %v", y.Shape, x.Shape)
	// PyTorch refuses too: with one value per channel the batch variance
	// is 0 and the unbiased running variance 0/0.
	c.check(c.err != nil || g.N*g.L >= 2, "x is %v: %d value per channel, training statistics need at least 2", x.Shape, g.N*g.L)
	stats := c.kernelArgs(bnArgs(g, []any{xp, cu.DevicePtr(0)}, xp))
	apply := c.kernelArgs(bnArgs(g, []any{xp, gp, bp, rmp, rvp, yp, smp, sip, cu.DevicePtr(0), p.Momentum, p.Eps, relu}, xp, yp))
	if !c.ok() {
		return
	}
	c.bnTwoPass(g, "batchnorm_stats", stats, 1, "batchnorm_forward_train", apply, 8)
}

// BatchNormForwardInfer normalises with the running statistics.
func (b *Backend) BatchNormForwardInfer(x, gamma, beta, runMean, runVar, y *tensor.Tensor, p tensor.BatchNormParams) {
	b.bnForwardInfer("batchnorm forward infer", false, x, gamma, beta, runMean, runVar, y, p)
}

// BatchNormReLUForwardInfer is BatchNormForwardInfer then a ReLU, in one kernel.
func (b *Backend) BatchNormReLUForwardInfer(x, gamma, beta, runMean, runVar, y *tensor.Tensor, p tensor.BatchNormParams) {
	b.bnForwardInfer("batchnorm+relu forward infer", true, x, gamma, beta, runMean, runVar, y, p)
}

func (b *Backend) bnForwardInfer(op string, relu bool, x, gamma, beta, runMean, runVar, y *tensor.Tensor, p tensor.BatchNormParams) {
	c := b.call(op)
	xp, yp := c.ptr("x", x, 0), c.ptr("y", y, 0)
	gp, bp, rmp, rvp := c.ptr("gamma", gamma, 0), c.ptr("beta", beta, 0), c.ptr("running mean", runMean, 0), c.ptr("running var", runVar, 0)
	g := c.bn(x, named{"gamma", gamma}, named{"beta", beta}, named{"running mean", runMean}, named{"running var", runVar})
	c.check(c.err != nil || y.Shape.Equal(x.Shape), "y is %v, want x's %v", y.Shape, x.Shape)
	c.launch("batchnorm_forward_infer", bnDims(g), bnArgs(g, []any{xp, gp, bp, rmp, rvp, yp, p.Eps, relu}, xp, yp)...)
}

// BatchNormBackward: x, dy (N,C,...) -> dx, dgamma (C), dbeta (C). Two
// kernels, as the training forward.
func (b *Backend) BatchNormBackward(x, dy, gamma, saveMean, saveInvStd, dx, dgamma, dbeta *tensor.Tensor) {
	b.bnBackward("batchnorm backward", false, x, nil, dy, gamma, saveMean, saveInvStd, dx, dgamma, dbeta)
}

// BatchNormReLUBackward is the backward of BatchNormReLUForwardTrain, whose
// output y it takes: ReLU's backward (dy where y > 0 or y is NaN, else 0)
// then batch norm's, in the same two kernels as BatchNormBackward.
func (b *Backend) BatchNormReLUBackward(x, y, dy, gamma, saveMean, saveInvStd, dx, dgamma, dbeta *tensor.Tensor) {
	b.bnBackward("batchnorm+relu backward", true, x, y, dy, gamma, saveMean, saveInvStd, dx, dgamma, dbeta)
}

// bnBackward is batch norm's backward, after ReLU's (from y) when relu.
func (b *Backend) bnBackward(op string, relu bool, x, y, dy, gamma, saveMean, saveInvStd, dx, dgamma, dbeta *tensor.Tensor) {
	c := b.call(op)
	xp, dyp, dxp := c.ptr("x", x, 0), c.ptr("dy", dy, 0), c.ptr("dx", dx, 0)
	streamed := []cu.DevicePtr{xp, dyp, dxp}
	var yp cu.DevicePtr
	if relu {
		yp = c.ptr("y", y, 0)
		c.check(c.err != nil || y.Shape.Equal(x.Shape), "y is %v, want x's %v", y.Shape, x.Shape)
		streamed = append(streamed, yp)
	}
	gp, smp, sip := c.ptr("gamma", gamma, 0), c.ptr("save mean", saveMean, 0), c.ptr("save invstd", saveInvStd, 0)
	dgp, dbp := c.ptr("dgamma", dgamma, 0), c.ptr("dbeta", dbeta, 0)
	g := c.bn(x, named{"gamma", gamma}, named{"save mean", saveMean}, named{"save invstd", saveInvStd}, named{"dgamma", dgamma}, named{"dbeta", dbeta})
	c.check(c.err != nil || dy.Shape.Equal(x.Shape) && dx.Shape.Equal(x.Shape), "dy %v and dx %v, want x's %v", dy.Shape, dx.Shape, x.Shape)
	// One vec switch for both kernels (dx is not streamed by the first: harmless).
	stats := c.kernelArgs(bnArgs(g, []any{xp, dyp, yp, smp, sip, cu.DevicePtr(0)}, streamed...))
	apply := c.kernelArgs(bnArgs(g, []any{xp, dyp, yp, gp, smp, sip, dxp, dgp, dbp, cu.DevicePtr(0)}, streamed...))
	if !c.ok() {
		return
	}
	c.bnTwoPass(g, "batchnorm_backward_stats", stats, 5, "batchnorm_backward", apply, 9)
}
