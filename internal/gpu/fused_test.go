//go:build cuda

package gpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/cnnctl/cnnctl/internal/tensor"
	"github.com/cnnctl/cnnctl/internal/tensor/tensortest"
)

// specials is random values in [-1, 1) with, every few elements, -0, NaN
// or an infinity: the ReLU edge cases a fused epilogue must treat as the
// plain ReLU does.
func specials(n int, seed uint64) []float32 {
	r := rand.New(rand.NewPCG(seed, 11))
	v := make([]float32, n)
	for i := range v {
		switch r.IntN(16) {
		case 0:
			v[i] = float32(math.Copysign(0, -1))
		case 1:
			v[i] = float32(math.NaN())
		case 2:
			v[i] = float32(math.Inf(2*r.IntN(2) - 1))
		default:
			v[i] = r.Float32()*2 - 1
		}
	}
	return v
}

// mathsOf are the maths be's GPU runs: fp32, and tf32 and bf16 from sm_80.
func mathsOf(be *Backend) []Math {
	if be.Info().Major >= 8 {
		return []Math{MathFP32, MathTF32, MathBF16}
	}
	return []Math{MathFP32}
}

// sameBits fails t at the first element where got and want differ in
// their bits (NaN payloads included).
func sameBits(t *testing.T, what string, got, want []float32) {
	t.Helper()
	for i := range want {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("%s: element %d is %g (%#08x), the plain ops give %g (%#08x)", what, i, got[i],
				math.Float32bits(got[i]), want[i], math.Float32bits(want[i]))
		}
	}
}

// TestConvEpilogue: Conv2DForwardEpilogue (bias, residual and ReLU applied
// in the convolution's stores) equals bit for bit the plain sequence
// Conv2DForward, Add, ActivationForward(ReLU) in each math: the same
// kernel computes the sums, and the epilogue's float32 steps are the plain
// ops'. Outputs are NaN-filled first; shapes of every class (small-channel
// first layers, 1x1, wide).
func TestConvEpilogue(t *testing.T) {
	be := newBackend(t)
	sq := tensor.ConvParams{StrideH: 1, StrideW: 1, PadH: 1, PadW: 1}
	geoms := append(tensortest.ConvGeometries(),
		tensortest.Conv{N: 4, C: 3, H: 32, W: 32, K: 64, R: 3, S: 3, P: sq, Bias: true},
		tensortest.Conv{N: 4, C: 192, H: 7, W: 7, K: 48, R: 1, S: 1, P: tensor.ConvParams{StrideH: 1, StrideW: 1}},
		tensortest.Conv{N: 8, C: 64, H: 16, W: 16, K: 128, R: 3, S: 3, P: sq, Bias: true})
	for _, m := range mathsOf(be) {
		if err := be.SetMath(m); err != nil {
			t.Fatal(err)
		}
		for gi, g := range geoms {
			xs, ws, ys := tensor.Shape{g.N, g.C, g.H, g.W}, tensor.Shape{g.K, g.C, g.R, g.S}, tensor.Shape{g.N, g.K, g.OH(), g.OW()}
			x, w, res, y1, y2 := be.New(xs), be.New(ws), be.New(ys), be.New(ys), be.New(ys)
			var b *tensor.Tensor
			if g.Bias {
				b = be.New(tensor.Shape{g.K})
				be.Upload(b, random(g.K, uint64(gi)+3))
			}
			be.Upload(x, random(x.Numel(), uint64(gi)+1))
			be.Upload(w, random(w.Numel(), uint64(gi)+2))
			be.Upload(res, specials(res.Numel(), uint64(gi)))
			for _, e := range []tensor.Epilogue{{}, {ReLU: true}, {Residual: res}, {Residual: res, ReLU: true}} {
				name := fmt.Sprintf("%v/%v/residual=%v/relu=%v", m, g, e.Residual != nil, e.ReLU)
				t.Run(name, func(t *testing.T) {
					be.Fill(y1, float32(math.NaN()))
					be.Fill(y2, float32(math.NaN()))
					be.Conv2DForward(x, w, b, y1, g.P)
					if e.Residual != nil {
						be.Add(y1, e.Residual, y1)
					}
					if e.ReLU {
						be.ActivationForward(tensor.ReLU, y1, y1)
					}
					be.Conv2DForwardEpilogue(x, w, b, y2, g.P, e)
					want, got := make([]float32, y1.Numel()), make([]float32, y2.Numel())
					be.Download(want, y1)
					be.Download(got, y2)
					if err := be.Sync(); err != nil {
						t.Fatal(err)
					}
					sameBits(t, name, got, want)
				})
			}
			for _, v := range []*tensor.Tensor{x, w, b, res, y1, y2} {
				if v != nil {
					be.Free(v)
				}
			}
		}
	}
}

