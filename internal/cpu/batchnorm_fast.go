package cpu

import "math"

// The fast engine's BatchNorm: two passes over each channel in float32
// (statistics, then the output), channels spread over the workers when the
// tensor is large. Each run of L values is summed in float32 with four
// accumulators and the runs' sums are added in float64; the variance is
// taken from sums shifted by the channel's first value, which keeps the
// one-pass formula from cancelling when the mean is far from 0.

// forChannels runs f on the channels [lo, hi) of C, over the workers when
// the tensor has at least 1<<15 elements.
func forChannels(c, elems int, f func(lo, hi int)) {
	if elems < 1<<15 {
		f(0, c)
		return
	}
	parallelFor(c, func(_, lo, hi int) { f(lo, hi) })
}

// sumShifted returns Σ(v-s) and Σ(v-s)² over run.
func sumShifted(run []float32, s float32) (sum, sq float64) {
	var a0, a1, a2, a3, q0, q1, q2, q3 float32
	i := 0
	for ; i+4 <= len(run); i += 4 {
		r := run[i : i+4 : i+4]
		d0, d1, d2, d3 := r[0]-s, r[1]-s, r[2]-s, r[3]-s
		a0, a1, a2, a3 = a0+d0, a1+d1, a2+d2, a3+d3
		q0, q1, q2, q3 = q0+d0*d0, q1+d1*d1, q2+d2*d2, q3+d3*d3
	}
	for ; i < len(run); i++ {
		d := run[i] - s
		a0 += d
		q0 += d * d
	}
	return float64((a0 + a1) + (a2 + a3)), float64((q0 + q1) + (q2 + q3))
}

// sumDot returns Σdy and Σdy·(x-mean) over a run.
func sumDot(x, dy []float32, mean float32) (sum, dot float64) {
	dy = dy[:len(x)]
	var a0, a1, a2, a3, p0, p1, p2, p3 float32
	i := 0
	for ; i+4 <= len(x); i += 4 {
		r, d := x[i:i+4:i+4], dy[i:i+4:i+4]
		a0, a1, a2, a3 = a0+d[0], a1+d[1], a2+d[2], a3+d[3]
		p0, p1 = p0+d[0]*(r[0]-mean), p1+d[1]*(r[1]-mean)
		p2, p3 = p2+d[2]*(r[2]-mean), p3+d[3]*(r[3]-mean)
	}
	for ; i < len(x); i++ {
		a0 += dy[i]
		p0 += dy[i] * (x[i] - mean)
	}
	return float64((a0 + a1) + (a2 + a3)), float64((p0 + p1) + (p2 + p3))
}

// normalize writes y = (x-mean)·scale + beta. The mean is subtracted
// before scaling (as the CUDA kernel does): folding it into one shift,
// x·scale + (beta - mean·scale), rounds two terms of size |mean|·scale
// per element, and in a channel whose variance is far below eps (scale
// near gamma/sqrt(eps)) that per-element noise outgrew x-mean itself —
// vgg16-bn's features.14 filter gradient was 2.8% off the float64
// reference (TestModelStepF64), where the GPU was right.
func normalize(x, y []float32, mean, scale, beta float32) {
	y = y[:len(x)]
	for i, v := range x {
		y[i] = (v-mean)*scale + beta
	}
}

// normalizeReLU is normalize, then (with relu) the fast ReLU on the run
// just written, while it is in the cache: one pass over memory, and the
// bits of BatchNorm then ReLU. The assembly (normalizeVector) does both
// on the multiple-of-8 prefix with the same three roundings per element
// and ReLU's mask; the Go loops do the rest (TestNormalizeVector).
func normalizeReLU(x, y []float32, mean, scale, beta float32, relu bool) {
	y = y[:len(x)]
	done := normalizeVector(x, y, mean, scale, beta, relu)
	normalize(x[done:], y[done:], mean, scale, beta)
	if relu {
		reluForward(y[done:], y[done:])
	}
}

