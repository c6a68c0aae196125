//go:build cuda

package gpu

import "fmt"

// SetMath chooses the convolutions' arithmetic for the ops queued from now
// on. MathTF32 needs a GPU of compute capability 8.0 or later.
//
// The default stays MathFP32 until a GPU run has verified the TF32 kernels
// (TestBackendTF32 in docs/gpu-results.md); then it is to become TF32, as
// PyTorch's default for convolutions is.
func (b *Backend) SetMath(m Math) error {
	switch {
	case m != MathFP32 && m != MathTF32:
		return fmt.Errorf("gpu: set math: unknown %v (want fp32 or tf32)", m)
	case m == MathTF32 && b.info.Major < 8:
		return fmt.Errorf("gpu: set math tf32: %s has compute capability %d.%d; TF32 tensor cores need 8.0 or later (use fp32)",
			b.info.Name, b.info.Major, b.info.Minor)
	}
	b.mu.Lock()
	b.math = m
	b.mu.Unlock()
	return nil
}

// Math is the convolutions' arithmetic chosen by SetMath.
func (b *Backend) Math() Math {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.math
}

// convKernel is the one place where a convolution's kernel is chosen: the
// TF32 variant of op where one exists, the math asks for it and the GPU has
// TF32 tensor cores (SetMath checked; checked again here), else the FP32
// kernel. op is the FP32 kernel's name.
func (b *Backend) convKernel(op string) string {
	if b.Math() != MathTF32 || b.info.Major < 8 {
		return op
	}
	if tf32, ok := tf32Kernels[op]; ok {
		return tf32
	}
	return op
}

// tf32Kernels are the TF32 variants by the name of their FP32 kernel.
var tf32Kernels = map[string]string{
	"conv2d_forward":         "conv2d_forward_tf32",
	"conv2d_backward_data":   "conv2d_backward_data_tf32",
	"conv2d_backward_filter": "conv2d_backward_filter_tf32",
}
