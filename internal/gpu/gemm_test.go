//go:build cuda

package gpu

import (
	"math"
	"testing"

	"github.com/cnnctl/cnnctl/internal/tensor"
	"github.com/cnnctl/cnnctl/internal/tensor/tensortest"
)

// conv1x1Cases are 1x1 convolutions of stride 1 and padding 0 (the 1x1
// shape class, kernels/gemm_tc.cu): GoogLeNet's reductions at 28x28 and
// at 7x7 (49 pixels: the 4-byte forms), a NiN mlpconv layer, and shapes
// with edge tiles in every GEMM dimension (K over three column blocks,
// rows straddling images, a forward over 18 channels: its 4-byte form,
// the gradients' 16-byte ones).
func conv1x1Cases() []tensortest.Conv {
	p := tensor.ConvParams{StrideH: 1, StrideW: 1}
	return []tensortest.Conv{
		{N: 8, C: 192, H: 28, W: 28, K: 64, R: 1, S: 1, P: p, Bias: true},
		{N: 4, C: 832, H: 7, W: 7, K: 128, R: 1, S: 1, P: p, Bias: true},
		{N: 16, C: 96, H: 8, W: 8, K: 96, R: 1, S: 1, P: p, Bias: true},
		{N: 2, C: 36, H: 6, W: 6, K: 129, R: 1, S: 1, P: p, Bias: true},
		{N: 3, C: 20, H: 7, W: 7, K: 70, R: 1, S: 1, P: p, Bias: false},
		{N: 5, C: 18, H: 4, W: 8, K: 40, R: 1, S: 1, P: p, Bias: true},
	}
}

// TestConv1x1TF32 runs the TF32 1x1 class's kernels (chosen by
// shapeclass.go, 16-byte and 4-byte forms) against the CPU reference at
// the TF32 tolerance derived from TF32's 10-bit mantissa
// (tensortest.TF32: per output (2u + u²)·Σ|a||b| plus the float32
// summation terms, u = 2^-11), outputs NaN-poisoned first, and bit for
// bit against the generic TF32 kernels (Options.NoShapeClasses), which
// load the same TF32 operands into the same fragments and sum them in the
// same order (as the host emulation shows: internal/kernelhost's
// TestConv2D1x1TF32).
func TestConv1x1TF32(t *testing.T) { checkConv1x1(t, newTF32Backend(t), MathTF32, tensortest.TF32) }

// TestConv1x1BF16 is TestConv1x1TF32 for the bf16 1x1 kernels
// (kernels/gemm_bf16.cu), at the tolerance derived from bf16's 8
// significant bits (tensortest.BF16, u = 2^-8), bit for bit against the
// generic bf16 kernels (host emulation: TestConv2D1x1BF16).
func TestConv1x1BF16(t *testing.T) {
	checkConv1x1(t, newTensorCoreBackend(t, MathBF16), MathBF16, tensortest.BF16)
}

// checkConv1x1 runs conv1x1Cases on be (math m) against the CPU reference
// at precision p and against the generic kernels of m bit for bit.
func checkConv1x1(t *testing.T, be *Backend, m Math, p tensortest.Precision) {
	gen, err := NewWith(0, Options{Math: m, NoShapeClasses: true})
	if err != nil {
		t.Fatal(err)
	}
	defer gen.Close()
	outs := map[string]string{"Conv2DForward": "y", "Conv2DBackwardData": "dx", "Conv2DBackwardFilter": "dw"}
	for _, g := range conv1x1Cases() {
		if cl := tcForward(tcShape{C: g.C, R: g.R, S: g.S, StrideH: 1, StrideW: 1, HW: g.H * g.W}).Class; cl != class1x1 {
			t.Fatalf("%v: class %s, want %s", g, cl, class1x1)
		}
		cs := g.Cases()
		tensortest.CheckCasesPrecision(t, be, cs, p)
		for _, c := range cs {
			got, err := tensortest.Outputs(be, c)
			if err != nil {
				t.Fatal(err)
			}
			want, err := tensortest.Outputs(gen, c)
			if err != nil {
				t.Fatal(err)
			}
			out := outs[c.Op]
			for i, v := range got[out] {
				if math.Float32bits(v) != math.Float32bits(want[out][i]) {
					t.Errorf("%v: %s[%d] = %g, the generic kernel's %g", c, out, i, v, want[out][i])
					break
				}
			}
		}
	}
	if err := be.Err(); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkConv1x1 times GoogLeNet-sized 1x1 convolutions at batch 128
// (forward, data and filter gradients) on the 1x1 class's own kernels and
// on the generic im2col kernels (Options.NoShapeClasses) side by side, in
// TF32 and bf16, and reports TFLOP/s: whether the 1x1 path is faster is
// this benchmark's to say (sub-benchmark names "<math>/<shape>/<op>/1x1"
// and ".../generic").
func BenchmarkConv1x1(b *testing.B) {
	p := tensor.ConvParams{StrideH: 1, StrideW: 1}
	shapes := []struct {
		name     string
		c, hw, k int
	}{
		{"192x28x28-64", 192, 28, 64}, {"480x14x14-192", 480, 14, 192}, {"832x7x7-384", 832, 7, 384},
	}
	for _, m := range []Math{MathTF32, MathBF16} {
		be := newTensorCoreBackend(b, m)
		gen, err := NewWith(0, Options{Math: m, NoShapeClasses: true})
		if err != nil {
			b.Fatal(err)
		}
		for _, s := range shapes {
			x, w := be.New(tensor.Shape{128, s.c, s.hw, s.hw}), be.New(tensor.Shape{s.k, s.c, 1, 1})
			y := be.New(tensor.Shape{128, s.k, s.hw, s.hw})
			be.Upload(x, random(x.Numel(), 1))
			be.Upload(w, random(w.Numel(), 2))
			be.Upload(y, random(y.Numel(), 3))
			gx, gw, gy := gen.New(x.Shape), gen.New(w.Shape), gen.New(y.Shape)
			gen.Upload(gx, random(x.Numel(), 1))
			gen.Upload(gw, random(w.Numel(), 2))
			gen.Upload(gy, random(y.Numel(), 3))
			flops := 2.0 * 128 * float64(s.c*s.hw*s.hw*s.k)
			for _, r := range []struct {
				name    string
				be      *Backend
				x, w, y *tensor.Tensor
			}{{"1x1", be, x, w, y}, {"generic", gen, gx, gw, gy}} {
				ops := map[string]func(){
					"forward": func() { r.be.Conv2DForward(r.x, r.w, nil, r.y, p) },
					"data":    func() { r.be.Conv2DBackwardData(r.y, r.w, r.x, p) },
					"filter":  func() { r.be.Conv2DBackwardFilter(r.x, r.y, r.w, nil, p) },
				}
				for _, op := range []string{"forward", "data", "filter"} {
					b.Run(m.String()+"/"+s.name+"/"+op+"/"+r.name, func(b *testing.B) {
						for b.Loop() {
							ops[op]()
						}
						if err := r.be.Sync(); err != nil {
							b.Fatal(err)
						}
						b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e12, "TFLOP/s")
					})
				}
			}
		}
		gen.Close()
	}
}