// TestAddReLU: AddReLU equals bit for bit Add then ActivationForward(ReLU)
// on sizes around its float4 split (1 to 4 elements, a tail of 1 to 3,
// many blocks), into a third tensor and in place (y = a), with -0, NaN and
// infinities among the inputs; outputs NaN-filled first.
func TestAddReLU(t *testing.T) {
	be := newBackend(t)
	for _, n := range []int{1, 3, 4, 5, 7, 1024, 1027, 100003, 1 << 20} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			s := tensor.Shape{n}
			a, b, y1, y2 := be.New(s), be.New(s), be.New(s), be.New(s)
			defer func() {
				for _, v := range []*tensor.Tensor{a, b, y1, y2} {
					be.Free(v)
				}
			}()
			av, bv := specials(n, uint64(n)), specials(n, uint64(n)+1)
			be.Upload(a, av)
			be.Upload(b, bv)
			be.Fill(y1, float32(math.NaN()))
			be.Fill(y2, float32(math.NaN()))
			be.Add(a, b, y1)
			be.ActivationForward(tensor.ReLU, y1, y1)
			be.AddReLU(a, b, y2)
			want, got := make([]float32, n), make([]float32, n)
			be.Download(want, y1)
			be.Download(got, y2)
			be.AddReLU(a, b, a) // in place
			inPlace := make([]float32, n)
			be.Download(inPlace, a)
			if err := be.Sync(); err != nil {
				t.Fatal(err)
			}
			sameBits(t, "y", got, want)
			sameBits(t, "in place", inPlace, want)
		})
	}
}

// BenchmarkConv2DEpilogue times a resnet block's second convolution
// (128x64x32x32, 3x3, 64 filters) with its residual add and ReLU, fused
// (Conv2DForwardEpilogue) and as the plain ops (Conv2DForward, Add,
// ActivationForward), in each math; the ratio is what the fusion saves.
func BenchmarkConv2DEpilogue(b *testing.B) {
	be := newBackend(b)
	s := tensor.Shape{128, 64, 32, 32}
	x, w, res, y := be.New(s), be.New(tensor.Shape{64, 64, 3, 3}), be.New(s), be.New(s)
	be.Upload(x, random(x.Numel(), 1))
	be.Upload(w, random(w.Numel(), 2))
	be.Upload(res, random(res.Numel(), 3))
	p := tensor.ConvParams{StrideH: 1, StrideW: 1, PadH: 1, PadW: 1}
	for _, m := range mathsOf(be) {
		if err := be.SetMath(m); err != nil {
			b.Fatal(err)
		}
		for _, fused := range []bool{false, true} {
			b.Run(fmt.Sprintf("%v/fused=%v", m, fused), func(b *testing.B) {
				for b.Loop() {
					if fused {
						be.Conv2DForwardEpilogue(x, w, nil, y, p, tensor.Epilogue{Residual: res, ReLU: true})
					} else {
						be.Conv2DForward(x, w, nil, y, p)
						be.Add(y, res, y)
						be.ActivationForward(tensor.ReLU, y, y)
					}
				}
				if err := be.Sync(); err != nil {
					b.Fatal(err)
				}
			})
		}
	}
}

// BenchmarkLinearTF32 times VGG's first classifier linear at batch 128
// (25088 -> 4096), forward and backward (dx, dw, db), in both maths, and
// reports TFLOP/s.
func BenchmarkLinearTF32(b *testing.B) {
	be := newBackend(b)
	const n, in, out = 128, 25088, 4096
	x, w, bias, y := be.New(tensor.Shape{n, in}), be.New(tensor.Shape{out, in}), be.New(tensor.Shape{out}), be.New(tensor.Shape{n, out})
	dx, dw, db := be.New(tensor.Shape{n, in}), be.New(tensor.Shape{out, in}), be.New(tensor.Shape{out})
	be.Upload(x, random(x.Numel(), 1))
	be.Upload(w, random(w.Numel(), 2))
	be.Upload(bias, random(out, 3))
	be.Upload(y, random(y.Numel(), 4)) // the backward's dy
	for _, m := range mathsOf(be) {
		if err := be.SetMath(m); err != nil {
			b.Fatal(err)
		}
		for _, pass := range []string{"forward", "backward"} {
			b.Run(m.String()+"/"+pass, func(b *testing.B) {
				flops := 2.0 * n * in * out
				for b.Loop() {
					if pass == "forward" {
						be.LinearForward(x, w, bias, y)
					} else {
						be.LinearBackward(x, w, y, dx, dw, db)
					}
				}
				if pass == "backward" {
					flops *= 2
				}
				if err := be.Sync(); err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e12, "TFLOP/s")
			})
		}
	}
}
