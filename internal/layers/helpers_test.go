package layers

import (
	"fmt"
	"math"
	"math/rand"
	"testing"

	"github.com/cnnctl/cnnctl/internal/cpu"
	"github.com/cnnctl/cnnctl/internal/tensor"
)

// build sets up l for the per-sample shape in on a fresh CPU backend.
func build(t *testing.T, l Layer, in tensor.Shape) *Model {
	t.Helper()
	m, err := Build(cpu.New(), l, in, 1)
	if err != nil {
		t.Fatalf("build %s: %v", l.Name(), err)
	}
	m.InputGrad = true
	return m
}

// param finds a parameter or buffer by its state_dict key.
func param(t *testing.T, m *Model, name string) *Param {
	t.Helper()
	for _, p := range m.All() {
		if p.Name == name {
			return p
		}
	}
	t.Fatalf("no parameter %q", name)
	return nil
}

// setParam uploads v into the parameter or buffer called name.
func setParam(t *testing.T, m *Model, name string, v ...float32) {
	t.Helper()
	m.Ctx.Backend.Upload(param(t, m, name).Value, v)
}

// download copies t to the host.
func download(be tensor.Backend, t *tensor.Tensor) []float32 {
	v := make([]float32, t.Numel())
	be.Download(v, t)
	return v
}

// forward runs m on a batch of n samples with values x and returns the
// output on the host with its shape.
func forward(t *testing.T, m *Model, n int, x []float32, train bool) ([]float32, tensor.Shape) {
	t.Helper()
	be := m.Ctx.Backend
	xt := be.New(batched(n, m.In))
	be.Upload(xt, x)
	y := m.Forward(xt, train)
	out := download(be, y)
	if err := be.Err(); err != nil {
		t.Fatalf("forward: %v", err)
	}
	return out, y.Shape.Clone()
}

// near reports an error for each element of got farther than tol from want.
func near(t *testing.T, what string, got, want []float32, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d: %v", what, len(got), len(want), got)
	}
	for i := range got {
		if math.Abs(float64(got[i])-float64(want[i])) > tol {
			t.Errorf("%s[%d] = %v, want %v (all: %v)", what, i, got[i], want[i], got)
			return
		}
	}
}

func uniform(rng *rand.Rand, v []float32, lo, hi float64) {
	for i := range v {
		v[i] = float32(lo + (hi-lo)*rng.Float64())
	}
}

// awayFromZero fills v with values of magnitude in [0.1, 1), so that a
// finite difference of 1e-2 never crosses a ReLU's kink at 0.
func awayFromZero(rng *rand.Rand, v []float32) {
	for i := range v {
		m := 0.1 + 0.9*rng.Float64()
		if rng.Intn(2) == 0 {
			m = -m
		}
		v[i] = float32(m)
	}
}

// distinct fills v with a shuffled grid spaced 0.05 apart, so that no two
// values of a max-pooling window lie within a finite difference of each other.
func distinct(rng *rand.Rand, v []float32) {
	for i, j := range rng.Perm(len(v)) {
		v[i] = float32(j-len(v)/2) * 0.05
	}
}

// gradCheck compares a layer's analytic gradients with central finite
// differences of L = Σ r·y (r random, accumulated in float64), with respect
// to the input and every trainable parameter.
type gradCheck struct {
	layer Layer
	in    tensor.Shape // per sample
	n     int          // batch
	eval  bool         // check the evaluation mode instead of training
	eps   float64      // finite-difference step, 1e-2 when 0
	tol   float64      // |num-ana| <= tol*max(1,|num|,|ana|), 1e-2 when 0
	input func(rng *rand.Rand, v []float32)
	// coords is how many coordinates of each tensor are checked (all when
	// 0 or when the tensor has fewer).
	coords int
	// tamper, when set, may change the analytic gradients before the
	// comparison (to test that the check fails); what is "input" or a
	// parameter name.
	tamper func(what string, g []float64)
}

// mismatch is one coordinate where the gradients disagree.
type mismatch struct {
	what     string
	i        int
	num, ana float64
}

func (m mismatch) String() string {
	return fmt.Sprintf("%s[%d]: numeric %.6g, analytic %.6g", m.what, m.i, m.num, m.ana)
}

// gradResult is the outcome of a gradient check.
type gradResult struct {
	mismatches []mismatch
	checked    int // coordinates compared
	kinks      int // coordinates skipped: one-sided differences disagree (a ReLU or max kink)
}

