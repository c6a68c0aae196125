package cpu

import (
	"strings"
	"testing"

	"github.com/cnnctl/cnnctl/internal/tensor"
)

func TestMemoryAndViews(t *testing.T) {
	be := New()
	whole := be.New(tensor.Shape{10})
	expect(t, "new", values(be, whole), make([]float64, 10), 0)
	// Views share memory: a (2,2) view at offset 3.
	v := whole.Slice(3, tensor.Shape{2, 2})
	be.Upload(v, []float32{1, 2, 3, 4})
	be.Fill(whole.Slice(8, tensor.Shape{2}), -1)
	expect(t, "whole", values(be, whole), []float64{0, 0, 0, 1, 2, 3, 4, 0, -1, -1}, 0)
	dst := be.New(tensor.Shape{4})
	be.Copy(dst, v)
	expect(t, "copy", values(be, dst), []float64{1, 2, 3, 4}, 0)
	noErr(t, be)
	if !strings.HasPrefix(be.Name(), "cpu (") {
		t.Errorf("Name() = %q", be.Name())
	}
}

// otherBuffer is memory of some other backend.
type otherBuffer struct{}

func (otherBuffer) Len() int { return 4 }

func TestErrors(t *testing.T) {
	tests := []errorCase{
		{"foreign buffer", func(be *Backend) {
			be.Fill(&tensor.Tensor{Shape: tensor.Shape{4}, Buf: otherBuffer{}}, 1)
		}, []string{"fill", "cpu.otherBuffer", "not a cpu buffer"}},
		{"upload size", func(be *Backend) {
			be.Upload(be.New(tensor.Shape{4}), []float32{1, 2})
		}, []string{"upload", "2 host values", "4"}},
		{"conv channels", func(be *Backend) {
			be.Conv2DForward(be.New(tensor.Shape{1, 3, 5, 5}), be.New(tensor.Shape{4, 2, 3, 3}), nil,
				be.New(tensor.Shape{1, 4, 3, 3}), tensor.ConvParams{StrideH: 1, StrideW: 1})
		}, []string{"conv2d forward", "4x2x3x3", "1x3x5x5"}},
		{"conv output", func(be *Backend) {
			be.Conv2DForward(be.New(tensor.Shape{1, 3, 5, 5}), be.New(tensor.Shape{4, 3, 3, 3}), nil,
				be.New(tensor.Shape{1, 4, 5, 5}), tensor.ConvParams{StrideH: 1, StrideW: 1})
		}, []string{"conv2d forward", "y is 1x4x5x5, want 1x4x3x3"}},
		{"linear rank", func(be *Backend) {
			be.LinearForward(be.New(tensor.Shape{2, 3, 1}), be.New(tensor.Shape{4, 3}), nil, be.New(tensor.Shape{2, 4}))
		}, []string{"linear forward", "x is 2x3x1, want 2 dimensions"}},
		{"add sizes", func(be *Backend) {
			be.Add(be.New(tensor.Shape{3}), be.New(tensor.Shape{4}), be.New(tensor.Shape{3}))
		}, []string{"add", "a 3, b 4 and y 3"}},
		{"channels range", func(be *Backend) {
			be.CopyChannels(be.New(tensor.Shape{1, 4, 2, 2}), be.New(tensor.Shape{1, 2, 2, 2}), 3)
		}, []string{"copy channels", "[3, 5)", "1x4x2x2"}},
		{"dropout p", func(be *Backend) {
			be.DropoutForward(be.New(tensor.Shape{2}), be.New(tensor.Shape{2}), be.New(tensor.Shape{2}), 1.5, 0, 0)
		}, []string{"dropout forward", "p = 1.5"}},
	}
	checkErrorCases(t, tests)
}

func TestFirstErrorKeptAndOpSkipped(t *testing.T) {
	be := New()
	y := from(be, []float32{7, 7, 7}, 3)
	be.Add(be.New(tensor.Shape{3}), be.New(tensor.Shape{4}), y)
	be.Mul(be.New(tensor.Shape{2}), be.New(tensor.Shape{3}), y)
	if err := be.Err(); err == nil || !strings.Contains(err.Error(), "add") {
		t.Errorf("Err() = %v, want the add's error", err)
	}
	// The failed ops wrote nothing.
	expect(t, "y", values(be, y), []float64{7, 7, 7}, 0)
}

// errorCase is an op called with bad arguments and the substrings its
// error must contain.
type errorCase struct {
	name string
	run  func(be *Backend)
	want []string // substrings of the error
}

// checkErrorCases runs each case on a fresh backend: Sync must return an
// error that mentions every wanted substring.
func checkErrorCases(t *testing.T, tests []errorCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			be := New()
			tt.run(be)
			err := be.Sync()
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}
