package tensortest

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/cnnctl/cnnctl/internal/tensor"
)

// f32 is a float32 from its bits; bf is one from a bfloat16's bits.
func f32(bits uint32) float32 { return math.Float32frombits(bits) }
func bf(bits uint16) float32  { return tensor.FromBF16(bits) }

// CastSpecials are the float32 inputs on which rounding to bfloat16 goes
// wrong first, each with the bfloat16 bits tensor.ToBF16 gives (worked out
// by hand; TestToBF16 in package tensor holds ToBF16 to them).
var CastSpecials = []struct {
	F32  uint32
	BF16 uint16
	Why  string
}{
	{0x00000000, 0x0000, "+0"},
	{0x80000000, 0x8000, "-0"},
	{0x7f800000, 0x7f80, "+Inf"},
	{0xff800000, 0xff80, "-Inf"},
	{0x7fc00000, 0x7fc0, "quiet NaN"},
	{0xffc00001, 0xffc0, "negative NaN with payload"},
	{0x7f800001, 0x7fc0, "signalling NaN, payload only in the cut half: stays NaN"},
	{0x7fbfffff, 0x7fff, "signalling NaN, top payload kept, made quiet"},
	{0x00000001, 0x0000, "smallest subnormal rounds to +0"},
	{0x80000001, 0x8000, "negative smallest subnormal rounds to -0"},
	{0x00008000, 0x0000, "subnormal tie, even below"},
	{0x00018000, 0x0002, "subnormal tie, even above"},
	{0x00010000, 0x0001, "smallest bf16 subnormal, exact"},
	{0x00008001, 0x0001, "just above a subnormal tie"},
	{0x007fffff, 0x0080, "largest subnormal rounds up to the smallest normal"},
	{0x3f800000, 0x3f80, "1"},
	{0x3f808000, 0x3f80, "tie above 1, even below"},
	{0x3f818000, 0x3f82, "tie, even above"},
	{0x3f808001, 0x3f81, "just above a tie"},
	{0x3f807fff, 0x3f80, "just below a tie"},
	{0xbf818000, 0xbf82, "negative tie, even away from zero"},
	{0x3fffffff, 0x4000, "carry into the exponent"},
	{0x7f7fffff, 0x7f80, "largest float32 rounds to +Inf"},
	{0xff7fffff, 0xff80, "most negative float32 rounds to -Inf"},
	{0x7f7f7fff, 0x7f7f, "largest bf16, just below its tie"},
	{0x7f7f8000, 0x7f80, "tie above the largest bf16 rounds to +Inf"},
	{0x40490fdb, 0x4049, "pi"},
}

// wide draws values over the whole float32 range: a random sign, exponent
// and mantissa (every bit pattern but NaN and Inf equally likely).
func wide(r *rand.Rand) float32 {
	for {
		v := f32(r.Uint32())
		if !math.IsNaN(float64(v)) && !math.IsInf(float64(v), 0) {
			return v
		}
	}
}

// castCases: Cast f32 -> bf16 and back on the specials and on random
// values (sizes not a multiple of any block), Copy of bf16 tensors and
// Cast between equal dtypes. Outputs are compared bit for bit (Extra), so
// -0 and +0 differ and NaNs must keep their sign and kept payload.
func castCases() []Case {
	specials := make([]float32, len(CastSpecials))
	wides := make([]float32, len(CastSpecials))
	for i, s := range CastSpecials {
		specials[i] = f32(s.F32)
		wides[i] = bf(s.BF16)
	}
	n := len(specials)
	cast := func(be tensor.Backend, t Tensors) { be.Cast(t["dst"], t["src"]) }
	bf16 := func(a Arg) Arg { a.DType = tensor.BF16; return a }
	cs := []Case{
		{Op: "Cast", Name: "f32->bf16 specials", Args: []Arg{{Name: "src", Shape: tensor.Shape{n}, Values: specials}, bf16(out("dst", n))}, Run: cast, Extra: sameBits},
		{Op: "Cast", Name: "bf16->f32 specials", Args: []Arg{bf16(Arg{Name: "src", Shape: tensor.Shape{n}, Values: wides}), out("dst", n)}, Run: cast, Extra: sameBits},
		{Op: "Cast", Name: "bf16->bf16 specials", Args: []Arg{bf16(Arg{Name: "src", Shape: tensor.Shape{n}, Values: wides}), bf16(out("dst", n))}, Run: cast, Extra: sameBits},
	}
	for _, m := range []int{1, 1000, 70001} {
		cs = append(cs,
			Case{Op: "Cast", Name: fmt.Sprintf("f32->bf16 %d", m), Args: []Arg{with(in("src", m), wide), bf16(out("dst", m))}, Run: cast, Extra: sameBits},
			Case{Op: "Cast", Name: fmt.Sprintf("bf16->f32 %d", m), Args: []Arg{bf16(with(in("src", m), wide)), out("dst", m)}, Run: cast, Extra: sameBits},
			Case{Op: "Cast", Name: fmt.Sprintf("f32->f32 %d", m), Args: []Arg{in("src", m), out("dst", m)}, Run: cast, Extra: sameBits},
			Case{Op: "Copy", Name: fmt.Sprintf("bf16 %d", m), Args: []Arg{bf16(with(in("src", m), wide)), bf16(out("dst", m))},
				Run: func(be tensor.Backend, t Tensors) { be.Copy(t["dst"], t["src"]) }, Extra: sameBits},
		)
	}
	return cs
}

