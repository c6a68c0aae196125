package bench

import (
	"sort"
	"time"
)

// dist is the median and the 10th and 90th percentiles of durations, in ms.
type dist struct{ median, p10, p90 float64 }

// summarize sorts a copy of ds and reads its quantiles (nearest rank on
// the linear position q*(n-1); the median of an even count averages the
// middle two).
func summarize(ds []time.Duration) dist {
	n := len(ds)
	if n == 0 {
		return dist{}
	}
	ms := make([]float64, n)
	for i, d := range ds {
		ms[i] = float64(d) / float64(time.Millisecond)
	}
	sort.Float64s(ms)
	q := func(p float64) float64 { return ms[int(p*float64(n-1)+0.5)] }
	med := ms[n/2]
	if n%2 == 0 {
		med = (ms[n/2-1] + ms[n/2]) / 2
	}
	return dist{median: med, p10: q(0.1), p90: q(0.9)}
}
