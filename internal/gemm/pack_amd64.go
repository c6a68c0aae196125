//go:build amd64 && !purego

package gemm

import "golang.org/x/sys/cpu"

//go:noescape
func packT8AVX2(b *float32, offs *[8]int, kb int, dst *float32, ldd int)

// packVectorOff switches packT8 to its Go loop, for tests.
var packVectorOff = false

var hasPackAVX2 = cpu.X86.HasAVX2

// packT8 sets dst[p*ldd+i] = b[offs[i]+p] for i < 8, p < kb, with AVX2
// on the longest multiple-of-8 prefix of p and Go for the rest.
func packT8(b []float32, offs *[8]int, kb int, dst []float32, ldd int) {
	done := 0
	if n := kb &^ 7; n > 0 && hasPackAVX2 && !packVectorOff {
		for _, o := range offs {
			_ = b[o+kb-1]
		}
		_ = dst[(n-1)*ldd+7]
		packT8AVX2(&b[0], offs, n, &dst[0], ldd)
		done = n
	}
	packT8Go(b, offs, done, kb, dst, ldd)
}
