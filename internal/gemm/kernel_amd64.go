//go:build amd64 && !purego

package gemm

import "golang.org/x/sys/cpu"

// Assembly micro-kernels, generated into kernel_amd64.s by asm_gen.go. Each
// computes an MR×NR tile; see microKernel for the contract (k ≥ 1, pointers to
// full panels and a full tile of C).
//
//go:noescape
func kernel6x16AVX2(k int, a, b, pf *float32, ldb int, c *float32, ldc int, loadC int, beta float32)

//go:noescape
func kernel4x16AVX2(k int, a, b, pf *float32, ldb int, c *float32, ldc int, loadC int, beta float32)

//go:noescape
func kernel12x32AVX512(k int, a, b, pf *float32, ldb int, c *float32, ldc int, loadC int, beta float32)

//go:noescape
func kernel8x32AVX512(k int, a, b, pf *float32, ldb int, c *float32, ldc int, loadC int, beta float32)

//go:noescape
func kernel14x32AVX512(k int, a, b, pf *float32, ldb int, c *float32, ldc int, loadC int, beta float32)

type asmKernel func(k int, a, b, pf *float32, ldb int, c *float32, ldc int, loadC int, beta float32)

// wrap adapts an assembly kernel to microKernel, checking the slice bounds
// the assembly relies on.
func wrap(fn asmKernel, mr, nr int) microKernel {
	return func(k int, a, b, pf []float32, ldb int, c []float32, ldc int, loadC bool, beta float32) {
		_ = a[mr*k-1]
		_ = b[(k-1)*ldb+nr-1]
		_ = pf[(k-1)*ldb+nr-1]
		_ = c[(mr-1)*ldc+nr-1]
		l := 0
		if loadC {
			l = 1
		}
		fn(k, &a[0], &b[0], &pf[0], ldb, &c[0], ldc, l, beta)
	}
}

func newKernel(name string, fn asmKernel, speed float64, mr, nr, mc, kc, nc int) *kernel {
	return &kernel{name: name, mr: mr, nr: nr, mc: mc, kc: kc, nc: nc, speed: speed, fn: wrap(fn, mr, nr)}
}

var (
	avx2Family = &family{
		name: "avx2",
		kernels: []*kernel{
			newKernel("avx2-6x16", kernel6x16AVX2, 1, 6, 16, 144, 256, 4096),
			newKernel("avx2-4x16", kernel4x16AVX2, 0.85, 4, 16, 144, 256, 4096),
		},
	}
	avx512Family = &family{
		name: "avx512",
		kernels: []*kernel{
			newKernel("avx512-14x32", kernel14x32AVX512, 0.98, 14, 32, 140, 256, 4096),
			newKernel("avx512-12x32", kernel12x32AVX512, 1, 12, 32, 144, 256, 4096),
			newKernel("avx512-8x32", kernel8x32AVX512, 0.95, 8, 32, 144, 256, 4096),
		},
	}
)

// asmFamilies returns the assembly kernel families this CPU supports, slowest first.
func asmFamilies() []*family {
	var fs []*family
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		fs = append(fs, avx2Family)
		if cpu.X86.HasAVX512F {
			fs = append(fs, avx512Family)
		}
	}
	return fs
}
