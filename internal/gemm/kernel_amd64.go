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

//go:noescape
func indirect6x16AVX2(k int, a, b *float32, offs *int, c *float32, ldc int)

//go:noescape
func indirect6x64AVX512(k int, a, b *float32, offs *int, c *float32, ldc int)

//go:noescape
func indirect8x48AVX512(k int, a, b *float32, offs *int, c *float32, ldc int)

//go:noescape
func indirect12x32AVX512(k int, a, b *float32, offs *int, c *float32, ldc int)

//go:noescape
func indirect6x8AVX2(k int, a, b *float32, offs *int, c *float32, ldc int)

//go:noescape
func indirect6x48AVX512(k int, a, b *float32, offs *int, c *float32, ldc int)

//go:noescape
func indirect6x32AVX512(k int, a, b *float32, offs *int, c *float32, ldc int)

//go:noescape
func indirect6x16AVX512(k int, a, b *float32, offs *int, c *float32, ldc int)

//go:noescape
func indirect8x32AVX512(k int, a, b *float32, offs *int, c *float32, ldc int)

//go:noescape
func indirect8x16AVX512(k int, a, b *float32, offs *int, c *float32, ldc int)

//go:noescape
func indirect12x16AVX512(k int, a, b *float32, offs *int, c *float32, ldc int)

//go:noescape
func dot4x3AVX2(steps int, dy *float32, lddy int, b *float32, offs *int, acc *float32)

//go:noescape
func dot6x4AVX512(steps int, dy *float32, lddy int, b *float32, offs *int, acc *float32)

//go:noescape
func dot8x3AVX512(steps int, dy *float32, lddy int, b *float32, offs *int, acc *float32)

//go:noescape
func dot1x4AVX2(steps int, dy *float32, lddy int, b *float32, offs *int, acc *float32)

//go:noescape
func dot2x4AVX2(steps int, dy *float32, lddy int, b *float32, offs *int, acc *float32)

//go:noescape
func dot1x4AVX512(steps int, dy *float32, lddy int, b *float32, offs *int, acc *float32)

//go:noescape
func dot2x4AVX512(steps int, dy *float32, lddy int, b *float32, offs *int, acc *float32)

//go:noescape
func dot4x4AVX512(steps int, dy *float32, lddy int, b *float32, offs *int, acc *float32)

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

type asmIndirect func(k int, a, b *float32, offs *int, c *float32, ldc int)

// newIndirect adapts an assembly indirect kernel, checking the bounds it
// relies on except B's, which the driver checks once per product.
func newIndirect(name string, fn asmIndirect, speed float64, mr, nr int) *indirectKernel {
	return &indirectKernel{name: name, mr: mr, nr: nr, speed: speed,
		fn: func(k int, a, b []float32, offs []int, c []float32, ldc int) {
			_ = a[mr*k-1]
			_ = offs[k-1]
			_ = c[(mr-1)*ldc+nr-1]
			fn(k, &a[0], &b[0], &offs[0], &c[0], ldc)
		}}
}

type asmDot func(steps int, dy *float32, lddy int, b *float32, offs *int, acc *float32)

// newDot adapts an assembly dot kernel, checking the bounds it relies on
// except B's, which the driver checks once per product.
func newDot(name string, fn asmDot, mr, nv, lanes int) *dotKernel {
	return &dotKernel{name: name, mr: mr, nv: nv, lanes: lanes,
		fn: func(steps int, dy []float32, lddy int, b []float32, offs []int, acc []float32) {
			_ = dy[(mr-1)*lddy+steps*lanes-1]
			_ = offs[nv-1]
			_ = acc[mr*nv*lanes-1]
			fn(steps, &dy[0], lddy, &b[0], &offs[0], &acc[0])
		}}
}

var (
	avx2Family = &family{
		name: "avx2",
		kernels: []*kernel{
			newKernel("avx2-6x16", kernel6x16AVX2, 1, 6, 16, 144, 256, 4096),
			newKernel("avx2-4x16", kernel4x16AVX2, 0.85, 4, 16, 144, 256, 4096),
		},
		indirect: []*indirectKernel{withTails(newIndirect("avx2-i6x16", indirect6x16AVX2, 1, 6, 16),
			newIndirect("avx2-i6x8", indirect6x8AVX2, 1, 6, 8))},
		dot: []*dotKernel{newDot("avx2-d4x3", dot4x3AVX2, 4, 3, 8)},
		rowDot: []*dotKernel{
			newDot("avx2-d4x3", dot4x3AVX2, 4, 3, 8),
			newDot("avx2-d2x4", dot2x4AVX2, 2, 4, 8),
			newDot("avx2-d1x4", dot1x4AVX2, 1, 4, 8),
		},
	}
	avx512Family = &family{
		name: "avx512",
		kernels: []*kernel{
			newKernel("avx512-14x32", kernel14x32AVX512, 0.98, 14, 32, 140, 256, 4096),
			newKernel("avx512-12x32", kernel12x32AVX512, 1, 12, 32, 144, 256, 4096),
			newKernel("avx512-8x32", kernel8x32AVX512, 0.95, 8, 32, 144, 256, 4096),
		},
		indirect: []*indirectKernel{
			withTails(newIndirect("avx512-i6x64", indirect6x64AVX512, 1, 6, 64),
				newIndirect("avx512-i6x16", indirect6x16AVX512, 1, 6, 16),
				newIndirect("avx512-i6x32", indirect6x32AVX512, 1, 6, 32),
				newIndirect("avx512-i6x48", indirect6x48AVX512, 1, 6, 48)),
			withTails(newIndirect("avx512-i8x48", indirect8x48AVX512, 1, 8, 48),
				newIndirect("avx512-i8x16", indirect8x16AVX512, 1, 8, 16),
				newIndirect("avx512-i8x32", indirect8x32AVX512, 1, 8, 32)),
			withTails(newIndirect("avx512-i12x32", indirect12x32AVX512, 1, 12, 32),
				newIndirect("avx512-i12x16", indirect12x16AVX512, 1, 12, 16)),
		},
		dot: []*dotKernel{
			newDot("avx512-d6x4", dot6x4AVX512, 6, 4, 16),
			newDot("avx512-d8x3", dot8x3AVX512, 8, 3, 16),
		},
		rowDot: []*dotKernel{
			newDot("avx512-d4x4", dot4x4AVX512, 4, 4, 16),
			newDot("avx512-d2x4", dot2x4AVX512, 2, 4, 16),
			newDot("avx512-d1x4", dot1x4AVX512, 1, 4, 16),
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
