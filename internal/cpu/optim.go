package cpu

import (
	"math"

	"github.com/cnnctl/cnnctl/internal/tensor"
)

// SGDUpdate: w, g, v (all one size), in place, as torch.optim.SGD (dampening 0):
//
//	g' = g + wd·w
//	v  = momentum·v + g'
//	w -= lr · (nesterov ? g' + momentum·v : v)
//
// g itself is left unchanged.
func (b *Backend) SGDUpdate(w, g, v *tensor.Tensor, p tensor.SGDParams) {
	c := b.call("sgd update")
	wd := c.data("w", w, 0)
	gd := c.data("g", g, 0)
	vd := c.data("v", v, 0)
	if !(len(wd) == len(gd) && len(wd) == len(vd)) {
		c.fail("w %v, g %v and v %v differ in size", w.Shape, g.Shape, v.Shape)
	}
	if !c.ok() {
		return
	}
	parallelElems(len(wd), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			grad := gd[i] + p.WeightDecay*wd[i]
			vd[i] = p.Momentum*vd[i] + grad
			step := vd[i]
			if p.Nesterov {
				step = grad + p.Momentum*vd[i]
			}
			wd[i] -= p.LR * step
		}
	})
}

// AdamUpdate: w, g, m, v (all one size), in place, as torch.optim.Adam
// (Decoupled false) or torch.optim.AdamW (Decoupled true), step t >= 1:
//
//	Adam:  g' = g + wd·w             AdamW: w = w·(1 - lr·wd), g' = g
//	m = β1·m + (1-β1)·g'
//	v = β2·v + (1-β2)·g'²
//	w -= lr/(1-β1^t) · m / (sqrt(v)/sqrt(1-β2^t) + eps)
//
// The bias corrections are computed in float64, the rest in float32.
func (b *Backend) AdamUpdate(w, g, m, v *tensor.Tensor, p tensor.AdamParams) {
	c := b.call("adam update")
	wd := c.data("w", w, 0)
	gd := c.data("g", g, 0)
	md := c.data("m", m, 0)
	vd := c.data("v", v, 0)
	if !(len(wd) == len(gd) && len(wd) == len(md) && len(wd) == len(vd)) {
		c.fail("w %v, g %v, m %v and v %v differ in size", w.Shape, g.Shape, m.Shape, v.Shape)
	}
	if !(p.Step >= 1) {
		c.fail("step %d, want >= 1", p.Step)
	}
	if !c.ok() {
		return
	}
	stepSize := float32(float64(p.LR) / (1 - math.Pow(float64(p.Beta1), float64(p.Step))))
	bc2Sqrt := float32(math.Sqrt(1 - math.Pow(float64(p.Beta2), float64(p.Step))))
	decay := float32(1)
	if p.Decoupled {
		decay = 1 - p.LR*p.WeightDecay
	}
	parallelElems(len(wd), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			grad := gd[i]
			if p.Decoupled {
				wd[i] *= decay
			} else {
				grad += p.WeightDecay * wd[i]
			}
			md[i] = p.Beta1*md[i] + (1-p.Beta1)*grad
			vd[i] = p.Beta2*vd[i] + (1-p.Beta2)*grad*grad
			denom := float32(math.Sqrt(float64(vd[i])))/bc2Sqrt + p.Eps
			wd[i] -= stepSize * md[i] / denom
		}
	})
}
