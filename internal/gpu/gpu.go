// Package gpu is cnnctl's CUDA backend: tensor.Backend on an NVIDIA GPU
// through cnnctl's own kernels (kernels/*.cu, compiled by `make kernels` into
// kernels.fatbin and embedded), loaded with the CUDA driver API.
//
// The backend exists only in binaries built with the cuda build tag (`make
// cuda`); without it, New and Devices return ErrNotBuilt. Both builds export
// the same names, so callers need no build tags.
package gpu

import (
	"errors"
	"fmt"
)

// ErrNotBuilt is returned by New and Devices in binaries built without CUDA.
var ErrNotBuilt = errors.New("cnnctl was built without CUDA (build with make cuda)")

// ErrNoDevice is wrapped by the errors of New and Devices when the driver
// finds no usable GPU: "no CUDA device: <reason>".
var ErrNoDevice = errors.New("no CUDA device")

// Info describes one GPU, for `cnnctl device`.
type Info struct {
	Index int
	Name  string
	// Major and Minor are the compute capability (9.0 for an H100).
	Major, Minor int
	// SMs is the number of streaming multiprocessors.
	SMs int
	// TotalMem and FreeMem are in bytes.
	TotalMem, FreeMem int64
	// Driver is the CUDA driver API version, e.g. 12040 for 12.4.
	Driver int
}

func (i Info) String() string {
	return fmt.Sprintf("cuda:%d %s (sm_%d%d, %d SMs, %.1f GiB, %.1f GiB free, driver %s)",
		i.Index, i.Name, i.Major, i.Minor, i.SMs, gib(i.TotalMem), gib(i.FreeMem), DriverVersion(i.Driver))
}

// SM is the compute capability times ten (90 for sm_90), as Kernel.MinSM.
func (i Info) SM() int { return 10*i.Major + i.Minor }

// DriverVersion writes a CUDA version number (12040) as "12.4".
func DriverVersion(v int) string { return fmt.Sprintf("%d.%d", v/1000, v%1000/10) }

func gib(b int64) float64 { return float64(b) / (1 << 30) }
