package tensor

// Fused ops: optional interfaces (see optional.go) for work that every
// Backend can already do as a sequence of plain ops. internal/plan's
// rewrites use a fused op where the backend has it and the plain sequence
// where it does not; that sequence is the reference each fused op is tested
// against (tensortest), so a fused op must give what the sequence gives
// within the tolerance of its dtype and math.

// BatchNormReLU fuses a batch normalisation with the ReLU that follows it.
type BatchNormReLU interface {
	// BatchNormReLUForwardTrain is BatchNormForwardTrain followed by
	// ActivationForward(ReLU, y, y), in one pass over y.
	BatchNormReLUForwardTrain(x, gamma, beta, runMean, runVar, y, saveMean, saveInvStd *Tensor, p BatchNormParams)
	// BatchNormReLUForwardInfer is BatchNormForwardInfer then ReLU in place.
	BatchNormReLUForwardInfer(x, gamma, beta, runMean, runVar, y *Tensor, p BatchNormParams)
	// BatchNormReLUBackward takes the fused forward's output y (ReLU's mask
	// is y > 0) and the gradient dy of y: it is ActivationBackward(ReLU, y,
	// dy, t) followed by BatchNormBackward(x, t, gamma, saveMean,
	// saveInvStd, dx, dgamma, dbeta).
	BatchNormReLUBackward(x, y, dy, gamma, saveMean, saveInvStd, dx, dgamma, dbeta *Tensor)
}

// Epilogue is what a fused convolution does to its output before storing
// it, after the bias: add Residual (y's shape; nil: nothing), then ReLU.
type Epilogue struct {
	Residual *Tensor
	ReLU     bool
}

// ConvEpilogue fuses a convolution with the elementwise work that follows.
type ConvEpilogue interface {
	// Conv2DForwardEpilogue is Conv2DForward(x, w, b, y, p), then
	// Add(y, e.Residual, y) when e.Residual is not nil, then
	// ActivationForward(ReLU, y, y) when e.ReLU. e.Residual must not
	// overlap x, w, b or y. The backward is the plain ops' (ReLU's mask is
	// y > 0).
	Conv2DForwardEpilogue(x, w, b, y *Tensor, p ConvParams, e Epilogue)
}

// AddReLU fuses a residual sum with the ReLU after it.
type AddReLU interface {
	// AddReLU: y = max(0, a + b) elementwise; y may be a or b. It is Add
	// then ActivationForward(ReLU, y, y).
	AddReLU(a, b, y *Tensor)
}

// BatchNormTrain is a training-mode batch norm's tensors and settings, as
// BatchNormForwardTrain takes them: x's normalisation into Y with Gamma
// and Beta, the batch statistics saved in SaveMean and SaveInvStd and the
// running ones updated in place.
type BatchNormTrain struct {
	Gamma, Beta, RunMean, RunVar, Y, SaveMean, SaveInvStd *Tensor
	P                                                     BatchNormParams
}

// ConvBatchNorm fuses a convolution with the training-mode batch norm
// after it: the batch statistics are gathered as the convolution stores
// its output, so the batch norm reads that output once instead of twice.
type ConvBatchNorm interface {
	// ConvBatchNormForwardTrain is Conv2DForward(x, w, b, y, p), then
	// BatchNormForwardTrain(y, bn.Gamma, bn.Beta, bn.RunMean, bn.RunVar,
	// bn.Y, bn.SaveMean, bn.SaveInvStd, bn.P), or
	// BatchNormReLUForwardTrain with the same arguments when relu. y
	// holds the convolution's output afterwards (the backward's input);
	// bn.Y must not overlap y. The backward is the plain ops'.
	ConvBatchNormForwardTrain(x, w, b, y *Tensor, p ConvParams, bn BatchNormTrain, relu bool)
}

// ConvBatchNormInfer fuses a convolution with the evaluation-mode batch norm
// after it (and the ReLU after that): the batch norm's affine map runs on
// each piece of the convolution's output as it is written, instead of as
// a second pass over memory. Training keeps the two ops (the batch
// statistics need the whole output first: ConvBatchNorm gathers them in the
// convolution's epilogue instead).
type ConvBatchNormInfer interface {
	// Conv2DBatchNormInfer is Conv2DForward(x, w, b, y, p), then
	// BatchNormForwardInfer(y, gamma, beta, runMean, runVar, y, bp), then
	// ActivationForward(ReLU, y, y) when relu. gamma, beta, runMean and
	// runVar are (K).
	Conv2DBatchNormInfer(x, w, b, y *Tensor, p ConvParams, gamma, beta, runMean, runVar *Tensor, bp BatchNormParams, relu bool)
}