// run does the check; it fails t only on setup errors.
func (g gradCheck) run(t *testing.T) gradResult {
	t.Helper()
	eps, tol := g.eps, g.tol
	if eps == 0 {
		eps = 1e-2
	}
	if tol == 0 {
		tol = 1e-2
	}
	rng := rand.New(rand.NewSource(42))
	be := cpu.New()
	m, err := Build(be, g.layer, g.in, 3)
	if err != nil {
		t.Fatalf("build %s: %v", g.layer.Name(), err)
	}
	m.InputGrad = true
	m.Ctx.Step = 5
	// Move every value off PyTorch's init (BatchNorm's ones and zeros would
	// hide mistakes), keeping running variances positive.
	for _, p := range m.All() {
		v := download(be, p.Value)
		for i := range v {
			v[i] += float32(0.6 * (rng.Float64() - 0.5))
		}
		if p.Buffer {
			for i := range v {
				v[i] = float32(math.Abs(float64(v[i])) + 0.2)
			}
		}
		be.Upload(p.Value, v)
	}

	xs := make([]float32, batched(g.n, g.in).Numel())
	if g.input != nil {
		g.input(rng, xs)
	} else {
		uniform(rng, xs, -1, 1)
	}
	x := be.New(batched(g.n, g.in))
	be.Upload(x, xs)
	train := !g.eval

	y := m.Forward(x, train)
	r := make([]float32, y.Numel())
	uniform(rng, r, -1, 1)
	rt := be.New(y.Shape)
	be.Upload(rt, r)
	dx := download(be, m.Backward(rt))
	var grads []float32
	if m.Grads != nil {
		grads = download(be, m.Grads)
	}
	if err := be.Err(); err != nil {
		t.Fatalf("%s: %v", g.layer.Name(), err)
	}
	if len(dx) != len(xs) {
		t.Fatalf("%s: dx has %d elements, x %d", g.layer.Name(), len(dx), len(xs))
	}

	loss := func() float64 {
		y := download(be, m.Forward(x, train))
		var s float64
		for i, v := range y {
			s += float64(r[i]) * float64(v)
		}
		return s
	}
	f0 := loss()

	var res gradResult
	// check compares the analytic gradient ana (over the elements of t,
	// whose host values are v) with finite differences.
	check := func(what string, t *tensor.Tensor, v []float32, ana []float64) {
		if g.tamper != nil {
			g.tamper(what, ana)
		}
		idx := rng.Perm(len(v))
		if g.coords > 0 && len(idx) > g.coords {
			idx = idx[:g.coords]
		}
		for _, i := range idx {
			v0 := v[i]
			at := t.Slice(i, tensor.Shape{1})
			plus, minus := float32(float64(v0)+eps), float32(float64(v0)-eps)
			be.Upload(at, []float32{plus})
			fp := loss()
			be.Upload(at, []float32{minus})
			fm := loss()
			be.Upload(at, []float32{v0})
			hp, hm := float64(plus)-float64(v0), float64(v0)-float64(minus)
			num := (fp - fm) / (hp + hm)
			scale := math.Max(1, math.Max(math.Abs(num), math.Abs(ana[i])))
			if math.Abs((fp-f0)/hp-(f0-fm)/hm) > tol*scale {
				res.kinks++
				continue
			}
			res.checked++
			if math.Abs(num-ana[i]) > tol*scale {
				res.mismatches = append(res.mismatches, mismatch{what, i, num, ana[i]})
			}
		}
	}
	ana := make([]float64, len(dx))
	for i, v := range dx {
		ana[i] = float64(v)
	}
	check("input", x, xs, ana)
	off := 0
	for _, p := range m.Params {
		n := p.Shape.Numel()
		ana := make([]float64, n)
		for i := range ana {
			ana[i] = float64(grads[off+i])
		}
		check(p.Name, p.Value, download(be, p.Value), ana)
		off += n
	}
	if err := be.Err(); err != nil {
		t.Fatalf("%s: %v", g.layer.Name(), err)
	}
	return res
}

// expect fails t unless the check passed: no mismatch, and at most a tenth
// of the coordinates skipped at kinks.
func (g gradCheck) expect(t *testing.T) {
	t.Helper()
	res := g.run(t)
	t.Logf("%d coordinates checked, %d skipped at kinks", res.checked, res.kinks)
	for i, m := range res.mismatches {
		if i == 10 {
			t.Errorf("... %d more mismatches", len(res.mismatches)-10)
			break
		}
		t.Errorf("%s", m)
	}
	if res.checked == 0 || res.kinks*10 > res.checked+res.kinks {
		t.Errorf("%d coordinates checked, %d skipped at kinks", res.checked, res.kinks)
	}
}
