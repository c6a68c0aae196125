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
		"CopyChannels", "ExtractChannels", "DropoutForward", "SoftmaxCrossEntropy", "SGDUpdate", "AdamUpdate"} {
		if !ops[op] {
			t.Errorf("no case for %s", op)
		}
	}
}
