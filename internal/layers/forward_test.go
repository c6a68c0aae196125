package layers

import (
	"math"
	"testing"

	"github.com/cnnctl/cnnctl/internal/tensor"
)

// Hand-worked forwards (and a few backwards) of every layer type.

const tol = 1e-5

func TestConv2DForward(t *testing.T) {
	x := []float32{1, 2, 3, 4, 5, 6, 7, 8, 9} // 1x3x3
	// Weight [[1,0],[0,1]]: y[i][j] = x[i][j] + x[i+1][j+1] + bias.
	m := build(t, conv("c", 1, 2, 2, 1, 0, true), tensor.Shape{1, 3, 3})
	setParam(t, m, "c.weight", 1, 0, 0, 1)
	setParam(t, m, "c.bias", 0.5)
	y, s := forward(t, m, 1, x, false)
	near(t, "stride 1", y, []float32{6.5, 8.5, 12.5, 14.5}, tol)
	if !s.Equal(tensor.Shape{1, 1, 2, 2}) || !m.Out.Equal(tensor.Shape{1, 2, 2}) {
		t.Errorf("shape %v, model out %v", s, m.Out)
	}
	if got := m.MACs(); got != 1*1*2*2*2*2 {
		t.Errorf("MACs %d, want 16", got)
	}

	// Stride 2, padding 1: the windows start at rows and columns -1 and 1.
	m = build(t, conv("c", 1, 2, 2, 2, 1, false), tensor.Shape{1, 3, 3})
	setParam(t, m, "c.weight", 1, 0, 0, 1)
	y, _ = forward(t, m, 1, x, false)
	near(t, "stride 2 pad 1", y, []float32{1, 3, 7, 14}, tol)

	// 1x1, two channels in, two out: y_k = Σ_c w[k][c] x_c + b_k.
	m = build(t, conv("c", 2, 1, 1, 1, 0, true), tensor.Shape{2, 1, 2})
	setParam(t, m, "c.weight", 1, 1, 2, -1)
	setParam(t, m, "c.bias", 0, 1)
	y, _ = forward(t, m, 1, []float32{1, 2, 3, 4}, false)
	near(t, "1x1", y, []float32{4, 6, 0, 1}, tol)
}

func TestLinearForward(t *testing.T) {
	m := build(t, NewLinear("fc", 2, true), tensor.Shape{3})
	setParam(t, m, "fc.weight", 1, 2, 3, 4, 5, 6)
	setParam(t, m, "fc.bias", 0.5, -1)
	y, _ := forward(t, m, 2, []float32{1, 0, -1, 0, 1, 0}, false)
	near(t, "linear", y, []float32{-1.5, -3, 2.5, 4}, tol)
	if m.MACs() != 6 {
		t.Errorf("MACs %d, want 6", m.MACs())
	}
}

func TestActivationForward(t *testing.T) {
	for _, c := range []struct {
		a      tensor.Activation
		typ    string
		x, y   []float32
		dy     []float32
		dxWant []float32
	}{
		{tensor.ReLU, "relu", []float32{-1, 0.5, 2}, []float32{0, 0.5, 2}, []float32{3, 3, 3}, []float32{0, 3, 3}},
		{tensor.Sigmoid, "sigmoid", []float32{0, float32(math.Log(3)), 0}, []float32{0.5, 0.75, 0.5}, []float32{1, 1, 2}, []float32{0.25, 0.1875, 0.5}},
		{tensor.Tanh, "tanh", []float32{0, float32(math.Log(2)), 0}, []float32{0, 0.6, 0}, []float32{1, 1, 2}, []float32{1, 0.64, 2}},
	} {
		l := NewActivation("act", c.a)
		if l.Type() != c.typ {
			t.Errorf("type %q, want %q", l.Type(), c.typ)
		}
		m := build(t, l, tensor.Shape{3})
		y, _ := forward(t, m, 1, c.x, true)
		near(t, c.typ, y, c.y, tol)
		be := m.Ctx.Backend
		dy := be.New(tensor.Shape{1, 3})
		be.Upload(dy, c.dy)
		near(t, c.typ+" backward", download(be, m.Backward(dy)), c.dxWant, tol)
	}
}

