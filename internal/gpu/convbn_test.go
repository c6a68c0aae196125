//go:build cuda

package gpu

import (
	"fmt"
	"math"
	"testing"

	"github.com/cnnctl/cnnctl/internal/cpu"
	"github.com/cnnctl/cnnctl/internal/tensor"
	"github.com/cnnctl/cnnctl/internal/tensor/tensortest"
)

// bnState is a batch norm's parameters, running statistics and outputs on
// one backend, for ConvBatchNormForwardTrain's tests.
type bnState struct {
	gamma, beta, runMean, runVar, z, saveMean, saveInvStd *tensor.Tensor
}

func newBNState(be tensor.Backend, ys tensor.Shape, gamma, beta, runMean, runVar []float32) bnState {
	up := func(v []float32) *tensor.Tensor {
		t := be.New(tensor.Shape{len(v)})
		be.Upload(t, v)
		return t
	}
	s := bnState{gamma: up(gamma), beta: up(beta), runMean: up(runMean), runVar: up(runVar), z: be.New(ys),
		saveMean: be.New(tensor.Shape{ys[1]}), saveInvStd: be.New(tensor.Shape{ys[1]})}
	for _, t := range []*tensor.Tensor{s.z, s.saveMean, s.saveInvStd} {
		be.Fill(t, float32(math.NaN()))
	}
	return s
}

func (s bnState) train(p tensor.BatchNormParams) tensor.BatchNormTrain {
	return tensor.BatchNormTrain{Gamma: s.gamma, Beta: s.beta, RunMean: s.runMean, RunVar: s.runVar, Y: s.z,
		SaveMean: s.saveMean, SaveInvStd: s.saveInvStd, P: p}
}

// outputs downloads z, the saved and the running statistics.
func (s bnState) outputs(be tensor.Backend) map[string][]float32 {
	out := map[string][]float32{}
	for name, t := range map[string]*tensor.Tensor{"y": s.z, "saveMean": s.saveMean, "saveInvStd": s.saveInvStd, "runMean": s.runMean, "runVar": s.runVar} {
		v := make([]float32, t.Numel())
		be.Download(v, t)
		out[name] = v
	}
	return out
}

func (s bnState) free(be tensor.Backend) {
	for _, t := range []*tensor.Tensor{s.gamma, s.beta, s.runMean, s.runVar, s.z, s.saveMean, s.saveInvStd} {
		be.Free(t)
	}
}

