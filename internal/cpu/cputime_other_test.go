//go:build !unix

package cpu_test

// cpuSeconds is unavailable here; benchmarks then omit the per-CPU-second metric.
func cpuSeconds() float64 { return 0 }