func TestPoolForward(t *testing.T) {
	x := []float32{ // 1x4x4
		1, 5, 2, 0,
		3, 4, 8, 7,
		0, -1, 6, 9,
		2, 3, 1, -5,
	}
	m := build(t, NewMaxPool2D("p", pool(2, 2, 2, 0)), tensor.Shape{1, 4, 4})
	y, _ := forward(t, m, 1, x, true)
	near(t, "max 2x2", y, []float32{5, 8, 3, 9}, tol)
	be := m.Ctx.Backend
	dy := be.New(tensor.Shape{1, 1, 2, 2})
	be.Upload(dy, []float32{1, 2, 3, 4})
	near(t, "max 2x2 backward", download(be, m.Backward(dy)), []float32{
		0, 1, 0, 0,
		0, 0, 2, 0,
		0, 0, 0, 4,
		0, 3, 0, 0,
	}, tol)

	// A zero stride means the window size.
	m = build(t, NewMaxPool2D("p", tensor.PoolParams{R: 2, S: 2}), tensor.Shape{1, 4, 4})
	y, _ = forward(t, m, 1, x, true)
	near(t, "max 2x2 default stride", y, []float32{5, 8, 3, 9}, tol)

	// Padding counts as -inf for max pooling.
	neg := []float32{-1, -2, -3, -4, -5, -6, -7, -8, -9}
	m = build(t, NewMaxPool2D("p", pool(3, 3, 2, 1)), tensor.Shape{1, 3, 3})
	y, _ = forward(t, m, 1, neg, true)
	near(t, "max 3x3 stride 2 pad 1", y, []float32{-1, -2, -4, -5}, tol)

	m = build(t, NewAvgPool2D("p", pool(2, 2, 2, 0)), tensor.Shape{1, 4, 4})
	y, _ = forward(t, m, 1, x, true)
	near(t, "avg 2x2", y, []float32{3.25, 4.25, 1, 2.75}, tol)

	// Average pooling divides by the whole window, padding included.
	m = build(t, NewAvgPool2D("p", pool(2, 2, 2, 1)), tensor.Shape{1, 2, 2})
	y, _ = forward(t, m, 1, []float32{1, 2, 3, 4}, true)
	near(t, "avg 2x2 pad 1", y, []float32{0.25, 0.5, 0.75, 1}, tol)

	m = build(t, NewGlobalAvgPool("gap"), tensor.Shape{2, 2, 2})
	y, s := forward(t, m, 1, []float32{1, 2, 3, 4, 5, 6, 7, 8}, true)
	near(t, "global avg", y, []float32{2.5, 6.5}, tol)
	if !s.Equal(tensor.Shape{1, 2, 1, 1}) {
		t.Errorf("global avg shape %v, want 1x2x1x1", s)
	}
	be = m.Ctx.Backend
	dy = be.New(tensor.Shape{1, 2, 1, 1})
	be.Upload(dy, []float32{4, 8})
	near(t, "global avg backward", download(be, m.Backward(dy)), []float32{1, 1, 1, 1, 2, 2, 2, 2}, tol)
}

func TestFlattenIsAView(t *testing.T) {
	m := build(t, NewFlatten("f"), tensor.Shape{2, 3, 3})
	be := m.Ctx.Backend
	x := be.New(tensor.Shape{4, 2, 3, 3})
	y := m.Forward(x, true)
	if !y.Shape.Equal(tensor.Shape{4, 18}) || y.Buf != x.Buf || y.Off != x.Off {
		t.Errorf("flatten gave %v at offset %d of another buffer: want a 4x18 view of x", y.Shape, y.Off)
	}
	dx := m.Backward(y)
	if !dx.Shape.Equal(tensor.Shape{4, 2, 3, 3}) || dx.Buf != x.Buf {
		t.Errorf("flatten backward gave %v, want a 4x2x3x3 view of dy", dx.Shape)
	}
}

