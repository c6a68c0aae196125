//go:build cgo

package kernelhost

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/cnnctl/cnnctl/internal/tensor/tensortest"
)

// bnStatsShapes are convolution outputs (N, K, OH*OW): full and ragged row
// tiles (rows not a multiple of TC_BM, fewer rows than one tile), channels
// not a multiple of TC_BN, and partial chains longer than 32 per lane.
var bnStatsShapes = [][3]int{{8, 16, 1024}, {3, 70, 100}, {2, 5, 49}, {1, 3, 129}, {4, 64, 64}, {128, 16, 1024}, {100, 3, 41}}

// exactStats is channel c's mean and biased variance of y (n,k,l) in
// float64, compensated (Neumaier sums; the two-pass variance with its
// correction term): far inside the bounds checked against it.
func exactStats(y []float32, n, k, l, c, lo, hi int) (mean, variance, amax float64) {
	at := func(i int) float64 { return float64(y[(i/l*k+c)*l+i%l]) }
	sum := func(f func(i int) float64) float64 {
		var s, comp float64
		for i := lo; i < hi; i++ {
			v := f(i)
			t := s + v
			if math.Abs(s) >= math.Abs(v) {
				comp += (s - t) + v
			} else {
				comp += (v - t) + s
			}
			s = t
		}
		return s + comp
	}
	m := float64(hi - lo)
	mean = sum(at) / m
	d := sum(func(i int) float64 { return at(i) - mean })
	variance = (sum(func(i int) float64 { v := at(i) - mean; return v * v }) - d*d/m) / m
	mean += d / m
	for i := lo; i < hi; i++ {
		amax = max(amax, math.Abs(at(i)))
	}
	return mean, variance, amax
}

// bnStatsBound is bnstats.cuh's bound for a merge chain of depth D: the
// mean's absolute error and the variance's relative error, for values of
// largest magnitude amax and standard deviation sd.
func bnStatsBound(D int, amax, sd float64) (dMean, relVar float64) {
	const ud = 1.0 / (1 << 53)
	d := float64(D)
	e := (5 + 5*d) * ud * amax
	return e, (6+4*d)*ud + 4*e*math.Sqrt(d)/sd
}

// bnStatsDepth is bnstats.cuh's D for rows values per channel.
func bnStatsDepth(rows int) int { return 21 + (BNStatsParts(rows)+255)/256 }

var bnStatsData = map[string]func(r *rand.Rand) float32{
	"uniform(-2,3)": uniform(-2, 3),
	"relu":          func(r *rand.Rand) float32 { return max(0, float32(r.NormFloat64())) },
	"tiny":          uniform(-1e-3, 2e-3),
	"1e4±1":         uniform(1e4-1, 1e4+1), // |mean| = 1.7·10⁴ σ
	"outlier":       uniform(1e4-1, 1e4+1), // and one value 1e4+300 per channel, below
}

// TestBNStatsFloat64: the epilogue's partials combined as
// batchnorm_partials_combine merges them give every channel's mean and
// variance within bnstats.cuh's bound of float64, on every data set,
// including a mean 10⁴ standard deviations from zero and an outlier; and
// the bound itself is below one float rounding for these data.
func TestBNStatsFloat64(t *testing.T) {
	worst := map[string][2]float64{} // |Δ|/bound of mean and variance, by data
	actual := map[string]float64{}   // the variance's largest relative error, by data
	for _, s := range bnStatsShapes {
		n, k, l := s[0], s[1], s[2]
		rows := n * l
		D := bnStatsDepth(rows)
		for dname, draw := range bnStatsData {
			in := newBNInputs(n, k, l, draw, 7)
			if dname == "outlier" {
				for c := range k {
					in.x[((rows/2)/l*k+c)*l+(rows/2)%l] = 1e4 + 300
				}
			}
			part, err := BNStatsPartials(in.x, n, k, l)
			if err != nil {
				t.Fatal(err)
			}
			for c := range k {
				mean, vr, amax := exactStats(in.x, n, k, l, c, 0, rows)
				gm, gv := BNStatsCombine(part, k, rows, c)
				dMean, relVar := bnStatsBound(D, amax, math.Sqrt(vr))
				if relVar > u {
					t.Errorf("%v %s channel %d: the bound %.3g is above a float rounding", s, dname, c, relVar)
				}
				em, ev := math.Abs(gm-mean)/dMean, math.Abs(gv-vr)/(vr*relVar)
				w := worst[dname]
				worst[dname] = [2]float64{max(w[0], em), max(w[1], ev)}
				actual[dname] = max(actual[dname], math.Abs(gv-vr)/vr)
				if !(em <= 1 && ev <= 1) {
					t.Errorf("%v %s channel %d: mean %.17g var %.17g, float64 %.17g %.17g: %.3g and %.3g × bound",
						s, dname, c, gm, gv, mean, vr, em, ev)
				}
			}
		}
	}
	t.Logf("largest |Δ|/bound (mean, variance) by data: %v", worst)
	t.Logf("largest relative variance error by data: %v", actual)
}

