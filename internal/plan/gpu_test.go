//go:build cuda

package plan

import (
	"github.com/cnnctl/cnnctl/internal/gpu"
	"github.com/cnnctl/cnnctl/internal/tensor"
)

// The GPU backend's fused batch norm + ReLU is what the plan's
// batchnorm+relu nodes take there (checked when built with CUDA).
var _ tensor.BatchNormReLU = (*gpu.Backend)(nil)

// ... and its convolution with epilogue batch-norm statistics what the
// conv2d+batchnorm nodes take.
var _ tensor.ConvBatchNorm = (*gpu.Backend)(nil)