func TestDropout(t *testing.T) {
	const n = 2000
	l := NewDropout("drop", 0.5)
	m := build(t, l, tensor.Shape{n})
	be := m.Ctx.Backend
	x := be.New(tensor.Shape{1, n})
	xs := make([]float32, n)
	for i := range xs {
		xs[i] = float32(i%7) + 1
	}
	be.Upload(x, xs)
	if y := m.Forward(x, false); y != x {
		t.Errorf("evaluation dropout is not the identity")
	}
	m.Ctx.Step = 3
	y := download(be, m.Forward(x, true))
	dropped := 0
	for i, v := range y {
		switch v {
		case 0:
			dropped++
		case 2 * xs[i]:
		default:
			t.Fatalf("y[%d] = %v, want 0 or %v", i, v, 2*xs[i])
		}
	}
	if dropped < n*45/100 || dropped > n*55/100 {
		t.Errorf("dropped %d of %d with p = 0.5", dropped, n)
	}
	// The backward masks dy the same way.
	dy := be.New(tensor.Shape{1, n})
	be.Fill(dy, 1)
	dx := download(be, m.Backward(dy))
	for i := range dx {
		if (dx[i] == 0) != (y[i] == 0) || (dx[i] != 0 && dx[i] != 2) {
			t.Fatalf("dx[%d] = %v with y[%d] = %v", i, dx[i], i, y[i])
		}
	}
	// The same step gives the same mask; another step or another name another.
	if again := download(be, m.Forward(x, true)); !equal(again, y) {
		t.Errorf("same step, different mask")
	}
	m.Ctx.Step = 4
	if other := download(be, m.Forward(x, true)); equal(other, y) {
		t.Errorf("steps 3 and 4 drew the same mask")
	}
	m.Ctx.Step = 3
	m2, err := Build(be, NewDropout("drop2", 0.5), tensor.Shape{n}, 1)
	if err != nil {
		t.Fatal(err)
	}
	m2.Ctx.Step = 3
	if other := download(be, m2.Forward(x, true)); equal(other, y) {
		t.Errorf("two dropout layers drew the same mask")
	}
}

func equal(a, b []float32) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return len(a) == len(b)
}

func TestBatchNorm(t *testing.T) {
	// Two values per channel: feature 0 is {1, 3} (mean 2, variance 1,
	// unbiased 2), feature 1 is {10, 20} (mean 15, variance 25, unbiased 50).
	s0, s1 := float32(1/math.Sqrt(1+1e-5)), float32(5/math.Sqrt(25+1e-5))
	want := []float32{-2*s0 + 0.5, -s1, 2*s0 + 0.5, s1} // weight (2, 1), bias (0.5, 0)
	for _, c := range []struct {
		name string
		in   tensor.Shape
		n    int
		x    []float32
		want []float32
		eval []float32 // one sample, 1.2 in channel 0, 1.5 in channel 1
	}{
		{"features", tensor.Shape{2}, 2, []float32{1, 10, 3, 20}, want, []float32{1.2, 1.5}},
		{"images", tensor.Shape{2, 1, 2}, 1, []float32{1, 3, 10, 20}, []float32{want[0], want[2], want[1], want[3]},
			[]float32{1.2, 1.2, 1.5, 1.5}},
	} {
		l := NewBatchNorm("bn", DefaultBatchNorm())
		m := build(t, l, c.in)
		var names []string
		for _, p := range m.All() {
			names = append(names, p.Name)
		}
		if len(names) != 4 || names[0] != "bn.weight" || names[1] != "bn.bias" || names[2] != "bn.running_mean" || names[3] != "bn.running_var" {
			t.Errorf("%s: state %v", c.name, names)
		}
		be := m.Ctx.Backend
		near(t, c.name+" initial running_var", download(be, param(t, m, "bn.running_var").Value), []float32{1, 1}, 0)
		setParam(t, m, "bn.weight", 2, 1)
		setParam(t, m, "bn.bias", 0.5, 0)
		y, _ := forward(t, m, c.n, c.x, true)
		near(t, c.name+" train", y, c.want, tol)
		near(t, c.name+" running_mean", download(be, param(t, m, "bn.running_mean").Value), []float32{0.2, 1.5}, tol)
		near(t, c.name+" running_var", download(be, param(t, m, "bn.running_var").Value), []float32{1.1, 5.9}, tol)
		bc := l.(*BatchNorm)
		if bc.NumBatchesTracked() != 1 {
			t.Errorf("%s: num_batches_tracked %d, want 1", c.name, bc.NumBatchesTracked())
		}
		// Evaluation uses the running statistics and counts nothing.
		y, _ = forward(t, m, 1, c.eval, false)
		e := float32(2*1/math.Sqrt(1.1+1e-5) + 0.5) // (1.2-0.2)/sqrt(1.1+eps)*2 + 0.5; channel 1 is at its mean
		wantEval := []float32{e, 0}
		if len(c.eval) == 4 {
			wantEval = []float32{e, e, 0, 0}
		}
		near(t, c.name+" eval", y, wantEval, tol)
		if bc.NumBatchesTracked() != 1 {
			t.Errorf("%s: evaluation changed num_batches_tracked to %d", c.name, bc.NumBatchesTracked())
		}
		bc.SetNumBatchesTracked(41)
		forward(t, m, c.n, c.x, true)
		if bc.NumBatchesTracked() != 42 {
			t.Errorf("%s: num_batches_tracked %d after 41 and a batch", c.name, bc.NumBatchesTracked())
		}
	}
}

