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
	"encoding/binary"
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
	// DType is how the tensor is stored (F32 unless set); a BF16 tensor is
	// moved with UploadBytes and DownloadBytes, its values rounded by
	// tensor.ToBF16 on the way in and widened exactly on the way out.
	DType tensor.DType
	// Values, when set, are the starting values (len Shape.Numel()),
	// drawn by nobody: the special values a case needs (NaN, ±Inf, ±0,
	// subnormals, ties).
	Values []float32
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
	// Storage marks a case of StorageCases: its bf16 outputs are rounded
	// by the reference too, and are held to StoredTolerance.
	Storage bool
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
		if a.Values != nil {
			in[a.Name] = append([]float32(nil), a.Values...)
			continue
		}
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
		if a.DType != tensor.F32 {
			b.bindBytes(a, in)
			continue
		}
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

// bindBytes allocates a non-F32 argument and uploads its guard cells and
// values (or NaN) as bytes, since Fill and Upload take F32 only.
func (b *Bound) bindBytes(a Arg, in map[string][]float32) {
	n := a.Shape.Numel()
	v := make([]float32, guard+n+guard)
	for i := range v {
		v[i] = sentinel
	}
	if x, ok := in[a.Name]; ok {
		copy(v[guard:], x)
	} else {
		for i := range n {
			v[guard+i] = float32(math.NaN())
		}
	}
	whole := b.be.NewTyped(tensor.Shape{len(v)}, a.DType)
	b.be.UploadBytes(whole, EncodeBytes(v, a.DType))
	b.whole[a.Name], b.T[a.Name] = whole, whole.Slice(guard, a.Shape)
}

// EncodeBytes writes v as UploadBytes reads elements of dtype dt
// (little-endian; BF16 rounded by tensor.ToBF16).
func EncodeBytes(v []float32, dt tensor.DType) []byte {
	out := make([]byte, len(v)*dt.Size())
	for i, x := range v {
		switch dt {
		case tensor.BF16:
			binary.LittleEndian.PutUint16(out[2*i:], tensor.ToBF16(x))
		default:
			binary.LittleEndian.PutUint32(out[4*i:], math.Float32bits(x))
		}
	}
	return out
}

// DecodeBytes reads what DownloadBytes wrote for elements of dtype dt as
// float32 (BF16 widened exactly).
func DecodeBytes(p []byte, dt tensor.DType) []float32 {
	v := make([]float32, len(p)/dt.Size())
	for i := range v {
		switch dt {
		case tensor.BF16:
			v[i] = tensor.FromBF16(binary.LittleEndian.Uint16(p[2*i:]))
		default:
			v[i] = math.Float32frombits(binary.LittleEndian.Uint32(p[4*i:]))
		}
	}
	return v
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
		whole := b.whole[a.Name]
		all := make([]float32, whole.Numel())
		if a.DType == tensor.F32 {
			b.be.Download(all, whole)
		} else {
			raw := make([]byte, whole.Numel()*a.DType.Size())
			b.be.DownloadBytes(raw, whole)
			all = DecodeBytes(raw, a.DType)
		}
		guardValue := DecodeBytes(EncodeBytes([]float32{sentinel}, a.DType), a.DType)[0]
		for i, v := range all {
			if (i < guard || i >= len(all)-guard) && v != guardValue {
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
