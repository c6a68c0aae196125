package cpu

import "math"

// The fast engine's BatchNorm: two passes over each channel in float32
// (statistics, then the output), channels spread over the workers when the
// tensor is large. Each run of L values is summed in float32 with 32
// lanes (sumLanes, AVX2 on amd64) and the runs' sums are added in float64; the variance is
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

// sumShifted returns Σ(v-s) and Σ(v-s)² over run, in sumLanes' order.
func sumShifted(run []float32, s float32) (sum, sq float64) {
	a, q, done := sumShiftedVector(run, s)
	if done == 0 {
		a, q, done = sumLanes(run, nil, s)
	}
	for _, v := range run[done:] {
		d := v - s
		a += d
		q += float32(d * d)
	}
	return float64(a), float64(q)
}

// sumDot returns Σdy and Σdy·(x-mean) over a run, in sumLanes' order.
func sumDot(x, dy []float32, mean float32) (sum, dot float64) {
	dy = dy[:len(x)]
	a, p, done := sumDotVector(x, dy, mean)
	if done == 0 {
		a, p, done = sumLanes(x, dy, mean)
	}
	for i := done; i < len(x); i++ {
		a += dy[i]
		p += float32(dy[i] * (x[i] - mean))
	}
	return float64(a), float64(p)
}

// sumLanes is the order of the batch norm's sums (the assembly's, see
// batchnorm_amd64.s), over the longest multiple-of-8 prefix of x: with dy
// nil, Σ(x-s) and Σ(x-s)², else Σdy and Σdy·(x-s). Value i goes to lane
// i mod 32 of four 8-lane accumulators in blocks of 32, then to lane i
// mod 8 of the first; the accumulators are added (a0+a1)+(a2+a3), then
// lanes l and l+4, then (0+2)+(1+3). The callers add the rest in order.
func sumLanes(x, dy []float32, s float32) (sum, sq float32, done int) {
	var a, q [4][8]float32
	add := func(u, i int) {
		for l := range 8 {
			d := x[i+l] - s
			if dy == nil {
				a[u][l] += d
				q[u][l] += float32(d * d)
			} else {
				a[u][l] += dy[i+l]
				q[u][l] += float32(dy[i+l] * d)
			}
		}
	}
	i := 0
	for ; i+32 <= len(x); i += 32 {
		for u := range 4 {
			add(u, i+8*u)
		}
	}
	for ; i+8 <= len(x); i += 8 {
		add(0, i)
	}
	return laneSum(&a), laneSum(&q), i
}

// laneSum adds four 8-lane accumulators in sumLanes' order.
func laneSum(v *[4][8]float32) float32 {
	var t [8]float32
	for l := range 8 {
		t[l] = (v[0][l] + v[1][l]) + (v[2][l] + v[3][l])
	}
	h0, h1, h2, h3 := t[0]+t[4], t[1]+t[5], t[2]+t[6], t[3]+t[7]
	return (h0 + h2) + (h1 + h3)
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
	consts := [4]float32{a, b, c, mean}
	for n := range g.N {
		o := (n*g.C + ch) * g.L
		x, dy, dx := xd[o:o+g.L], dyd[o:o+g.L], dxd[o:o+g.L]
		for i := bnBackwardVector(x, dy, dx, &consts); i < len(x); i++ {
			dx[i] = float32(a*dy[i]) + float32(b*(x[i]-mean)) + c
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
