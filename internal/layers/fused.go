package layers

import (
	"github.com/cnnctl/cnnctl/internal/tensor"
)

// Fused nodes: what internal/plan's rewrite puts in place of a known
// pattern of layers. Each owns the original layers (and so their
// parameters, names and counters: state_dict keys, checkpoints and
// PyTorch interop are those of the model without the rewrite), runs the
// backend's fused op when it has one (tensor/fused.go), and otherwise the
// original layers one after the other: the reference the fused op is
// tested against. A fused node is a plain layer of the plan's tree; the
// model's own tree (Model.Root) keeps the original layers.

// BatchNormReLU is a BatchNorm and the ReLU after it (type
// "batchnorm+relu"), in one op: tensor.BatchNormReLU. It keeps its output
// and gradient in the batch norm's own fields, so the plan needs no
// tensors for the ReLU.
type BatchNormReLU struct {
	BN   *BatchNorm
	ReLU *Activation
	noChildren
}

// FuseBatchNormReLU returns the fused node of bn followed by relu (whose
// function must be tensor.ReLU).
func FuseBatchNormReLU(bn *BatchNorm, relu *Activation) *BatchNormReLU {
	return &BatchNormReLU{BN: bn, ReLU: relu}
}

// Name is the batch norm's name.
func (l *BatchNormReLU) Name() string { return l.BN.Name() }

// Type is "batchnorm+relu".
func (l *BatchNormReLU) Type() string { return "batchnorm+relu" }

// Setup sets up nothing: the fused node is made from layers already set up.
func (l *BatchNormReLU) Setup(ctx *Context, in tensor.Shape) (tensor.Shape, error) {
	return in.Clone(), nil
}

// MACs is 0.
func (l *BatchNormReLU) MACs() int64 { return 0 }

// Forward: y = relu(batchnorm(x)), in training with the batch's statistics
// (and num_batches_tracked counted), else with the running ones.
func (l *BatchNormReLU) Forward(x *tensor.Tensor, train bool) *tensor.Tensor {
	bn := l.BN
	f, ok := bn.be.(tensor.BatchNormReLU)
	if !ok {
		return l.ReLU.Forward(bn.Forward(x, train), train)
	}
	bn.x, bn.train = x, train
	y := ensure(bn.be, &bn.y, x.Shape, x.DType)
	if !train {
		f.BatchNormReLUForwardInfer(x, bn.Weight.Value, bn.Bias.Value, bn.RunMean.Value, bn.RunVar.Value, y, bn.P)
		return y
	}
	c := tensor.Shape{bn.C}
	sm := ensure(bn.be, &bn.saveMean, c, tensor.F32)
	si := ensure(bn.be, &bn.saveInvStd, c, tensor.F32)
	f.BatchNormReLUForwardTrain(x, bn.Weight.Value, bn.Bias.Value, bn.RunMean.Value, bn.RunVar.Value, y, sm, si, bn.P)
	bn.batches++
	return y
}

// Backward: dy -> dx through the ReLU (mask y > 0) and the batch norm.
// After an evaluation forward it runs the two layers' backwards.
func (l *BatchNormReLU) Backward(dy *tensor.Tensor) *tensor.Tensor {
	bn := l.BN
	f, ok := bn.be.(tensor.BatchNormReLU)
	if !ok {
		return bn.Backward(l.ReLU.Backward(dy))
	}
	if !bn.train {
		// The ReLU's gradient into the activation's own tensor, then the
		// batch norm's affine backward.
		t := ensure(bn.be, &l.ReLU.dx, bn.y.Shape, dy.DType)
		bn.be.ActivationBackward(tensor.ReLU, bn.y, dy, t)
		return bn.Backward(t)
	}
	dx := ensure(bn.be, &bn.dx, bn.x.Shape, dy.DType)
	f.BatchNormReLUBackward(bn.x, bn.y, dy, bn.Weight.Value, bn.saveMean, bn.saveInvStd, dx, bn.Weight.Grad, bn.Bias.Grad)
	return dx
}

// Slots are the batch norm's, or with a backend without the fused op
// both layers'.
func (l *BatchNormReLU) Slots(n int, train bool) []Slot {
	if _, ok := l.BN.be.(tensor.BatchNormReLU); !ok {
		return fallback(l.BN.Slots(n, train), l.ReLU.Slots(n, train))
	}
	return l.BN.Slots(n, train)
}

// fallback is the slots of a fused node that runs its first layer, then
// the ReLU: the node returns the ReLU's output and the first layer's
// gradient; the first layer's output and the ReLU's gradient are internal
// to it.
func fallback(first, relu []Slot) []Slot {
	for i := range first {
		first[i].Returned = false
	}
	for i := range relu {
		relu[i].InputGrad = false
	}
	return append(first, relu...)
}

