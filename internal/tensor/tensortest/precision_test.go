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