// TestConvBatchNorm: ConvBatchNormForwardTrain against the unfused GPU
// path (Conv2DForward, then BatchNormForwardTrain or
// BatchNormReLUForwardTrain) and the CPU reference's batch norm of the
// same convolution output, in each math, for every shape class (the
// small-channel first layers, 1x1 in its 4- and 16-byte forms (PQ = 49,
// then PQ = 196 and C = 32 with aligned tensors), wide; rows and channels
// not multiples of the 128x64 tile) and a bias that puts the means 100 to 1000 standard
// deviations from zero; every output NaN-filled first. The convolution's
// output is the plain forward's bit for bit (the same kernel's sums and
// epilogue). In fp32 the fused op is the plain ops, so every output is
// theirs bit for bit. In tf32 and bf16 the statistics come from the
// epilogue (kernels/bnstats.cuh): double-precision moments within 2⁻³⁵
// relative of float64 for these shapes, so the outputs agree with the
// CPU reference's batch norm of the same y within TestBackend's fp32
// tolerance (tensortest.Compare), as the unfused kernels do; the
// emulation (internal/kernelhost, TestBNForwardPartialsMatchesCPU) holds
// the same tolerance without a GPU.
func TestConvBatchNorm(t *testing.T) {
	be := newBackend(t)
	ref := cpu.NewReference()
	sq := tensor.ConvParams{StrideH: 1, StrideW: 1, PadH: 1, PadW: 1}
	geoms := []tensortest.Conv{
		{N: 4, C: 3, H: 32, W: 32, K: 64, R: 3, S: 3, P: sq, Bias: true},                                         // small-c
		{N: 3, C: 48, H: 7, W: 7, K: 70, R: 1, S: 1, P: tensor.ConvParams{StrideH: 1, StrideW: 1}, Bias: true},   // 1x1, ragged
		{N: 3, C: 32, H: 14, W: 14, K: 40, R: 1, S: 1, P: tensor.ConvParams{StrideH: 1, StrideW: 1}, Bias: true}, // 1x1, 16-byte form in tf32
		{N: 8, C: 64, H: 16, W: 16, K: 128, R: 3, S: 3, P: sq},                                                   // wide
		{N: 2, C: 16, H: 9, W: 11, K: 5, R: 3, S: 3, P: tensor.ConvParams{StrideH: 2, StrideW: 2, PadH: 1, PadW: 1}, Bias: true},
	}
	bp := tensor.BatchNormParams{Momentum: 0.1, Eps: 1e-5}
	for _, m := range mathsOf(be) {
		if err := be.SetMath(m); err != nil {
			t.Fatal(err)
		}
		for gi, g := range geoms {
			for _, relu := range []bool{false, true} {
				name := fmt.Sprintf("%v/%v/relu=%v", m, g, relu)
				t.Run(name, func(t *testing.T) {
					xs, ws, ys := tensor.Shape{g.N, g.C, g.H, g.W}, tensor.Shape{g.K, g.C, g.R, g.S}, tensor.Shape{g.N, g.K, g.OH(), g.OW()}
					x, w, y1, y2 := be.New(xs), be.New(ws), be.New(ys), be.New(ys)
					var b *tensor.Tensor
					if g.Bias {
						bv := random(g.K, uint64(gi)+3)
						for i := range bv {
							bv[i] *= 1000
						}
						b = be.New(tensor.Shape{g.K})
						be.Upload(b, bv)
					}
					be.Upload(x, random(x.Numel(), uint64(gi)+1))
					be.Upload(w, random(w.Numel(), uint64(gi)+2))
					be.Fill(y1, float32(math.NaN()))
					be.Fill(y2, float32(math.NaN()))
					k := g.K
					gamma, beta, rm, rv := random(k, 7), random(k, 8), random(k, 9), random(k, 10)
					for i := range rv {
						rv[i] = 1 + rv[i]*rv[i]
					}
					plain, fused := newBNState(be, ys, gamma, beta, rm, rv), newBNState(be, ys, gamma, beta, rm, rv)
					defer func() {
						plain.free(be)
						fused.free(be)
						for _, v := range []*tensor.Tensor{x, w, b, y1, y2} {
							if v != nil {
								be.Free(v)
							}
						}
					}()
					be.Conv2DForward(x, w, b, y1, g.P)
					if relu {
						be.BatchNormReLUForwardTrain(y1, plain.gamma, plain.beta, plain.runMean, plain.runVar, plain.z, plain.saveMean, plain.saveInvStd, bp)
					} else {
						be.BatchNormForwardTrain(y1, plain.gamma, plain.beta, plain.runMean, plain.runVar, plain.z, plain.saveMean, plain.saveInvStd, bp)
					}
					be.ConvBatchNormForwardTrain(x, w, b, y2, g.P, fused.train(bp), relu)
					want, got := plain.outputs(be), fused.outputs(be)
					yv1, yv2 := make([]float32, y1.Numel()), make([]float32, y2.Numel())
					be.Download(yv1, y1)
					be.Download(yv2, y2)
					if err := be.Sync(); err != nil {
						t.Fatal(err)
					}
					sameBits(t, "convolution output", yv2, yv1)
					if m == MathFP32 {
						for name, v := range want {
							sameBits(t, name, got[name], v)
						}
						return
					}
					// The CPU reference's batch norm of the same y.
					r := newBNState(ref, ys, gamma, beta, rm, rv)
					ry := ref.New(ys)
					ref.Upload(ry, yv2)
					ref.BatchNormForwardTrain(ry, r.gamma, r.beta, r.runMean, r.runVar, r.z, r.saveMean, r.saveInvStd, bp)
					if relu {
						ref.ActivationForward(tensor.ReLU, r.z, r.z)
					}
					cpuOut := r.outputs(ref)
					if err := ref.Err(); err != nil {
						t.Fatal(err)
					}
					for name, v := range cpuOut {
						for who, o := range map[string]map[string][]float32{"fused": got, "unfused": want} {
							if i, e := tensortest.Compare(o[name], v); e > 1 {
								t.Errorf("%s %s[%d] = %g, CPU reference %g (%.3g × tolerance)", who, name, i, o[name][i], v[i], e)
							}
						}
					}
				})
			}
		}
	}
}

// BenchmarkConvBatchNorm times a resnet block's convolution (128x64x32x32,
// 3x3, 64 filters) and its training batch norm + ReLU, fused
// (ConvBatchNormForwardTrain: the statistics in the convolution's
// epilogue) and as the plain ops (Conv2DForward, BatchNormReLUForwardTrain),
// in each math; the ratio is what the fusion saves.
func BenchmarkConvBatchNorm(b *testing.B) {
	be := newBackend(b)
	s := tensor.Shape{128, 64, 32, 32}
	x, w, y := be.New(s), be.New(tensor.Shape{64, 64, 3, 3}), be.New(s)
	be.Upload(x, random(x.Numel(), 1))
	be.Upload(w, random(w.Numel(), 2))
	bn := newBNState(be, s, random(64, 3), random(64, 4), random(64, 5), random(64, 6))
	bp := tensor.BatchNormParams{Momentum: 0.1, Eps: 1e-5}
	p := tensor.ConvParams{StrideH: 1, StrideW: 1, PadH: 1, PadW: 1}
	for _, m := range mathsOf(be) {
		if err := be.SetMath(m); err != nil {
			b.Fatal(err)
		}
		for _, fused := range []bool{false, true} {
			b.Run(fmt.Sprintf("%v/fused=%v", m, fused), func(b *testing.B) {
				for b.Loop() {
					if fused {
						be.ConvBatchNormForwardTrain(x, w, nil, y, p, bn.train(bp), true)
					} else {
						be.Conv2DForward(x, w, nil, y, p)
						be.BatchNormReLUForwardTrain(y, bn.gamma, bn.beta, bn.runMean, bn.runVar, bn.z, bn.saveMean, bn.saveInvStd, bp)
					}
				}
				if err := be.Sync(); err != nil {
					b.Fatal(err)
				}
			})
		}
	}
}