// forwardTrainFast is BatchNormForwardTrain on the fast engine, followed by
// a ReLU when relu is set.
func (g batchNorm) forwardTrainFast(xd, yd, gd, bd, rm, rv, sm, si []float32, mom, eps float64, relu bool) {
	m := float64(g.N * g.L)
	forChannels(g.C, len(xd), func(lo, hi int) {
		for ch := lo; ch < hi; ch++ {
			x0 := xd[ch*g.L]
			var sum, sq float64
			for n := range g.N {
				s, q := sumShifted(xd[(n*g.C+ch)*g.L:(n*g.C+ch+1)*g.L], x0)
				sum, sq = sum+s, sq+q
			}
			d := sum / m
			mean := float64(x0) + d
			variance := max(0, sq/m-d*d)
			invstd := 1 / math.Sqrt(variance+eps)
			scale := float32(float64(gd[ch]) * invstd)
			for n := range g.N {
				o := (n*g.C + ch) * g.L
				normalizeReLU(xd[o:o+g.L], yd[o:o+g.L], float32(mean), scale, bd[ch], relu)
			}
			sm[ch] = float32(mean)
			si[ch] = float32(invstd)
			rm[ch] = float32((1-mom)*float64(rm[ch]) + mom*mean)
			rv[ch] = float32((1-mom)*float64(rv[ch]) + mom*variance*m/(m-1))
		}
	})
}

// bnScale is the evaluation-mode batch norm's per-channel scale,
// gamma/sqrt(running_var + eps) in float64, rounded once.
func bnScale(gamma, runVar float32, eps float64) float32 {
	return float32(float64(gamma) / math.Sqrt(float64(runVar)+eps))
}

// forwardInferFast is BatchNormForwardInfer on the fast engine, followed by
// a ReLU when relu is set.
func (g batchNorm) forwardInferFast(xd, yd, gd, bd, rm, rv []float32, eps float64, relu bool) {
	forChannels(g.C, len(xd), func(lo, hi int) {
		for ch := lo; ch < hi; ch++ {
			scale := bnScale(gd[ch], rv[ch], eps)
			for n := range g.N {
				o := (n*g.C + ch) * g.L
				normalizeReLU(xd[o:o+g.L], yd[o:o+g.L], rm[ch], scale, bd[ch], relu)
			}
		}
	})
}

// finishBackward is the second pass of the fast backward for channel ch,
// from the sums Σdy and Σdy·(x-mean): dx from dy (dx may be dy), dgamma,
// dbeta.
func (g batchNorm) finishBackward(xd, dyd, dxd, gd, dgd, dbd []float32, ch int, mean float32, invstd, sdy, sdx, m float64) {
	sdyx := sdx * invstd // Σ dy·xhat
	k := float64(gd[ch]) * invstd / m
	a, b, c := float32(k*m), float32(-k*invstd*sdyx), float32(-k*sdy)
	for n := range g.N {
		o := (n*g.C + ch) * g.L
		x, dy, dx := xd[o:o+g.L], dyd[o:o+g.L], dxd[o:o+g.L]
		for i, v := range x {
			dx[i] = a*dy[i] + b*(v-mean) + c
		}
	}
	dgd[ch] = float32(sdyx)
	dbd[ch] = float32(sdy)
}

// backwardFast is BatchNormBackward on the fast engine:
// dx = k·m·dy - k·dbeta - k·invstd·dgamma·(x-mean), k = gamma·invstd/m.
// With yd (BatchNormReLUBackward), ReLU's gradient t (mask y > 0) is
// first written into dx, a run of a channel at a time, and summed while
// it is in the cache; the second pass then turns dx = t into the batch
// norm's dx in place. The same loops run on t as on a dy, so this gives
// the bits of ReLU's backward then BatchNorm's, in two passes over memory
// instead of three and with no tensor for t.
func (g batchNorm) backwardFast(xd, yd, dyd, dxd, gd, sm, si, dgd, dbd []float32) {
	m := float64(g.N * g.L)
	src := dyd // what the second pass reads as dy
	if yd != nil {
		src = dxd
	}
	forChannels(g.C, len(xd), func(lo, hi int) {
		for ch := lo; ch < hi; ch++ {
			mean, invstd := sm[ch], float64(si[ch])
			var sdy, sdx float64
			for n := range g.N {
				o := (n*g.C + ch) * g.L
				if yd != nil {
					reluBackward(yd[o:o+g.L], dyd[o:o+g.L], dxd[o:o+g.L])
				}
				s, p := sumDot(xd[o:o+g.L], src[o:o+g.L], mean)
				sdy, sdx = sdy+s, sdx+p
			}
			g.finishBackward(xd, src, dxd, gd, dgd, dbd, ch, mean, invstd, sdy, sdx, m)
		}
	})
}
