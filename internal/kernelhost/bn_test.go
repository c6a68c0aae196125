//go:build cgo

package kernelhost

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/cnnctl/cnnctl/internal/cpu"
	"github.com/cnnctl/cnnctl/internal/tensor"
	"github.com/cnnctl/cnnctl/internal/tensor/tensortest"
)

// zooBN are the (C, L) of every batch-norm layer in the zoo for 3x32x32
// inputs (lenet-bn's on 1x28x28 and 3x32x32), plus BN over Linear features
// (L = 1) and 512 channels at 1x1.
var zooBN = [][2]int{
	{6, 784}, {6, 1024}, {16, 100}, // lenet-bn
	{16, 1024}, {32, 256}, {64, 64}, // resnet, resnet20, resnet56
	{64, 1024}, {128, 256}, {256, 64}, {512, 16}, {512, 4}, // vgg*-bn
	{192, 1024}, {96, 1024}, {128, 1024}, {32, 1024}, {16, 256}, {24, 256}, {48, 256}, {64, 256},
	{96, 256}, {112, 256}, {144, 256}, {160, 256}, {192, 256}, {208, 256}, {224, 256}, {256, 256},
	{288, 256}, {320, 256}, {32, 64}, {48, 64}, {128, 64}, {160, 64}, {192, 64}, {320, 64}, {384, 64}, // googlenet
	{120, 1}, {84, 1}, {512, 1}, // (N,C) and 1x1
}

// u is float32's unit roundoff: one rounding errs by at most u relative.
const u = 1.0 / (1 << 24)

func TestBNPlanZoo(t *testing.T) {
	for _, sms := range []int{132, 108, 80, 1} {
		for _, s := range zooBN {
			for _, n := range []int{8, 32, 128, 512} {
				c, l := s[0], s[1]
				p, err := PlanBN(n, c, l, sms)
				if err != nil {
					t.Fatal(err)
				}
				name := fmt.Sprintf("N%d C%d L%d on %d SMs: %+v", n, c, l, sms, p)
				seg := 32 * p.G
				switch {
				case p.G != 1 && p.G != 4, p.G == 4 && l%4 != 0, p.G == 1 && l%4 == 0:
					t.Errorf("%s: G", name)
				case p.CB < 1 || p.CB > 32 || p.CB > 1 && p.LW != l:
					t.Errorf("%s: cb", name)
				case p.LW != l && (p.LW%seg != 0 || p.LW > l):
					t.Errorf("%s: lw", name)
				case p.TilesC != (c+p.CB-1)/p.CB || p.ChunksN != (n+p.NB-1)/p.NB || p.ChunksL != (l+p.LW-1)/p.LW || p.B != p.ChunksN*p.ChunksL:
					t.Errorf("%s: counts", name)
				case p.TilesC > 65535 || p.Blocks() > BNMaxBlocks(sms)+p.TilesC:
					t.Errorf("%s: %d blocks, want at most %d", name, p.Blocks(), BNMaxBlocks(sms)+p.TilesC)
				}
				// Enough blocks to fill the device whenever there is work for it.
				if total := n * c * l; total >= sms*BNMinElems && p.Blocks() < sms {
					t.Errorf("%s: %d blocks for %d SMs (%d elements)", name, p.Blocks(), sms, total)
				}
				if n*c*l <= 1<<23 && (sms == 132 || n == 8) {
					checkCoverage(t, n, c, l, sms)
				}
			}
		}
	}
}

// checkCoverage: batchnorm_stats's walk visits each element of x (N,C,L)
// once, from a lane of its own channel (the other kernels walk the same way).
func checkCoverage(t *testing.T, n, c, l, sms int) {
	t.Helper()
	p, err := PlanBN(n, c, l, sms)
	if err != nil {
		t.Fatal(err)
	}
	visits, wrong := BNCoverage(p)
	if wrong != 0 {
		t.Errorf("%+v: %d elements summed into another channel", p, wrong)
	}
	for i, v := range visits {
		if v != 1 {
			t.Errorf("%+v: element %d visited %d times", p, i, v)
			break
		}
	}
}

func TestPlanBNRefuses(t *testing.T) {
	for _, s := range [][4]int{{0, 3, 4, 132}, {2, 0, 4, 132}, {2, 3, 0, 132}, {1 << 16, 1 << 10, 1 << 5, 132}, {2, 3, 4, -1}, {1, 70000, 1024, 132}} {
		if _, err := PlanBN(s[0], s[1], s[2], s[3]); err == nil {
			t.Errorf("PlanBN%v: no error", s)
		}
	}
}

