package tensortest

import (
	"math"
	"testing"

	"github.com/cnnctl/cnnctl/internal/cpu"
	"github.com/cnnctl/cnnctl/internal/tensor"
)

// roundTF32 rounds to 10 mantissa bits, nearest, ties away from zero
// (cvt.rna.tf32.f32).
func roundTF32(f float32) float32 {
	u := math.Float32bits(f)
	if u&0x7f800000 == 0x7f800000 {
		return f
	}
	return math.Float32frombits((u + 0x1000) &^ 0x1fff)
}

// roundedConv is the reference with its convolution's operands rounded by
// round (to TF32 or bf16), the arithmetic of a tensor-core kernel; scale !=
// 0 also multiplies the result by 1+scale (a kernel that is off).
type roundedConv struct {
	*cpu.Backend
	scale float32
	round func(float32) float32 // the operands' rounding: roundTF32 or roundBF16
}

func (b roundedConv) rounded(t *tensor.Tensor) *tensor.Tensor {
	v := make([]float32, t.Numel())
	b.Download(v, t)
	for i := range v {
		v[i] = b.round(v[i])
	}
	r := b.New(t.Shape)
	b.Upload(r, v)
	return r
}

func (b roundedConv) Conv2DForward(x, w, bias, y *tensor.Tensor, p tensor.ConvParams) {
	b.Backend.Conv2DForward(b.rounded(x), b.rounded(w), bias, y, p)
	if b.scale != 0 {
		f := b.New(y.Shape)
		b.Fill(f, 1+b.scale)
		b.Mul(y, f, y)
	}
}

// TestTF32Tolerance: the TF32 tolerance accepts the reference on TF32
// operands for every convolution case, which float32's 1e-4 does not, and
// rejects a result off by 2^-8 relative.
func TestTF32Tolerance(t *testing.T) { checkTolerance(t, TF32, roundTF32, FP32, 8) }

// checkTolerance: precision p's tolerance accepts the reference on operands
// rounded by round for every forward convolution case; the tighter
// precision's tolerance rejects that on some case (so the cases tell the
// two apart), and p's rejects a result off by 2^-off relative on some.
func checkTolerance(t *testing.T, p Precision, round func(float32) float32, tighter Precision, off int) {
	t.Helper()
	ref := cpu.NewReference()
	var tighterFails, offFails int
	for _, c := range Cases() {
		if c.Op != "Conv2DForward" {
			continue
		}
		if err := DiffPrecision(roundedConv{Backend: cpu.NewReference(), round: round}, ref, c, p); err != nil {
			t.Errorf("exact %v arithmetic fails the %v tolerance: %v", p, p, err)
		}
		if DiffPrecision(roundedConv{Backend: cpu.NewReference(), round: round}, ref, c, tighter) != nil {
			tighterFails++
		}
		scale := float32(math.Ldexp(1, -off))
		if DiffPrecision(roundedConv{Backend: cpu.NewReference(), round: round, scale: scale}, ref, c, p) != nil {
			offFails++
		}
	}
	if tighterFails == 0 {
		t.Errorf("%v arithmetic passed %v's tolerance on every case: the cases cannot tell the precisions apart", p, tighter)
	}
	if offFails == 0 {
		t.Errorf("a result off by 2^-%d passed the %v tolerance on every case", off, p)
	}
	t.Logf("%v arithmetic fails %v's tolerance on %d cases; a 2^-%d error fails %v's on %d", p, tighter, tighterFails, off, p, offFails)
}

// roundBF16 rounds to bfloat16, nearest, ties to even (cvt.rn.bf16x2.f32).
func roundBF16(f float32) float32 { return tensor.FromBF16(tensor.ToBF16(f)) }

// TestBF16Tolerance: the bf16 tolerance (u = 2^-8) accepts the reference
// on bf16 operands for every convolution case, which the TF32 tolerance
// does not, and rejects a result off by 2^-5 relative.
func TestBF16Tolerance(t *testing.T) { checkTolerance(t, BF16, roundBF16, TF32, 5) }

// TestTolerancesPerPrecision: which outputs each precision widens. At TF32
// and BF16 the convolutions' and the linears' products (not their bias
// gradients) get their own tolerance, BF16's wider in all than TF32's;
// every other output keeps FP32's at every precision.
func TestTolerancesPerPrecision(t *testing.T) {
	ref := cpu.NewReference()
	var linears, convs int
	for _, c := range Cases() {
		want, err := Outputs(ref, c)
		if err != nil {
			t.Fatal(err)
		}
		tol := map[Precision]map[string][]float64{}
		for _, p := range []Precision{FP32, TF32, BF16} {
			if tol[p], err = c.Tolerances(p, want); err != nil {
				t.Fatal(err)
			}
		}
		same := func(p, q Precision, name string) bool { // bit for bit (NaN bounds included)
			for i := range tol[q][name] {
				if math.Float64bits(tol[p][name][i]) != math.Float64bits(tol[q][name][i]) {
					return false
				}
			}
			return true
		}
		sum := func(p Precision, name string) (s float64) {
			for _, v := range tol[p][name] {
				s += v
			}
			return s
		}
		linear := c.Op == "LinearForward" || c.Op == "LinearBackward"
		for name := range tol[FP32] {
			switch {
			case name == "db" || !linear && len(convOutputs[c.Op]) == 0:
				if !same(TF32, FP32, name) || !same(BF16, FP32, name) {
					t.Errorf("%v: %s is no tensor-core output, yet its tolerance differs from fp32's", c, name)
				}
			default:
				if linear {
					linears++
				} else {
					convs++
				}
				if same(TF32, FP32, name) || !(sum(BF16, name) > sum(TF32, name)) {
					t.Errorf("%v: %s: want tf32's own tolerance at tf32 and a wider one at bf16", c, name)
				}
			}
		}
	}
	if linears == 0 || convs == 0 {
		t.Fatalf("checked %d linear and %d convolution outputs", linears, convs)
	}
}