// ConvReLU is a Conv2D and the ReLU after it (type "conv2d+relu"): the
// ReLU is the convolution's epilogue (tensor.ConvEpilogue), applied to
// the convolution's own output; the backward keeps the ReLU's gradient in
// a tensor of its own.
type ConvReLU struct {
	Conv *Conv2D
	ReLU *Activation
	noChildren

	t *tensor.Tensor // the ReLU's gradient, the convolution's dy
}

// FuseConvReLU returns the fused node of conv followed by relu (whose
// function must be tensor.ReLU).
func FuseConvReLU(conv *Conv2D, relu *Activation) *ConvReLU {
	return &ConvReLU{Conv: conv, ReLU: relu}
}

// Name is the convolution's name.
func (l *ConvReLU) Name() string { return l.Conv.Name() }

// Type is "conv2d+relu".
func (l *ConvReLU) Type() string { return "conv2d+relu" }

// Setup sets up nothing: the fused node is made from layers already set up.
func (l *ConvReLU) Setup(ctx *Context, in tensor.Shape) (tensor.Shape, error) {
	return l.Conv.out.Clone(), nil
}

// MACs are the convolution's.
func (l *ConvReLU) MACs() int64 { return l.Conv.MACs() }

// Forward: y = relu(conv(x)).
func (l *ConvReLU) Forward(x *tensor.Tensor, train bool) *tensor.Tensor {
	c := l.Conv
	f, ok := c.be.(tensor.ConvEpilogue)
	if !ok {
		return l.ReLU.Forward(c.Forward(x, train), train)
	}
	c.x = x
	y := ensure(c.be, &c.y, batched(x.Shape[0], c.out), x.DType)
	f.Conv2DForwardEpilogue(x, operand(c.Weight, x.DType), value(c.Bias), y, c.P, tensor.Epilogue{ReLU: true})
	return y
}

// Backward: the ReLU's gradient (mask y > 0), then the convolution's.
func (l *ConvReLU) Backward(dy *tensor.Tensor) *tensor.Tensor {
	c := l.Conv
	if _, ok := c.be.(tensor.ConvEpilogue); !ok {
		return c.Backward(l.ReLU.Backward(dy))
	}
	t := ensure(c.be, &l.t, c.y.Shape, dy.DType)
	c.be.ActivationBackward(tensor.ReLU, c.y, dy, t)
	return c.Backward(t)
}

// Slots are the convolution's and, in training, the ReLU's gradient; with
// a backend without the fused op, both layers'.
func (l *ConvReLU) Slots(n int, train bool) []Slot {
	if _, ok := l.Conv.be.(tensor.ConvEpilogue); !ok {
		return fallback(l.Conv.Slots(n, train), l.ReLU.Slots(n, train))
	}
	s := l.Conv.Slots(n, train)
	if train {
		s = append(s, slot(l, "t", Grad, batched(n, l.Conv.out), &l.t))
	}
	return s
}

// ConvBatchNorm is a Conv2D and the batch norm after it, and the ReLU
// after that when ReLU is not nil (types "conv2d+batchnorm" and
// "conv2d+batchnorm+relu"). In training, on a backend with
// tensor.ConvBatchNorm, one op gathers the batch statistics in the
// convolution's epilogue (the GPU's tensor-core forwards; the CPU runs the
// sequence); in evaluation, on a backend with tensor.ConvBatchNormInfer,
// one op applies the batch norm's affine map (and the ReLU) to the
// convolution's output as it is written (the CPU). Otherwise, and for
// every backward, the convolution then the batch norm (with the ReLU: the
// batchnorm+relu node), exactly as the layers would run on their own.
type ConvBatchNorm struct {
	Conv *Conv2D
	BN   *BatchNorm
	ReLU *Activation // nil: no ReLU
	noChildren

	tail     Layer          // the batch norm, or its batchnorm+relu node
	x        *tensor.Tensor // the input of the last forward
	inferred bool           // the last forward was the evaluation op's
}

// FuseConvBatchNorm returns the fused node of conv followed by bn and,
// when relu is not nil, by relu (whose function must be tensor.ReLU).
func FuseConvBatchNorm(conv *Conv2D, bn *BatchNorm, relu *Activation) *ConvBatchNorm {
	l := &ConvBatchNorm{Conv: conv, BN: bn, ReLU: relu, tail: bn}
	if relu != nil {
		l.tail = FuseBatchNormReLU(bn, relu)
	}
	return l
}