func TestSequentialForward(t *testing.T) {
	s := NewSequential("net", NewLinear("net.0", 1, false), NewActivation("net.1", tensor.ReLU))
	m := build(t, s, tensor.Shape{2})
	setParam(t, m, "net.0.weight", 1, -1)
	y, _ := forward(t, m, 2, []float32{1, 2, 3, 1}, true)
	near(t, "sequential", y, []float32{0, 2}, tol)
	if s.Type() != "sequential" || len(s.Children()) != 2 || m.MACs() != 2 {
		t.Errorf("type %q, %d children, MACs %d", s.Type(), len(s.Children()), m.MACs())
	}
}

func TestResidualForward(t *testing.T) {
	// relu(relu(x) + x)
	r := NewResidual("block", NewActivation("block.body", tensor.ReLU), nil, NewActivation("block.post", tensor.ReLU))
	m := build(t, r, tensor.Shape{2})
	y, _ := forward(t, m, 2, []float32{-1, 2, -3, 0.5}, true)
	near(t, "residual", y, []float32{0, 4, 0, 1}, tol)
	// Through post: sum (-1, 4) passes (0, 1); the body adds its relu's (0, 1).
	be := m.Ctx.Backend
	forward(t, m, 1, []float32{-1, 2}, true)
	dy := be.New(tensor.Shape{1, 2})
	be.Fill(dy, 1)
	near(t, "residual backward", download(be, m.Backward(dy)), []float32{0, 2}, tol)

	// Option A: stride 2 on 3x3, the one channel placed at (4-1)/2 = 1.
	m = build(t, NewShortcutPad("sc", 4, 2), tensor.Shape{1, 3, 3})
	y, s := forward(t, m, 1, []float32{1, 2, 3, 4, 5, 6, 7, 8, 9}, true)
	near(t, "shortcut pad", y, []float32{0, 0, 0, 0, 1, 3, 7, 9, 0, 0, 0, 0, 0, 0, 0, 0}, tol)
	if !s.Equal(tensor.Shape{1, 4, 2, 2}) {
		t.Errorf("shortcut pad shape %v", s)
	}
	be = m.Ctx.Backend
	dy = be.New(tensor.Shape{1, 4, 2, 2})
	be.Fill(dy, 1)
	near(t, "shortcut pad backward", download(be, m.Backward(dy)), []float32{1, 0, 1, 0, 0, 0, 1, 0, 1}, tol)

	// MACs count the body and the shortcut.
	r = NewResidual("b", conv("b.conv", 4, 3, 3, 2, 1, false), conv("b.down", 4, 1, 1, 2, 0, false), nil)
	m = build(t, r, tensor.Shape{2, 4, 4})
	if want := int64(4*2*9*2*2 + 4*2*1*2*2); m.MACs() != want {
		t.Errorf("residual MACs %d, want %d", m.MACs(), want)
	}
}

func TestConcatForward(t *testing.T) {
	c := NewConcat("inc",
		NewActivation("inc.0", tensor.ReLU),
		NewShortcutPad("inc.1", 3, 1),
		NewActivation("inc.2", tensor.Sigmoid))
	m := build(t, c, tensor.Shape{1, 1, 2})
	if !m.Out.Equal(tensor.Shape{5, 1, 2}) {
		t.Fatalf("concat out %v, want 5x1x2", m.Out)
	}
	sig := func(v float64) float64 { return 1 / (1 + math.Exp(-v)) }
	y, _ := forward(t, m, 1, []float32{1, -2}, true)
	near(t, "concat", y, []float32{1, 0, 0, 0, 1, -2, 0, 0, float32(sig(1)), float32(sig(-2))}, tol)
	be := m.Ctx.Backend
	dy := be.New(tensor.Shape{1, 5, 1, 2})
	be.Upload(dy, []float32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10})
	d := func(v float64) float64 { return sig(v) * (1 - sig(v)) }
	near(t, "concat backward", download(be, m.Backward(dy)),
		[]float32{float32(1 + 5 + 9*d(1)), float32(0 + 6 + 10*d(-2))}, tol)
}

