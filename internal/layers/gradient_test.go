package layers

import (
	"math"
	"math/rand"
	"testing"

	"github.com/cnnctl/cnnctl/internal/cpu"
	"github.com/cnnctl/cnnctl/internal/tensor"
)

func conv(name string, k, r, s, stride, pad int, bias bool) Layer {
	return NewConv2D(name, k, r, s, tensor.ConvParams{StrideH: stride, StrideW: stride, PadH: pad, PadW: pad}, bias)
}

func pool(r, s, stride, pad int) tensor.PoolParams {
	return tensor.PoolParams{R: r, S: s, StrideH: stride, StrideW: stride, PadH: pad, PadW: pad}
}

// TestGradients checks every layer type's input and parameter gradients
// against central finite differences.
func TestGradients(t *testing.T) {
	bn := DefaultBatchNorm()
	relu := tensor.ReLU
	cases := []struct {
		name string
		g    gradCheck
	}{
		{"conv 3x3 pad 1 bias", gradCheck{layer: conv("c", 4, 3, 3, 1, 1, true), in: tensor.Shape{3, 5, 5}, n: 2}},
		{"conv 3x2 stride 2 pad 1x0 batch 1", gradCheck{
			layer: NewConv2D("c", 3, 3, 2, tensor.ConvParams{StrideH: 2, StrideW: 2, PadH: 1}, false),
			in:    tensor.Shape{2, 7, 6}, n: 1}},
		{"conv 1x1", gradCheck{layer: conv("c", 5, 1, 1, 1, 0, true), in: tensor.Shape{3, 4, 4}, n: 2}},
		{"conv 5x5 stride 2 pad 2", gradCheck{layer: conv("c", 2, 5, 5, 2, 2, true), in: tensor.Shape{1, 5, 5}, n: 3}},
		{"linear", gradCheck{layer: NewLinear("fc", 5, true), in: tensor.Shape{7}, n: 3}},
		{"linear 1 to 1 no bias batch 1", gradCheck{layer: NewLinear("fc", 1, false), in: tensor.Shape{1}, n: 1}},
		{"relu", gradCheck{layer: NewActivation("a", relu), in: tensor.Shape{2, 3, 3}, n: 2, input: awayFromZero}},
		{"sigmoid", gradCheck{layer: NewActivation("a", tensor.Sigmoid), in: tensor.Shape{5}, n: 3}},
		{"tanh", gradCheck{layer: NewActivation("a", tensor.Tanh), in: tensor.Shape{2, 3, 3}, n: 2}},
		{"maxpool 2x2 stride 2", gradCheck{layer: NewMaxPool2D("p", pool(2, 2, 2, 0)), in: tensor.Shape{2, 4, 4}, n: 2, input: distinct}},
		{"maxpool 3x3 stride 2 pad 1 odd", gradCheck{layer: NewMaxPool2D("p", pool(3, 3, 2, 1)), in: tensor.Shape{3, 7, 7}, n: 2, input: distinct}},
		{"maxpool 3x2 stride 1x2 batch 1", gradCheck{
			layer: NewMaxPool2D("p", tensor.PoolParams{R: 3, S: 2, StrideH: 1, StrideW: 2}),
			in:    tensor.Shape{1, 5, 6}, n: 1, input: distinct}},
		{"avgpool 2x2 stride 2 odd", gradCheck{layer: NewAvgPool2D("p", pool(2, 2, 2, 0)), in: tensor.Shape{2, 5, 5}, n: 2}},
		{"avgpool 3x3 stride 2 pad 1", gradCheck{layer: NewAvgPool2D("p", pool(3, 3, 2, 1)), in: tensor.Shape{2, 7, 7}, n: 1}},
		{"avgpool 1x1 stride 2", gradCheck{layer: NewAvgPool2D("p", pool(1, 1, 2, 0)), in: tensor.Shape{1, 5, 4}, n: 2}},
		{"global avgpool", gradCheck{layer: NewGlobalAvgPool("gap"), in: tensor.Shape{3, 5, 4}, n: 2}},
		{"flatten", gradCheck{layer: NewFlatten("f"), in: tensor.Shape{2, 3, 3}, n: 2}},
		{"dropout train", gradCheck{layer: NewDropout("d", 0.5), in: tensor.Shape{4, 5}, n: 3}},
		{"dropout eval", gradCheck{layer: NewDropout("d", 0.5), in: tensor.Shape{4, 5}, n: 3, eval: true}},
		{"batchnorm CHW train", gradCheck{layer: NewBatchNorm("bn", bn), in: tensor.Shape{3, 4, 5}, n: 2}},
		{"batchnorm CHW train batch 1", gradCheck{layer: NewBatchNorm("bn", bn), in: tensor.Shape{2, 3, 3}, n: 1}},
		{"batchnorm F train", gradCheck{layer: NewBatchNorm("bn", bn), in: tensor.Shape{6}, n: 5}},
		{"batchnorm CHW eval", gradCheck{layer: NewBatchNorm("bn", bn), in: tensor.Shape{3, 4, 5}, n: 2, eval: true}},
		{"batchnorm F eval", gradCheck{layer: NewBatchNorm("bn", bn), in: tensor.Shape{6}, n: 3, eval: true}},
		{"shortcut pad stride 2 odd", gradCheck{layer: NewShortcutPad("s", 6, 2), in: tensor.Shape{3, 5, 5}, n: 2}},
		{"shortcut pad stride 1", gradCheck{layer: NewShortcutPad("s", 4, 1), in: tensor.Shape{3, 3, 3}, n: 1}},
		{"sequential", gradCheck{
			layer: NewSequential("net",
				conv("net.0", 3, 3, 3, 1, 1, false),
				NewBatchNorm("net.1", bn),
				NewActivation("net.2", tensor.Tanh),
				NewMaxPool2D("net.3", pool(2, 2, 2, 0)),
				NewFlatten("net.4"),
				NewDropout("net.5", 0.25),
				NewLinear("net.6", 4, true)),
			in: tensor.Shape{2, 5, 5}, n: 3, eps: 1e-3, coords: 40}},
		{"residual identity", gradCheck{
			layer: NewResidual("block",
				NewSequential("block",
					conv("block.conv1", 3, 3, 3, 1, 1, false),
					NewBatchNorm("block.bn1", bn),
					NewActivation("block.relu", relu),
					conv("block.conv2", 3, 3, 3, 1, 1, false),
					NewBatchNorm("block.bn2", bn)),
				nil, NewActivation("block.relu2", relu)),
			in: tensor.Shape{3, 5, 5}, n: 2, eps: 1e-3, coords: 40}},
		{"residual conv+bn shortcut stride 2", gradCheck{
			layer: NewResidual("block",
				NewSequential("block",
					conv("block.conv1", 4, 3, 3, 2, 1, false),
					NewBatchNorm("block.bn1", bn),
					NewActivation("block.relu", tensor.Tanh),
					conv("block.conv2", 4, 3, 3, 1, 1, false),
					NewBatchNorm("block.bn2", bn)),
				NewSequential("block.downsample",
					conv("block.downsample.0", 4, 1, 1, 2, 0, false),
					NewBatchNorm("block.downsample.1", bn)),
				NewActivation("block.relu2", relu)),
			in: tensor.Shape{2, 5, 5}, n: 2, eps: 1e-3, coords: 40}},
		{"residual option A stride 2", gradCheck{
			layer: NewResidual("block",
				NewSequential("block",
					conv("block.conv1", 6, 3, 3, 2, 1, false),
					NewBatchNorm("block.bn1", bn)),
				NewShortcutPad("block.shortcut", 6, 2),
				NewActivation("block.relu2", relu)),
			in: tensor.Shape{3, 5, 5}, n: 2, eps: 1e-3, coords: 40}},
		{"residual no post", gradCheck{
			layer: NewResidual("block", NewActivation("block.act", tensor.Tanh), nil, nil),
			in:    tensor.Shape{2, 3, 3}, n: 2}},
		{"concat 3 branches", gradCheck{
			layer: NewConcat("inc",
				conv("inc.b1", 2, 1, 1, 1, 0, true),
				NewSequential("inc.b2",
					conv("inc.b2.0", 2, 1, 1, 1, 0, true),
					NewActivation("inc.b2.1", tensor.Tanh),
					conv("inc.b2.2", 3, 3, 3, 1, 1, true)),
				NewSequential("inc.b3",
					NewMaxPool2D("inc.b3.0", pool(3, 3, 1, 1)),
					conv("inc.b3.1", 1, 1, 1, 1, 0, true))),
			in: tensor.Shape{3, 5, 5}, n: 2, eps: 1e-3, coords: 40}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.g.expect(t) })
	}
}