// bnInputs are a batch-norm layer's tensors on the host.
type bnInputs struct {
	n, c, l                             int
	x, dy, gamma, beta, runMean, runVar []float32
	saveMean, saveInvStd                []float32 // the backward's inputs
	momentum, eps                       float32
}

func newBNInputs(n, c, l int, draw func(r *rand.Rand) float32, seed uint64) *bnInputs {
	r := rand.New(rand.NewPCG(seed, uint64(n*1000003+c*1009+l)))
	fill := func(k int, f func() float32) []float32 {
		v := make([]float32, k)
		for i := range v {
			v[i] = f()
		}
		return v
	}
	return &bnInputs{n: n, c: c, l: l,
		x:        fill(n*c*l, func() float32 { return draw(r) }),
		dy:       fill(n*c*l, func() float32 { return 2*r.Float32() - 1 }),
		gamma:    fill(c, func() float32 { return 0.5 + r.Float32() }),
		beta:     fill(c, func() float32 { return 2*r.Float32() - 1 }),
		runMean:  fill(c, func() float32 { return 2*r.Float32() - 1 }),
		runVar:   fill(c, func() float32 { return 0.5 + r.Float32() }),
		momentum: 0.1, eps: 1e-5,
	}
}

// bnOut are the outputs of a training forward and a backward.
type bnOut struct {
	y, saveMean, saveInvStd, runMean, runVar, yInfer, dx, dgamma, dbeta []float32
}

// emulate runs the emulated kernels: the training forward, inference with
// the inputs' running statistics, and the backward from the forward's saved
// statistics; relu fuses a ReLU (the backward's then takes the forward's y).
func (in *bnInputs) emulate(t *testing.T, sms int, relu bool) bnOut {
	t.Helper()
	p, err := PlanBN(in.n, in.c, in.l, sms)
	if err != nil {
		t.Fatal(err)
	}
	o := in.outputs()
	if err := BNForwardTrain(p, relu, in.x, in.gamma, in.beta, o.runMean, o.runVar, o.y, o.saveMean, o.saveInvStd, in.momentum, in.eps); err != nil {
		t.Fatal(err)
	}
	if err := BNForwardInfer(p, relu, in.x, in.gamma, in.beta, in.runMean, in.runVar, o.yInfer, in.eps); err != nil {
		t.Fatal(err)
	}
	var yr []float32
	if relu {
		yr = o.y
	}
	if err := BNBackward(p, in.x, in.dy, yr, in.gamma, o.saveMean, o.saveInvStd, o.dx, o.dgamma, o.dbeta); err != nil {
		t.Fatal(err)
	}
	return o
}

func (in *bnInputs) outputs() bnOut {
	k, c := in.n*in.c*in.l, in.c
	nan := func(k int) []float32 {
		v := make([]float32, k)
		for i := range v {
			v[i] = float32(math.NaN())
		}
		return v
	}
	return bnOut{y: nan(k), yInfer: nan(k), dx: nan(k), saveMean: nan(c), saveInvStd: nan(c), dgamma: nan(c), dbeta: nan(c),
		runMean: append([]float32(nil), in.runMean...), runVar: append([]float32(nil), in.runVar...)}
}

// reference runs the CPU reference backend (internal/cpu) on the same
// inputs; relu: batch norm then ReLU, and ReLU's backward then batch norm's.
func (in *bnInputs) reference(t *testing.T, relu bool) bnOut {
	t.Helper()
	be := cpu.NewReference()
	shape := tensor.Shape{in.n, in.c, in.l}
	up := func(v []float32, s tensor.Shape) *tensor.Tensor {
		tt := be.New(s)
		be.Upload(tt, v)
		return tt
	}
	o := in.outputs()
	ch := tensor.Shape{in.c}
	x, dy, gamma, beta := up(in.x, shape), up(in.dy, shape), up(in.gamma, ch), up(in.beta, ch)
	rm, rv, y, sm, si := up(o.runMean, ch), up(o.runVar, ch), up(o.y, shape), up(o.saveMean, ch), up(o.saveInvStd, ch)
	yi, dx, dg, db := up(o.yInfer, shape), up(o.dx, shape), up(o.dgamma, ch), up(o.dbeta, ch)
	bp := tensor.BatchNormParams{Momentum: in.momentum, Eps: in.eps}
	be.BatchNormForwardTrain(x, gamma, beta, rm, rv, y, sm, si, bp)
	be.BatchNormForwardInfer(x, gamma, beta, up(in.runMean, ch), up(in.runVar, ch), yi, bp)
	if relu {
		be.ActivationForward(tensor.ReLU, y, y)
		be.ActivationForward(tensor.ReLU, yi, yi)
		dz := be.New(shape)
		be.ActivationBackward(tensor.ReLU, y, dy, dz)
		dy = dz
	}
	be.BatchNormBackward(x, dy, gamma, sm, si, dx, dg, db)
	if err := be.Err(); err != nil {
		t.Fatal(err)
	}
	for _, d := range []struct {
		dst []float32
		src *tensor.Tensor
	}{{o.y, y}, {o.saveMean, sm}, {o.saveInvStd, si}, {o.runMean, rm}, {o.runVar, rv}, {o.yInfer, yi}, {o.dx, dx}, {o.dgamma, dg}, {o.dbeta, db}} {
		be.Download(d.dst, d.src)
	}
	return o
}