func TestLossForward(t *testing.T) {
	m := build(t, NewFlatten("f"), tensor.Shape{2, 1, 1}) // only for a backend
	be := m.Ctx.Backend
	// Logits (N,K,1,1), as NiN's classifier ends, are read as (N,K).
	z := be.New(tensor.Shape{2, 2, 1, 1})
	be.Upload(z, []float32{0, float32(math.Log(3)), 0, 0})
	labels := be.New(tensor.Shape{2})
	be.Upload(labels, []float32{1, 0})
	l := NewLoss(be, 0)
	got := l.Forward(z, labels)
	if want := (-math.Log(0.75) + math.Log(2)) / 2; math.Abs(float64(got)-want) > tol {
		t.Errorf("loss %v, want %v", got, want)
	}
	g := l.Backward()
	if !g.Shape.Equal(z.Shape) {
		t.Errorf("dlogits shape %v, want %v", g.Shape, z.Shape)
	}
	near(t, "dlogits", download(be, g), []float32{0.125, -0.125, -0.25, 0.25}, tol)

	// Smoothing 0.2 over 2 classes: targets 0.1 and 0.9.
	l = NewLoss(be, 0.2)
	got = l.Forward(z.View(tensor.Shape{1, 2}), labels.View(tensor.Shape{1}))
	if want := math.Log(4) - 0.9*math.Log(3); math.Abs(float64(got)-want) > tol {
		t.Errorf("smoothed loss %v, want %v", got, want)
	}
	near(t, "smoothed dlogits", download(be, l.Backward()), []float32{0.15, -0.15}, tol)
	if err := be.Err(); err != nil {
		t.Fatal(err)
	}
}

func TestLossCorrect(t *testing.T) {
	m := build(t, NewFlatten("f"), tensor.Shape{6})
	be := m.Ctx.Backend
	z := be.New(tensor.Shape{4, 6})
	be.Upload(z, []float32{
		1, 2, 3, 4, 5, 6, // label 5: top-1
		6, 5, 4, 3, 2, 1, // label 5: rank 5, neither
		1, 1, 1, 1, 1, 1, // label 3: ties rank in class order, rank 3
		0, 0, 0, 0, 0, 9, // label 0: rank 1
	})
	labels := be.New(tensor.Shape{4})
	be.Upload(labels, []float32{5, 5, 3, 0})
	top1, top5 := NewLoss(be, 0).Correct(z, labels)
	if top1 != 1 || top5 != 3 {
		t.Errorf("top-1 %d, top-5 %d, want 1 and 3", top1, top5)
	}
}

func TestSmallerBatchIsAView(t *testing.T) {
	m := build(t, conv("c", 2, 3, 3, 1, 1, true), tensor.Shape{1, 4, 4})
	be := m.Ctx.Backend
	big := m.Forward(be.New(tensor.Shape{3, 1, 4, 4}), true)
	small := m.Forward(be.New(tensor.Shape{1, 1, 4, 4}), true)
	if small.Buf != big.Buf || !small.Shape.Equal(tensor.Shape{1, 2, 4, 4}) {
		t.Errorf("batch 1 after batch 3 gave %v in a new buffer", small.Shape)
	}
	again := m.Forward(be.New(tensor.Shape{3, 1, 4, 4}), true)
	if again.Buf != big.Buf || !again.Shape.Equal(big.Shape) {
		t.Errorf("batch 3 again gave %v in a new buffer", again.Shape)
	}
}

func TestMACs(t *testing.T) {
	// LeNet's first convolution and first linear layer on 3x32x32.
	m := build(t, NewSequential("net",
		conv("net.0", 6, 5, 5, 1, 0, true),
		NewActivation("net.1", tensor.ReLU),
		NewMaxPool2D("net.2", pool(2, 2, 2, 0)),
		conv("net.3", 16, 5, 5, 1, 0, true),
		NewMaxPool2D("net.4", pool(2, 2, 2, 0)),
		NewFlatten("net.5"),
		NewLinear("net.6", 120, true)), tensor.Shape{3, 32, 32})
	want := int64(6*3*25*28*28 + 16*6*25*10*10 + 400*120)
	if m.MACs() != want {
		t.Errorf("MACs %d, want %d", m.MACs(), want)
	}
	if m.NumParams() != 6*3*25+6+16*6*25+16+400*120+120 {
		t.Errorf("params %d", m.NumParams())
	}
}
