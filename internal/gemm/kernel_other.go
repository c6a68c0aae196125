//go:build !amd64 || purego

package gemm

// asmFamilies returns no assembly kernels: this build uses the generic Go kernel.
func asmFamilies() []*family { return nil }
