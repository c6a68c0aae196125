// Package tensortest holds the op cases every backend is checked against the
// CPU reference with: odd sizes, 1x1 kernels, strides larger than the
// kernel, padding, batch 1 and batches larger than 32, channel counts that
// are not multiples of 32, in-place calls and optional outputs left nil.
//
// Each case runs on fresh tensors that are views into larger buffers (so
// offsets are odd and guard cells surround every tensor); outputs start as
// NaN, so an op that reads its output or skips an element is caught, and
// guard cells that change show a write outside a tensor.
package tensortest

import (
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/cnnctl/cnnctl/internal/tensor"
)

// Tol is the tolerance of every comparison: an element passes when
// |got - ref| <= Tol * max(1, |ref|).
const Tol = 1e-4

// guard is how many cells surround each tensor in its buffer; sentinel is
// their value.
const (
	guard    = 3
	sentinel = -7777.5
)

// Arg is one tensor a case passes to its op.
type Arg struct {
	Name  string
	Shape tensor.Shape
	// Init draws each starting value; nil marks a pure output, which starts
	// as NaN.
	Init func(r *rand.Rand) float32
	// Out marks a tensor compared with the reference after the op (an
	// output, or an input the op updates in place).
	Out bool
}

// Tensors are a case's tensors by name; a name a case does not declare
// gives nil (an optional tensor left out).
type Tensors map[string]*tensor.Tensor

// Case is one op on one set of shapes and parameters.
type Case struct {
	Op   string // the Backend method, e.g. "Conv2DForward"
	Name string // the shapes and parameters, e.g. "N2 C3 8x8 K4 3x3 s1x1 p1x1"
	Args []Arg
	// Run calls the op once on be.
	Run func(be tensor.Backend, t Tensors)
	// Extra, when set, is a comparison of the outputs beyond the
	// elementwise one (got from the backend, want from the reference).
	Extra func(got, want map[string][]float32) error
}

func (c Case) String() string { return c.Op + "/" + c.Name }

// Inputs draws the starting values of the case's inputs; they depend only
// on the case's Op and Name, so every backend sees the same.
func (c Case) Inputs() map[string][]float32 {
	h := fnv.New64a()
	h.Write([]byte(c.String()))
	r := rand.New(rand.NewPCG(h.Sum64(), 0x636e6e63746c))
	in := make(map[string][]float32)
	for _, a := range c.Args {
		if a.Init == nil {
			continue
		}
		v := make([]float32, a.Shape.Numel())
		for i := range v {
			v[i] = a.Init(r)
		}
		in[a.Name] = v
	}
	return in
}

// Bound is a case's tensors allocated on one backend, ready to run (a
// benchmark binds once and calls Run in its loop).
type Bound struct {
	Case  Case
	T     Tensors
	be    tensor.Backend
	whole Tensors // each tensor's buffer, guard cells included
}

// Bind allocates c's tensors on be: inputs hold Inputs(), pure outputs NaN,
// guard cells the sentinel.
func (c Case) Bind(be tensor.Backend) *Bound {
	b := &Bound{Case: c, T: Tensors{}, be: be, whole: Tensors{}}
	in := c.Inputs()
	for _, a := range c.Args {
		whole := be.New(tensor.Shape{guard + a.Shape.Numel() + guard})
		be.Fill(whole, sentinel)
		t := whole.Slice(guard, a.Shape)
		if v, ok := in[a.Name]; ok {
			be.Upload(t, v)
		} else {
			be.Fill(t, float32(math.NaN()))
		}
		b.whole[a.Name], b.T[a.Name] = whole, t
	}
	return b
}

// Run calls the op once.
func (b *Bound) Run() { b.Case.Run(b.be, b.T) }

// Outputs waits for the backend, checks the guard cells and returns the
// values of the tensors marked Out.
func (b *Bound) Outputs() (map[string][]float32, error) {
	if err := b.be.Sync(); err != nil {
		return nil, fmt.Errorf("%v: %w", b.Case, err)
	}
	out := make(map[string][]float32)
	for _, a := range b.Case.Args {
		all := make([]float32, b.whole[a.Name].Numel())
		b.be.Download(all, b.whole[a.Name])
		for i, v := range all {
			if (i < guard || i >= len(all)-guard) && v != sentinel {
				return nil, fmt.Errorf("%v: %s: wrote %g outside the tensor, at offset %d", b.Case, a.Name, v, i-guard)
			}
		}
		if a.Out {
			out[a.Name] = all[guard : len(all)-guard]
		}
	}
	if err := b.be.Sync(); err != nil {
		return nil, fmt.Errorf("%v: %w", b.Case, err)
	}
	return out, nil
}

// Free releases the case's tensors.
func (b *Bound) Free() {
	for _, t := range b.whole {
		b.be.Free(t)
	}
}

// Outputs runs c once on be and returns the values of its Out tensors.
func Outputs(be tensor.Backend, c Case) (map[string][]float32, error) {
	b := c.Bind(be)
	defer b.Free()
	b.Run()
	return b.Outputs()
}

// Compare returns the index of the element of got farthest from want,
// relative to the tolerance, and that distance in units of
// Tol*max(1, |want|): the comparison passes when excess <= 1. A NaN or an
// infinity where want has a finite value is infinitely far.
func Compare(got, want []float32) (worst int, excess float64) {
	return CompareTol(got, want, fp32Tolerance(want))
}

// Diff runs c on be and on ref and describes the worst element of each
// output that differs by more than the tolerance; nil when all agree.
func Diff(be, ref tensor.Backend, c Case) error { return DiffPrecision(be, ref, c, FP32) }

// CheckBackend runs every case of Cases on be and on the CPU reference and
// fails t for each case whose outputs differ by more than the tolerance.
func CheckBackend(t *testing.T, be tensor.Backend) {
	t.Helper()
	CheckCases(t, be, Cases())
}

// CheckCases is CheckBackend for a chosen list of cases (one op, or the
// cases one kernel version supports).
func CheckCases(t *testing.T, be tensor.Backend, cases []Case) {
	t.Helper()
	CheckCasesPrecision(t, be, cases, FP32)
}

// index writes flat index i of shape s as " (n,c,h,w)", or nothing for one dimension.
func index(s tensor.Shape, i int) string {
	if len(s) < 2 {
		return ""
	}
	idx := make([]string, len(s))
	for d := len(s) - 1; d >= 0; d-- {
		idx[d] = strconv.Itoa(i % s[d])
		i /= s[d]
	}
	return " (" + strings.Join(idx, ",") + ")"
}
