package tensor_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/cnnctl/cnnctl/internal/tensor"
	"github.com/cnnctl/cnnctl/internal/tensor/tensortest"
)

// TestToBF16 holds ToBF16 to the hand-worked specials (NaN, ±Inf, ±0,
// subnormals, ties, overflow) and FromBF16 to exact widening.
func TestToBF16(t *testing.T) {
	for _, s := range tensortest.CastSpecials {
		if got := tensor.ToBF16(math.Float32frombits(s.F32)); got != s.BF16 {
			t.Errorf("ToBF16(%#08x) = %#04x, want %#04x (%s)", s.F32, got, s.BF16, s.Why)
		}
		if got := math.Float32bits(tensor.FromBF16(s.BF16)); got != uint32(s.BF16)<<16 {
			t.Errorf("FromBF16(%#04x) = %#08x, want %#08x", s.BF16, got, uint32(s.BF16)<<16)
		}
	}
}

// nearestBF16 is a referee written another way: the two bfloat16 values
// around x (cut, and one ulp further from zero), whichever is nearer in
// float64 arithmetic (exact for these), ties to the even one. One ulp past
// the largest bfloat16 counts as 2^128, IEEE 754's overflow threshold
// rule, so that rounding there gives infinity.
func nearestBF16(x float32) uint16 {
	u := math.Float32bits(x)
	lo := uint16(u >> 16)
	hi := lo + 1
	loV := math.Abs(float64(tensor.FromBF16(lo)))
	hiV := math.Abs(float64(tensor.FromBF16(hi)))
	if hi&0x7fff == 0x7f80 {
		hiV = math.Ldexp(1, 128)
	}
	ax := math.Abs(float64(x))
	dLo, dHi := ax-loV, hiV-ax
	switch {
	case dLo < dHi:
		return lo
	case dHi < dLo:
		return hi
	case lo&1 == 0:
		return lo
	}
	return hi
}

// TestToBF16Referee checks ToBF16 against nearestBF16 on every exponent
// with random mantissas, and on every halfway pattern's neighbours.
func TestToBF16Referee(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	bad := 0
	for i := 0; i < 1<<20 && bad < 10; i++ {
		u := r.Uint32()
		switch i % 4 {
		case 1:
			u = u&0xffff0000 | 0x8000 // an exact tie
		case 2:
			u = u&0xffff0000 | 0x7fff // just below a tie
		case 3:
			u = u&0xffff0000 | 0x8001 // just above
		}
		x := math.Float32frombits(u)
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			continue
		}
		if got, want := tensor.ToBF16(x), nearestBF16(x); got != want {
			t.Errorf("ToBF16(%#08x) = %#04x, the referee says %#04x", u, got, want)
			bad++
		}
	}
}

// TestBF16RoundTrip: a float32 -> bfloat16 -> float32 round trip stays
// within tensortest's BF16 tolerance, and the bound is tight (some value
// comes within 1% of it), so the stated 2^-8 is neither loose nor broken.
func TestBF16RoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	tol := tensortest.DTypeTolerance(tensor.BF16)
	worst := 0.0
	for range 1 << 18 {
		x := float32(math.Ldexp(1+r.Float64(), r.IntN(200)-100)) // normal, |x| in [2^-100, 2^100)
		if r.IntN(2) == 0 {
			x = -x
		}
		rt := tensor.FromBF16(tensor.ToBF16(x))
		d := math.Abs(float64(rt) - float64(x))
		if d > tol.Of(x) {
			t.Fatalf("%g round-trips to %g: |Δ| %g > tolerance %g", x, rt, d, tol.Of(x))
		}
		worst = max(worst, d/math.Abs(float64(x)))
	}
	if worst > tensortest.BF16U || worst < 0.99*tensortest.BF16U {
		t.Errorf("worst relative round-trip error %g, want at most and close to 2^-8 = %g", worst, tensortest.BF16U)
	}
}

func TestDType(t *testing.T) {
	for _, tt := range []struct {
		s    string
		dt   tensor.DType
		size int
	}{{"f32", tensor.F32, 4}, {"bf16", tensor.BF16, 2}} {
		dt, err := tensor.ParseDType(tt.s)
		if err != nil || dt != tt.dt || dt.String() != tt.s || dt.Size() != tt.size {
			t.Errorf("ParseDType(%q) = %v (%d bytes), %v", tt.s, dt, dt.Size(), err)
		}
	}
	if _, err := tensor.ParseDType("f16"); err == nil {
		t.Error("f16 parsed")
	}
	var z tensor.Tensor
	if z.DType != tensor.F32 {
		t.Error("the zero Tensor is not f32")
	}
	v := (&tensor.Tensor{Shape: tensor.Shape{4}, DType: tensor.BF16}).Slice(1, tensor.Shape{2}).View(tensor.Shape{1})
	if v.DType != tensor.BF16 {
		t.Error("a view lost its dtype")
	}
}
