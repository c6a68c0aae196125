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
	// and later. The forward convolution and its data gradient have TF32
	// kernels so far; the filter gradient stays on the FP32 kernel.
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
