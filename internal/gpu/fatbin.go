//go:build cuda

package gpu

import _ "embed"

// kernelsFatbin holds every kernel of kernels/*.cu for sm_70, sm_80, sm_90
// and compute_90 PTX.
//
// If the build fails here with "pattern kernels.fatbin: no matching files
// found", the kernels have not been compiled: run `make kernels` (which
// runs scripts/build-kernels.sh and needs nvcc) before `make cuda`.
//
//go:embed kernels.fatbin
var kernelsFatbin string
