//go:build cuda

package gpu

import (
	"gorgonia.org/cu"

	"github.com/cnnctl/cnnctl/internal/kernelhost"
	"github.com/cnnctl/cnnctl/internal/tensor"
)

var _ tensor.ConvBatchNorm = (*Backend)(nil)

// ConvBatchNormForwardTrain: x (N,C,H,W), w (K,C,R,S), b (K) or nil -> y
// (N,K,OH,OW), then the training batch norm of y (then ReLU when relu)
// into bn.Y. With a tensor-core forward selected (tf32, bf16) three
// kernels: the forward's epilogue-statistics form writes y and, per (128
// rows of N*OH*OW, channel), the mean and M2 of y in double
// (kernels/bnstats.cuh); batchnorm_partials_combine merges them per
// channel in a fixed order (Chan's formula) into the saved and running
// statistics; batchnorm_forward_coef normalises y. The batch norm reads y
// once instead of twice. With the fp32 forward, the plain ops
// (Conv2DForward, BatchNormForwardTrain or BatchNormReLUForwardTrain), so
// that fp32 keeps their bits.
func (b *Backend) ConvBatchNormForwardTrain(x, w, bias, y *tensor.Tensor, p tensor.ConvParams, bn tensor.BatchNormTrain, relu bool) {
	c := b.call("conv2d+batchnorm forward train")
	xp, wp, yp, zp := c.ptr("x", x, 4), c.ptr("w", w, 4), c.ptr("y", y, 4), c.ptr("bn y", bn.Y, 4)
	g := c.conv(x, w, y, p)
	k := b.kernel("conv2d_forward")
	name := k.Name
	if c.err == nil {
		// The kernel the plain forward would launch, for the alignment it
		// sees (the 1x1 class's 16-byte forms need x and w 16-byte
		// aligned, as in convForward).
		name = b.forwardKernel(k, g, aligned16(xp, wp))
	}
	stats, ok := bnStatsForward(name)
	if !ok {
		// The plain ops check the arguments again and record their own
		// errors; c's (if any) goes unrecorded.
		b.Conv2DForward(x, w, bias, y, p)
		if relu {
			b.BatchNormReLUForwardTrain(y, bn.Gamma, bn.Beta, bn.RunMean, bn.RunVar, bn.Y, bn.SaveMean, bn.SaveInvStd, bn.P)
		} else {
			b.BatchNormForwardTrain(y, bn.Gamma, bn.Beta, bn.RunMean, bn.RunVar, bn.Y, bn.SaveMean, bn.SaveInvStd, bn.P)
		}
		return
	}
	bp := c.opt("b", bias, 1)
	gp, bep, rmp, rvp := c.ptr("gamma", bn.Gamma, 0), c.ptr("beta", bn.Beta, 0), c.ptr("running mean", bn.RunMean, 0), c.ptr("running var", bn.RunVar, 0)
	smp, sip := c.ptr("save mean", bn.SaveMean, 0), c.ptr("save invstd", bn.SaveInvStd, 0)
	c.shape("b", bias, g.K)
	c.check(c.err != nil || bn.Y.Shape.Equal(y.Shape), "the batch norm's output is %v, want y's %v", bn.Y.Shape, y.Shape)
	c.check(c.err != nil || bn.Y.Buf != y.Buf || bn.Y.Off >= y.Off+y.Numel() || y.Off >= bn.Y.Off+bn.Y.Numel(),
		"the batch norm's output overlaps y")
	plan := c.bn(y, named{"gamma", bn.Gamma}, named{"beta", bn.Beta}, named{"running mean", bn.RunMean}, named{"running var", bn.RunVar},
		named{"save mean", bn.SaveMean}, named{"save invstd", bn.SaveInvStd})
	rows := g.N * g.OH * g.OW
	// PyTorch refuses too: with one value per channel the unbiased running variance is 0/0.
	c.check(c.err != nil || rows >= 2, "y is %v: %d value per channel, training statistics need at least 2", y.Shape, rows)
	nparts := kernelhost.BNStatsParts(rows)
	conv := c.kernelArgs(append([]any{xp, wp, bp, yp, cu.DevicePtr(0)}, g.args()...))
	comb := c.kernelArgs([]any{cu.DevicePtr(0), nparts, kernelhost.BNStatsTileRows, rows, g.K, gp, rmp, rvp, smp, sip,
		cu.DevicePtr(0), bn.P.Momentum, bn.P.Eps})
	apply := c.kernelArgs(bnArgs(plan, []any{yp, cu.DevicePtr(0), bep, zp, relu}, yp, zp))
	if !c.ok() {
		return
	}
	partBytes := int64(2*g.K*nparts) * 8
	b.do(c.op, func() {
		ws, release, ok := c.scratch(partBytes + int64(2*g.K)*4)
		if !ok {
			return
		}
		coef := uint64(ws) + uint64(partBytes)
		conv[4], comb[0], comb[10], apply[1] = uint64(ws), uint64(ws), coef, coef
		c.launchHere(stats, dims{gx: nparts, gy: ceilDiv(g.K, tcTileN), gz: 1, block: tcThreads}, conv)
		c.launchHere("batchnorm_partials_combine", dims{gx: g.K, gy: 1, gz: 1, block: kernelhost.BNStatsCombineThreads}, comb)
		c.launchHere("batchnorm_forward_coef", bnDims(plan), apply)
		release()
	})
}
