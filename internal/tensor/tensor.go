// Package tensor defines cnnctl's tensors and the Backend interface through
// which every op runs, so layers never know which device holds their data.
//
// Dimension letters, used in every shape comment of the project:
//
//	N batch, C input channels, H W input height and width,
//	K output channels, OH OW output height and width, R S kernel height and width,
//	I linear inputs, O linear outputs.
//
// Layout is NCHW, row-major. Elements are float32 (F32) unless a tensor says
// otherwise (dtype.go): every op computes in float32, BF16 is storage that
// Cast converts.
package tensor

import (
	"fmt"
	"strconv"
	"strings"
)

// Shape lists a tensor's dimensions, outermost first.
type Shape []int

// Numel is the number of elements (1 for an empty shape).
func (s Shape) Numel() int {
	n := 1
	for _, d := range s {
		n *= d
	}
	return n
}

// Equal reports whether two shapes have the same dimensions.
func (s Shape) Equal(o Shape) bool {
	if len(s) != len(o) {
		return false
	}
	for i := range s {
		if s[i] != o[i] {
			return false
		}
	}
	return true
}

// Clone returns a copy that does not share memory with s.
func (s Shape) Clone() Shape { return append(Shape(nil), s...) }

// String writes the shape as "3x32x32".
func (s Shape) String() string {
	parts := make([]string, len(s))
	for i, d := range s {
		parts[i] = strconv.Itoa(d)
	}
	return strings.Join(parts, "x")
}

// ParseShape reads "CxHxW" (or any number of x-separated positive integers).
func ParseShape(text string) (Shape, error) {
	fields := strings.Split(strings.TrimSpace(text), "x")
	s := make(Shape, len(fields))
	for i, f := range fields {
		d, err := strconv.Atoi(f)
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("parse shape %q: %q is not a positive integer (want e.g. 3x32x32)", text, f)
		}
		s[i] = d
	}
	return s, nil
}

// Buffer is one block of a backend's memory holding Len elements of the
// dtype it was allocated with. Only the backend that allocated it may read it.
type Buffer interface {
	Len() int
}

// Tensor is a view of Shape.Numel() elements starting at element Off of Buf.
// Views share memory: several tensors may look at one buffer (the optimiser
// sees all parameters as one contiguous tensor, each layer its own part).
// DType is the buffer's dtype (the zero value F32); backends reject a
// tensor whose DType is not its buffer's.
type Tensor struct {
	Shape Shape
	Buf   Buffer
	Off   int
	DType DType
}

// Numel is the number of elements the view covers.
func (t *Tensor) Numel() int { return t.Shape.Numel() }

// View returns a tensor over the same memory with another shape; the new
// shape may cover fewer elements (a smaller batch in a buffer sized for the
// largest one) but never more.
func (t *Tensor) View(s Shape) *Tensor {
	if s.Numel() > t.Numel() {
		panic(fmt.Sprintf("tensor: view %v is larger than %v", s, t.Shape))
	}
	return &Tensor{Shape: s.Clone(), Buf: t.Buf, Off: t.Off, DType: t.DType}
}

// Slice returns the view of n elements starting off elements into t, with shape s.
func (t *Tensor) Slice(off int, s Shape) *Tensor {
	if off < 0 || off+s.Numel() > t.Numel() {
		panic(fmt.Sprintf("tensor: slice [%d, %d) outside %v", off, off+s.Numel(), t.Shape))
	}
	return &Tensor{Shape: s.Clone(), Buf: t.Buf, Off: t.Off + off, DType: t.DType}
}

// Activation selects an elementwise non-linearity.
type Activation int

const (
	ReLU Activation = iota
	Sigmoid
	Tanh
)

func (a Activation) String() string {
	switch a {
	case ReLU:
		return "relu"
	case Sigmoid:
		return "sigmoid"
	case Tanh:
		return "tanh"
	}
	return fmt.Sprintf("activation(%d)", int(a))
}

// ConvParams are a 2-D convolution's stride and zero padding.
// OH = (H + 2*PadH - R)/StrideH + 1, and the same for OW.
type ConvParams struct {
	StrideH, StrideW int
	PadH, PadW       int
}

