//go:build !amd64 || purego

package cpu

// sigmoidVector does nothing here: sigmoidForward's Go loop does it all.
func sigmoidVector(x, y []float32) int { return 0 }

// reluVector does nothing here: reluForward's Go loop does it all.
func reluVector(x, y []float32) int { return 0 }

// reluBackwardVector does nothing here: reluBackward's Go loop does it all.
func reluBackwardVector(y, dy, dx []float32) int { return 0 }

// normalizeVector does nothing here: normalizeReLU's Go loops do it all.
func normalizeVector(x, y []float32, mean, scale, beta float32, relu bool) int { return 0 }

// epilogueVector does nothing here: convEpilogue.apply's Go loop does it all.
func epilogueVector(x, y []float32, c *[4]float32, flags int) int { return 0 }

// interleaveVector does nothing here: the Go loop does it all.
func interleaveVector(even, odd, x []float32) int { return 0 }

// deinterleaveVector does nothing here: the Go loop does it all.
func deinterleaveVector(x, even, odd []float32) int { return 0 }

// addVector does nothing here: the Go loops do it all.
func addVector(a, b, y []float32, relu bool) int { return 0 }

// sumShiftedVector does nothing here: sumLanes does it all.
func sumShiftedVector(x []float32, s float32) (sum, sq float32, done int) { return 0, 0, 0 }

// sumDotVector does nothing here: sumLanes does it all.
func sumDotVector(x, dy []float32, mean float32) (sum, dot float32, done int) { return 0, 0, 0 }

// bnBackwardVector does nothing here: finishBackward's Go loop does it all.
func bnBackwardVector(x, dy, dx []float32, c *[4]float32) int { return 0 }

// copyRows sets dst[r*ldd+i] = src[r*lds+i] for r < rows, i < w.
func copyRows(src, dst []float32, rows, w, lds, ldd int) { copyRowsGo(src, dst, rows, w, lds, ldd) }
