package plan

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/cnnctl/cnnctl/internal/cpu"
	"github.com/cnnctl/cnnctl/internal/layers"
	"github.com/cnnctl/cnnctl/internal/tensor"
	"github.com/cnnctl/cnnctl/internal/zoo"
)

// plainOnly is a backend with the tensor.Backend methods only: fused nodes
// on it run the original layers one after the other.
type plainOnly struct{ tensor.Backend }

func build(t testing.TB, be tensor.Backend, name string) *layers.Model {
	t.Helper()
	spec, err := zoo.Load(name)
	if err != nil {
		t.Fatal(err)
	}
	m, err := zoo.Build(spec, be, tensor.Shape{3, 32, 32}, 10, 1)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestRewrites: the patterns the pass finds in five zoo models, counted
// from their YAML: resnet20's stem and nine blocks (conv, BN, ReLU, conv,
// BN, post ReLU) give ten batchnorm+relu and nine residual+relu; vgg11-bn
// has eight conv, BN, ReLU; nin nine conv, ReLU; googlenet one BN+ReLU in
// the stem and 7 per Inception block of nine; lenet two conv, ReLU (its
// linear, ReLU pairs have no fused op). In an evaluation plan on the CPU
// (tensor.ConvBatchNormInfer) conv, BN (, ReLU) is one node: resnet20's ten
// conv2d+batchnorm+relu and nine conv2d+batchnorm; on a backend without
// the op (plain: the CPU with its Backend methods only) the evaluation
// plan fuses as the training plan does.
func TestRewrites(t *testing.T) {
	for _, c := range []struct {
		model string
		eval  bool
		plain bool
		want  map[string]int
		first []string // one fusion's layers
	}{
		{"resnet20", false, false, map[string]int{"batchnorm+relu": 10, "residual+relu": 9}, []string{"bn1", "relu"}},
		{"resnet20", true, false, map[string]int{"conv2d+batchnorm+relu": 10, "conv2d+batchnorm": 9, "residual+relu": 9}, []string{"conv1", "bn1", "relu"}},
		{"resnet20", true, true, map[string]int{"batchnorm+relu": 10, "residual+relu": 9}, []string{"bn1", "relu"}},
		{"vgg11-bn", false, false, map[string]int{"batchnorm+relu": 8}, []string{"features.1", "features.2"}},
		{"vgg11-bn", true, false, map[string]int{"conv2d+batchnorm+relu": 8}, []string{"features.0", "features.1", "features.2"}},
		{"nin", false, false, map[string]int{"conv2d+relu": 9}, nil},
		{"googlenet", false, false, map[string]int{"batchnorm+relu": 1 + 7*9}, []string{"pre_layers.1", "pre_layers.2"}},
		{"googlenet", true, false, map[string]int{"conv2d+batchnorm+relu": 1 + 7*9}, []string{"pre_layers.0", "pre_layers.1", "pre_layers.2"}},
		{"lenet", false, false, map[string]int{"conv2d+relu": 2}, []string{"conv1", "relu1"}},
	} {
		t.Run(fmt.Sprintf("%s/eval=%t/plain=%t", c.model, c.eval, c.plain), func(t *testing.T) {
			var be tensor.Backend = cpu.New()
			if c.plain {
				be = struct{ tensor.Backend }{be}
			}
			m := build(t, be, c.model)
			// Training plans without ConvBN (TestRewritesConvBN has it);
			// evaluation plans with it, as by default.
			p, err := Compile(m, 2, !c.eval, Options{Fuse: true, ConvBN: c.eval, Share: true})
			if err != nil {
				t.Fatal(err)
			}
			p.Free()
			checkFusions(t, p, c.want, c.first)
			// The model's own tree is untouched: no fused node in it.
			layers.Walk(m.Root, func(l layers.Layer, _ int) {
				switch l.(type) {
				case *layers.BatchNormReLU, *layers.ConvReLU, *layers.ConvBatchNorm, *layers.ResidualReLU:
					t.Errorf("the model's tree holds the fused node %s", l.Name())
				}
			})
			off, err := Compile(m, 2, true, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if len(off.Fusions) != 0 || off.Root != m.Root {
				t.Errorf("with Fuse off the plan rewrote %v", off.Fusions)
			}
			off.Free()
		})
	}
}

// checkFusions fails t unless p made want fusions of each pattern and,
// when first is not nil, one of exactly the layers first.
func checkFusions(t *testing.T, p *Plan, want map[string]int, first []string) {
	t.Helper()
	got := map[string]int{}
	for _, f := range p.Fusions {
		got[f.Pattern]++
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("fusions %v, want %v\n%s", got, want, p)
	}
	if first != nil && !slices.ContainsFunc(p.Fusions, func(f Fusion) bool { return slices.Equal(f.Layers, first) }) {
		t.Errorf("no fusion of %v in\n%s", first, p)
	}
}

// TestRewritesConvBN: with ConvBN a training plan fuses each convolution
// with the batch norm after it, and the ReLU after that: resnet20's stem
// and each block's first convolution (conv, BN, ReLU) and each block's
// second (conv, BN; the ReLU is the block's post); vgg11-bn's eight conv,
// BN, ReLU; googlenet's stem and 7 per Inception block. An evaluation plan
// does too on a backend with tensor.ConvBatchNormInfer (the CPU), not on
// one without (the GPU's set); a training plan without ConvBN does not
// (TestRewrites).
func TestRewritesConvBN(t *testing.T) {
	for _, c := range []struct {
		model string
		want  map[string]int
		first []string // one fusion's layers
	}{
		{"resnet20", map[string]int{"conv2d+batchnorm+relu": 10, "conv2d+batchnorm": 9, "residual+relu": 9}, []string{"conv1", "bn1", "relu"}},
		{"vgg11-bn", map[string]int{"conv2d+batchnorm+relu": 8}, []string{"features.0", "features.1", "features.2"}},
		{"googlenet", map[string]int{"conv2d+batchnorm+relu": 1 + 7*9}, []string{"pre_layers.0", "pre_layers.1", "pre_layers.2"}},
		{"lenet", map[string]int{"conv2d+relu": 2}, nil},
	} {
		t.Run(c.model, func(t *testing.T) {
			m := build(t, cpu.New(), c.model)
			p, err := Describe(m, 2, true, Options{Fuse: true, ConvBN: true, Share: true})
			if err != nil {
				t.Fatal(err)
			}
			checkFusions(t, p, c.want, c.first)
			if !strings.Contains(p.String(), "fused conv2d+batchnorm") && c.model != "lenet" {
				t.Errorf("the plan's summary does not show the fusion:\n%s", p)
			}
			// In evaluation the CPU (tensor.ConvBatchNormInfer) fuses the
			// same layers; a backend without the evaluation op (the GPU's
			// set of fused ops) does not.
			ev, err := Describe(m, 2, false, Options{Fuse: true, ConvBN: true, Share: true})
			if err != nil {
				t.Fatal(err)
			}
			checkFusions(t, ev, c.want, c.first)
			gm := build(t, NewDryFusedTrain(&Dry{}), c.model)
			gev, err := Describe(gm, 2, false, Options{Fuse: true, ConvBN: true, Share: true})
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range gev.Fusions {
				if strings.HasPrefix(f.Pattern, "conv2d+batchnorm") {
					t.Fatalf("the evaluation plan without the evaluation op fused %v", f)
				}
			}
		})
	}
}

// TestFromEnvConvBN: CNNCTL_FUSE_CONVBN=0 turns the conv2d+batchnorm
// rewrite off and leaves the others on; by default it is on.
func TestFromEnvConvBN(t *testing.T) {
	if o := FromEnv(); !o.ConvBN || !o.Fuse {
		t.Errorf("default options %+v, want Fuse and ConvBN on", o)
	}
	t.Setenv("CNNCTL_FUSE_CONVBN", "0")
	if o := FromEnv(); o.ConvBN || !o.Fuse || !o.Share {
		t.Errorf("with CNNCTL_FUSE_CONVBN=0: %+v, want ConvBN off and the others on", o)
	}
}

// step is what one forward and backward left: the output, the input's
// gradient, every parameter's gradient and every parameter and buffer
// (running statistics change in training).
type step struct{ out, dx, grads, state []float32 }

func download(be tensor.Backend, t *tensor.Tensor) []float32 {
	v := make([]float32, t.Numel())
	be.Download(v, t)
	return v
}

// run does a training forward and backward of m on x (n samples) with
// the seeded gradient dy, then an evaluation forward.
func run(t *testing.T, m *layers.Model, n int, seed uint64) (train, eval step) {
	t.Helper()
	be := m.Ctx.Backend
	r := rand.New(rand.NewPCG(seed, 5))
	xs := make([]float32, n*m.In.Numel())
	for i := range xs {
		xs[i] = float32(r.NormFloat64())
	}
	x := be.New(append(tensor.Shape{n}, m.In...))
	defer be.Free(x)
	be.Upload(x, xs)
	y := m.Forward(x, true)
	dys := make([]float32, y.Numel())
	for i := range dys {
		dys[i] = float32(r.NormFloat64())
	}
	dy := be.New(y.Shape)
	defer be.Free(dy)
	be.Upload(dy, dys)
	train.out = download(be, y)
	if dx := m.Backward(dy); dx != nil {
		train.dx = download(be, dx)
	}
	train.grads = download(be, m.Grads)
	train.state = download(be, m.Weights)
	if m.State != nil {
		train.state = append(train.state, download(be, m.State)...)
	}
	eval.out = download(be, m.Forward(x, false))
	if err := be.Err(); err != nil {
		t.Fatal(err)
	}
	return train, eval
}

// sameBits fails t unless a and b hold the same bits (any NaN equal to any).
func sameBits(t *testing.T, what string, a, b []float32) {
	t.Helper()
	if len(a) != len(b) {
		t.Fatalf("%s: %d values vs %d", what, len(a), len(b))
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) && !(a[i] != a[i] && b[i] != b[i]) {
			t.Fatalf("%s[%d]: %g without the plan, %g with it", what, i, a[i], b[i])
		}
	}
}

// zooModels are the models the equivalence test runs: all of the zoo, or
// with -short three that hold every pattern and container.
func zooModels() []string {
	if testing.Short() {
		return []string{"resnet20", "googlenet", "lenet"}
	}
	return zoo.Names()
}

// TestPlanEquivalence runs every zoo model with and without a plan (fused
// nodes, shared gradients, the arena poisoned with NaN before the first
// step) and compares every bit: training output, input gradient,
// parameter gradients, the parameters and running statistics, and the
// evaluation output, at the plan's batch and at a smaller one (views of
// the same arena), with every rewrite on (conv2d+batchnorm too). The
// CPU's fused ops give the plain sequences' bits, so
// the comparison is exact. The same runs on a backend without fused ops
// (the fused nodes' fallback) and on the reference engine.
func TestPlanEquivalence(t *testing.T) {
	engines := []struct {
		name string
		new  func() tensor.Backend
	}{
		{"fast", func() tensor.Backend { return cpu.New() }},
		{"fallback", func() tensor.Backend { return plainOnly{cpu.New()} }},
		{"reference", func() tensor.Backend { return cpu.NewReference() }},
	}
	for _, e := range engines {
		for _, name := range zooModels() {
			if e.name == "fallback" && name != "resnet20" && name != "googlenet" && name != "lenet" ||
				e.name == "reference" && name != "resnet20" && name != "lenet" {
				continue // the fast engine covers the zoo; the others run a few (the reference is slow)
			}
			t.Run(e.name+"/"+name, func(t *testing.T) {
				n := 2
				plain, planned := build(t, e.new(), name), build(t, e.new(), name)
				plain.InputGrad, planned.InputGrad = true, true
				p, err := Attach(planned, n, true, Options{Fuse: true, ConvBN: true, Share: true})
				if err != nil {
					t.Fatal(err)
				}
				defer p.Free()
				if p.arena != nil {
					planned.Ctx.Backend.Fill(p.arena, float32(math.NaN()))
				}
				for i, batch := range []int{n, n - 1, n} {
					wantT, wantE := run(t, plain, batch, uint64(i))
					gotT, gotE := run(t, planned, batch, uint64(i))
					what := fmt.Sprintf("step %d (batch %d) ", i, batch)
					sameBits(t, what+"output", wantT.out, gotT.out)
					sameBits(t, what+"input gradient", wantT.dx, gotT.dx)
					sameBits(t, what+"parameter gradients", wantT.grads, gotT.grads)
					sameBits(t, what+"parameters and buffers", wantT.state, gotT.state)
					sameBits(t, what+"evaluation output", wantE.out, gotE.out)
				}
			})
		}
	}
}

// TestEvalPlanEquivalence: an evaluation plan (outputs sharing memory by
// the rule in share, the arena poisoned with NaN) gives the bits of the
// model without a plan, over the zoo, at its batch and a smaller one; a
// training forward on it lays the plan out again for training (so the
// outputs the backward needs are kept) and still gives the same bits.
func TestEvalPlanEquivalence(t *testing.T) {
	for _, name := range zooModels() {
		t.Run(name, func(t *testing.T) {
			plain, planned := build(t, cpu.New(), name), build(t, cpu.New(), name)
			p, err := Attach(planned, 2, false, Options{Fuse: true, Share: true})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Free()
			if p.Stats.Shared == 0 && name != "mlp" {
				t.Errorf("%s: the evaluation plan shares no outputs", name)
			}
			if p.arena != nil {
				planned.Ctx.Backend.Fill(p.arena, float32(math.NaN()))
			}
			be := planned.Ctx.Backend
			for i, n := range []int{2, 1} {
				r := rand.New(rand.NewPCG(uint64(i), 9))
				xs := make([]float32, n*planned.In.Numel())
				for j := range xs {
					xs[j] = float32(r.NormFloat64())
				}
				var out [2][]float32
				for k, m := range []*layers.Model{plain, planned} {
					x := m.Ctx.Backend.New(append(tensor.Shape{n}, m.In...))
					m.Ctx.Backend.Upload(x, xs)
					out[k] = download(m.Ctx.Backend, m.Forward(x, false))
					m.Ctx.Backend.Free(x)
				}
				sameBits(t, fmt.Sprintf("batch %d evaluation output", n), out[0], out[1])
			}
			wantT, _ := run(t, plain, 2, 7)
			gotT, _ := run(t, planned, 2, 7)
			if !p.Train {
				t.Error("a training forward left the evaluation plan as it was")
			}
			sameBits(t, "parameter gradients after a training step", wantT.grads, gotT.grads)
			if err := be.Err(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// counter counts a backend's allocations and passes the CPU's fused ops on.
type counter struct {
	tensor.Backend
	fused interface {
		tensor.BatchNormReLU
		tensor.ConvEpilogue
		tensor.AddReLU
		tensor.ConvBatchNorm
		tensor.ConvBatchNormInfer
	}
	news, frees int
}

func newCounter() *counter { be := cpu.New(); return &counter{Backend: be, fused: be} }

func (c *counter) New(s tensor.Shape) *tensor.Tensor { c.news++; return c.Backend.New(s) }
func (c *counter) NewTyped(s tensor.Shape, dt tensor.DType) *tensor.Tensor {
	c.news++
	return c.Backend.NewTyped(s, dt)
}
func (c *counter) Free(t *tensor.Tensor) { c.frees++; c.Backend.Free(t) }
func (c *counter) BatchNormReLUForwardTrain(x, gamma, beta, runMean, runVar, y, saveMean, saveInvStd *tensor.Tensor, p tensor.BatchNormParams) {
	c.fused.BatchNormReLUForwardTrain(x, gamma, beta, runMean, runVar, y, saveMean, saveInvStd, p)
}
func (c *counter) BatchNormReLUForwardInfer(x, gamma, beta, runMean, runVar, y *tensor.Tensor, p tensor.BatchNormParams) {
	c.fused.BatchNormReLUForwardInfer(x, gamma, beta, runMean, runVar, y, p)
}
func (c *counter) BatchNormReLUBackward(x, y, dy, gamma, saveMean, saveInvStd, dx, dgamma, dbeta *tensor.Tensor) {
	c.fused.BatchNormReLUBackward(x, y, dy, gamma, saveMean, saveInvStd, dx, dgamma, dbeta)
}
func (c *counter) Conv2DForwardEpilogue(x, w, b, y *tensor.Tensor, p tensor.ConvParams, e tensor.Epilogue) {
	c.fused.Conv2DForwardEpilogue(x, w, b, y, p, e)
}
func (c *counter) AddReLU(a, b, y *tensor.Tensor) { c.fused.AddReLU(a, b, y) }
func (c *counter) ConvBatchNormForwardTrain(x, w, b, y *tensor.Tensor, p tensor.ConvParams, bn tensor.BatchNormTrain, relu bool) {
	c.fused.ConvBatchNormForwardTrain(x, w, b, y, p, bn, relu)
}
func (c *counter) Conv2DBatchNormInfer(x, w, b, y *tensor.Tensor, p tensor.ConvParams, gamma, beta, runMean, runVar *tensor.Tensor, bp tensor.BatchNormParams, relu bool) {
	c.fused.Conv2DBatchNormInfer(x, w, b, y, p, gamma, beta, runMean, runVar, bp, relu)
}

// TestArenaAllocatesNothing: after Compile, training and evaluation steps
// at the plan's batch and a smaller one allocate nothing on the backend
// (counted through it); without a plan the same steps allocate on the
// first step (the test would see nothing otherwise). A larger batch grows
// the arena: one Free, one New.
func TestArenaAllocatesNothing(t *testing.T) {
	models := []string{"resnet20", "googlenet", "lenet-bn", "vgg11-bn", "alexnet"}
	if testing.Short() {
		models = []string{"resnet20", "lenet-bn"}
	}
	for _, name := range models {
		t.Run(name, func(t *testing.T) {
			be := newCounter()
			m := build(t, be, name)
			be.news = 0
			run(t, m, 2, 1)
			if be.news == 0 {
				t.Fatal("an unplanned step allocated nothing: the counter sees nothing")
			}
			m = build(t, be, name)
			p, err := Attach(m, 2, true, FromEnv())
			if err != nil {
				t.Fatal(err)
			}
			defer p.Free()
			be.news, be.frees = 0, 0
			for i, n := range []int{2, 2, 1, 2} {
				run(t, m, n, uint64(i))
				// run allocates x and dy itself.
				if be.news != 2 {
					t.Fatalf("step %d (batch %d): %d allocations in the model, want none", i, n, be.news-2)
				}
				be.news, be.frees = 0, 0
			}
			run(t, m, 3, 9)
			if be.news != 3 || be.frees != 3 {
				t.Errorf("a larger batch: %d allocations, %d frees; want the arena's 1 and 1 (plus the test's 2)", be.news-2, be.frees-2)
			}
		})
	}
}

// TestParamNamesUnchanged: compiling and running a plan leaves the names,
// shapes and order of the parameters and buffers (the state_dict keys) as
// they were, and the fused nodes hold the original parameter objects.
func TestParamNamesUnchanged(t *testing.T) {
	for _, name := range []string{"resnet20", "googlenet", "nin"} {
		m := build(t, cpu.New(), name)
		var before []string
		for _, p := range m.All() {
			before = append(before, p.Name+" "+p.Shape.String())
		}
		p, err := Attach(m, 2, true, FromEnv())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Compile(m, 2, true, FromEnv()); err == nil {
			t.Errorf("%s: a second plan compiled while the first runs the model", name)
		}
		run(t, m, 2, 3)
		var after []string
		for _, p := range m.All() {
			after = append(after, p.Name+" "+p.Shape.String())
		}
		if !slices.Equal(before, after) {
			t.Errorf("%s: parameters changed:\n%v\n%v", name, before, after)
		}
		params := map[*layers.Param]bool{}
		for _, q := range m.All() {
			params[q] = true
		}
		layers.Walk(p.Root, func(l layers.Layer, _ int) {
			if f, ok := l.(*layers.BatchNormReLU); ok && !params[f.BN.Weight] {
				t.Errorf("%s: fused %s holds a parameter the model does not", name, l.Name())
			}
		})
		p.Free()
		if m.Runner != nil {
			t.Error("Free left the plan attached")
		}
	}
}