func (o bnOut) named() map[string][]float32 {
	return map[string][]float32{"y": o.y, "saveMean": o.saveMean, "saveInvStd": o.saveInvStd, "runMean": o.runMean,
		"runVar": o.runVar, "yInfer": o.yInfer, "dx": o.dx, "dgamma": o.dgamma, "dbeta": o.dbeta}
}

func uniform(lo, hi float32) func(r *rand.Rand) float32 {
	return func(r *rand.Rand) float32 { return lo + (hi-lo)*r.Float32() }
}

// TestBNMatchesCPU: the emulated kernels against the CPU reference, with
// TestBackend's tolerance, on every zoo shape (batch 8, and batch 128 for
// resnet's and vgg's first layers), on 132 and 1 SMs.
func TestBNMatchesCPU(t *testing.T) {
	type shape struct{ n, c, l int }
	var shapes []shape
	for _, s := range zooBN {
		shapes = append(shapes, shape{8, s[0], s[1]})
	}
	shapes = append(shapes, shape{128, 16, 1024}, shape{512, 512, 4}, shape{2, 3, 25}, shape{33, 5, 16}, shape{64, 65, 1})
	// Small batches of long rows: the plan cuts L into chunks (the last one short).
	shapes = append(shapes, shape{2, 3, 4096}, shape{1, 2, 10000}, shape{2, 3, 4099}, shape{3, 1, 3})
	for _, s := range shapes {
		if p, _ := PlanBN(s.n, s.c, s.l, 132); s.n == 1 && p.ChunksL < 2 {
			t.Errorf("N%d C%d L%d: %+v, want L cut into chunks", s.n, s.c, s.l, p)
		}
		checkCoverage(t, s.n, s.c, s.l, 132)
		in := newBNInputs(s.n, s.c, s.l, uniform(-2, 3), 1)
		want := in.reference(t, false).named()
		for _, sms := range []int{132, 1} {
			got := in.emulate(t, sms, false).named()
			for name, w := range want {
				if i, e := tensortest.Compare(got[name], w); e > 1 {
					t.Errorf("N%d C%d L%d, %d SMs: %s[%d] = %g, CPU reference %g (%.3g × tolerance)", s.n, s.c, s.l, sms, name, i, got[name][i], w[i], e)
				}
			}
		}
	}
}

// TestBNNaN: a NaN in one channel makes that channel's outputs NaN, as in
// the CPU reference, and leaves the other channels alone.
func TestBNNaN(t *testing.T) {
	for _, s := range [][3]int{{8, 16, 64}, {8, 120, 1}, {4, 6, 784}} {
		in := newBNInputs(s[0], s[1], s[2], uniform(-2, 3), 2)
		in.x[(3*s[1]+1)*s[2]+s[2]/2] = float32(math.NaN()) // sample 3, channel 1
		want := in.reference(t, false).named()
		got := in.emulate(t, 132, false).named()
		for name, w := range want {
			if i, e := tensortest.Compare(got[name], w); e > 1 {
				t.Errorf("%v: %s[%d] = %g, CPU reference %g", s, name, i, got[name][i], w[i])
			}
		}
		if m := got["saveMean"]; !math.IsNaN(float64(m[1])) || math.IsNaN(float64(m[0])) {
			t.Errorf("%v: save mean %v, want NaN in channel 1 only", s, m[:2])
		}
	}
}

