//go:build cuda

package gpu

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/cnnctl/cnnctl/internal/kernelhost"
	"github.com/cnnctl/cnnctl/internal/tensor"
	"github.com/cnnctl/cnnctl/internal/tensor/tensortest"
)

// TestTF32Tiling: the launch geometry of conv2d_forward_tf32 is the tiling
// its index math declares (kernels/conv2d_tc.cuh, read through kernelhost).
func TestTF32Tiling(t *testing.T) {
	if tcTileM != kernelhost.TileM || tcTileN != kernelhost.TileN || tcThreads != kernelhost.Threads {
		t.Errorf("launch tile %dx%d, %d threads; conv2d_tc.cuh says %dx%d, %d threads",
			tcTileM, tcTileN, tcThreads, kernelhost.TileM, kernelhost.TileN, kernelhost.Threads)
	}
}

// newTF32Backend opens GPU 0 with MathTF32, or skips where there is no GPU
// or it has no TF32 tensor cores; the convolution and linear slots
// (tf32Slots) must then run their TF32 kernels.
func newTF32Backend(t testing.TB) *Backend {
	t.Helper()
	be := newTensorCoreBackend(t, MathTF32)
	for _, op := range tf32Slots {
		if got, want := be.kernel(op).Name, op+"_tf32"; got != want {
			t.Fatalf("with tf32 %s runs %s, want %s", op, got, want)
		}
	}
	return be
}

// tf32Cases are the convolution and linear cases the TF32 kernels run
// (forward, data and filter gradients): the shared ones, a VGG classifier
// linear, then convolutions that span several blocks and pipeline steps
// (the last twelve cases: TestTF32RunsTensorCores counts from the end).
func tf32Cases() []tensortest.Case {
	var cs []tensortest.Case
	for _, c := range tensortest.Cases() {
		switch c.Op {
		case "Conv2DForward", "Conv2DBackwardData", "Conv2DBackwardFilter", "LinearForward", "LinearBackward":
			cs = append(cs, c)
		}
	}
	cs = append(cs, tensortest.LinearCases(200, 512, 100, true)...)
	sq := tensor.ConvParams{StrideH: 1, StrideW: 1, PadH: 1, PadW: 1}
	for _, g := range []tensortest.Conv{
		{N: 2, C: 20, H: 13, W: 11, K: 70, R: 3, S: 3, P: sq, Bias: true},
		{N: 4, C: 3, H: 32, W: 32, K: 64, R: 3, S: 3, P: sq, Bias: true},
		{N: 8, C: 64, H: 16, W: 16, K: 128, R: 3, S: 3, P: sq, Bias: true},
		{N: 4, C: 256, H: 8, W: 8, K: 64, R: 1, S: 1, P: tensor.ConvParams{StrideH: 1, StrideW: 1}, Bias: false},
	} {
		cs = append(cs, g.Cases()...)
	}
	return cs
}

// TestBackendTF32 checks the TF32 convolutions against the CPU reference
// with the tolerance derived from TF32's 10-bit mantissa
// (tensortest.Case.Tolerances: per output (2u + u²)·Σ|w||x| plus the float32
// summation terms, u = 2^-11), not float32's 1e-4.
func TestBackendTF32(t *testing.T) {
	tensortest.CheckCasesPrecision(t, newTF32Backend(t), tf32Cases(), tensortest.TF32)
}

