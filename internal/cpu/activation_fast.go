package cpu

import "math"

// The fast engine's sigmoid and tanh use a float32 exp (Cody-Waite range
// reduction and a degree-6 polynomial, relative error below 3e-7) instead of
// the float64 math.Exp per element, which cost lenet-bn a third of its step.

const (
	log2e      = 1.44269504088896341
	ln2Hi      = 0.693145751953125       // ln 2 with its low bits zero, so n*ln2Hi is exact
	ln2Lo      = 1.42860682030941723e-06 // ln 2 - ln2Hi
	expMax     = 88.0                    // e^88 is near float32's largest value
	roundMagic = 12582912.0              // 1.5·2^23
)

// exp32 is e^x in float32; large |x| saturate to e^±88 and NaN gives NaN
// (through the polynomial, so no branch on it). Plain comparisons, not
// min/max: Go's float min/max handle NaN and -0 and cost twice the rest.
func exp32(x float32) float32 {
	if x < -expMax {
		x = -expMax
	}
	if x > expMax {
		x = expMax
	}
	// Adding 1.5·2^23 rounds to an integer in float32 arithmetic itself
	// (math.Round is a call through float64, as slow as math.Exp).
	n := x*log2e + roundMagic
	n -= roundMagic
	r := x - n*ln2Hi - n*ln2Lo // |r| <= ln2/2
	p := 1 + r*(1+r*(1.0/2+r*(1.0/6+r*(1.0/24+r*(1.0/120+r*(1.0/720))))))
	// 2^n by building the exponent: n is in [-127, 127] after the clamp, and
	// n = -127 gives the bits of 0, flushing e^-88 (subnormal) to zero.
	return p * math.Float32frombits(uint32(int32(n)+127)<<23)
}

// vectorOff switches the assembly relu and sigmoid off, for tests of the Go loops.
var vectorOff = false

// sigmoidForward: y = 1/(1+e^-x), NaN kept; the same formula eight lanes at
// a time in assembly where the CPU has AVX2 (sigmoid_amd64.s), which made
// lenet-bn's sigmoids several times faster (BenchmarkSigmoid).
func sigmoidForward(x, y []float32) {
	y = y[:len(x)]
	done := sigmoidVector(x, y)
	x, y = x[done:], y[done:]
	for i, v := range x {
		y[i] = 1 / (1 + exp32(-v))
	}
}

// tanhForward: y = tanh x = 1 - 2/(e^2x + 1), with the series near 0 where
// that form cancels, NaN kept.
func tanhForward(x, y []float32) {
	y = y[:len(x)]
	for i, v := range x {
		switch {
		case v != v:
			y[i] = v
		case v > -0.125 && v < 0.125:
			v2 := v * v
			y[i] = v * (1 + v2*(-1.0/3+v2*(2.0/15+v2*(-17.0/315))))
		default:
			y[i] = 1 - 2/(exp32(2*v)+1)
		}
	}
}

// sigmoidBackward: dx = dy·y·(1-y), the reference's loop without its switch.
func sigmoidBackward(y, dy, dx []float32) {
	dy, dx = dy[:len(y)], dx[:len(y)]
	for i, v := range y {
		dx[i] = dy[i] * (v * (1 - v))
	}
}
