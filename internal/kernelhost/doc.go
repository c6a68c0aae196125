// Package kernelhost runs the CUDA kernels' index math on the host, so that
// tests without a GPU can check it against the CPU reference.
//
// The kernels keep their index math (tile coordinates, im2col addressing,
// shared-memory layouts, warp fragment ownership) in CNNCTL_HD functions in
// kernels/*.cuh, compiled both by nvcc into the kernels and by cgo's C
// compiler into this package. Here C emulators run a kernel's whole grid,
// thread block by thread block, through those functions, with the PTX
// instructions the host lacks (cp.async, mma.sync) modelled as the PTX ISA
// defines them. The package needs only a C compiler (gcc), no CUDA.
package kernelhost
