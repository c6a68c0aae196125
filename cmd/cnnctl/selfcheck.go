package main

import (
	"fmt"
	"strings"

	"github.com/cnnctl/cnnctl/internal/cpu"
	"github.com/cnnctl/cnnctl/internal/tensor"
	"github.com/cnnctl/cnnctl/internal/tensor/tensortest"
)

// selfCheckGeometries are the convolutions a GPU runs when a command asks
// for tensor-core arithmetic, before any real work: small, but each one
// reaches a different part of the kernels — edge tiles in both GEMM
// dimensions and several pipeline steps (20 channels, 70 filters, 13x11),
// a first layer (3 channels), a strided one, and two 1x1 layers of the
// 1x1 class's own kernels (kernels/gemm_tc.cu): 8x8 images and 32
// channels take their 16-byte copies, 7x7 images (rows straddling images
// inside a tile) with 70 filters their 4-byte ones.
func selfCheckGeometries() []tensortest.Conv {
	same := tensor.ConvParams{StrideH: 1, StrideW: 1, PadH: 1, PadW: 1}
	return []tensortest.Conv{
		{N: 2, C: 20, H: 13, W: 11, K: 70, R: 3, S: 3, P: same, Bias: true},
		{N: 2, C: 3, H: 16, W: 16, K: 16, R: 3, S: 3, P: same, Bias: true},
		{N: 2, C: 16, H: 9, W: 9, K: 32, R: 3, S: 3, P: tensor.ConvParams{StrideH: 2, StrideW: 2, PadH: 1, PadW: 1}},
		{N: 2, C: 32, H: 8, W: 8, K: 24, R: 1, S: 1, P: tensor.ConvParams{StrideH: 1, StrideW: 1}},
		{N: 3, C: 20, H: 7, W: 7, K: 70, R: 1, S: 1, P: tensor.ConvParams{StrideH: 1, StrideW: 1}, Bias: true},
	}
}

// selfCheckCases are selfCheckGeometries' forward, data-gradient and
// filter-gradient cases plus the shared linear cases and one linear with
// edge tiles in every GEMM dimension (linear layers run through the same
// GEMM cores, TF32 and bf16, where a precision puts them on tensor cores):
// 130 rows (two row blocks), 70 outputs (two column blocks), 40 inputs
// (two bf16 steps, three TF32 ones, the last partial).
func selfCheckCases() []tensortest.Case {
	var cs []tensortest.Case
	for _, g := range selfCheckGeometries() {
		cs = append(cs, g.Cases()...)
	}
	for _, c := range tensortest.Cases() {
		if c.Op == "LinearForward" || c.Op == "LinearBackward" {
			cs = append(cs, c)
		}
	}
	return append(cs, tensortest.LinearCases(130, 40, 70, true)...)
}

// checkPrecisionKernels runs selfCheckCases on be, whose arithmetic has just
// been set to precision p, and compares them with the CPU reference at the
// tolerance p's mantissa allows (tensortest.Case.Tolerances: the bound is
// derived, not tuned). Outputs are NaN-poisoned before each op. A kernel
// that indexes a tile wrongly is off by a whole product, thousands of
// times that bound; so a GPU whose tensor-core kernels have never been run
// against the reference on this card, driver and build is not trusted with
// a training run before they agree. It takes milliseconds.
func checkPrecisionKernels(be tensor.Backend, p string) error {
	prec, ok := precisionCheck[p]
	if !ok {
		return fmt.Errorf("no self-check for precision %q", p)
	}
	ref := cpu.NewReference()
	defer ref.Close()
	for _, c := range selfCheckCases() {
		if err := tensortest.DiffPrecision(be, ref, c, prec); err != nil {
			return err
		}
	}
	return be.Err()
}

// precisionCheck is the tolerance each non-fp32 precision is checked at.
var precisionCheck = map[string]tensortest.Precision{precisionTF32: tensortest.TF32, precisionBF16: tensortest.BF16}

// firstLine is err's first line, and how many more it had: a fallback is
// said in one line.
func firstLine(err error) string {
	s := err.Error()
	first, rest, more := strings.Cut(s, "\n")
	if !more {
		return first
	}
	return fmt.Sprintf("%s (and %d more)", first, strings.Count(rest, "\n")+1)
}
