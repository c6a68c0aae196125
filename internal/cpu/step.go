package cpu

import (
	"math"

	"github.com/cnnctl/cnnctl/internal/tensor"
)

var _ tensor.StepOps = (*Backend)(nil)

// index reads the whole number held by the 1-element tensor at, checking
// that it indexes a table of n entries.
func (c *call) index(name string, at *tensor.Tensor, n int) int {
	d := c.data(name, at, 0)
	if !(len(d) == 1) {
		c.fail("%s is %v, want one element", name, at.Shape)
	}
	if c.err != nil {
		return 0
	}
	i := int(d[0])
	if !(float32(i) == d[0] && i >= 0 && i < n) {
		c.fail("%s = %g is not an index below %d", name, d[0], n)
	}
	return i
}

// skip reads the 1-element flag: true when it is set (non-zero).
func (c *call) skip(flag *tensor.Tensor) bool {
	d := c.data("skip", flag, 0)
	if !(len(d) == 1) {
		c.fail("skip is %v, want one element", flag.Shape)
	}
	return !c.ok() || d[0] != 0
}

// SGDUpdateAt is SGDUpdate with LR = lrs[at[0]]: the same loop, so the
// same bits.
func (b *Backend) SGDUpdateAt(w, g, v, lrs, at, skip *tensor.Tensor, p tensor.SGDParams) {
	c := b.call("sgd update")
	lr := c.data("lrs", lrs, 1)
	i := c.index("at", at, len(lr))
	if !c.ok() || c.skip(skip) {
		return
	}
	p.LR = lr[i]
	b.SGDUpdate(w, g, v, p)
}

// AdamUpdateAt is AdamUpdate with LR = lrs[at[0]] and Step = step[0].
func (b *Backend) AdamUpdateAt(w, g, m, v, lrs, at, step, skip *tensor.Tensor, p tensor.AdamParams) {
	c := b.call("adam update")
	lr := c.data("lrs", lrs, 1)
	i := c.index("at", at, len(lr))
	t := c.index("step", step, 1<<24+1)
	if !c.ok() || c.skip(skip) {
		return
	}
	p.LR, p.Step = lr[i], t
	b.AdamUpdate(w, g, m, v, p)
}

// StepMetrics: loss (N), logits (N,K), labels (N) -> acc[2i], acc[2i+1]
// with i = at[0]; flag[0] = 1 on a non-finite mean loss.
func (b *Backend) StepMetrics(loss, logits, labels, acc, at, flag *tensor.Tensor) {
	c := b.call("step metrics")
	ld := c.data("loss", loss, 1)
	zd := c.data("logits", logits, 2)
	yd := c.data("labels", labels, 1)
	ad := c.data("acc", acc, 1)
	fd := c.data("flag", flag, 0)
	i := c.index("at", at, len(ad)/2)
	if c.err == nil {
		n := len(ld)
		if !(n > 0 && logits.Shape[0] == n && len(yd) == n) {
			c.fail("loss %v, logits %v and labels %v disagree on the batch", loss.Shape, logits.Shape, labels.Shape)
		}
		if !(len(fd) == 1) {
			c.fail("flag is %v, want one element", flag.Shape)
		}
	}
	if !c.ok() {
		return
	}
	mean, correct := tensor.StepMetrics(ld, zd, yd)
	ad[2*i], ad[2*i+1] = mean, float32(correct)
	if f := float64(mean); math.IsNaN(f) || math.IsInf(f, 0) {
		fd[0] = 1
	}
}

// AddScalar: t += v elementwise.
func (b *Backend) AddScalar(t *tensor.Tensor, v float32) {
	c := b.call("add scalar")
	d := c.data("t", t, 0)
	if c.ok() {
		for i := range d {
			d[i] += v
		}
	}
}
