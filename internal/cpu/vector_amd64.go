//go:build amd64 && !purego

package cpu

import (
	"math"

	"golang.org/x/sys/cpu"
)

//go:noescape
func sigmoidAVX2(x, y *float32, n int, c *[14][8]float32)

// sigmoidConsts are sigmoidAVX2's constants, each in all eight lanes.
var sigmoidConsts = func() *[14][8]float32 {
	var c [14][8]float32
	vals := []float32{math.Float32frombits(1 << 31), -expMax, expMax, log2e, roundMagic, ln2Hi, ln2Lo,
		1.0 / 720, 1.0 / 120, 1.0 / 24, 1.0 / 6, 1.0 / 2, 1, math.Float32frombits(127)}
	for i, v := range vals {
		for l := range c[i] {
			c[i][l] = v
		}
	}
	return &c
}()

var hasAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// sigmoidVector computes sigmoidForward on the longest multiple-of-8
// prefix of x with AVX2 and returns how many elements it did.
func sigmoidVector(x, y []float32) int {
	n := len(x) &^ 7
	if !hasAVX2 || n == 0 || vectorOff {
		return 0
	}
	_ = y[n-1]
	sigmoidAVX2(&x[0], &y[0], n, sigmoidConsts)
	return n
}

//go:noescape
func reluAVX2(x, y *float32, n int)

//go:noescape
func reluBackwardAVX2(y, dy, dx *float32, n int)

// reluVector computes reluForward on the longest multiple-of-32 prefix of
// x with AVX2 and returns how many elements it did.
func reluVector(x, y []float32) int {
	n := len(x) &^ 31
	if !hasAVX2 || n == 0 || vectorOff {
		return 0
	}
	_ = y[n-1]
	reluAVX2(&x[0], &y[0], n)
	return n
}

// reluBackwardVector is reluVector for reluBackward.
func reluBackwardVector(y, dy, dx []float32) int {
	n := len(y) &^ 31
	if !hasAVX2 || n == 0 || vectorOff {
		return 0
	}
	_, _ = dy[n-1], dx[n-1]
	reluBackwardAVX2(&y[0], &dy[0], &dx[0], n)
	return n
}

//go:noescape
func normalizeAVX2(x, y *float32, n int, mean, scale, beta float32, relu int)

// normalizeVector computes normalizeReLU on the longest multiple-of-8
// prefix of x with AVX2 (the same bits: no FMA) and returns how many
// elements it did.
func normalizeVector(x, y []float32, mean, scale, beta float32, relu bool) int {
	n := len(x) &^ 7
	if !hasAVX2 || n == 0 || vectorOff {
		return 0
	}
	_ = y[n-1]
	r := 0
	if relu {
		r = 1
	}
	normalizeAVX2(&x[0], &y[0], n, mean, scale, beta, r)
	return n
}

//go:noescape
func epilogueAVX2(x, y *float32, n int, c *[4]float32, flags int)

// epilogueVector computes convEpilogue.apply's loop on the longest
// multiple-of-8 prefix of x with AVX2 (the same bits) and returns how many
// elements it did. c is {bias, mean, scale, beta}; flags: 1 add the bias,
// 2 the batch norm's affine map, 4 ReLU.
func epilogueVector(x, y []float32, c *[4]float32, flags int) int {
	n := len(x) &^ 7
	if !hasAVX2 || n == 0 || vectorOff {
		return 0
	}
	_ = y[n-1]
	epilogueAVX2(&x[0], &y[0], n, c, flags)
	return n
}

//go:noescape
func deinterleaveAVX2(x, even, odd *float32, n int)

// deinterleaveVector sets even[i] = x[2i], odd[i] = x[2i+1] for the
// longest multiple-of-8 prefix of odd with AVX2 and returns how many
// pairs it did.
func deinterleaveVector(x, even, odd []float32) int {
	n := len(odd) &^ 7
	if !hasAVX2 || n == 0 || vectorOff {
		return 0
	}
	_, _ = x[2*n-1], even[n-1]
	deinterleaveAVX2(&x[0], &even[0], &odd[0], n)
	return n
}

