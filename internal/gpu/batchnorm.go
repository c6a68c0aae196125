//go:build cuda

package gpu

import "github.com/cnnctl/cnnctl/internal/tensor"

// named is a tensor with its name for error messages.
type named struct {
	name string
	t    *tensor.Tensor
}

// batchNorm is x (N,C,L), L the product of x's dimensions after C.
type batchNorm struct{ N, C, L int }

// bn reads x (N,C,...) and checks that every per-channel tensor has C elements.
func (c *call) bn(x *tensor.Tensor, perChannel ...named) batchNorm {
	if c.err != nil {
		return batchNorm{}
	}
	c.check(len(x.Shape) >= 2, "x is %v, want (N,C) or (N,C,...)", x.Shape)
	if c.err != nil {
		return batchNorm{}
	}
	g := batchNorm{N: x.Shape[0], C: x.Shape[1], L: tensor.Shape(x.Shape[2:]).Numel()}
	for _, t := range perChannel {
		c.check(t.t.Numel() == g.C, "%s is %v, want %d elements (x %v)", t.name, t.t.Shape, g.C, x.Shape)
	}
	return g
}

const bnThreads = 256

// BatchNormForwardTrain: x (N,C,...) -> y, with batch statistics per
// channel (one block per channel), saving mean and invstd and updating the
// running statistics in place.
func (b *Backend) BatchNormForwardTrain(x, gamma, beta, runMean, runVar, y, saveMean, saveInvStd *tensor.Tensor, p tensor.BatchNormParams) {
	c := b.call("batchnorm forward train")
	xp, yp := c.ptr("x", x, 0), c.ptr("y", y, 0)
	gp, bp, rmp, rvp := c.ptr("gamma", gamma, 0), c.ptr("beta", beta, 0), c.ptr("running mean", runMean, 0), c.ptr("running var", runVar, 0)
	smp, sip := c.ptr("save mean", saveMean, 0), c.ptr("save invstd", saveInvStd, 0)
	g := c.bn(x, named{"gamma", gamma}, named{"beta", beta}, named{"running mean", runMean}, named{"running var", runVar}, named{"save mean", saveMean}, named{"save invstd", saveInvStd})
	c.check(c.err != nil || y.Shape.Equal(x.Shape), "y is %v, want x's %v", y.Shape, x.Shape)
	// PyTorch refuses too: with one value per channel the batch variance
	// is 0 and the unbiased running variance 0/0.
	c.check(c.err != nil || g.N*g.L >= 2, "x is %v: %d value per channel, training statistics need at least 2", x.Shape, g.N*g.L)
	c.launch("batchnorm_forward_train", dims{gx: g.C, gy: 1, gz: 1, block: bnThreads},
		xp, gp, bp, rmp, rvp, yp, smp, sip, g.N, g.C, g.L, p.Momentum, p.Eps)
}

// BatchNormForwardInfer normalises with the running statistics.
func (b *Backend) BatchNormForwardInfer(x, gamma, beta, runMean, runVar, y *tensor.Tensor, p tensor.BatchNormParams) {
	c := b.call("batchnorm forward infer")
	xp, yp := c.ptr("x", x, 0), c.ptr("y", y, 0)
	gp, bp, rmp, rvp := c.ptr("gamma", gamma, 0), c.ptr("beta", beta, 0), c.ptr("running mean", runMean, 0), c.ptr("running var", runVar, 0)
	g := c.bn(x, named{"gamma", gamma}, named{"beta", beta}, named{"running mean", runMean}, named{"running var", runVar})
	c.check(c.err != nil || y.Shape.Equal(x.Shape), "y is %v, want x's %v", y.Shape, x.Shape)
	c.launch("batchnorm_forward_infer", b.grid1D(g.N*g.C*g.L), xp, gp, bp, rmp, rvp, yp, g.N, g.C, g.L, p.Eps)
}

// BatchNormBackward: x, dy (N,C,...) -> dx, dgamma (C), dbeta (C).
func (b *Backend) BatchNormBackward(x, dy, gamma, saveMean, saveInvStd, dx, dgamma, dbeta *tensor.Tensor) {
	c := b.call("batchnorm backward")
	xp, dyp, dxp := c.ptr("x", x, 0), c.ptr("dy", dy, 0), c.ptr("dx", dx, 0)
	gp, smp, sip := c.ptr("gamma", gamma, 0), c.ptr("save mean", saveMean, 0), c.ptr("save invstd", saveInvStd, 0)
	dgp, dbp := c.ptr("dgamma", dgamma, 0), c.ptr("dbeta", dbeta, 0)
	g := c.bn(x, named{"gamma", gamma}, named{"save mean", saveMean}, named{"save invstd", saveInvStd}, named{"dgamma", dgamma}, named{"dbeta", dbeta})
	c.check(c.err != nil || dy.Shape.Equal(x.Shape) && dx.Shape.Equal(x.Shape), "dy %v and dx %v, want x's %v", dy.Shape, dx.Shape, x.Shape)
	c.launch("batchnorm_backward", dims{gx: g.C, gy: 1, gz: 1, block: bnThreads},
		xp, dyp, gp, smp, sip, dxp, dgp, dbp, g.N, g.C, g.L)
}
