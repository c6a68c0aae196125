package tensortest

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/cnnctl/cnnctl/internal/tensor"
)

// constant is an Init that gives v everywhere (counters, flags, indices).
func constant(v float32) func(*rand.Rand) float32 { return func(*rand.Rand) float32 { return v } }

// stepOps is be's tensor.StepOps; a backend without them runs nothing, so
// its case fails on the untouched outputs.
func stepOps(be tensor.Backend) tensor.StepOps {
	ops, _ := be.(tensor.StepOps)
	return ops
}

// stepCases are the cases of tensor.StepOps: the updates reading their
// learning rate (and Adam's step) from tensors, with the skip flag clear
// and set, the step metrics, the counters, and dropout with its counter
// read from a tensor (tensor.DropoutAt).
func stepCases() []Case {
	var cs []Case
	lrs := with(in("lrs", 5), uniform(0.01, 0.1))
	for _, skip := range []float32{0, 1} {
		for _, n := range []int{1, 1001, 70001} {
			p := tensor.SGDParams{Momentum: 0.9, WeightDecay: 5e-4, Nesterov: n == 1001}
			cs = append(cs, Case{Op: "SGDUpdateAt", Name: fmt.Sprintf("n%d at3 skip%g nesterov=%t", n, skip, p.Nesterov),
				Args: []Arg{inout("w", signed, n), in("g", n), inout("v", signed, n), lrs, with(in("at", 1), constant(3)), with(in("skip", 1), constant(skip))},
				Run: func(be tensor.Backend, t Tensors) {
					if ops := stepOps(be); ops != nil {
						ops.SGDUpdateAt(t["w"], t["g"], t["v"], t["lrs"], t["at"], t["skip"], p)
					}
				}})
			for _, step := range []float32{1, 1000} {
				p := tensor.AdamParams{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 1e-2, Decoupled: step == 1}
				cs = append(cs, Case{Op: "AdamUpdateAt", Name: fmt.Sprintf("n%d at4 step%g skip%g decoupled=%t", n, step, skip, p.Decoupled),
					Args: []Arg{inout("w", signed, n), in("g", n), inout("m", uniform(-0.1, 0.1), n), inout("v", uniform(0, 0.1), n),
						lrs, with(in("at", 1), constant(4)), with(in("step", 1), constant(step)), with(in("skip", 1), constant(skip))},
					Run: func(be tensor.Backend, t Tensors) {
						if ops := stepOps(be); ops != nil {
							ops.AdamUpdateAt(t["w"], t["g"], t["m"], t["v"], t["lrs"], t["at"], t["step"], t["skip"], p)
						}
					}})
			}
		}
	}
	inf := float32(math.Inf(1))
	for _, g := range []struct {
		n, k int
		what string
		loss func(*rand.Rand) float32
	}{{1, 10, "finite", uniform(0, 3)}, {128, 10, "finite", uniform(0, 3)}, {300, 1000, "finite", uniform(0, 8)}, {7, 3, "inf", constant(inf)}} {
		cs = append(cs, Case{Op: "StepMetrics", Name: fmt.Sprintf("N%d K%d loss %s", g.n, g.k, g.what),
			Args: []Arg{with(in("loss", g.n), g.loss), with(in("logits", g.n, g.k), signed), with(in("labels", g.n), class(g.k)),
				inout("acc", constant(-1), 8), with(in("at", 1), constant(2)), inout("flag", constant(0), 1)},
			Run: func(be tensor.Backend, t Tensors) {
				if ops := stepOps(be); ops != nil {
					ops.StepMetrics(t["loss"], t["logits"], t["labels"], t["acc"], t["at"], t["flag"])
				}
			}})
	}
	for _, g := range []struct {
		n       int
		counter float32
	}{{1, 0}, {1001, 12345}, {70001, 1 << 24}} {
		cs = append(cs, Case{Op: "DropoutForwardAt", Name: fmt.Sprintf("n%d p0.5 counter%g", g.n, g.counter),
			Args: []Arg{in("x", g.n), with(in("counter", 1), constant(g.counter)), out("mask", g.n), out("y", g.n)},
			Run: func(be tensor.Backend, t Tensors) {
				if at, ok := be.(tensor.DropoutAt); ok {
					at.DropoutForwardAt(t["x"], t["mask"], t["y"], 0.5, 0xdeadbeefcafe, t["counter"])
				}
			}})
	}
	for _, n := range []int{1, 3, 1001} {
		cs = append(cs, Case{Op: "AddScalar", Name: fmt.Sprintf("n%d", n), Args: []Arg{inout("t", class(100), n)},
			Run: func(be tensor.Backend, t Tensors) {
				if ops := stepOps(be); ops != nil {
					ops.AddScalar(t["t"], 1)
				}
			}})
	}
	return cs
}
