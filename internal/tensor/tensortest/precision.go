package tensortest

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/cnnctl/cnnctl/internal/cpu"
	"github.com/cnnctl/cnnctl/internal/tensor"
)

// Precision is the arithmetic of the kernels a backend runs a case with;
// it sets the tolerance the case is held to.
type Precision int

const (
	// FP32: float32 throughout; |got - ref| <= Tol * max(1, |ref|).
	FP32 Precision = iota
	// TF32: convolution and linear operands rounded to TF32 (10 mantissa
	// bits, round to nearest), products summed in float32; see
	// Case.Tolerances.
	TF32
	// BF16: convolution and linear operands rounded to bfloat16 (8
	// significant bits, round to nearest even), products summed in
	// float32; see Case.Tolerances.
	BF16
)

func (p Precision) String() string {
	switch p {
	case TF32:
		return "tf32"
	case BF16:
		return "bf16"
	}
	return "fp32"
}

// unitRoundoff is the operands' unit roundoff u at precision p: 2^-11 for
// TF32 (10 stored mantissa bits + the implicit one, rounded to nearest:
// half an ulp of 2^-10), 2^-8 for bf16 (7 stored + 1: half of 2^-7); 0 for
// FP32, whose kernels keep the engine's tolerance.
func (p Precision) unitRoundoff() float64 {
	switch p {
	case TF32:
		return tf32U
	case BF16:
		return BF16U
	}
	return 0
}

// TF32 rounding: u is the unit roundoff of a 10-bit mantissa rounded to
// nearest, eps32 that of float32.
const (
	tf32U = 1.0 / (1 << 11)
	eps32 = 1.0 / (1 << 24)
)

// convOutputs names, per op, the convolution outputs that the TF32 and
// bf16 kernels compute, linearOutputs the linear ones, which both compute
// too (the bias gradients are plain float32 sums).
var (
	convOutputs   = map[string][]string{"Conv2DForward": {"y"}, "Conv2DBackwardData": {"dx"}, "Conv2DBackwardFilter": {"dw"}}
	linearOutputs = map[string][]string{"LinearForward": {"y"}, "LinearBackward": {"dx", "dw"}}
)

// outputs names the outputs of op that p's tensor-core kernels compute:
// the convolutions' and the linears' at TF32 and BF16; none at FP32.
func (p Precision) outputs(op string) []string {
	if p != TF32 && p != BF16 {
		return nil
	}
	if names, ok := linearOutputs[op]; ok {
		return names
	}
	return convOutputs[op]
}

// Tolerances returns, for each output of c, the largest |got - want| each
// element may show at precision p; want is the reference's outputs.
//
// At TF32 or BF16 an output y = Σ_j a_j b_j (n terms) of a convolution
// or a linear is computed from ã = a(1+δa), b̃ = b(1+δb),
// |δ| <= u (u = 2^-11 for TF32's cvt.rna, 2^-8 for bf16's cvt.rn:
// unitRoundoff), so the operands' rounding moves it by at most
// (2u + u²)·S, S = Σ_j |a_j||b_j|.
// Both engines then add the products in float32: the reference rounds to
// nearest (error <= n·2^-24·S), a tensor core may truncate (<= n·2^-23·S̃,
// S̃ <= (1+u)²·S), together <= 3n·2^-24·(1+u)²·S. Adding the bias rounds
// once more on each side: 2·2^-24·|want|. So
//
//	tol = (2u + u²)·S + 3n·2^-24·(1+u)²·S + 2^-23·|want|,
//
// with S computed by the reference itself on |inputs| (bias left out) and
// n the length of the reduction. Ops and outputs the tensor-core kernels
// do not compute keep the FP32 tolerance.
func (c Case) Tolerances(p Precision, want map[string][]float32) (map[string][]float64, error) {
	tol := make(map[string][]float64)
	for _, a := range c.Args {
		if a.Out {
			tol[a.Name] = dtypeTolerance(want[a.Name], a.DType)
			if c.Storage && a.DType == tensor.BF16 {
				tol[a.Name] = withTolerance(want[a.Name], StoredTolerance())
			}
		}
	}
	names, u := p.outputs(c.Op), p.unitRoundoff()
	if u == 0 || len(names) == 0 {
		return tol, nil
	}
	abs, err := Outputs(cpu.NewReference(), c.magnitudes())
	if err != nil {
		return nil, fmt.Errorf("%v tolerance of %v: %w", p, c, err)
	}
	for _, name := range names {
		if _, out := tol[name]; !out {
			continue // an optional output the case leaves out (dx of a first layer)
		}
		n, err := c.reduction(name)
		if err != nil {
			return nil, err
		}
		per := 2*u + u*u + 3*float64(n)*eps32*(1+u)*(1+u)
		s, w := abs[name], want[name]
		t := make([]float64, len(s))
		for i := range s {
			t[i] = per*float64(s[i]) + 2*eps32*math.Abs(float64(w[i]))
		}
		tol[name] = t
	}
	return tol, nil
}

// Tolerance is an absolute and a relative bound: an element passes when
// |got - want| <= max(Abs, Rel*|want|) (the absolute part rules near zero,
// the relative part elsewhere).
type Tolerance struct{ Abs, Rel float64 }

// Of is the bound for one reference value.
func (t Tolerance) Of(want float32) float64 { return math.Max(t.Abs, t.Rel*math.Abs(float64(want))) }

// BF16U is bfloat16's unit roundoff: 8 significant bits (7 stored and the
// implicit one) rounded to nearest move a normal value by at most half an
// ulp, 2^-8 of its size (2^-7 of the leading bit's weight, halved).
const BF16U = 1.0 / (1 << 8)

