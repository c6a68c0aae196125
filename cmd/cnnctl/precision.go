package main

import (
	"fmt"
	"io"

	"github.com/cnnctl/cnnctl/internal/bench"
	"github.com/cnnctl/cnnctl/internal/gpu"
	"github.com/cnnctl/cnnctl/internal/layers"
	"github.com/cnnctl/cnnctl/internal/tensor"
	"github.com/spf13/pflag"
)

// The values of --precision (train, eval, predict, bench).
const (
	precisionFP32 = "fp32" // float32 on CUDA cores: the engine as it always was
	precisionTF32 = "tf32" // TF32 tensor-core convolutions and linears, fp32 storage (sm_80+)
	precisionBF16 = "bf16" // GPU: bf16 tensor-core convolutions and linears, bf16 operands, fp32 accumulation and storage (sm_80+); CPU: bf16 activations (activations below)
)

// activations is the one place that decides the dtype of a model's
// activations and their gradients for precision p on be: bf16 for bf16 on
// a backend that runs every op on bf16 tensors (tensor.BF16Storage: the
// CPU, where it is the reference emulation of mixed precision, widen,
// compute in float32, round; internal/layers/precision.go says which
// tensors are bf16), float32 otherwise. The GPU has no bf16-storage
// kernels yet, so bf16 there keeps float32 storage and rounds the
// convolutions' operands only.
func activations(be tensor.Backend, p string) tensor.DType {
	if s, ok := be.(tensor.BF16Storage); ok && p == precisionBF16 && s.StoresBF16() {
		return tensor.BF16
	}
	return tensor.F32
}

// setActivations gives m the activations of precision p on be (SetAct).
func setActivations(m *layers.Model, be tensor.Backend, p string) error {
	return m.SetAct(activations(be, p))
}

// defaultPrecision is --precision's default, for every command, in this one
// place: tf32, PyTorch's own default for convolutions (torch.backends.cudnn.
// allow_tf32). Each command that gets a tensor-core precision on a GPU first
// runs the kernels against the CPU reference (checkPrecisionKernels) and
// runs fp32, saying why in one line, if they disagree or the GPU is older
// than sm_80. The CPU runs fp32, or bf16 activations for bf16 (activations).
const defaultPrecision = precisionTF32

// precisionUsage is the flag's help line; it states the default and the plan.
const precisionUsage = "arithmetic of the GPU's convolutions and linears: fp32 (CUDA cores, strict float32), " +
	"tf32 (TF32 tensor cores for the convolutions and linears, fp32 storage and accumulation; sm_80 and later; " +
	"PyTorch's default for convolutions) " +
	"or bf16 (bf16 tensor cores: convolution and linear operands rounded to bf16, fp32 accumulation and fp32 storage; " +
	"sm_80 and later). " +
	"tf32 and bf16 are checked against the CPU reference when the GPU opens, and fp32 runs " +
	"(with one line saying why) if that fails or the GPU is older than sm_80; on the CPU bf16 emulates mixed precision " +
	"(bf16 activations and gradients, float32 master weights; slower than fp32) and tf32 runs fp32"

// addPrecisionFlag adds --precision to a command's flags.
func addPrecisionFlag(fl *pflag.FlagSet, p *string) {
	fl.StringVar(p, "precision", defaultPrecision, precisionUsage)
}

// checkPrecision validates --precision once, before any work.
func checkPrecision(p string) error {
	switch p {
	case precisionFP32, precisionTF32, precisionBF16:
		return nil
	}
	return usagef("unknown --precision %q (want fp32, tf32 or bf16)", p)
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
// precision that runs: on the CPU bf16 where it stores bf16 (activations:
// the emulation, said once on log), else fp32 (said once on log when
// another was asked for); on a GPU, tf32 through SetMath, or fp32 with one line
// saying why where the GPU cannot (below sm_80); bf16 likewise.
func (n *precisionNote) apply(be tensor.Backend, p string, log io.Writer) string {
	ms, ok := be.(mathSetter)
	if !ok && activations(be, p) == tensor.BF16 {
		if !n.said {
			fmt.Fprintf(log, "precision: bf16 on the CPU emulates mixed precision: bf16 activations and gradients, "+
				"float32 master weights, statistics and loss, every op widening, computing in float32 and rounding "+
				"(the GPU's numerics, not a speed-up)\n")
			n.said = true
		}
		return p
	}
	if !ok {
		// tf32 is a tensor-core mode of the GPU and the default: the CPU
		// runs fp32 without a word, as PyTorch ignores allow_tf32 there.
		if p != precisionFP32 && p != defaultPrecision && !n.said {
			fmt.Fprintf(log, "precision: %s applies to the GPU only; the CPU engine runs fp32\n", p)
			n.said = true
		}
		return precisionFP32
	}
	if err := ms.SetMath(precisionMath(p)); err != nil {
		fmt.Fprintf(log, "precision: %s unavailable, running fp32: %v\n", p, err)
		return precisionFP32
	}
	if p == precisionFP32 {
		return p
	}
	if err := checkPrecisionKernels(be, p); err != nil {
		if e := ms.SetMath(gpu.MathFP32); e != nil {
			err = fmt.Errorf("%w; and back to fp32: %v", err, e)
		}
		fmt.Fprintf(log, "precision: %s failed its self-check against the CPU reference, running fp32: %v\n", p, firstLine(err))
		return precisionFP32
	}
	what := "tensor-core convolutions and linears, fp32 storage and accumulation"
	if p == precisionBF16 {
		what = "tensor-core convolutions and linears, bf16 operands, fp32 accumulation and storage"
	}
	fmt.Fprintf(log, "precision: %s (%s; self-checked against the CPU reference)\n", p, what)
	return p
}

// precisionMath is the GPU arithmetic of a checked precision.
func precisionMath(p string) gpu.Math {
	switch p {
	case precisionTF32:
		return gpu.MathTF32
	case precisionBF16:
		return gpu.MathBF16
	}
	return gpu.MathFP32
}

// peakConfig is bench --peak's configuration for be: with the TF32 and
// bf16 switches where be is a GPU (SetMath refuses them below sm_80, and
// the peaks are then recorded as unknown with that reason).
func peakConfig(be tensor.Backend) bench.PeakConfig {
	cfg := bench.DefaultPeakConfig(be.Name())
	ms, ok := be.(mathSetter)
	if !ok {
		cfg.NoTF32 = "the CPU engine has no TF32 arithmetic"
		cfg.NoBF16 = "the CPU engine has no bf16 arithmetic"
		return cfg
	}
	set := func(m gpu.Math) func(on bool) error {
		return func(on bool) error {
			if on {
				return ms.SetMath(m)
			}
			return ms.SetMath(gpu.MathFP32)
		}
	}
	cfg.SetTF32, cfg.SetBF16 = set(gpu.MathTF32), set(gpu.MathBF16)
	return cfg
}