// TestBNStatsLeafOrder: the epilogue's leaf order (bns_leaf_row,
// bns_leaf_col) names, for every warp, lane and accumulator, the element
// tc_frag_c says the accumulator holds.
func TestBNStatsLeafOrder(t *testing.T) {
	if n := bnStatsFragMismatches(); n != 0 {
		t.Errorf("%d accumulators read at the wrong row or column", n)
	}
}

// TestBNStatsPartialLayout: partial (c, b) holds exactly row tile b of
// channel c: its mean and M2 within the bound of the tile's float64
// statistics (depth 8: leaf, 3 group merges, 4 warp merges), for every
// channel and tile of ragged shapes; a partial taken from the neighbouring
// tile or channel fails it.
func TestBNStatsPartialLayout(t *testing.T) {
	for _, s := range bnStatsShapes[:5] {
		n, k, l := s[0], s[1], s[2]
		rows := n * l
		B := BNStatsParts(rows)
		in := newBNInputs(n, k, l, uniform(-2, 3), 9)
		for i := range in.x { // channels and rows apart: a wrong tile or channel is far off
			in.x[i] += float32(i/l%k) + float32(i%l)/float32(l)
		}
		part, err := BNStatsPartials(in.x, n, k, l)
		if err != nil {
			t.Fatal(err)
		}
		if len(part) != 2*k*B {
			t.Fatalf("%v: %d partials, want %d", s, len(part), 2*k*B)
		}
		if err := checkPartialLayout(in.x, n, k, l, part); err != nil {
			t.Fatalf("%v: %v", s, err)
		}
	}
}

// checkPartialLayout: partial (c, b) of part holds row tile b of channel
// c of y (n,k,l): its mean and M2 within the bound of the tile's float64
// statistics (depth 8: leaf, 3 group merges, 4 warp merges).
func checkPartialLayout(y []float32, n, k, l int, part []float64) error {
	rows := n * l
	B := BNStatsParts(rows)
	for c := range k {
		for b := range B {
			lo, hi := b*BNStatsTileRows, min(rows, (b+1)*BNStatsTileRows)
			mean, vr, amax := exactStats(y, n, k, l, c, lo, hi)
			dMean, relVar := bnStatsBound(8, amax, math.Sqrt(vr))
			m2, want := part[(k+c)*B+b], vr*float64(hi-lo)
			if !(math.Abs(part[c*B+b]-mean) <= dMean && (m2 == want || math.Abs(m2-want) <= want*relVar)) {
				return fmt.Errorf("partial (channel %d, tile %d) = (%g, %g), want the tile's (%g, %g)", c, b, part[c*B+b], m2, mean, want)
			}
		}
	}
	return nil
}

