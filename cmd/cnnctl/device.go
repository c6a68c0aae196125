package main

import (
	"fmt"
	"runtime"
	"strings"

	"github.com/cnnctl/cnnctl/internal/bench"
	"github.com/cnnctl/cnnctl/internal/gpu"
	"github.com/spf13/cobra"
	xcpu "golang.org/x/sys/cpu"
)

type deviceOptions struct {
	f    *Factory
	JSON bool
}

func newDeviceCmd(f *Factory, runF func(*deviceOptions) error) *cobra.Command {
	opts := &deviceOptions{f: f}
	cmd := &cobra.Command{
		Use:   "device",
		Short: "List the compute devices cnnctl can use (GPUs, CPU cores and SIMD)",
		Long: `device lists what cnnctl sees: each CUDA GPU (name, SMs, memory, driver
version) when cnnctl was built with CUDA, and the CPU (cores, SIMD extensions
used by the CPU engine). --device auto picks the first GPU if there is one.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(opts)
			}
			return runDevice(opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print as JSON")
	return cmd
}

type cpuInfo struct {
	Arch    string   `json:"arch"`
	Threads int      `json:"threads"`
	SIMD    []string `json:"simd"`
}

type deviceReport struct {
	CUDABuilt bool       `json:"cuda_built"`
	GPUs      []gpu.Info `json:"gpus"`
	GPUError  string     `json:"gpu_error,omitempty"`
	CPU       cpuInfo    `json:"cpu"`
	Auto      string     `json:"auto"` // what --device auto picks
	// Peaks are those `cnnctl bench --peak` measured and cached.
	Peaks []bench.Peaks `json:"peaks"`
}

func describeCPU() cpuInfo {
	ci := cpuInfo{Arch: runtime.GOARCH, Threads: runtime.GOMAXPROCS(0), SIMD: []string{}}
	for _, f := range []struct {
		name string
		ok   bool
	}{{"sse4.2", xcpu.X86.HasSSE42}, {"avx2", xcpu.X86.HasAVX2}, {"fma", xcpu.X86.HasFMA}, {"avx512f", xcpu.X86.HasAVX512F}, {"neon", xcpu.ARM64.HasASIMD}} {
		if f.ok {
			ci.SIMD = append(ci.SIMD, f.name)
		}
	}
	return ci
}

func runDevice(opts *deviceOptions) error {
	rep := deviceReport{CUDABuilt: gpu.Built, CPU: describeCPU(), GPUs: []gpu.Info{}}
	gpus, err := gpu.Devices()
	if err != nil {
		rep.GPUError = err.Error()
	} else {
		rep.GPUs = gpus
	}
	rep.Auto = "cpu"
	if len(rep.GPUs) > 0 {
		rep.Auto = "cuda:0"
	}
	peaks, peakPath, peakErr := bench.CachedPeaks()
	rep.Peaks = peaks
	if rep.Peaks == nil {
		rep.Peaks = []bench.Peaks{}
	}
	if opts.JSON {
		return printJSON(opts.f, rep)
	}
	w := opts.f.Out
	if len(rep.GPUs) == 0 {
		fmt.Fprintf(w, "GPU: none (%s)\n", rep.GPUError)
	}
	for _, g := range rep.GPUs {
		fmt.Fprintf(w, "GPU: %s\n", g)
	}
	fmt.Fprintf(w, "CPU: %s, %d threads, SIMD: %s\n", rep.CPU.Arch, rep.CPU.Threads, strings.Join(rep.CPU.SIMD, " "))
	fmt.Fprintf(w, "--device auto uses: %s\n", rep.Auto)
	switch {
	case peakErr != nil:
		fmt.Fprintf(w, "peaks: %v\n", peakErr)
	case len(peaks) == 0:
		fmt.Fprintln(w, "peaks: none measured ('cnnctl bench --peak' measures this machine's)")
	}
	for _, p := range peaks {
		fmt.Fprintf(w, "peaks of %s: %.1f GFLOP/s, %.1f GB/s (%s, %s; cached in %s)\n", p.Device, p.GFLOPS, p.GBPS, p.Method, p.MeasuredAt, peakPath)
		fmt.Fprintf(w, "  tf32: %s\n", p.TF32Line())
	}
	return nil
}