// sameBits asks every output to equal the reference bit for bit.
func sameBits(got, want map[string][]float32) error {
	for name, w := range want {
		g := got[name]
		for i := range w {
			if math.Float32bits(g[i]) != math.Float32bits(w[i]) {
				return fmt.Errorf("%s: element %d is %g (%#08x), want %g (%#08x) bit for bit",
					name, i, g[i], math.Float32bits(g[i]), w[i], math.Float32bits(w[i]))
			}
		}
	}
	return nil
}

// CheckDTypes checks that ops refuse dtypes they do not compute in, with
// an error naming the op and the dtype, and that Copy refuses mixed dtypes.
// open returns a fresh backend (errors are sticky: one per op). On a
// backend that stores bf16 (tensor.BF16Storage: the CPU's emulation of
// mixed precision, widen, compute in float32, round) the compute cases
// (marked below) run instead, checked by TestStorageCases; fills,
// uploads, downloads, the optimiser (float32 master weights), Copy and
// Cast refuse there too.
func CheckDTypes(t *testing.T, open func() tensor.Backend) {
	t.Helper()
	for _, tt := range []struct {
		op      string // a word of the op's name in the error
		want    string
		compute bool // an op a bf16-storage backend runs on bf16 tensors
		run     func(be tensor.Backend, h, f *tensor.Tensor)
	}{
		{"fill", "bf16", false, func(be tensor.Backend, h, f *tensor.Tensor) { be.Fill(h, 1) }},
		{"upload", "bf16", false, func(be tensor.Backend, h, f *tensor.Tensor) { be.Upload(h, make([]float32, 6)) }},
		{"download", "bf16", false, func(be tensor.Backend, h, f *tensor.Tensor) { be.Download(make([]float32, 6), h) }},
		{"add", "bf16", true, func(be tensor.Backend, h, f *tensor.Tensor) { be.Add(f, h, f) }},
		{"forward", "bf16", true, func(be tensor.Backend, h, f *tensor.Tensor) { be.ActivationForward(tensor.ReLU, h, f) }},
		{"conv2d forward", "bf16", true, func(be tensor.Backend, h, f *tensor.Tensor) {
			be.Conv2DForward(h.View(tensor.Shape{1, 1, 2, 3}), f.View(tensor.Shape{1, 1, 1, 1}), nil, f.View(tensor.Shape{1, 1, 2, 3}),
				tensor.ConvParams{StrideH: 1, StrideW: 1})
		}},
		{"sgd", "bf16", false, func(be tensor.Backend, h, f *tensor.Tensor) { be.SGDUpdate(f, h, f, tensor.SGDParams{LR: 0.1}) }},
		{"copy", "Cast", false, func(be tensor.Backend, h, f *tensor.Tensor) { be.Copy(f, h) }},
		{"cast", "differ", false, func(be tensor.Backend, h, f *tensor.Tensor) { be.Cast(f.View(tensor.Shape{5}), h) }},
	} {
		be := open()
		if s, ok := be.(tensor.BF16Storage); ok && tt.compute && s.StoresBF16() {
			be.Close()
			continue
		}
		h, f := be.NewTyped(tensor.Shape{6}, tensor.BF16), be.New(tensor.Shape{6})
		if err := be.Sync(); err != nil {
			t.Fatalf("%s: allocate: %v", be.Name(), err)
		}
		tt.run(be, h, f)
		err := be.Sync()
		if err == nil || !strings.Contains(err.Error(), tt.op) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %s on a bf16 tensor: error %v, want one naming %q and %q", be.Name(), tt.op, err, tt.op, tt.want)
		}
		be.Close()
	}
}