// TestBNFloat64 checks the emulated kernels against float64 on zoo shapes
// and hard data (a mean 1000 times the spread, ReLU outputs, tiny values):
// every output within the error bound of its float arithmetic, derived
// operation by operation (u per float rounding; the double sums within
// (M+2)·2⁻⁵³ of the sum of their terms' magnitudes, for any order). The
// statistics come out faithfully rounded (within one float rounding of the
// float64 value, plus the double sums' far smaller error).
func TestBNFloat64(t *testing.T) {
	const d = 1.0 / (1 << 53)
	data := map[string]func(r *rand.Rand) float32{
		"uniform(-2,3)": uniform(-2, 3),
		"1000±1":        uniform(999, 1001),
		"relu":          func(r *rand.Rand) float32 { return max(0, float32(r.NormFloat64())) },
		"tiny":          uniform(-1e-3, 2e-3),
		"-30000±0.01":   uniform(-30000.01, -29999.99),
		"spike":         uniform(0, 1e-3),
	}
	worst := map[string]float64{}
	ulps := map[string]float64{} // invstd's error in float roundings, by data
	for _, s := range [][3]int{{8, 16, 1024}, {8, 6, 784}, {8, 16, 100}, {8, 512, 4}, {8, 512, 1}, {8, 120, 1}, {8, 64, 64}, {128, 16, 1024}, {8, 192, 1024}} {
		for dname, draw := range data {
			in := newBNInputs(s[0], s[1], s[2], draw, 3)
			if dname == "spike" { // the shift K = x[0,c,0] as far from the mean as it can be
				for ch := range s[1] {
					in.x[ch*s[2]] = 100
				}
			}
			o := in.emulate(t, 132, false)
			n, c, l := s[0], s[1], s[2]
			M := n * l
			fail := func(what string, i int, got, want, bound float64) {
				r := 0.0
				if got != want {
					r = math.Abs(got-want) / bound
				}
				if r > worst[what] || math.IsNaN(r) {
					worst[what] = r
				}
				if !(r <= 1) {
					t.Errorf("N%d C%d L%d %s: %s[%d] = %.9g, float64 %.9g: |Δ| %.3g > bound %.3g", n, c, l, dname, what, i, got, want, math.Abs(got-want), bound)
				}
			}
			for ch := range c {
				at := func(i int) int { return (i/l*c+ch)*l + i%l }
				K := float64(in.x[ch*l])
				var sum, s2, a1 float64
				for i := range M {
					sum += float64(in.x[at(i)])
				}
				mean := sum / float64(M)
				for i := range M {
					v := float64(in.x[at(i)])
					s2 += (v - mean) * (v - mean)
					a1 += math.Abs(v - K)
				}
				vr, a1 := s2/float64(M), a1/float64(M)
				m1 := mean - K
				dSum := float64(M+2) * d
				dMean := dSum * (a1 + math.Abs(K))
				dVar := dSum * (vr + m1*m1 + 2*math.Abs(m1)*a1)
				invstd := 1 / math.Sqrt(vr+float64(in.eps))
				dInv := invstd * (dVar/(2*(vr+float64(in.eps))) + 4*d)
				const slack = 1.001 // second-order terms
				fail("saveMean", ch, float64(o.saveMean[ch]), mean, slack*(u*(math.Abs(mean)+dMean)+dMean))
				fail("saveInvStd", ch, float64(o.saveInvStd[ch]), invstd, slack*(u*invstd+dInv))
				if e := math.Abs(float64(o.saveInvStd[ch])-invstd) / (u * invstd); e > ulps[dname] {
					ulps[dname] = e
				}
				mom := float64(in.momentum)
				rm := (1-mom)*float64(in.runMean[ch]) + mom*mean
				fail("runMean", ch, float64(o.runMean[ch]), rm, slack*(u*math.Abs(rm)+mom*dMean+4*d*(math.Abs(rm)+mom*math.Abs(mean))))
				unb := vr * float64(M) / float64(M-1)
				rv := (1-mom)*float64(in.runVar[ch]) + mom*unb
				fail("runVar", ch, float64(o.runVar[ch]), rv, slack*(u*rv+mom*dVar*float64(M)/float64(M-1)+8*d*rv))
				g, b := float64(in.gamma[ch]), float64(in.beta[ch])
				scale := g * invstd
				for i := range M {
					x := float64(in.x[at(i)])
					y := (x-mean)*scale + b
					bound := u*(math.Abs(scale)*(math.Abs(mean)+2*math.Abs(x-mean))+math.Abs(y)) +
						math.Abs(g*(x-mean))*dInv + math.Abs(scale)*dMean
					fail("y", at(i), float64(o.y[at(i)]), y, slack*bound)
				}
				// The backward from the saved (float) statistics.
				sm, si := float64(o.saveMean[ch]), float64(o.saveInvStd[ch])
				var sb, sg, babs, sabs float64
				for i := range M {
					dy, xh := float64(in.dy[at(i)]), (float64(in.x[at(i)])-sm)*si
					sb += dy
					sg += dy * xh
					babs += math.Abs(dy)
					sabs += math.Abs(dy * xh)
				}
				fail("dbeta", ch, float64(o.dbeta[ch]), sb, slack*(u*math.Abs(sb)+dSum*babs))
				fail("dgamma", ch, float64(o.dgamma[ch]), sg, slack*(u*math.Abs(sg)+3*u*sabs+dSum*sabs))
				k := g * si / float64(M)
				for i := range M {
					dy, xh := float64(in.dy[at(i)]), (float64(in.x[at(i)])-sm)*si
					dx := k * (float64(M)*dy - sb - xh*sg)
					bound := u*math.Abs(k)*(4*float64(M)*math.Abs(dy)+5*math.Abs(sb)+6*math.Abs(xh*sg)+3*math.Abs(xh)*sabs) + u*math.Abs(dx)
					fail("dx", at(i), float64(o.dx[at(i)]), dx, slack*bound)
				}
			}
		}
	}
	t.Logf("largest |Δ|/bound per output: %v", worst)
	t.Logf("largest invstd error in units of u·invstd, by data: %v", ulps)
}