// TestGradCheckFails makes sure the checker can fail: a gradient nudged by
// 5% of its scale, and a layer whose backward uses the wrong derivative.
func TestGradCheckFails(t *testing.T) {
	t.Run("nudged input gradient", func(t *testing.T) {
		g := gradCheck{layer: conv("c", 2, 3, 3, 1, 1, true), in: tensor.Shape{2, 4, 4}, n: 2,
			tamper: func(what string, g []float64) {
				if what == "input" {
					g[7] += 0.05 * math.Max(1, math.Abs(g[7]))
				}
			}}
		res := g.run(t)
		if len(res.mismatches) != 1 || res.mismatches[0].what != "input" || res.mismatches[0].i != 7 {
			t.Errorf("mismatches %v, want exactly input[7]", res.mismatches)
		}
	})
	t.Run("nudged weight gradient", func(t *testing.T) {
		g := gradCheck{layer: NewLinear("fc", 3, true), in: tensor.Shape{4}, n: 2,
			tamper: func(what string, g []float64) {
				if what == "fc.bias" {
					g[1] -= 0.05 * math.Max(1, math.Abs(g[1]))
				}
			}}
		res := g.run(t)
		if len(res.mismatches) != 1 || res.mismatches[0].what != "fc.bias" {
			t.Errorf("mismatches %v, want exactly fc.bias[1]", res.mismatches)
		}
	})
	t.Run("wrong derivative", func(t *testing.T) {
		g := gradCheck{layer: &wrongDerivative{NewActivation("a", tensor.Tanh).(*Activation)}, in: tensor.Shape{6}, n: 2}
		if res := g.run(t); len(res.mismatches) == 0 {
			t.Errorf("a tanh with the sigmoid's derivative passed the gradient check")
		}
	})
}

