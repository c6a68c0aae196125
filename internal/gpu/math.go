package gpu

import "fmt"

// Math is the arithmetic the backend's convolutions use.
type Math int

const (
	// MathFP32 (strict): float32 on CUDA cores (kernels/conv2d.cu), the
	// engine as it always was. The default.
	MathFP32 Math = iota
	// MathTF32: operands rounded to TF32 (10 mantissa bits) and multiplied
	// on tensor cores, float32 accumulation (kernels/conv2d_tc.cu); sm_80
	// and later: the forward convolution and both its gradients (the bias
	// gradient stays a float32 sum).
	MathTF32
)

func (m Math) String() string {
	switch m {
	case MathFP32:
		return "fp32"
	case MathTF32:
		return "tf32"
	}
	return fmt.Sprintf("Math(%d)", int(m))
}

// MarshalText writes the math's name, for JSON.
func (m Math) MarshalText() ([]byte, error) { return []byte(m.String()), nil }
