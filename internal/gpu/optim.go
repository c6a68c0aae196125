//go:build cuda

package gpu

import (
	"math"

	"github.com/cnnctl/cnnctl/internal/tensor"
)

// SGDUpdate updates w in place from g with velocity v (torch.optim.SGD).
func (b *Backend) SGDUpdate(w, g, v *tensor.Tensor, p tensor.SGDParams) {
	c := b.call("sgd update")
	wp, gp, vp := c.ptr("w", w, 0), c.ptr("g", g, 0), c.ptr("v", v, 0)
	c.check(c.err != nil || w.Numel() == g.Numel() && w.Numel() == v.Numel(),
		"w %v, g %v and v %v differ in size", w.Shape, g.Shape, v.Shape)
	c.launch("sgd_update", b.grid1D(w.Numel()), wp, gp, vp, int64(w.Numel()), p.LR, p.Momentum, p.WeightDecay, p.Nesterov)
}

// AdamUpdate updates w in place from g with moments m and v (torch.optim.Adam
// or AdamW); the bias corrections are computed here as internal/cpu does.
func (b *Backend) AdamUpdate(w, g, m, v *tensor.Tensor, p tensor.AdamParams) {
	c := b.call("adam update")
	wp, gp, mp, vp := c.ptr("w", w, 0), c.ptr("g", g, 0), c.ptr("m", m, 0), c.ptr("v", v, 0)
	c.check(c.err != nil || w.Numel() == g.Numel() && w.Numel() == m.Numel() && w.Numel() == v.Numel(),
		"w %v, g %v, m %v and v %v differ in size", w.Shape, g.Shape, m.Shape, v.Shape)
	c.check(p.Step >= 1, "step %d, want >= 1", p.Step)
	stepSize := float32(float64(p.LR) / (1 - math.Pow(float64(p.Beta1), float64(p.Step))))
	bc2Sqrt := float32(math.Sqrt(1 - math.Pow(float64(p.Beta2), float64(p.Step))))
	decay := float32(1)
	if p.Decoupled {
		decay = 1 - p.LR*p.WeightDecay
	}
	c.launch("adam_update", b.grid1D(w.Numel()), wp, gp, mp, vp, int64(w.Numel()),
		p.Beta1, p.Beta2, p.Eps, p.WeightDecay, p.Decoupled, stepSize, bc2Sqrt, decay)
}