// wrongDerivative is a tanh whose backward uses the sigmoid's derivative.
type wrongDerivative struct{ *Activation }

func (l *wrongDerivative) Backward(dy *tensor.Tensor) *tensor.Tensor {
	dx := ensure(l.be, &l.dx, l.y.Shape, dy.DType)
	l.be.ActivationBackward(tensor.Sigmoid, l.y, dy, dx)
	return dx
}

// TestLossGradient checks Loss.Backward against finite differences of the
// mean loss, with and without label smoothing.
func TestLossGradient(t *testing.T) {
	for _, smoothing := range []float32{0, 0.1} {
		be := cpu.New()
		rng := rand.New(rand.NewSource(9))
		const n, k = 3, 5
		zs := make([]float32, n*k)
		uniform(rng, zs, -2, 2)
		z := be.New(tensor.Shape{n, k})
		be.Upload(z, zs)
		labels := be.New(tensor.Shape{n})
		be.Upload(labels, []float32{0, 4, 2})
		l := NewLoss(be, smoothing)
		l.Forward(z, labels)
		ana := download(be, l.Backward())
		const eps = 1e-2
		for i := range zs {
			v0 := zs[i]
			at := z.Slice(i, tensor.Shape{1})
			plus, minus := float32(float64(v0)+eps), float32(float64(v0)-eps)
			be.Upload(at, []float32{plus})
			fp := float64(l.Forward(z, labels))
			be.Upload(at, []float32{minus})
			fm := float64(l.Forward(z, labels))
			be.Upload(at, []float32{v0})
			num := (fp - fm) / (float64(plus) - float64(minus))
			if math.Abs(num-float64(ana[i])) > 1e-3*math.Max(1, math.Abs(num)) {
				t.Errorf("smoothing %g: dlogits[%d] = %g, numeric %g", smoothing, i, ana[i], num)
			}
		}
		if err := be.Err(); err != nil {
			t.Fatal(err)
		}
	}
}