//go:noescape
func interleaveAVX2(even, odd, x *float32, n int)

// interleaveVector sets x[2i] = even[i], x[2i+1] = odd[i] for the longest
// multiple-of-8 prefix of odd with AVX2 and returns how many pairs it did.
func interleaveVector(even, odd, x []float32) int {
	n := len(odd) &^ 7
	if !hasAVX2 || n == 0 || vectorOff {
		return 0
	}
	_, _ = x[2*n-1], even[n-1]
	interleaveAVX2(&even[0], &odd[0], &x[0], n)
	return n
}

//go:noescape
func addAVX2(a, b, y *float32, n int, relu int)

// addVector sets y = a + b (then, with relu, max(y, 0) with NaN kept) on
// the longest multiple-of-8 prefix of a with AVX2 (the bits of the Go
// loops) and returns how many elements it did.
func addVector(a, b, y []float32, relu bool) int {
	n := len(a) &^ 7
	if !hasAVX2 || n == 0 || vectorOff {
		return 0
	}
	_, _ = b[n-1], y[n-1]
	r := 0
	if relu {
		r = 1
	}
	addAVX2(&a[0], &b[0], &y[0], n, r)
	return n
}

//go:noescape
func sumShiftedAVX2(x *float32, n int, s float32, out *[2]float32)

//go:noescape
func sumDotAVX2(x, dy *float32, n int, mean float32, out *[2]float32)

//go:noescape
func bnBackwardAVX2(x, dy, dx *float32, n int, c *[4]float32)

// sumShiftedVector returns sumLanes' Σ(x-s) and Σ(x-s)² over the longest
// multiple-of-8 prefix of x, computed with AVX2, and its length.
func sumShiftedVector(x []float32, s float32) (sum, sq float32, done int) {
	n := len(x) &^ 7
	if !hasAVX2 || n == 0 || vectorOff {
		return 0, 0, 0
	}
	var out [2]float32
	sumShiftedAVX2(&x[0], n, s, &out)
	return out[0], out[1], n
}

// sumDotVector is sumShiftedVector for sumDot: Σdy and Σdy·(x-mean).
func sumDotVector(x, dy []float32, mean float32) (sum, dot float32, done int) {
	n := len(x) &^ 7
	if !hasAVX2 || n == 0 || vectorOff {
		return 0, 0, 0
	}
	_ = dy[n-1]
	var out [2]float32
	sumDotAVX2(&x[0], &dy[0], n, mean, &out)
	return out[0], out[1], n
}

// bnBackwardVector computes finishBackward's loop on the longest
// multiple-of-8 prefix of x with AVX2 (the same bits) and returns how many
// elements it did; c is {a, b, c, mean}.
func bnBackwardVector(x, dy, dx []float32, c *[4]float32) int {
	n := len(x) &^ 7
	if !hasAVX2 || n == 0 || vectorOff {
		return 0
	}
	_, _ = dy[n-1], dx[n-1]
	bnBackwardAVX2(&x[0], &dy[0], &dx[0], n, c)
	return n
}

//go:noescape
func copyRowsAVX2(src, dst *float32, rows, w, lds, ldd int)

// copyRows sets dst[r*ldd+i] = src[r*lds+i] for r < rows, i < w: a
// strided copy in one call (a memmove per row costs more than the copy at
// the widths of the convolutions' rows). The rows must not overlap.
func copyRows(src, dst []float32, rows, w, lds, ldd int) {
	if rows < 1 || w < 1 {
		return
	}
	_, _ = src[(rows-1)*lds+w-1], dst[(rows-1)*ldd+w-1]
	if !hasAVX2 || vectorOff {
		copyRowsGo(src, dst, rows, w, lds, ldd)
		return
	}
	copyRowsAVX2(&src[0], &dst[0], rows, w, lds, ldd)
}