// TestTF32RunsTensorCores: on a 64-channel layer the TF32 forward and
// filter gradient differ from the FP32 kernels' (operands rounded to 10
// bits: the TF32 kernels really ran) and repeat bit for bit (deterministic,
// the filter gradient's split reduction included).
func TestTF32RunsTensorCores(t *testing.T) {
	be := newTF32Backend(t)
	cs := tf32Cases()
	for _, tc := range []struct {
		c   tensortest.Case
		out string
	}{{cs[len(cs)-6], "y"}, {cs[len(cs)-4], "dw"}} { // 8x64x16x16 -> 128: forward, filter gradient
		c := tc.c
		if err := be.SetMath(MathTF32); err != nil {
			t.Fatal(err)
		}
		tf1, err1 := tensortest.Outputs(be, c)
		tf2, err2 := tensortest.Outputs(be, c)
		if err := be.SetMath(MathFP32); err != nil {
			t.Fatal(err)
		}
		fp, err3 := tensortest.Outputs(be, c)
		if err := errors.Join(err1, err2, err3); err != nil {
			t.Fatal(err)
		}
		differ := 0
		for i, v := range fp[tc.out] {
			if math.Float32bits(tf1[tc.out][i]) != math.Float32bits(tf2[tc.out][i]) {
				t.Fatalf("%v: %s[%d] = %g, then %g", c, tc.out, i, tf1[tc.out][i], tf2[tc.out][i])
			}
			if tf1[tc.out][i] != v {
				differ++
			}
		}
		t.Logf("%v: %d of %d outputs differ between tf32 and fp32", c, differ, len(fp[tc.out]))
		if differ == 0 {
			t.Errorf("%v: tf32 and fp32 agree bit for bit: the TF32 kernel did not run", c)
		}
	}
}

// BenchmarkConv2DForwardTF32 times the forward convolution of a VGG layer
// (128x256x16x16, 3x3, 256 filters) in fp32, TF32 and bf16, side by side,
// and reports TFLOP/s.
func BenchmarkConv2DForwardTF32(b *testing.B) {
	be := newTF32Backend(b)
	x, w, y := be.New(tensor.Shape{128, 256, 16, 16}), be.New(tensor.Shape{256, 256, 3, 3}), be.New(tensor.Shape{128, 256, 16, 16})
	be.Upload(x, random(x.Numel(), 1))
	be.Upload(w, random(w.Numel(), 2))
	p := tensor.ConvParams{StrideH: 1, StrideW: 1, PadH: 1, PadW: 1}
	flops := 2.0 * 128 * 256 * 16 * 16 * 256 * 9
	for _, m := range []Math{MathFP32, MathTF32, MathBF16} {
		b.Run(m.String(), func(b *testing.B) {
			if err := be.SetMath(m); err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				be.Conv2DForward(x, w, nil, y, p)
			}
			if err := be.Sync(); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e12, "TFLOP/s")
		})
	}
}

// TestConvKernelChoice: the one place that picks a convolution kernel
// (Select, through SetMath) gives the TF32 variants only with MathTF32 on
// sm_80 or later, and SetMath refuses TF32 below sm_80 and unknown maths
// (no GPU needed).
func TestConvKernelChoice(t *testing.T) {
	ops := []string{"conv2d_forward", "conv2d_backward_data", "conv2d_backward_filter"}
	for _, tt := range []struct {
		major int
		math  Math
		tf32  bool
	}{{7, MathFP32, false}, {8, MathFP32, false}, {8, MathTF32, true}, {9, MathTF32, true}} {
		b := &Backend{info: Info{Name: "test GPU", Major: tt.major}}
		if err := b.SetMath(tt.math); err != nil {
			t.Fatalf("sm_%d0: SetMath(%v): %v", tt.major, tt.math, err)
		}
		for _, op := range ops {
			want := op
			if tt.tf32 {
				want = op + "_tf32"
			}
			if got := b.kernel(op).Name; got != want {
				t.Errorf("sm_%d0, %v: %s runs %s, want %s", tt.major, tt.math, op, got, want)
			}
		}
		if err := b.SetMath(MathTF32); (err == nil) != (tt.major >= 8) {
			t.Errorf("sm_%d0: SetMath(tf32) = %v", tt.major, err)
		}
	}
	b := &Backend{info: Info{Major: 7}}
	if err := b.SetMath(MathTF32); err == nil || !strings.Contains(err.Error(), "8.0 or later") {
		t.Errorf("SetMath(tf32) on sm_70 = %v, want an error saying 8.0 or later", err)
	}
	if b.kernel("conv2d_forward").Name != "conv2d_forward" {
		t.Error("a refused SetMath changed the kernels")
	}
	if err := (&Backend{info: Info{Major: 9}}).SetMath(Math(7)); err == nil || !strings.Contains(err.Error(), "unknown") {
		t.Errorf("SetMath(Math(7)) = %v, want an error naming it unknown", err)
	}
	if (&Backend{}).Math() != MathFP32 {
		t.Error("the default math is not fp32")
	}
}
