//go:build cuda

package gpu

import "github.com/cnnctl/cnnctl/internal/tensor"

var _ tensor.StepOps = (*Backend)(nil)

// scalar checks that t holds one element and returns its pointer.
func (c *call) scalar(name string, t *tensor.Tensor) any {
	p := c.ptr(name, t, 0)
	c.check(c.err != nil || t.Numel() == 1, "%s is %v, want one element", name, t.Shape)
	return p
}

// SGDUpdateAt is SGDUpdate with LR = lrs[at[0]] read by the kernel; no
// update while skip[0] != 0.
func (b *Backend) SGDUpdateAt(w, g, v, lrs, at, skip *tensor.Tensor, p tensor.SGDParams) {
	c := b.call("sgd update")
	wp, gp, vp, lp := c.ptr("w", w, 0), c.ptr("g", g, 0), c.ptr("v", v, 0), c.ptr("lrs", lrs, 1)
	ap, sp := c.scalar("at", at), c.scalar("skip", skip)
	c.check(c.err != nil || w.Numel() == g.Numel() && w.Numel() == v.Numel(),
		"w %v, g %v and v %v differ in size", w.Shape, g.Shape, v.Shape)
	c.launch("sgd_update_at", b.grid1D(w.Numel()), wp, gp, vp, int64(w.Numel()), lp, lrs.Numel(), ap, sp,
		p.Momentum, p.WeightDecay, p.Nesterov)
}

// AdamUpdateAt is AdamUpdate with LR = lrs[at[0]] and Step = step[0] read
// by the kernel, which computes the bias corrections; no update while
// skip[0] != 0.
func (b *Backend) AdamUpdateAt(w, g, m, v, lrs, at, step, skip *tensor.Tensor, p tensor.AdamParams) {
	c := b.call("adam update")
	wp, gp, mp, vp, lp := c.ptr("w", w, 0), c.ptr("g", g, 0), c.ptr("m", m, 0), c.ptr("v", v, 0), c.ptr("lrs", lrs, 1)
	ap, tp, sp := c.scalar("at", at), c.scalar("step", step), c.scalar("skip", skip)
	c.check(c.err != nil || w.Numel() == g.Numel() && w.Numel() == m.Numel() && w.Numel() == v.Numel(),
		"w %v, g %v, m %v and v %v differ in size", w.Shape, g.Shape, m.Shape, v.Shape)
	c.launch("adam_update_at", b.grid1D(w.Numel()), wp, gp, mp, vp, int64(w.Numel()), lp, lrs.Numel(), ap, tp, sp,
		p.Beta1, p.Beta2, p.Eps, p.WeightDecay, p.Decoupled)
}

// StepMetrics records a batch's mean loss and top-1 hits in slot at[0] of
// acc, in one block; flag[0] = 1 on a non-finite mean.
func (b *Backend) StepMetrics(loss, logits, labels, acc, at, flag *tensor.Tensor) {
	c := b.call("step metrics")
	lp, zp, yp, accp := c.ptr("loss", loss, 1), c.ptr("logits", logits, 2), c.ptr("labels", labels, 1), c.ptr("acc", acc, 1)
	ap, fp := c.scalar("at", at), c.scalar("flag", flag)
	if c.err == nil {
		n := loss.Numel()
		c.check(n > 0 && logits.Shape[0] == n && labels.Numel() == n, "loss %v, logits %v and labels %v disagree on the batch", loss.Shape, logits.Shape, labels.Shape)
	}
	if c.err != nil {
		c.ok()
		return
	}
	c.launch("step_metrics", dims{gx: 1, gy: 1, gz: 1, block: threads}, lp, zp, yp, accp, ap, fp,
		loss.Numel(), logits.Shape[1], acc.Numel()/2)
}

// AddScalar adds v to every element of t.
func (b *Backend) AddScalar(t *tensor.Tensor, v float32) {
	c := b.call("add scalar")
	tp := c.ptr("t", t, 0)
	c.launch("add_scalar", b.grid1D(t.Numel()), tp, int64(t.Numel()), v)
}