// DTypeTolerance is the bound an output stored as dt is held to against
// the float32 reference:
//   - F32: Abs = Rel = Tol, the engine's tolerance (Tol*max(1, |want|)).
//   - BF16: an op computed in float32 (within F32's bound) whose result is
//     then rounded to bfloat16 once: Rel = Tol + BF16U (2^-8 from the
//     rounding, relative to the value; the tiny second-order term is
//     covered by Tol), Abs = Tol, which also covers the subnormal range,
//     where bfloat16's absolute error is at most 2^-134.
func DTypeTolerance(dt tensor.DType) Tolerance {
	if dt == tensor.BF16 {
		return Tolerance{Abs: Tol, Rel: Tol + BF16U}
	}
	return Tolerance{Abs: Tol, Rel: Tol}
}

func fp32Tolerance(want []float32) []float64 { return dtypeTolerance(want, tensor.F32) }

func dtypeTolerance(want []float32, dt tensor.DType) []float64 {
	return withTolerance(want, DTypeTolerance(dt))
}

// withTolerance is tol's bound for each element of want.
func withTolerance(want []float32, tol Tolerance) []float64 {
	t := make([]float64, len(want))
	for i, w := range want {
		t[i] = tol.Of(w)
	}
	return t
}

// magnitudes is c with every input replaced by its absolute value and the
// bias by 0 (same draws, so the same values), so that the reference
// computes S = Σ|a||b| for each output.
func (c Case) magnitudes() Case {
	m := c
	m.Args = make([]Arg, len(c.Args))
	for i, a := range c.Args {
		if init := a.Init; init != nil {
			if a.Name == "b" {
				a.Init = func(r *rand.Rand) float32 { init(r); return 0 }
			} else {
				a.Init = func(r *rand.Rand) float32 { return float32(math.Abs(float64(init(r)))) }
			}
		}
		m.Args[i] = a
	}
	return m
}

// reduction is the length of the sum behind each element of c's
// tensor-core output name.
func (c Case) reduction(name string) (int, error) {
	shape := func(name string) tensor.Shape {
		for _, a := range c.Args {
			if a.Name == name {
				return a.Shape
			}
		}
		return nil
	}
	w, dy := shape("w"), shape("dy")
	switch {
	case c.Op == "LinearForward" && len(w) == 2:
		return w[1], nil // I
	case c.Op == "LinearBackward" && name == "dx" && len(w) == 2:
		return w[0], nil // O
	case c.Op == "LinearBackward" && name == "dw" && len(dy) == 2:
		return dy[0], nil // N
	case c.Op == "Conv2DForward" && len(w) == 4:
		return w[1] * w[2] * w[3], nil // C*R*S
	case c.Op == "Conv2DBackwardData" && len(w) == 4:
		return w[0] * w[2] * w[3], nil // K*R*S
	case c.Op == "Conv2DBackwardFilter" && len(dy) == 4:
		return dy[0] * dy[2] * dy[3], nil // N*OH*OW
	}
	return 0, fmt.Errorf("tensor-core tolerance of %v: no reduction length for %s", c, name)
}

// CompareTol returns the index of the element of got farthest from want
// relative to its tolerance tol[i], and that distance in units of tol[i]:
// the comparison passes when excess <= 1. A NaN or an infinity where want
// has a finite value is infinitely far; a zero tolerance asks for equality.
func CompareTol(got, want []float32, tol []float64) (worst int, excess float64) {
	for i := range want {
		g, w := float64(got[i]), float64(want[i])
		var e float64
		switch {
		case math.IsNaN(w):
			if !math.IsNaN(g) {
				e = math.Inf(1)
			}
		case math.IsInf(w, 0):
			if g != w {
				e = math.Inf(1)
			}
		case g == w:
		default:
			e = math.Abs(g-w) / tol[i]
			if math.IsNaN(e) {
				e = math.Inf(1)
			}
		}
		if e > excess {
			worst, excess = i, e
		}
	}
	return worst, excess
}

// DiffPrecision is Diff with the tolerance of precision p.
func DiffPrecision(be, ref tensor.Backend, c Case, p Precision) error {
	want, err := Outputs(ref, c)
	if err != nil {
		return fmt.Errorf("reference: %w", err)
	}
	got, err := Outputs(be, c)
	if err != nil {
		return err
	}
	return c.Check(got, want, p)
}

// Check compares got with the reference's want at precision p and
// describes the worst element of each output beyond its tolerance.
func (c Case) Check(got, want map[string][]float32, p Precision) error {
	tol, err := c.Tolerances(p, want)
	if err != nil {
		return err
	}
	var errs []error
	for _, a := range c.Args {
		if !a.Out {
			continue
		}
		i, e := CompareTol(got[a.Name], want[a.Name], tol[a.Name])
		if e > 1 {
			errs = append(errs, fmt.Errorf("%v (%v): %s %v: element %d%v is %g, want %g (|Δ| = %.3g × tolerance %.3g)",
				c, p, a.Name, a.Shape, i, index(a.Shape, i), got[a.Name][i], want[a.Name][i], e, tol[a.Name][i]))
		}
	}
	if c.Extra != nil {
		if err := c.Extra(got, want); err != nil {
			errs = append(errs, fmt.Errorf("%v (%v): %w", c, p, err))
		}
	}
	return errors.Join(errs...)
}

// CheckCasesPrecision is CheckCases with the tolerance of precision p.
func CheckCasesPrecision(t *testing.T, be tensor.Backend, cases []Case, p Precision) {
	t.Helper()
	ref := cpu.NewReference()
	for _, c := range cases {
		t.Run(c.String(), func(t *testing.T) {
			if err := DiffPrecision(be, ref, c, p); err != nil {
				t.Error(err)
			}
		})
	}
	if err := be.Err(); err != nil {
		t.Errorf("backend %s: %v", be.Name(), err)
	}
}
