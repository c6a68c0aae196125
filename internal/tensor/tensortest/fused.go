package tensortest

import (
	"fmt"
	"math/rand/v2"

	"github.com/cnnctl/cnnctl/internal/tensor"
)

// fusedCases are the cases of the fused ops (tensor/fused.go). The CPU
// reference runs each fused op as its plain op sequence, so every backend's
// fused op is checked against that sequence. A backend without the fused
// interface runs the plain sequence itself (what internal/plan falls back
// to), so its case checks that fallback.
func fusedCases() []Case {
	var cs []Case
	// relu6 draws ReLU outputs: a third of them exactly 0.
	relu6 := func(r *rand.Rand) float32 { return max(0, 1.5*r.Float32()-0.5) }
	for _, s := range []tensor.Shape{{2, 3, 5, 5}, {33, 5, 4, 4}, {4, 33, 2, 3}, {2, 7}, {64, 65}, {8, 16, 10, 10}, {32, 16, 32, 32}} {
		p := tensor.BatchNormParams{Momentum: 0.1, Eps: 1e-5}
		c, name := s[1], s.String()
		x := with(in("x", s...), uniform(-2, 3))
		gamma, beta := with(in("gamma", c), uniform(0.5, 1.5)), in("beta", c)
		cs = append(cs,
			Case{Op: "BatchNormReLUForwardTrain", Name: name,
				Args: []Arg{x, gamma, beta, inout("runMean", signed, c), inout("runVar", uniform(0.5, 1.5), c), out("y", s...), out("saveMean", c), out("saveInvStd", c)},
				Run: func(be tensor.Backend, t Tensors) {
					if f, ok := be.(tensor.BatchNormReLU); ok {
						f.BatchNormReLUForwardTrain(t["x"], t["gamma"], t["beta"], t["runMean"], t["runVar"], t["y"], t["saveMean"], t["saveInvStd"], p)
						return
					}
					be.BatchNormForwardTrain(t["x"], t["gamma"], t["beta"], t["runMean"], t["runVar"], t["y"], t["saveMean"], t["saveInvStd"], p)
					be.ActivationForward(tensor.ReLU, t["y"], t["y"])
				}},
			Case{Op: "BatchNormReLUForwardInfer", Name: name,
				Args: []Arg{x, gamma, beta, in("runMean", c), with(in("runVar", c), uniform(0.5, 1.5)), out("y", s...)},
				Run: func(be tensor.Backend, t Tensors) {
					if f, ok := be.(tensor.BatchNormReLU); ok {
						f.BatchNormReLUForwardInfer(t["x"], t["gamma"], t["beta"], t["runMean"], t["runVar"], t["y"], p)
						return
					}
					be.BatchNormForwardInfer(t["x"], t["gamma"], t["beta"], t["runMean"], t["runVar"], t["y"], p)
					be.ActivationForward(tensor.ReLU, t["y"], t["y"])
				}},
			Case{Op: "BatchNormReLUBackward", Name: name,
				Args: []Arg{x, with(in("y", s...), relu6), in("dy", s...), gamma,
					with(in("saveMean", c), uniform(0, 1)), with(in("saveInvStd", c), uniform(0.5, 2)),
					out("dx", s...), out("dgamma", c), out("dbeta", c)},
				Run: func(be tensor.Backend, t Tensors) {
					if f, ok := be.(tensor.BatchNormReLU); ok {
						f.BatchNormReLUBackward(t["x"], t["y"], t["dy"], t["gamma"], t["saveMean"], t["saveInvStd"], t["dx"], t["dgamma"], t["dbeta"])
						return
					}
					be.ActivationBackward(tensor.ReLU, t["y"], t["dy"], t["dx"])
					be.BatchNormBackward(t["x"], t["dx"], t["gamma"], t["saveMean"], t["saveInvStd"], t["dx"], t["dgamma"], t["dbeta"])
				}},
		)
	}
	for i, g := range ConvGeometries() {
		// The residual on every other geometry; ReLU on all but the third.
		for _, e := range []struct{ residual, relu bool }{{false, true}, {true, true}, {true, false}} {
			if e.residual && i%2 == 1 {
				continue
			}
			oh, ow, p := g.OH(), g.OW(), g.P
			args := []Arg{in("x", g.N, g.C, g.H, g.W), in("w", g.K, g.C, g.R, g.S), out("y", g.N, g.K, oh, ow)}
			if g.Bias {
				args = append(args, in("b", g.K))
			}
			if e.residual {
				args = append(args, in("residual", g.N, g.K, oh, ow))
			}
			relu := e.relu
			cs = append(cs, Case{Op: "Conv2DForwardEpilogue", Name: fmt.Sprintf("%s residual=%t relu=%t", g.Name(), e.residual, e.relu), Args: args,
				Run: func(be tensor.Backend, t Tensors) {
					if f, ok := be.(tensor.ConvEpilogue); ok {
						f.Conv2DForwardEpilogue(t["x"], t["w"], t["b"], t["y"], p, tensor.Epilogue{Residual: t["residual"], ReLU: relu})
						return
					}
					be.Conv2DForward(t["x"], t["w"], t["b"], t["y"], p)
					if t["residual"] != nil {
						be.Add(t["y"], t["residual"], t["y"])
					}
					if relu {
						be.ActivationForward(tensor.ReLU, t["y"], t["y"])
					}
				}})
		}
	}
	for _, g := range ConvGeometries() {
		oh, ow, p := g.OH(), g.OW(), g.P
		if g.N*oh*ow < 2 {
			continue // training statistics need two values per channel
		}
		bp := tensor.BatchNormParams{Momentum: 0.1, Eps: 1e-5}
		for _, relu := range []bool{false, true} {
			args := []Arg{in("x", g.N, g.C, g.H, g.W), in("w", g.K, g.C, g.R, g.S), out("y", g.N, g.K, oh, ow),
				with(in("gamma", g.K), uniform(0.5, 1.5)), in("beta", g.K), inout("runMean", signed, g.K),
				inout("runVar", uniform(0.5, 1.5), g.K), out("z", g.N, g.K, oh, ow), out("saveMean", g.K), out("saveInvStd", g.K)}
			if g.Bias {
				args = append(args, in("b", g.K))
			}
			cs = append(cs, Case{Op: "ConvBatchNormForwardTrain", Name: fmt.Sprintf("%s relu=%t", g.Name(), relu), Args: args,
				Run: func(be tensor.Backend, t Tensors) {
					bn := tensor.BatchNormTrain{Gamma: t["gamma"], Beta: t["beta"], RunMean: t["runMean"], RunVar: t["runVar"],
						Y: t["z"], SaveMean: t["saveMean"], SaveInvStd: t["saveInvStd"], P: bp}
					if f, ok := be.(tensor.ConvBatchNorm); ok {
						f.ConvBatchNormForwardTrain(t["x"], t["w"], t["b"], t["y"], p, bn, relu)
						return
					}
					be.Conv2DForward(t["x"], t["w"], t["b"], t["y"], p)
					be.BatchNormForwardTrain(t["y"], bn.Gamma, bn.Beta, bn.RunMean, bn.RunVar, bn.Y, bn.SaveMean, bn.SaveInvStd, bp)
					if relu {
						be.ActivationForward(tensor.ReLU, bn.Y, bn.Y)
					}
				}})
		}
	}
	// Convolution then evaluation-mode batch norm (then ReLU): the zoo's
	// conv, BN (, ReLU) in evaluation, on the shared geometries and two of
	// ResNet's (large enough for the indirect paths).
	sq := func(stride int) tensor.ConvParams {
		return tensor.ConvParams{StrideH: stride, StrideW: stride, PadH: 1, PadW: 1}
	}
	geoms := append(ConvGeometries(), Conv{5, 16, 16, 16, 16, 3, 3, sq(1), false}, Conv{3, 16, 16, 16, 32, 3, 3, sq(2), false})
	for i, g := range geoms {
		oh, ow, p := g.OH(), g.OW(), g.P
		bp := tensor.BatchNormParams{Momentum: 0.1, Eps: 1e-5}
		for _, relu := range []bool{true, false} {
			if !relu && i%2 == 1 {
				continue
			}
			args := []Arg{in("x", g.N, g.C, g.H, g.W), in("w", g.K, g.C, g.R, g.S), out("y", g.N, g.K, oh, ow),
				with(in("gamma", g.K), uniform(0.5, 1.5)), in("beta", g.K), in("runMean", g.K), with(in("runVar", g.K), uniform(0.5, 1.5))}
			if g.Bias {
				args = append(args, in("b", g.K))
			}
			cs = append(cs, Case{Op: "Conv2DBatchNormInfer", Name: fmt.Sprintf("%s relu=%t", g.Name(), relu), Args: args,
				Run: func(be tensor.Backend, t Tensors) {
					if f, ok := be.(tensor.ConvBatchNormInfer); ok {
						f.Conv2DBatchNormInfer(t["x"], t["w"], t["b"], t["y"], p, t["gamma"], t["beta"], t["runMean"], t["runVar"], bp, relu)
						return
					}
					be.Conv2DForward(t["x"], t["w"], t["b"], t["y"], p)
					be.BatchNormForwardInfer(t["y"], t["gamma"], t["beta"], t["runMean"], t["runVar"], t["y"], bp)
					if relu {
						be.ActivationForward(tensor.ReLU, t["y"], t["y"])
					}
				}})
		}
	}
	addReLU := func(be tensor.Backend, a, b, y *tensor.Tensor) {
		if f, ok := be.(tensor.AddReLU); ok {
			f.AddReLU(a, b, y)
			return
		}
		be.Add(a, b, y)
		be.ActivationForward(tensor.ReLU, y, y)
	}
	for _, s := range []tensor.Shape{{1}, {5, 3}, {2, 3, 7, 7}, {33, 8, 16, 16}, {16, 64, 8, 8}} {
		cs = append(cs,
			Case{Op: "AddReLU", Name: s.String(), Args: []Arg{in("a", s...), in("b", s...), out("y", s...)},
				Run: func(be tensor.Backend, t Tensors) { addReLU(be, t["a"], t["b"], t["y"]) }},
			Case{Op: "AddReLU", Name: s.String() + " y=a", Args: []Arg{inout("a", signed, s...), in("b", s...)},
				Run: func(be tensor.Backend, t Tensors) { addReLU(be, t["a"], t["b"], t["a"]) }},
			Case{Op: "AddReLU", Name: s.String() + " y=b", Args: []Arg{in("a", s...), inout("b", signed, s...)},
				Run: func(be tensor.Backend, t Tensors) { addReLU(be, t["a"], t["b"], t["b"]) }},
		)
	}
	return cs
}