// Name is the convolution's name.
func (l *ConvBatchNorm) Name() string { return l.Conv.Name() }

// Type is "conv2d+batchnorm", or "conv2d+batchnorm+relu".
func (l *ConvBatchNorm) Type() string {
	if l.ReLU != nil {
		return "conv2d+batchnorm+relu"
	}
	return "conv2d+batchnorm"
}

// Setup sets up nothing: the fused node is made from layers already set up.
func (l *ConvBatchNorm) Setup(ctx *Context, in tensor.Shape) (tensor.Shape, error) {
	return l.Conv.out.Clone(), nil
}

// MACs are the convolution's.
func (l *ConvBatchNorm) MACs() int64 { return l.Conv.MACs() }

// trainOp returns the backend's training op where this node can use it:
// the ReLU's backward then needs the batch norm's fused form too.
func (l *ConvBatchNorm) trainOp() (tensor.ConvBatchNorm, bool) {
	f, ok := l.Conv.be.(tensor.ConvBatchNorm)
	if _, bnr := l.Conv.be.(tensor.BatchNormReLU); l.ReLU != nil && !bnr {
		return nil, false
	}
	return f, ok
}

// inferOp returns the backend's evaluation op where this node can use it:
// on float32 activations (the op has no bf16 form).
func (l *ConvBatchNorm) inferOp(x *tensor.Tensor) (tensor.ConvBatchNormInfer, bool) {
	f, ok := l.Conv.be.(tensor.ConvBatchNormInfer)
	return f, ok && x.DType == tensor.F32
}

// Forward: y = bn(conv(x)) (then ReLU), in training with the batch's
// statistics (and num_batches_tracked counted), else with the running ones.
func (l *ConvBatchNorm) Forward(x *tensor.Tensor, train bool) *tensor.Tensor {
	c, bn := l.Conv, l.BN
	l.x, l.inferred = x, false
	if !train {
		f, ok := l.inferOp(x)
		if !ok {
			return l.tail.Forward(c.Forward(x, false), false)
		}
		l.inferred = true
		y := ensure(c.be, &bn.y, batched(x.Shape[0], c.out), x.DType)
		f.Conv2DBatchNormInfer(x, c.Weight.Value, value(c.Bias), y, c.P, bn.Weight.Value, bn.Bias.Value, bn.RunMean.Value, bn.RunVar.Value, bn.P, l.ReLU != nil)
		return y
	}
	f, ok := l.trainOp()
	if !ok {
		return l.tail.Forward(c.Forward(x, true), true)
	}
	c.x = x
	y := ensure(c.be, &c.y, batched(x.Shape[0], c.out), x.DType)
	bn.x, bn.train = y, true
	z := ensure(bn.be, &bn.y, y.Shape, y.DType)
	ch := tensor.Shape{bn.C}
	t := tensor.BatchNormTrain{Gamma: bn.Weight.Value, Beta: bn.Bias.Value, RunMean: bn.RunMean.Value, RunVar: bn.RunVar.Value,
		Y: z, SaveMean: ensure(bn.be, &bn.saveMean, ch, tensor.F32), SaveInvStd: ensure(bn.be, &bn.saveInvStd, ch, tensor.F32), P: bn.P}
	f.ConvBatchNormForwardTrain(x, operand(c.Weight, x.DType), value(c.Bias), y, c.P, t, l.ReLU != nil)
	bn.batches++
	return z
}

// Backward: the batch norm's (and the ReLU's) gradient, then the
// convolution's. After the evaluation op, which kept neither the
// convolution's output nor the batch norm's input, the two layers'
// evaluation forwards run first (the same bits) for their backwards.
func (l *ConvBatchNorm) Backward(dy *tensor.Tensor) *tensor.Tensor {
	if l.inferred {
		l.tail.Forward(l.Conv.Forward(l.x, false), false)
		l.inferred = false
	}
	return l.Conv.Backward(l.tail.Backward(dy))
}

// Slots: in training the convolution's and the batch norm's (or the
// batchnorm+relu node's): the convolution's output and the batch norm's
// input gradient are internal to the node; with the training op that
// gradient is scratch, written by the batch norm's backward and read by
// the convolution's inside this node's Backward. In evaluation with the
// evaluation op only the batch norm's output.
func (l *ConvBatchNorm) Slots(n int, train bool) []Slot {
	second := l.tail.(Planner).Slots(n, train)
	if _, ok := l.Conv.be.(tensor.ConvBatchNormInfer); ok && !train {
		return second
	}
	s := fallback(l.Conv.Slots(n, train), second)
	if _, ok := l.trainOp(); ok && train {
		for i := range s {
			if s[i].T == &l.BN.dx {
				s[i].Scratch = true
			}
		}
	}
	return s
}