// TestBNReLUMatchesCPU: the fused BN+ReLU kernels (forward, inference and
// backward) against the CPU reference's batch norm then ReLU, and ReLU's
// backward then batch norm's, with TestBackend's tolerance. Half the
// inputs land below zero, and a NaN rides through one channel.
func TestBNReLUMatchesCPU(t *testing.T) {
	for _, s := range [][3]int{{8, 16, 1024}, {8, 6, 784}, {8, 16, 100}, {8, 512, 4}, {8, 512, 1}, {8, 120, 1}, {32, 64, 64}, {2, 3, 4099}, {1, 2, 10000}} {
		in := newBNInputs(s[0], s[1], s[2], uniform(-2, 3), 4)
		if s[1] > 1 {
			in.x[(0*s[1]+1)*s[2]] = float32(math.NaN())
		}
		want := in.reference(t, true).named()
		got := in.emulate(t, 132, true).named()
		zeros := 0
		for _, v := range got["y"] {
			if v == 0 {
				zeros++
			}
		}
		if zeros == 0 || zeros == len(got["y"]) {
			t.Errorf("%v: %d of %d outputs are 0: the ReLU is not exercised", s, zeros, len(got["y"]))
		}
		for name, w := range want {
			if i, e := tensortest.Compare(got[name], w); e > 1 {
				t.Errorf("%v: %s[%d] = %g, CPU reference %g (%.3g × tolerance)", s, name, i, got[name][i], w[i], e)
			}
		}
	}
}

// TestBNNearConstant runs the emulated forward on the shared op case that
// caught the fast CPU engine's folded shift (channels of near-zero
// variance, gamma 1, beta 0, vgg16-bn's 8x256x8x8): the kernels must pass
// its elementwise tolerance and its check of the within-channel
// differences, as TestBackend will ask of the GPU.
func TestBNNearConstant(t *testing.T) {
	found := 0
	for _, c := range tensortest.Cases() {
		if c.Op != "BatchNormForwardTrain" || !strings.Contains(c.Name, "near-constant") {
			continue
		}
		found++
		v := c.Inputs()
		var s tensor.Shape
		for _, a := range c.Args {
			if a.Name == "x" {
				s = a.Shape
			}
		}
		n, ch := s[0], s[1]
		l := s.Numel() / (n * ch)
		in := newBNInputs(n, ch, l, uniform(-1, 1), 3) // dy and the rest; x, gamma, beta from the case
		in.x, in.gamma, in.beta, in.runMean, in.runVar = v["x"], v["gamma"], v["beta"], v["runMean"], v["runVar"]
		got := in.emulate(t, 132, false)
		want, err := tensortest.Outputs(cpu.NewReference(), c)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string][]float32{"y": got.y, "saveMean": got.saveMean, "saveInvStd": got.saveInvStd, "runMean": got.runMean, "runVar": got.runVar}
		if err := c.Check(out, want, tensortest.FP32); err != nil {
			t.Error(err)
		}
	}
	if found == 0 {
		t.Fatal("no near-constant BatchNorm case in tensortest")
	}
}
