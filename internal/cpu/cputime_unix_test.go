//go:build unix

package cpu_test

import "syscall"

// cpuSeconds is the process's user+system CPU time. On a shared machine,
// FLOPs per CPU-second measure the code rather than the neighbours' load.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}