// checkCombine: channel c's partials of y (n,k,l) combined as
// batchnorm_partials_combine does are within bnstats.cuh's bound of the
// float64 mean and variance, for every channel; it returns the largest
// |Δ|/bound of the mean and of the variance.
func checkCombine(y []float32, n, k, l int, part []float64) (worst [2]float64, err error) {
	rows := n * l
	D := bnStatsDepth(rows)
	for c := range k {
		mean, vr, amax := exactStats(y, n, k, l, c, 0, rows)
		gm, gv := BNStatsCombine(part, k, rows, c)
		dMean, relVar := bnStatsBound(D, amax, math.Sqrt(vr))
		em, ev := math.Abs(gm-mean)/dMean, math.Abs(gv-vr)/(vr*relVar)
		worst = [2]float64{max(worst[0], em), max(worst[1], ev)}
		if !(em <= 1 && ev <= 1) && err == nil {
			err = fmt.Errorf("channel %d: mean %.17g var %.17g, float64 %.17g %.17g: %.3g and %.3g × bound", c, gm, gv, mean, vr, em, ev)
		}
	}
	return worst, err
}

// TestBNForwardPartialsMatchesCPU: batchnorm_partials_combine and batchnorm_forward_coef on the
// epilogue's partials (emulated) against the CPU reference's batch norm
// (then ReLU), with TestBackend's tolerance: y, the saved statistics and
// the running statistics, outputs NaN-poisoned first; and against the
// unfused kernels' emulation (batchnorm_stats, batchnorm_forward_train).
func TestBNForwardPartialsMatchesCPU(t *testing.T) {
	for _, s := range bnStatsShapes {
		for _, relu := range []bool{false, true} {
			n, k, l := s[0], s[1], s[2]
			in := newBNInputs(n, k, l, uniform(-2, 3), 5)
			ref := in.reference(t, relu)
			p, err := PlanBN(n, k, l, 132)
			if err != nil {
				t.Fatal(err)
			}
			part, err := BNStatsPartials(in.x, n, k, l)
			if err != nil {
				t.Fatal(err)
			}
			got := in.outputs()
			if err := BNForwardPartials(p, part, relu, in.x, in.gamma, in.beta, got.runMean, got.runVar, got.y, got.saveMean, got.saveInvStd, in.momentum, in.eps); err != nil {
				t.Fatal(err)
			}
			unfused := in.emulate(t, 132, relu)
			name := fmt.Sprintf("%v relu %v", s, relu)
			for _, o := range []struct {
				what      string
				got, want []float32
			}{
				{"y", got.y, ref.y}, {"saveMean", got.saveMean, ref.saveMean}, {"saveInvStd", got.saveInvStd, ref.saveInvStd},
				{"runMean", got.runMean, ref.runMean}, {"runVar", got.runVar, ref.runVar},
				{"y (unfused kernels)", got.y, unfused.y}, {"saveInvStd (unfused kernels)", got.saveInvStd, unfused.saveInvStd},
			} {
				if i, e := tensortest.Compare(o.got, o.want); e > 1 {
					t.Errorf("%s: %s[%d] = %g, want %g (%.3g × tolerance)", name, o.what, i, o.got[i], o.want[i], e)
				}
			}
		}
	}
}

// TestBNStatsNaN: a NaN in one channel's output makes that channel's
// statistics and outputs NaN (as the unfused batch norm) and no other's.
func TestBNStatsNaN(t *testing.T) {
	n, k, l := 4, 70, 49
	in := newBNInputs(n, k, l, uniform(-2, 3), 6)
	in.x[(2*k+65)*l+7] = float32(math.NaN())
	p, _ := PlanBN(n, k, l, 132)
	part, err := BNStatsPartials(in.x, n, k, l)
	if err != nil {
		t.Fatal(err)
	}
	o := in.outputs()
	if err := BNForwardPartials(p, part, false, in.x, in.gamma, in.beta, o.runMean, o.runVar, o.y, o.saveMean, o.saveInvStd, in.momentum, in.eps); err != nil {
		t.Fatal(err)
	}
	for c := range k {
		if nan := math.IsNaN(float64(o.saveMean[c])) || math.IsNaN(float64(o.saveInvStd[c])); nan != (c == 65) {
			t.Errorf("channel %d: mean %g invstd %g", c, o.saveMean[c], o.saveInvStd[c])
		}
	}
	for i, v := range o.y {
		if math.IsNaN(float64(v)) != (i/l%k == 65) {
			t.Fatalf("y[%d] (channel %d) = %g", i, i/l%k, v)
		}
	}
}
