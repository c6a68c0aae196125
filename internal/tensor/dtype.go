package tensor

import (
	"fmt"
	"math"
)

// DType is how a tensor stores its elements. The zero value is F32, so a
// Tensor written without one (every view made before dtypes existed) is
// float32. TF32 is not a DType: it is a math mode of an op (the GPU
// backend's Math), its operands stored as F32.
type DType uint8

const (
	// F32 is IEEE 754 binary32, 4 bytes: the dtype every op computes in.
	F32 DType = iota
	// BF16 is bfloat16, 2 bytes: the top half of a float32 (sign, 8
	// exponent bits, 7 stored mantissa bits, 8 significant bits with the
	// implicit one). Storage only: Cast converts it to and from F32,
	// Copy and the byte transfers move it; other ops refuse it.
	BF16
)

// Size is the number of bytes of one element.
func (d DType) Size() int {
	switch d {
	case F32:
		return 4
	case BF16:
		return 2
	}
	return 0
}

// Valid reports whether d is a known dtype.
func (d DType) Valid() bool { return d.Size() > 0 }

func (d DType) String() string {
	switch d {
	case F32:
		return "f32"
	case BF16:
		return "bf16"
	}
	return fmt.Sprintf("dtype(%d)", int(d))
}

// MarshalText writes the dtype's name, for JSON.
func (d DType) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// ParseDType reads "f32" or "bf16".
func ParseDType(s string) (DType, error) {
	switch s {
	case "f32", "float32":
		return F32, nil
	case "bf16", "bfloat16":
		return BF16, nil
	}
	return 0, fmt.Errorf("unknown dtype %q (want f32 or bf16)", s)
}

// ToBF16 rounds f to the nearest bfloat16, ties to even (the rounding of
// torch.Tensor.to(torch.bfloat16)). Infinities and zeros keep their sign; a
// value beyond the largest bfloat16 (above 0x7F7F plus half an ulp)
// becomes an infinity; subnormals round like any other value (bfloat16
// has float32's exponent range, so they stay subnormal or become zero or
// the smallest normal). A NaN stays a NaN of the same sign with the top of
// its payload, made quiet, so that cutting the payload cannot make it an
// infinity. Every backend's Cast gives exactly these bits.
func ToBF16(f float32) uint16 {
	u := math.Float32bits(f)
	if u&0x7fffffff > 0x7f800000 {
		return uint16(u>>16) | 0x0040
	}
	// Adding 0x7fff rounds up past the halfway point; the low bit of
	// the kept part breaks the tie towards even.
	u += 0x7fff + (u>>16)&1
	return uint16(u >> 16)
}

// FromBF16 widens a bfloat16 to float32 exactly.
func FromBF16(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }
