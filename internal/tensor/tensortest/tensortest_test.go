package tensortest

import (
	"math"
	"strings"
	"testing"

	"github.com/cnnctl/cnnctl/internal/cpu"
	"github.com/cnnctl/cnnctl/internal/tensor"
)

// lazyAdd leaves the last element of Add's output alone.
type lazyAdd struct{ *cpu.Backend }

func (b lazyAdd) Add(a, x, y *tensor.Tensor) {
	n := y.Numel() - 1
	b.Backend.Add(a.Slice(0, tensor.Shape{n}), x.Slice(0, tensor.Shape{n}), y.Slice(0, tensor.Shape{n}))
}

// wideCopy also writes the element after dst.
type wideCopy struct{ *cpu.Backend }

func (b wideCopy) Copy(dst, src *tensor.Tensor) {
	b.Backend.Copy(dst, src)
	b.Backend.Fill(&tensor.Tensor{Shape: tensor.Shape{1}, Buf: dst.Buf, Off: dst.Off + dst.Numel()}, 0.25)
}

// sloppyMul is off by 1e-3 relative.
type sloppyMul struct{ *cpu.Backend }

func (b sloppyMul) Mul(a, x, y *tensor.Tensor) {
	b.Backend.Mul(a, x, y)
	half := b.Backend.New(y.Shape)
	b.Backend.Fill(half, 1.001)
	b.Backend.Mul(y, half, y)
}

// castBy casts f32 -> bf16 with its own rounding of the bits.
type castBy struct {
	*cpu.Backend
	round func(u uint32) uint16
}

func (b castBy) Cast(dst, src *tensor.Tensor) {
	if src.DType != tensor.F32 || dst.DType != tensor.BF16 {
		b.Backend.Cast(dst, src)
		return
	}
	v := make([]float32, src.Numel())
	b.Backend.Download(v, src)
	out := make([]byte, 2*len(v))
	for i, x := range v {
		h := b.round(math.Float32bits(x))
		out[2*i], out[2*i+1] = byte(h), byte(h>>8)
	}
	b.Backend.UploadBytes(dst, out)
}

// wideCast also writes the bf16 element after dst.
type wideCast struct{ *cpu.Backend }

func (b wideCast) Cast(dst, src *tensor.Tensor) {
	b.Backend.Cast(dst, src)
	b.Backend.UploadBytes(&tensor.Tensor{Shape: tensor.Shape{1}, Buf: dst.Buf, Off: dst.Off + dst.Numel(), DType: dst.DType}, []byte{0, 0})
}

func only(op, name string) Case {
	for _, c := range Cases() {
		if c.Op == op && c.Name == name {
			return c
		}
	}
	panic("no case " + op + "/" + name)
}

func TestDiffCatchesBrokenBackends(t *testing.T) {
	tests := []struct {
		be   tensor.Backend
		c    Case
		want string
	}{
		{lazyAdd{cpu.New()}, only("Add", "5x3"), "y 5x3: element 14 (4,2) is NaN"},
		{wideCopy{cpu.New()}, only("Copy", "7"), "dst: wrote 0.25 outside the tensor, at offset 7"},
		{sloppyMul{cpu.New()}, only("Mul", "2x3x7x7"), "× tolerance"},
		// Truncation, rounding half away from zero, NaN cut to infinity,
		// -0 made +0: each is caught bit for bit by the specials.
		{castBy{cpu.New(), func(u uint32) uint16 { return uint16(u >> 16) }}, only("Cast", "f32->bf16 specials"), "bit for bit"},
		{castBy{cpu.New(), func(u uint32) uint16 {
			if u&0x7fffffff > 0x7f800000 {
				return uint16(u>>16) | 0x40
			}
			return uint16((u + 0x8000) >> 16)
		}}, only("Cast", "f32->bf16 specials"), "bit for bit"},
		{castBy{cpu.New(), func(u uint32) uint16 { return uint16((u + 0x7fff + (u>>16)&1) >> 16) }}, only("Cast", "f32->bf16 specials"), "bit for bit"},
		{castBy{cpu.New(), func(u uint32) uint16 {
			if u == 0x80000000 {
				return 0
			}
			return tensor.ToBF16(math.Float32frombits(u))
		}}, only("Cast", "f32->bf16 specials"), "element 1 is 0 (0x00000000), want -0 (0x80000000)"},
		{wideCast{cpu.New()}, only("Cast", "f32->bf16 1000"), "dst: wrote 0 outside the tensor, at offset 1000"},
	}
	for _, tt := range tests {
		err := Diff(tt.be, cpu.New(), tt.c)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: Diff = %v, want an error with %q", tt.c, err, tt.want)
		}
	}
	if err := Diff(cpu.New(), cpu.New(), only("Add", "5x3")); err != nil {
		t.Errorf("the reference against itself: %v", err)
	}
}

func TestCompare(t *testing.T) {
	nan := float32(math.NaN())
	tests := []struct {
		got, want []float32
		worst     int
		passes    bool
	}{
		{[]float32{1, 2, 3}, []float32{1, 2, 3}, 0, true},
		{[]float32{1, 2.00005, 3}, []float32{1, 2, 3}, 1, true},          // within 1e-4·2
		{[]float32{1, 2, 3000.2}, []float32{1, 2, 3000}, 2, true},        // relative above 1
		{[]float32{0.1, 0.0003, 0}, []float32{0.1, 0.0001, 0}, 1, false}, // absolute below 1
		{[]float32{1, nan, 3}, []float32{1, 2, 3}, 1, false},
		{[]float32{1, 2, nan}, []float32{1, 2, nan}, 0, true},
	}
	for _, tt := range tests {
		worst, excess := Compare(tt.got, tt.want)
		if worst != tt.worst || (excess <= 1) != tt.passes {
			t.Errorf("Compare(%v, %v) = %d, %g; want %d, passes=%v", tt.got, tt.want, worst, excess, tt.worst, tt.passes)
		}
	}
}

// TestCasesAreDistinct: names are unique per op, so t.Run names and input
// seeds are too.
func TestCasesAreDistinct(t *testing.T) {
	seen := map[string]bool{}
	ops := map[string]bool{}
	for _, c := range Cases() {
		if seen[c.String()] {
			t.Errorf("case %v twice", c)
		}
		seen[c.String()] = true
		ops[c.Op] = true
	}
	// Every op of tensor.Backend but the memory methods used by the harness itself.
	for _, op := range []string{"Fill", "Copy", "Conv2DForward", "Conv2DBackwardData", "Conv2DBackwardFilter",
		"LinearForward", "LinearBackward", "MaxPool2DForward", "MaxPool2DBackward", "AvgPool2DForward",
		"AvgPool2DBackward", "ActivationForward", "ActivationBackward", "BatchNormForwardTrain",
		"BatchNormForwardInfer", "BatchNormBackward", "Add", "Mul", "ShortcutPadForward", "ShortcutPadBackward",
		"CopyChannels", "ExtractChannels", "DropoutForward", "SoftmaxCrossEntropy", "SGDUpdate", "AdamUpdate", "Cast"} {
		if !ops[op] {
			t.Errorf("no case for %s", op)
		}
	}
}