// ResidualReLU is a Residual block whose post is a ReLU (type
// "residual+relu"): the sum and the ReLU are one op, tensor.AddReLU.
// Body and Shortcut are the block's (rewritten by the plan where they hold
// patterns of their own).
type ResidualReLU struct {
	Block          *Residual
	Body, Shortcut Layer

	y, g, dx *tensor.Tensor // the output, the ReLU's gradient, dx
}

// FuseResidualReLU returns the fused node of r, whose Post must be a
// ReLU, running body and shortcut (nil: the identity) in place of r's.
func FuseResidualReLU(r *Residual, body, shortcut Layer) *ResidualReLU {
	return &ResidualReLU{Block: r, Body: body, Shortcut: shortcut}
}

// Name is the block's name.
func (l *ResidualReLU) Name() string { return l.Block.Name() }

// Type is "residual+relu".
func (l *ResidualReLU) Type() string { return "residual+relu" }

// Setup sets up nothing: the fused node is made from layers already set up.
func (l *ResidualReLU) Setup(ctx *Context, in tensor.Shape) (tensor.Shape, error) {
	return l.Block.out.Clone(), nil
}

// MACs are the body's and the shortcut's.
func (l *ResidualReLU) MACs() int64 { return sumMACs(l.Children()) }

// Children are the body, then the shortcut when present.
func (l *ResidualReLU) Children() []Layer {
	if l.Shortcut == nil {
		return []Layer{l.Body}
	}
	return []Layer{l.Body, l.Shortcut}
}

// Forward: y = relu(body(x) + shortcut(x)).
func (l *ResidualReLU) Forward(x *tensor.Tensor, train bool) *tensor.Tensor {
	be := l.Block.be
	b := l.Body.Forward(x, train)
	s := x
	if l.Shortcut != nil {
		s = l.Shortcut.Forward(x, train)
	}
	y := ensure(be, &l.y, b.Shape, b.DType)
	if f, ok := be.(tensor.AddReLU); ok {
		f.AddReLU(b, s, y)
	} else {
		be.Add(b, s, y)
		be.ActivationForward(tensor.ReLU, y, y)
	}
	return y
}

// Backward: g = dy through the ReLU; dx = body.Backward(g) +
// shortcut.Backward(g) (g itself for the identity).
func (l *ResidualReLU) Backward(dy *tensor.Tensor) *tensor.Tensor {
	be := l.Block.be
	g := ensure(be, &l.g, l.y.Shape, dy.DType)
	be.ActivationBackward(tensor.ReLU, l.y, dy, g)
	db := l.Body.Backward(g)
	ds := g
	if l.Shortcut != nil {
		ds = l.Shortcut.Backward(g)
	}
	dx := ensure(be, &l.dx, db.Shape, db.DType)
	be.Add(db, ds, dx)
	return dx
}

// Slots: y, and in training g and dx.
func (l *ResidualReLU) Slots(n int, train bool) []Slot {
	out := outGrad(l, train, batched(n, l.Block.out), &l.y, batched(n, l.Block.in), &l.dx)
	if train {
		out = append(out, slot(l, "g", Grad, batched(n, l.Block.out), &l.g))
	}
	return out
}

// WithChildren returns a copy of the container l whose children (in the
// order of l.Children()) are replaced by children, sharing l's setup but
// none of its per-batch tensors; ok is false for a layer that is not a
// Sequential, Residual or Concat (or a count that does not match).
func WithChildren(l Layer, children []Layer) (c Layer, ok bool) {
	if len(children) != len(l.Children()) {
		return nil, false
	}
	switch v := l.(type) {
	case *Sequential:
		return NewSequential(v.name, children...), true
	case *Concat:
		n := *v
		n.Branches = children
		n.y, n.dx, n.dys = nil, nil, make([]*tensor.Tensor, len(children))
		return &n, true
	case *Residual:
		n := *v
		n.sum, n.dx = nil, nil
		i := 0
		for _, f := range []*Layer{&n.Body, &n.Shortcut, &n.Post} {
			if *f != nil {
				*f = children[i]
				i++
			}
		}
		return &n, true
	}
	return nil, false
}

var (
	_ Planner = (*BatchNormReLU)(nil)
	_ Planner = (*ConvReLU)(nil)
	_ Planner = (*ConvBatchNorm)(nil)
	_ Planner = (*ResidualReLU)(nil)
)
