package cpu

import (
	"testing"

	"github.com/cnnctl/cnnctl/internal/tensor"
)

func TestMaxPool2DByHand(t *testing.T) {
	be := New()
	x := from(be, []float32{
		1, 2, 5, 3,
		4, 0, 1, 2,
		7, 8, 1, 0,
		3, 9, 2, 6,
	}, 1, 1, 4, 4)
	p := tensor.PoolParams{R: 2, S: 2, StrideH: 2, StrideW: 2}
	y := poisoned(be, 1, 1, 2, 2)
	be.MaxPool2DForward(x, y, p)
	expect(t, "y", values(be, y), []float64{4, 5, 9, 6}, 0)

	dx := poisoned(be, 1, 1, 4, 4)
	be.MaxPool2DBackward(x, from(be, []float32{1, 2, 3, 4}, 1, 1, 2, 2), dx, p)
	expect(t, "dx", values(be, dx), []float64{
		0, 0, 2, 0,
		1, 0, 0, 0,
		0, 0, 0, 0,
		0, 3, 0, 4,
	}, 0)
	noErr(t, be)
}

func TestMaxPool2DTiesOverlapAndPadding(t *testing.T) {
	be := New()
	// A tie: the gradient goes to the first maximum in row-major order.
	x := from(be, []float32{7, 7, 7, 7}, 1, 1, 2, 2)
	dx := poisoned(be, 1, 1, 2, 2)
	be.MaxPool2DBackward(x, from(be, []float32{5}, 1, 1, 1, 1), dx, tensor.PoolParams{R: 2, S: 2, StrideH: 2, StrideW: 2})
	expect(t, "dx tie", values(be, dx), []float64{5, 0, 0, 0}, 0)

	// Overlapping 2x2 windows at stride 1 all pick the centre: their gradients add.
	x = from(be, []float32{0, 0, 0, 0, 9, 0, 0, 0, 0}, 1, 1, 3, 3)
	dx = poisoned(be, 1, 1, 3, 3)
	be.MaxPool2DBackward(x, from(be, []float32{1, 2, 3, 4}, 1, 1, 2, 2), dx, tensor.PoolParams{R: 2, S: 2, StrideH: 1, StrideW: 1})
	expect(t, "dx overlap", values(be, dx), []float64{0, 0, 0, 0, 10, 0, 0, 0, 0}, 0)

	// Padding is -inf, not 0: on negative inputs, 3x3 stride 2 padding 1.
	x = from(be, []float32{
		-1, -2, -3, -4,
		-5, -6, -7, -8,
		-9, -10, -11, -12,
		-13, -14, -15, -16,
	}, 1, 1, 4, 4)
	y := poisoned(be, 1, 1, 2, 2)
	be.MaxPool2DForward(x, y, tensor.PoolParams{R: 3, S: 3, StrideH: 2, StrideW: 2, PadH: 1, PadW: 1})
	// Windows cover rows/cols {-1,0,1} and {1,2,3}.
	expect(t, "y padded", values(be, y), []float64{-1, -2, -5, -6}, 0)
	noErr(t, be)
}

func TestAvgPool2DCountsPadding(t *testing.T) {
	be := New()
	// 3x3 windows at stride 1, padding 1, on a 2x2 input: every window
	// covers all four inputs and five padded zeros, and divides by 9.
	x := from(be, []float32{1, 2, 3, 4}, 1, 1, 2, 2)
	p := tensor.PoolParams{R: 3, S: 3, StrideH: 1, StrideW: 1, PadH: 1, PadW: 1}
	y := poisoned(be, 1, 1, 2, 2)
	be.AvgPool2DForward(x, y, p)
	expect(t, "y", values(be, y), []float64{10.0 / 9, 10.0 / 9, 10.0 / 9, 10.0 / 9}, 1e-6)
	// Each input lies in all four windows: dx = 4 · (1/9).
	dx := poisoned(be, 1, 1, 2, 2)
	be.AvgPool2DBackward(from(be, []float32{1, 1, 1, 1}, 1, 1, 2, 2), dx, p)
	expect(t, "dx", values(be, dx), []float64{4.0 / 9, 4.0 / 9, 4.0 / 9, 4.0 / 9}, 1e-6)

	// 2x2 stride 2 without padding on a 3x4 input: the last row is dropped.
	x = from(be, []float32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, 1, 1, 3, 4)
	y = poisoned(be, 1, 1, 1, 2)
	be.AvgPool2DForward(x, y, tensor.PoolParams{R: 2, S: 2, StrideH: 2, StrideW: 2})
	expect(t, "y floor", values(be, y), []float64{(1 + 2 + 5 + 6) / 4.0, (3 + 4 + 7 + 8) / 4.0}, 1e-6)
	noErr(t, be)
}

func TestPool2DRejectsBadWindows(t *testing.T) {
	be := New()
	x := be.New(tensor.Shape{1, 1, 4, 4})
	// PyTorch refuses padding larger than half the window.
	be.MaxPool2DForward(x, be.New(tensor.Shape{1, 1, 4, 4}), tensor.PoolParams{R: 2, S: 2, StrideH: 1, StrideW: 1, PadH: 2, PadW: 2})
	if be.Err() == nil {
		t.Error("padding 2 on a 2x2 window: no error")
	}
	be = New()
	be.AvgPool2DForward(x, be.New(tensor.Shape{1, 1, 3, 3}), tensor.PoolParams{R: 2, S: 2, StrideH: 2, StrideW: 2})
	if be.Err() == nil {
		t.Error("y 3x3 for a 2x2 output: no error")
	}
}
