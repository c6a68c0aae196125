package kernelhost

import (
	"fmt"
	"testing"

	"github.com/cnnctl/cnnctl/internal/cpu"
	"github.com/cnnctl/cnnctl/internal/tensor"
	"github.com/cnnctl/cnnctl/internal/tensor/tensortest"
)

// storeRowShapes are edge shapes of the store loop's rows: OH*OW not a
// multiple of the tile (nor of 8 or 16), N*OH*OW with a ragged last row
// block, 1x1 images, OH*OW a multiple of 16, several column blocks.
func storeRowShapes() []Conv {
	sq := func(stride, pad int) tensor.ConvParams {
		return tensor.ConvParams{StrideH: stride, StrideW: stride, PadH: pad, PadW: pad}
	}
	return []Conv{
		{N: 3, C: 5, H: 5, W: 5, K: 70, R: 3, S: 3, P: sq(1, 1)},    // OH*OW 25, 75 rows: one ragged block; K 70: two column blocks
		{N: 130, C: 3, H: 1, W: 1, K: 3, R: 1, S: 1, P: sq(1, 0)},   // 1x1 images, 130 rows: 2 left in the last block
		{N: 2, C: 16, H: 9, W: 9, K: 129, R: 3, S: 3, P: sq(2, 1)},  // OH*OW 25, stride 2; K 129: three column blocks
		{N: 5, C: 8, H: 7, W: 13, K: 64, R: 1, S: 1, P: sq(1, 0)},   // OH*OW 91, 455 rows
		{N: 1, C: 4, H: 3, W: 3, K: 1, R: 3, S: 3, P: sq(1, 0)},     // one output pixel, one channel
		{N: 3, C: 16, H: 8, W: 8, K: 32, R: 3, S: 3, P: sq(1, 1)},   // OH*OW 64: a lane's rows never straddle an image
		{N: 2, C: 16, H: 16, W: 16, K: 64, R: 3, S: 3, P: sq(1, 1)}, // OH*OW 256 = 2 row blocks per image
	}
}

// TestStoreRowOffsets: the store loop of the forwards and data gradients,
// with each row a lane owns decoded once (tc_y_row, tc_dx_row), puts
// every element of y (dx) at the plain division formula's offset
// (tc_y_offset, tc_dx_offset) and covers each exactly once, on edge shapes;
// and a row derived from the lane's previous one without the carry into the
// next image (MutRowStep) fails it wherever a lane's rows can straddle an
// image (N > 1 and OH*OW not a multiple of 16: rows m and m+8, m%16 < 8).
func TestStoreRowOffsets(t *testing.T) {
	for _, g := range storeRowShapes() {
		for _, data := range []bool{false, true} {
			name := fmt.Sprintf("%v/forward", g)
			plane := g.OH() * g.OW()
			if data {
				name, plane = fmt.Sprintf("%v/data", g), g.H*g.W
			}
			t.Run(name, func(t *testing.T) {
				bad, written := StoreRows(g, data, MutNone)
				if bad != 0 {
					t.Errorf("%d offsets differ from the division formula", bad)
				}
				for off, c := range written {
					if c != 1 {
						t.Fatalf("element %d of %d stored %d times", off, len(written), c)
					}
				}
				if plane%16 == 0 || g.N == 1 {
					return // the mutation cannot show: no lane's rows straddle an image
				}
				bad, written = StoreRows(g, data, MutRowStep)
				if bad == 0 {
					t.Error("the rows without the carry into the next image passed")
				}
				once := true
				for _, c := range written {
					once = once && c == 1
				}
				if once {
					t.Error("the rows without the carry into the next image covered every element once")
				}
			})
		}
	}
}

// TestConv2DTF32RowStepMutation: the whole emulated forward and data
// gradient with a lane's second row addressed without the carry into the
// next image (MutRowStep) fail TestConv2DTF32's checks (OH*OW = H*W = 81:
// rows straddle images).
func TestConv2DTF32RowStepMutation(t *testing.T) {
	g := tensortest.Conv{N: 2, C: 20, H: 9, W: 9, K: 70, R: 3, S: 3,
		P: tensor.ConvParams{StrideH: 1, StrideW: 1, PadH: 1, PadW: 1}, Bias: true}
	ran := 0
	for _, c := range g.Cases() {
		if c.Op != "Conv2DForward" && c.Op != "Conv2DBackwardData" {
			continue
		}
		ran++
		want, err := tensortest.Outputs(cpu.NewReference(), c)
		if err != nil {
			t.Fatal(err)
		}
		in := c.Inputs()
		name, got, err := kernels[c.Op](g, in, Lazy, MutRowStep)
		if err == nil {
			t.Errorf("%v: every element was stored exactly once", c)
		}
		if checkExact(g, c.Op, in, got, RoundTF32) == nil {
			t.Errorf("%v: the float64 check passed a broken kernel", c)
		}
		if err := c.Check(outputs(name, got, want), want, tensortest.TF32); err == nil {
			t.Errorf("%v: the TF32 tolerance passed a broken kernel", c)
		}
	}
	if ran != 2 {
		t.Fatalf("%d of the forward and data cases ran, want 2", ran)
	}
}
