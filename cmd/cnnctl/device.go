package main

import (
	"fmt"
	"io"
	"runtime"
	"strings"
	"text/tabwriter"

	"github.com/cnnctl/cnnctl/internal/bench"
	"github.com/cnnctl/cnnctl/internal/gpu"
	"github.com/spf13/cobra"
	xcpu "golang.org/x/sys/cpu"
)

type deviceOptions struct {
	f       *Factory
	JSON    bool
	Kernels bool
}

func newDeviceCmd(f *Factory, runF func(*deviceOptions) error) *cobra.Command {
	opts := &deviceOptions{f: f}
	cmd := &cobra.Command{
		Use:   "device",
		Short: "List the compute devices cnnctl can use (GPUs, CPU cores and SIMD)",
		Long: `device lists what cnnctl sees: each CUDA GPU (name, SMs, memory, driver
version) when cnnctl was built with CUDA, and the CPU (cores, SIMD extensions
used by the CPU engine). --device auto picks the first GPU if there is one.

--kernels adds the CUDA kernel registry: every kernel by op, slot (the step
of the op it performs), variant, dtype, math (fp32, or tf32 on tensor cores)
and the compute capability it needs, with its status: "selected" (the
variant this GPU runs by default), "loaded" (another variant, chosen with
an option such as the math), "needs sm_NN" (this GPU is too old for it),
"not loaded" (no GPU here) or "not built" (this binary has no CUDA).`,
		Example: `  cnnctl device
  cnnctl device --kernels
  cnnctl device --kernels --json | jq '.kernels[] | select(.status == "selected") | .name'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(opts)
			}
			return runDevice(opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print as JSON")
	cmd.Flags().BoolVar(&opts.Kernels, "kernels", false, "also list the CUDA kernel registry and which variants this GPU runs")
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
	// Kernels (with --kernels) is the CUDA kernel registry, KernelsNote
	// what the statuses refer to.
	Kernels     []kernelRow `json:"kernels,omitempty"`
	KernelsNote string      `json:"kernels_note,omitempty"`
}

// kernelRow is one registered kernel and its status on this machine.
type kernelRow struct {
	gpu.Kernel
	Status string `json:"status"`
}

// kernelRows lists the registry with each kernel's status on GPU 0: the
// variant it runs by default, the others it loaded, or why none is loaded.
func kernelRows() ([]kernelRow, string) {
	status, other, note := map[string]string{}, "not loaded", ""
	sm := 0
	switch be, err := gpu.New(0); {
	case !gpu.Built:
		other, note = "not built", "this binary was built without CUDA (make cuda); the kernels of the CUDA build"
	case err != nil:
		note = fmt.Sprintf("%v; the kernels a GPU would load", err)
	default:
		defer be.Close()
		in := be.Info()
		sm, other = in.SM(), "loaded"
		note = fmt.Sprintf("kernels on cuda:%d %s (sm_%d), default math %v", in.Index, in.Name, in.SM(), be.Math())
		for _, k := range be.Selected() {
			status[k.Name] = "selected"
		}
	}
	var rows []kernelRow
	for _, k := range gpu.Kernels() {
		s := status[k.Name]
		switch {
		case s != "":
		case sm > 0 && k.MinSM > sm:
			s = fmt.Sprintf("needs sm_%d", k.MinSM)
		default:
			s = other
		}
		rows = append(rows, kernelRow{Kernel: k, Status: s})
	}
	return rows, note
}

// printKernels writes the registry as a table.
func printKernels(w io.Writer, rows []kernelRow, note string) {
	fmt.Fprintf(w, "\n%s:\n", note)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "OP\tSLOT\tVARIANT\tDTYPE\tMATH\tMIN SM\tKERNEL\tSTATUS")
	for _, r := range rows {
		variant := r.Variant
		if r.Class != "" {
			variant += " (" + r.Class + " shapes)" // the variant's form for one shape class
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%v\t%v\tsm_%d\t%s\t%s\n", r.Op, r.Slot, variant, r.DType, r.Math, r.MinSM, r.Name, r.Status)
	}
	tw.Flush()
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
	if opts.Kernels {
		rep.Kernels, rep.KernelsNote = kernelRows()
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
	if opts.Kernels {
		printKernels(w, rep.Kernels, rep.KernelsNote)
	}
	return nil
}
