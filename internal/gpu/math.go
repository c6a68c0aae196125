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
	// MathBF16: operands rounded to bfloat16 (8 significant bits, nearest
	// even) as they are staged, multiplied on tensor cores, float32
	// accumulation and storage (kernels/conv2d_bf16.cu); sm_80 and later:
	// the forward convolution and both its gradients, as MathTF32.
	MathBF16
)

func (m Math) String() string {
	switch m {
	case MathFP32:
		return "fp32"
	case MathTF32:
		return "tf32"
	case MathBF16:
		return "bf16"
	}
	return fmt.Sprintf("Math(%d)", int(m))
}

// LayerTypes are the layer types whose FLOPs run in m: under MathTF32 and
// MathBF16 the convolutions (the slots with a tf32 and a bf16 variant in
// Kernels: forward, data and filter gradients); linears, pools and the
// rest stay fp32. None under MathFP32, where everything is fp32 anyway.
func (m Math) LayerTypes() []string {
	if m == MathTF32 || m == MathBF16 {
		return []string{"conv2d"}
	}
	return nil
}

// TensorCore reports whether m multiplies on tensor cores (TF32, BF16).
func (m Math) TensorCore() bool { return m == MathTF32 || m == MathBF16 }

// MarshalText writes the math's name, for JSON.
func (m Math) MarshalText() ([]byte, error) { return []byte(m.String()), nil }
