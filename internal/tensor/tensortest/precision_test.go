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

// tf32Conv is the reference with its convolution's operands rounded to
// TF32, the arithmetic of a TF32 tensor-core kernel; scale != 0 also
// multiplies the result by 1+scale (a kernel that is off).
type tf32Conv struct {
	*cpu.Backend
	scale float32
	round func(float32) float32 // the operands' rounding: roundTF32 when nil
}

func (b tf32Conv) rounded(t *tensor.Tensor) *tensor.Tensor {
	v := make([]float32, t.Numel())
	b.Download(v, t)
	round := b.round
	if round == nil {
		round = roundTF32
	}
	for i := range v {
		v[i] = round(v[i])
	}
	r := b.New(t.Shape)
	b.Upload(r, v)
	return r
}

func (b tf32Conv) Conv2DForward(x, w, bias, y *tensor.Tensor, p tensor.ConvParams) {
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
func TestTF32Tolerance(t *testing.T) {
	ref := cpu.NewReference()
	var fp32Fails, offFails int
	for _, c := range Cases() {
		if c.Op != "Conv2DForward" {
			continue
		}
		if err := DiffPrecision(tf32Conv{Backend: cpu.NewReference()}, ref, c, TF32); err != nil {
			t.Errorf("exact TF32 arithmetic fails the TF32 tolerance: %v", err)
		}
		if DiffPrecision(tf32Conv{Backend: cpu.NewReference()}, ref, c, FP32) != nil {
			fp32Fails++
		}
		if DiffPrecision(tf32Conv{Backend: cpu.NewReference(), scale: 1.0 / 256}, ref, c, TF32) != nil {
			offFails++
		}
	}
	if fp32Fails == 0 {
		t.Error("TF32 arithmetic passed float32's tolerance on every case: the cases cannot tell the precisions apart")
	}
	if offFails == 0 {
		t.Error("a result off by 2^-8 passed the TF32 tolerance on every case")
	}
	t.Logf("TF32 arithmetic fails float32's tolerance on %d cases; a 2^-8 error fails TF32's on %d", fp32Fails, offFails)
}

// roundBF16 rounds to bfloat16, nearest, ties to even (cvt.rn.bf16x2.f32).
func roundBF16(f float32) float32 { return tensor.FromBF16(tensor.ToBF16(f)) }

// TestBF16Tolerance: the bf16 tolerance (u = 2^-8) accepts the reference
// on bf16 operands for every convolution case, which the TF32 tolerance
// does not, and rejects a result off by 2^-5 relative.
func TestBF16Tolerance(t *testing.T) {
	ref := cpu.NewReference()
	var tf32Fails, offFails int
	for _, c := range Cases() {
		if c.Op != "Conv2DForward" {
			continue
		}
		if err := DiffPrecision(tf32Conv{Backend: cpu.NewReference(), round: roundBF16}, ref, c, BF16); err != nil {
			t.Errorf("exact bf16 arithmetic fails the bf16 tolerance: %v", err)
		}
		if DiffPrecision(tf32Conv{Backend: cpu.NewReference(), round: roundBF16}, ref, c, TF32) != nil {
			tf32Fails++
		}
		if DiffPrecision(tf32Conv{Backend: cpu.NewReference(), round: roundBF16, scale: 1.0 / 32}, ref, c, BF16) != nil {
			offFails++
		}
	}
	if tf32Fails == 0 {
		t.Error("bf16 arithmetic passed TF32's tolerance on every case: the cases cannot tell the precisions apart")
	}
	if offFails == 0 {
		t.Error("a result off by 2^-5 passed the bf16 tolerance on every case")
	}
	t.Logf("bf16 arithmetic fails TF32's tolerance on %d cases; a 2^-5 error fails bf16's on %d", tf32Fails, offFails)
}
