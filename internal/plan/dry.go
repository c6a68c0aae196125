package plan

import (
	"github.com/cnnctl/cnnctl/internal/tensor"
)

// Dry is a backend that allocates buffers with a length and no memory,
// counts the bytes it allocates, and computes nothing: a model built on it
// at full size costs no memory and no time. It sizes a plan without
// allocating it (ArenaBytes), and counts what a model's layers allocate in
// tests. It has no fused ops; DryFused is Dry with them.
type Dry struct {
	// Bytes is what New allocated since Bytes was last set to 0.
	Bytes int64
}

// DryFused is Dry with the fused ops of tensor.BatchNormReLU,
// tensor.ConvEpilogue, tensor.AddReLU and tensor.ConvBatchNorm (each
// computing nothing), as the CPU and GPU backends have them.
type DryFused struct{ *Dry }

// NewDryLike returns a dry backend with the fused ops that be has (be nil:
// all of them, as the CPU and GPU backends have), so that a plan compiled
// on it makes the rewrites and lays out the tensors that one compiled on
// be does. ok is false when be has some of the fused ops but not all
// (there is no dry backend for that mix).
func NewDryLike(be tensor.Backend) (d tensor.Backend, ok bool) {
	if be == nil {
		return DryFused{&Dry{}}, true
	}
	_, bnr := be.(tensor.BatchNormReLU)
	_, epi := be.(tensor.ConvEpilogue)
	_, ar := be.(tensor.AddReLU)
	_, cbn := be.(tensor.ConvBatchNorm)
	_, inf := be.(tensor.ConvBatchNormInfer)
	switch {
	case bnr && epi && ar && cbn && inf:
		return DryFused{&Dry{}}, true
	case bnr && epi && ar && cbn:
		return NewDryFusedTrain(&Dry{}), true
	case !bnr && !epi && !ar && !cbn && !inf:
		return &Dry{}, true
	}
	return nil, false
}

// DryFusedTrain is a dry backend with DryFused's ops but the evaluation
// op tensor.ConvBatchNormInfer: the GPU's set (a plan on it makes no
// conv2d+batchnorm node in evaluation).
type DryFusedTrain struct {
	*Dry
	tensor.BatchNormReLU
	tensor.ConvEpilogue
	tensor.AddReLU
	tensor.ConvBatchNorm
}

// NewDryFusedTrain returns the DryFusedTrain counting into d.
func NewDryFusedTrain(d *Dry) DryFusedTrain {
	f := DryFused{d}
	return DryFusedTrain{Dry: d, BatchNormReLU: f, ConvEpilogue: f, AddReLU: f, ConvBatchNorm: f}
}

// dryBuf is a dry buffer: a length.
type dryBuf struct{ n int }

func (b *dryBuf) Len() int { return b.n }

// NoData marks Dry's tensors as holding no data: layers.Build makes no
// initial values for a model built on it (a model too big for memory can
// be sized).
func (z *Dry) NoData() {}

// Name is "dry".
func (z *Dry) Name() string { return "dry" }

// Err is nil: a dry backend never fails.
func (z *Dry) Err() error { return nil }

// Sync does nothing.
func (z *Dry) Sync() error { return nil }

// Close does nothing.
func (z *Dry) Close() error { return nil }

// New counts an F32 tensor's bytes and returns it without memory.
func (z *Dry) New(s tensor.Shape) *tensor.Tensor { return z.NewTyped(s, tensor.F32) }

// NewTyped counts the tensor's bytes and returns it without memory.
func (z *Dry) NewTyped(s tensor.Shape, dt tensor.DType) *tensor.Tensor {
	z.Bytes += int64(s.Numel() * dt.Size())
	return &tensor.Tensor{Shape: s.Clone(), Buf: &dryBuf{s.Numel()}, DType: dt}
}

// The ops below compute nothing.

