//go:build !amd64 || purego

package gemm

// packVectorOff does nothing here: packT8 is Go only.
var packVectorOff = false

// packT8 sets dst[p*ldd+i] = b[offs[i]+p] for i < 8, p < kb.
func packT8(b []float32, offs *[8]int, kb int, dst []float32, ldd int) {
	packT8Go(b, offs, 0, kb, dst, ldd)
}
