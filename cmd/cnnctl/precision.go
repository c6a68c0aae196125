package main

import (
	"fmt"
	"io"

	"github.com/cnnctl/cnnctl/internal/bench"
	"github.com/cnnctl/cnnctl/internal/gpu"
	"github.com/cnnctl/cnnctl/internal/tensor"
	"github.com/spf13/pflag"
)

// The values of --precision (train, eval, predict, bench).
const (
	precisionFP32 = "fp32" // float32 on CUDA cores: the engine as it always was
	precisionTF32 = "tf32" // TF32 tensor-core convolutions and linears, fp32 storage (sm_80+)
	precisionBF16 = "bf16" // bf16 operands, fp32 accumulation: kernels not built yet
)

// defaultPrecision is --precision's default, for every command, in this one
// place. It stays fp32 for now: no TF32 kernel has run on a GPU yet. It flips
// to tf32 (PyTorch's own default for convolutions) once a GPU run of
// TestBackendTF32 and TestModelStep passes with the TF32 kernels and is
// recorded in docs/gpu-results.md. The CPU runs fp32 whatever is asked.
const defaultPrecision = precisionFP32

// precisionUsage is the flag's help line; it states the default and the plan.
const precisionUsage = "arithmetic of the GPU's convolutions and linears: fp32 (CUDA cores, strict float32), " +
	"tf32 (TF32 tensor cores, fp32 storage; sm_80 and later) or bf16 (not built yet); " +
	"the CPU always runs fp32. The default is fp32 until the TF32 kernels have passed on a GPU, then tf32"

// addPrecisionFlag adds --precision to a command's flags.
func addPrecisionFlag(fl *pflag.FlagSet, p *string) {
	fl.StringVar(p, "precision", defaultPrecision, precisionUsage)
}

// checkPrecision validates --precision once, before any work.
func checkPrecision(p string) error {
	switch p {
	case precisionFP32, precisionTF32:
		return nil
	case precisionBF16:
		return usagef("--precision bf16: the bf16 kernels are not built yet, and cnnctl will not run fp32 in their place; use --precision fp32 or tf32")
	}
	return usagef("unknown --precision %q (want fp32 or tf32; bf16 is not built yet)", p)
}

// mathSetter is what a backend with a choice of arithmetic offers
// (*gpu.Backend); the CPU engine has none.
type mathSetter interface {
	SetMath(gpu.Math) error
}

var _ mathSetter = (*gpu.Backend)(nil)

// precisionNote says the CPU line once per command, however many
// backends the command opens (eval of several checkpoints).
type precisionNote struct{ said bool }

// apply sets precision p (checked by checkPrecision) on be and returns the
// precision that runs: on the CPU always fp32 (said once on log when another
// was asked for); on a GPU, tf32 through SetMath, or fp32 with one line
// saying why where the GPU cannot (below sm_80).
func (n *precisionNote) apply(be tensor.Backend, p string, log io.Writer) string {
	ms, ok := be.(mathSetter)
	if !ok {
		if p != precisionFP32 && !n.said {
			fmt.Fprintf(log, "precision: %s applies to the GPU only; the CPU engine runs fp32\n", p)
			n.said = true
		}
		return precisionFP32
	}
	if err := ms.SetMath(precisionMath(p)); err != nil {
		fmt.Fprintf(log, "precision: %s unavailable, running fp32: %v\n", p, err)
		return precisionFP32
	}
	if p != precisionFP32 {
		fmt.Fprintf(log, "precision: %s (tensor-core convolutions, fp32 storage and accumulation)\n", p)
	}
	return p
}

// precisionMath is the GPU arithmetic of a checked precision.
func precisionMath(p string) gpu.Math {
	if p == precisionTF32 {
		return gpu.MathTF32
	}
	return gpu.MathFP32
}

// peakConfig is bench --peak's configuration for be: with the TF32 switch
// where be is a GPU (SetMath refuses it below sm_80, and the peak is then
// recorded as unknown with that reason).
func peakConfig(be tensor.Backend) bench.PeakConfig {
	cfg := bench.DefaultPeakConfig(be.Name())
	ms, ok := be.(mathSetter)
	if !ok {
		cfg.NoTF32 = "the CPU engine has no TF32 arithmetic"
		return cfg
	}
	cfg.SetTF32 = func(on bool) error {
		if on {
			return ms.SetMath(gpu.MathTF32)
		}
		return ms.SetMath(gpu.MathFP32)
	}
	return cfg
}