func (z *Dry) Free(*tensor.Tensor)                                          {}
func (z *Dry) Upload(*tensor.Tensor, []float32)                             {}
func (z *Dry) Download([]float32, *tensor.Tensor)                           {}
func (z *Dry) UploadBytes(*tensor.Tensor, []byte)                           {}
func (z *Dry) DownloadBytes([]byte, *tensor.Tensor)                         {}
func (z *Dry) Fill(*tensor.Tensor, float32)                                 {}
func (z *Dry) Copy(_, _ *tensor.Tensor)                                     {}
func (z *Dry) Cast(_, _ *tensor.Tensor)                                     {}
func (z *Dry) Conv2DForward(_, _, _, _ *tensor.Tensor, _ tensor.ConvParams) {}
func (z *Dry) Conv2DBackwardData(_, _, _ *tensor.Tensor, _ tensor.ConvParams) {
}
func (z *Dry) Conv2DBackwardFilter(_, _, _, _ *tensor.Tensor, _ tensor.ConvParams) {}
func (z *Dry) LinearForward(_, _, _, _ *tensor.Tensor)                             {}
func (z *Dry) LinearBackward(_, _, _, _, _, _ *tensor.Tensor)                      {}
func (z *Dry) MaxPool2DForward(_, _ *tensor.Tensor, _ tensor.PoolParams)           {}
func (z *Dry) MaxPool2DBackward(_, _, _ *tensor.Tensor, _ tensor.PoolParams)       {}
func (z *Dry) AvgPool2DForward(_, _ *tensor.Tensor, _ tensor.PoolParams)           {}
func (z *Dry) AvgPool2DBackward(_, _ *tensor.Tensor, _ tensor.PoolParams)          {}
func (z *Dry) ActivationForward(tensor.Activation, *tensor.Tensor, *tensor.Tensor) {}
func (z *Dry) ActivationBackward(_ tensor.Activation, _, _, _ *tensor.Tensor)      {}
func (z *Dry) BatchNormForwardTrain(_, _, _, _, _, _, _, _ *tensor.Tensor, _ tensor.BatchNormParams) {
}
func (z *Dry) BatchNormForwardInfer(_, _, _, _, _, _ *tensor.Tensor, _ tensor.BatchNormParams) {}
func (z *Dry) BatchNormBackward(_, _, _, _, _, _, _, _ *tensor.Tensor)                         {}
func (z *Dry) Add(_, _, _ *tensor.Tensor)                                                      {}
func (z *Dry) Mul(_, _, _ *tensor.Tensor)                                                      {}
func (z *Dry) ShortcutPadForward(_, _ *tensor.Tensor, _ int)                                   {}
func (z *Dry) ShortcutPadBackward(_, _ *tensor.Tensor, _ int)                                  {}
func (z *Dry) CopyChannels(_, _ *tensor.Tensor, _ int)                                         {}
func (z *Dry) ExtractChannels(_, _ *tensor.Tensor, _ int)                                      {}
func (z *Dry) DropoutForward(_, _, _ *tensor.Tensor, _ float32, _, _ uint64)                   {}
func (z *Dry) SoftmaxCrossEntropy(_, _, _, _ *tensor.Tensor, _ float32)                        {}
func (z *Dry) SGDUpdate(_, _, _ *tensor.Tensor, _ tensor.SGDParams)                            {}
func (z *Dry) AdamUpdate(_, _, _, _ *tensor.Tensor, _ tensor.AdamParams)                       {}

// BatchNormReLUForwardTrain computes nothing.
func (z DryFused) BatchNormReLUForwardTrain(_, _, _, _, _, _, _, _ *tensor.Tensor, _ tensor.BatchNormParams) {
}

// BatchNormReLUForwardInfer computes nothing.
func (z DryFused) BatchNormReLUForwardInfer(_, _, _, _, _, _ *tensor.Tensor, _ tensor.BatchNormParams) {
}

// BatchNormReLUBackward computes nothing.
func (z DryFused) BatchNormReLUBackward(_, _, _, _, _, _, _, _, _ *tensor.Tensor) {}

// Conv2DForwardEpilogue computes nothing.
func (z DryFused) Conv2DForwardEpilogue(_, _, _, _ *tensor.Tensor, _ tensor.ConvParams, _ tensor.Epilogue) {
}

// AddReLU computes nothing.
func (z DryFused) AddReLU(_, _, _ *tensor.Tensor) {}

// ConvBatchNormForwardTrain computes nothing.
func (z DryFused) ConvBatchNormForwardTrain(_, _, _, _ *tensor.Tensor, _ tensor.ConvParams, _ tensor.BatchNormTrain, _ bool) {
}

// Conv2DBatchNormInfer computes nothing.
func (z DryFused) Conv2DBatchNormInfer(_, _, _, _ *tensor.Tensor, _ tensor.ConvParams, _, _, _, _ *tensor.Tensor, _ tensor.BatchNormParams, _ bool) {
}

var (
	_ tensor.Backend            = (*Dry)(nil)
	_ tensor.Backend            = DryFused{}
	_ tensor.BatchNormReLU      = DryFused{}
	_ tensor.ConvEpilogue       = DryFused{}
	_ tensor.AddReLU            = DryFused{}
	_ tensor.ConvBatchNorm      = DryFused{}
	_ tensor.ConvBatchNormInfer = DryFused{}
	_ tensor.ConvBatchNorm      = DryFusedTrain{}
)
