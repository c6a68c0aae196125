package layers

import (
	"github.com/cnnctl/cnnctl/internal/tensor"
)

// BatchNorm is nn.BatchNorm2d on (C,H,W) inputs (statistics per channel)
// and nn.BatchNorm1d on (F) inputs (statistics per feature). Parameters
// weight (ones) and bias (zeros); buffers running_mean (zeros) and
// running_var (ones); num_batches_tracked is kept on the host.
type BatchNorm struct {
	base
	leaf
	P tensor.BatchNormParams

	be      tensor.Backend
	in      tensor.Shape // per sample
	C       int
	Weight  *Param
	Bias    *Param
	RunMean *Param
	RunVar  *Param
	batches int64

	train                bool // the last Forward used batch statistics
	x, y, dx             *tensor.Tensor
	saveMean, saveInvStd *tensor.Tensor
	// For Backward after an evaluation Forward, separate tensors so that no
	// two arguments of one op overlap: ones (1,C) and (C), zeros (C) twice.
	onesX, onesC, zeroA, zeroB, invStd *tensor.Tensor
}

// DefaultBatchNorm returns PyTorch's defaults: momentum 0.1, eps 1e-5.
func DefaultBatchNorm() tensor.BatchNormParams {
	return tensor.BatchNormParams{Momentum: 0.1, Eps: 1e-5}
}

// NewBatchNorm returns a batch normalisation (type "batchnorm").
func NewBatchNorm(name string, p tensor.BatchNormParams) Layer {
	return &BatchNorm{base: base{name, "batchnorm"}, P: p}
}

// NumBatchesTracked is PyTorch's num_batches_tracked: the number of
// training Forwards so far.
func (l *BatchNorm) NumBatchesTracked() int64 { return l.batches }

// SetNumBatchesTracked restores num_batches_tracked (from a checkpoint).
func (l *BatchNorm) SetNumBatchesTracked(n int64) { l.batches = n }

// Setup checks in, (C,H,W) or (F), and declares the parameters and buffers
// in PyTorch's state_dict order.
func (l *BatchNorm) Setup(ctx *Context, in tensor.Shape) (tensor.Shape, error) {
	if len(in) != 1 && len(in) != 3 {
		return nil, l.errorf("input %v is neither an image (C,H,W) nor features (F)", in)
	}
	if err := l.positive(in); err != nil {
		return nil, err
	}
	if !(l.P.Momentum >= 0 && l.P.Momentum <= 1) || !(l.P.Eps >= 0) {
		return nil, l.errorf("momentum %g, eps %g: want 0 <= momentum <= 1 and eps >= 0", l.P.Momentum, l.P.Eps)
	}
	l.be, l.in = ctx.Backend, in.Clone()
	l.C = in[0]
	c := tensor.Shape{l.C}
	l.Weight = ctx.Param(l.name+".weight", c, false, constInit(1))
	l.Bias = ctx.Param(l.name+".bias", c, false, constInit(0))
	l.RunMean = ctx.Param(l.name+".running_mean", c, true, constInit(0))
	l.RunVar = ctx.Param(l.name+".running_var", c, true, constInit(1))
	return in.Clone(), nil
}

// Forward: in training, normalise with the batch's statistics and update
// the running ones (and num_batches_tracked); in evaluation, normalise
// with the running statistics. y has x's shape.
func (l *BatchNorm) Forward(x *tensor.Tensor, train bool) *tensor.Tensor {
	be := l.be
	l.x, l.train = x, train
	y := ensure(be, &l.y, x.Shape, x.DType)
	if !train {
		be.BatchNormForwardInfer(x, l.Weight.Value, l.Bias.Value, l.RunMean.Value, l.RunVar.Value, y, l.P)
		return y
	}
	c := tensor.Shape{l.C}
	sm := ensure(be, &l.saveMean, c, tensor.F32)
	si := ensure(be, &l.saveInvStd, c, tensor.F32)
	be.BatchNormForwardTrain(x, l.Weight.Value, l.Bias.Value, l.RunMean.Value, l.RunVar.Value, y, sm, si, l.P)
	l.batches++
	return y
}

// Backward: dy -> dx (x's shape), filling the weight and bias gradients.
// After a training Forward the gradient flows through the batch
// statistics; after an evaluation Forward the layer is the fixed affine
// map y = weight*(x-running_mean)/sqrt(running_var+eps) + bias.
func (l *BatchNorm) Backward(dy *tensor.Tensor) *tensor.Tensor {
	be := l.be
	dx := ensure(be, &l.dx, l.x.Shape, dy.DType)
	if l.train {
		be.BatchNormBackward(l.x, dy, l.Weight.Value, l.saveMean, l.saveInvStd, dx, l.Weight.Grad, l.Bias.Grad)
		return dx
	}
	// invstd = 1/sqrt(running_var+eps), as the evaluation forward of ones
	// with unit weight and zero bias and mean.
	c := tensor.Shape{l.C}
	if l.onesX == nil {
		l.onesX, l.onesC = be.New(tensor.Shape{1, l.C}), be.New(c)
		be.Fill(l.onesX, 1)
		be.Fill(l.onesC, 1)
		l.zeroA, l.zeroB = be.New(c), be.New(c)
		l.invStd = be.New(tensor.Shape{1, l.C})
	}
	be.BatchNormForwardInfer(l.onesX, l.onesC, l.zeroA, l.zeroB, l.RunVar.Value, l.invStd, l.P)
	// The weight and bias gradients, Σ dy·(x-running_mean)·invstd and Σ dy,
	// are those of the training backward with the running statistics; its
	// dx is then replaced by the affine map's, weight*invstd*dy.
	be.BatchNormBackward(l.x, dy, l.Weight.Value, l.RunMean.Value, l.invStd.View(c), dx, l.Weight.Grad, l.Bias.Grad)
	be.BatchNormForwardInfer(dy, l.Weight.Value, l.zeroA, l.zeroB, l.RunVar.Value, dx, l.P)
	return dx
}
