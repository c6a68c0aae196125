//go:build cuda

package plan

import (
	"github.com/cnnctl/cnnctl/internal/gpu"
	"github.com/cnnctl/cnnctl/internal/tensor"
)

// The GPU backend's fused batch norm + ReLU is what the plan's
// batchnorm+relu nodes take there (checked when built with CUDA).
var _ tensor.BatchNormReLU = (*gpu.Backend)(nil)