// PoolParams are a 2-D pooling window (PyTorch semantics, floor mode):
// max pooling pads with -inf; average pooling counts padded zeros in the
// divisor (count_include_pad=True), always dividing by R*S.
type PoolParams struct {
	R, S             int
	StrideH, StrideW int
	PadH, PadW       int
}

// BatchNormParams are PyTorch's defaults for nn.BatchNorm1d/2d: momentum 0.1
// (running = (1-m)*running + m*batch), eps 1e-5.
type BatchNormParams struct {
	Momentum float32
	Eps      float32
}

// SGDParams is PyTorch's torch.optim.SGD: g += wd*w; v = mom*v + g;
// step = nesterov ? g + mom*v : v; w -= lr*step.
type SGDParams struct {
	LR, Momentum, WeightDecay float32
	Nesterov                  bool
}

// AdamParams is torch.optim.Adam (Decoupled=false: g += wd*w) or AdamW
// (Decoupled=true: w -= lr*wd*w before the update). Step counts from 1.
type AdamParams struct {
	LR, Beta1, Beta2, Eps, WeightDecay float32
	Decoupled                          bool
	Step                               int
}

// Backend runs every op of cnnctl. Implementations: internal/cpu (the
// reference, pure Go) and internal/gpu (CUDA, build tag cuda).
//
// Ops do not return errors: a backend records its first failure (a driver
// error, out of memory) and reports it from Err, like bufio.Scanner. The
// training loop checks Err once per step. Outputs are overwritten, never
// accumulated into, unless the method says otherwise. Tensors passed to one
// call must not overlap unless the method says they may. Every op takes F32
// tensors only and records an error naming the op and the dtype for any
// other, except those that say they move other dtypes (NewTyped, Free,
// UploadBytes, DownloadBytes, Copy, Cast).
type Backend interface {
	// Name says which device this is, e.g. "cpu (2 threads, avx512)".
	Name() string
	// Err returns the first error the backend met, or nil.
	Err() error
	// Sync waits until all queued work is done and returns Err().
	Sync() error
	// Close frees everything the backend holds.
	Close() error

	// New allocates a zero-filled F32 tensor: NewTyped(s, F32).
	New(s Shape) *Tensor
	// NewTyped allocates a zero-filled tensor of dtype dt.
	NewTyped(s Shape, dt DType) *Tensor
	// Free releases t's buffer (and every view of it); any dtype.
	Free(t *Tensor)
	// Upload copies len(src) == t.Numel() host values into t (F32).
	Upload(t *Tensor, src []float32)
	// Download copies t (F32) into dst, len(dst) == t.Numel().
	Download(dst []float32, t *Tensor)
	// UploadBytes copies t.Numel()*t.DType.Size() bytes into t, each
	// element little-endian (a bf16 element is the top half of a float32's
	// bits); any dtype.
	UploadBytes(t *Tensor, src []byte)
	// DownloadBytes copies t's elements into dst as UploadBytes reads
	// them; any dtype.
	DownloadBytes(dst []byte, t *Tensor)
	// Fill sets every element of t to v.
	Fill(t *Tensor, v float32)
	// Copy copies src into dst (same element count, same dtype, any dtype).
	Copy(dst, src *Tensor)
	// Cast converts src into dst (same element count): F32 -> BF16 rounds
	// to nearest, ties to even, as ToBF16 writes it (NaN stays NaN, too
	// large becomes infinite); BF16 -> F32 is exact; the same dtype copies.
	Cast(dst, src *Tensor)

	// Conv2DForward: x (N,C,H,W), w (K,C,R,S), b (K) or nil, y (N,K,OH,OW).
	Conv2DForward(x, w, b, y *Tensor, p ConvParams)
	// Conv2DBackwardData: dy (N,K,OH,OW), w (K,C,R,S) -> dx (N,C,H,W).
	Conv2DBackwardData(dy, w, dx *Tensor, p ConvParams)
	// Conv2DBackwardFilter: x (N,C,H,W), dy (N,K,OH,OW) -> dw (K,C,R,S), db (K) or nil.
	Conv2DBackwardFilter(x, dy, dw, db *Tensor, p ConvParams)

	// LinearForward: x (N,I), w (O,I), b (O) or nil -> y (N,O) = x·wᵀ + b.
	LinearForward(x, w, b, y *Tensor)
	// LinearBackward: x (N,I), w (O,I), dy (N,O) -> dx (N,I) or nil, dw (O,I), db (O) or nil.
	LinearBackward(x, w, dy, dx, dw, db *Tensor)

	// MaxPool2DForward: x (N,C,H,W) -> y (N,C,OH,OW).
	MaxPool2DForward(x, y *Tensor, p PoolParams)
	// MaxPool2DBackward: x (N,C,H,W), dy (N,C,OH,OW) -> dx (N,C,H,W). The
	// gradient goes to the first maximum of each window, as in PyTorch;
	// overlapping windows add.
	MaxPool2DBackward(x, dy, dx *Tensor, p PoolParams)
	// AvgPool2DForward: x (N,C,H,W) -> y (N,C,OH,OW).
	AvgPool2DForward(x, y *Tensor, p PoolParams)
	// AvgPool2DBackward: dy (N,C,OH,OW) -> dx (N,C,H,W).
	AvgPool2DBackward(dy, dx *Tensor, p PoolParams)

	// ActivationForward: y = f(x), any shape; y may be x.
	ActivationForward(a Activation, x, y *Tensor)
	// ActivationBackward: dx = dy * f'(x) written in terms of y = f(x); dx may be dy.
	ActivationBackward(a Activation, y, dy, dx *Tensor)

	// BatchNormForwardTrain normalises with the batch statistics of each
	// channel (x (N,C,H,W) or (N,C); the channel is dimension 1, the rest
	// are reduced): y = gamma*(x-mean)*invstd + beta with the biased
	// variance, saves mean and invstd (C) for the backward, and updates
	// the running mean and the running variance (unbiased) in place.
	BatchNormForwardTrain(x, gamma, beta, runMean, runVar, y, saveMean, saveInvStd *Tensor, p BatchNormParams)
	// BatchNormForwardInfer normalises with the running statistics.
	BatchNormForwardInfer(x, gamma, beta, runMean, runVar, y *Tensor, p BatchNormParams)
	// BatchNormBackward: x, dy as in the forward -> dx, dgamma (C), dbeta (C).
	BatchNormBackward(x, dy, gamma, saveMean, saveInvStd, dx, dgamma, dbeta *Tensor)

	// Add: y = a + b elementwise; y may be a or b.
	Add(a, b, y *Tensor)
	// Mul: y = a * b elementwise; y may be a or b.
	Mul(a, b, y *Tensor)

	// ShortcutPadForward is ResNet's parameter-free "option A" shortcut:
	// x (N,C,H,W) -> y (N,K,OH,OW), K >= C, OH = ceil(H/stride): takes every
	// stride-th pixel and places the C channels at offset (K-C)/2, zeros elsewhere.
	ShortcutPadForward(x, y *Tensor, stride int)
	// ShortcutPadBackward: dy (N,K,OH,OW) -> dx (N,C,H,W).
	ShortcutPadBackward(dy, dx *Tensor, stride int)

	// CopyChannels writes src (N,Cs,H,W) into channels [off, off+Cs) of dst (N,Cd,H,W).
	CopyChannels(dst, src *Tensor, off int)
	// ExtractChannels reads channels [off, off+Cd) of src (N,Cs,H,W) into dst (N,Cd,H,W).
	ExtractChannels(dst, src *Tensor, off int)

	// DropoutForward draws, for element i, u = Philox4x32-10 uniform (see
	// internal/cpu/philox.go for the exact recipe) from (seed, counter, i);
	// mask[i] = 1/(1-p) if u >= p else 0; y = x * mask. mask and y have x's shape.
	DropoutForward(x, mask, y *Tensor, p float32, seed, counter uint64)

	// SoftmaxCrossEntropy: logits (N,K), labels (N) class indices stored as
	// float32, -> loss (N) per-sample loss with label smoothing eps
	// (target = (1-eps)*onehot + eps/K), and dlogits (N,K), the gradient of
	// the mean loss over the batch, or nil when no gradient is wanted.
	SoftmaxCrossEntropy(logits, labels, loss, dlogits *Tensor, smoothing float32)

	// SGDUpdate updates w in place from g with velocity v (all one shape).
	SGDUpdate(w, g, v *Tensor, p SGDParams)
	// AdamUpdate updates w in place from g with moments m and v.
	AdamUpdate(w, g, m, v *Tensor, p AdamParams)
}
