package layers

import (
	"github.com/cnnctl/cnnctl/internal/tensor"
)

// Mixed precision: which tensors are bfloat16 and which stay float32 when
// a model runs with bf16 activations (Context.Act = tensor.BF16, what
// `--precision bf16` asks for on a backend that stores bf16). This is the
// one place that says it; the plan (SlotDType), the layers (ensure takes
// the dtype of the data) and the model's boundary (Model.Forward and
// Backward) follow it.
//
// bf16 in memory:
//   - activations: every tensor a layer returns from Forward or keeps for
//     its Backward as its output (convolution, linear, pool, activation,
//     batch-norm output, residual sum, shortcut, concat, dropout output;
//     a flatten is a view of its input). An output takes its input's dtype.
//   - activation gradients: every dx a layer returns, and the gradients a
//     container or fused node keeps inside (concat's dy per branch, the
//     ReLU gradient of conv2d+relu and residual+relu). A gradient takes the
//     dtype of the activation it is the gradient of (dy's dtype), as in
//     PyTorch's autocast. Chosen over float32 because it halves the
//     gradient half of the arena and the bytes every backward kernel
//     moves; bf16 keeps float32's 8-bit exponent, so gradients neither
//     underflow nor overflow where float32 would not (hence no loss
//     scaling), and its 2^-8 relative rounding per store is far below the
//     noise of a mini-batch gradient. Sums over the batch (weight and
//     bias gradients) are accumulated in float32 and stored float32.
//   - weights as operands: Model.Half, a bf16 copy of the trainable
//     weights, rounded from the master weights (one Cast) at every
//     Forward; convolutions and linears read their weight from it.
//
// float32 in memory:
//   - the master weights (Model.Weights), their gradients (Model.Grads)
//     and the optimiser's state: updates of size lr·g, far below a bf16
//     ulp of the weight, would otherwise be lost.
//   - biases as operands (added in float32 before the output is rounded),
//     batch-norm gamma and beta, the running statistics and the batch
//     statistics a forward saves for its backward (Saved slots), dropout
//     masks (1/(1-p) is not a bf16 value in general).
//   - the model's boundary: the input batch as the data pipeline makes it
//     (Forward casts it to bf16), the logits Forward returns (cast from
//     the last layer's bf16 output, exactly), and so the softmax, the loss,
//     its gradient (Backward casts it to bf16) and the metrics; the
//     input's gradient, when asked for (Model.InputGrad), is widened to
//     float32 too.
//
// Every op computes in float32: it widens its bf16 operands exactly on
// load and rounds each bf16 output to nearest, ties to even, on store
// (internal/cpu/bf16.go is that specification; the GPU's kernels with
// bf16 storage are checked against it). With Context.Act = F32 (the
// default) none of this happens and every tensor is float32, as before.

// SlotDType is the dtype the plan gives a layer's slot of kind k in a
// model whose activations are act: outputs and gradients act, saved
// statistics and masks float32.
func SlotDType(k SlotKind, act tensor.DType) tensor.DType {
	if k == Saved {
		return tensor.F32
	}
	return act
}

// operand is the tensor a convolution or linear layer reads its weight p
// from for an input of dtype dt: the bf16 copy (Model.Half) for bf16
// inputs when the model has one, else the float32 master.
func operand(p *Param, dt tensor.DType) *tensor.Tensor {
	if dt == tensor.BF16 && p.Half != nil {
		return p.Half
	}
	return p.Value
}
