package cpu

import (
	"github.com/cnnctl/cnnctl/internal/tensor"
)

// Ops on BF16 tensors: the reference semantics of mixed precision
// (internal/layers/precision.go says which tensors are bf16). Every op
// that takes an activation or an activation gradient also takes it as
// BF16, any of its tensors in either dtype, and computes as a GPU kernel
// with bf16 storage does: widen each BF16 operand exactly on load, compute
// in float32 exactly as the F32 op does, round each BF16 output to nearest,
// ties to even (tensor.ToBF16) on store. emulate is that, once for every
// op: the op runs on float32 stand-ins of its BF16 tensors, then the
// stand-ins of its outputs are rounded into them. A GPU kernel accumulates
// in its own order, so it matches these results within the bf16 rounding
// of each output (tensortest's storage cases), not bit for bit.
//
// The stand-ins live in buffers the backend keeps per argument position,
// grown to the largest size asked for, so a step in mixed precision
// allocates nothing once every shape has been seen.

var _ tensor.BF16Storage = (*Backend)(nil)

// StoresBF16 is true: both engines run every op mixed precision uses on
// BF16 tensors, by emulate.
func (b *Backend) StoresBF16() bool { return true }

// hasBF16 reports whether any of ts (nil entries allowed) is BF16.
func hasBF16(ts ...*tensor.Tensor) bool {
	for _, t := range ts {
		if t != nil && t.DType == tensor.BF16 {
			return true
		}
	}
	return false
}

// emulate runs an op on float32 stand-ins of the BF16 tensors among ts (F32
// and nil entries pass through as they are): each BF16 tensor is checked
// as Copy checks it and widened; run is called with the list; then the
// stand-in of each BF16 tensor whose bit is set in outs is rounded back
// into it. A tensor listed twice (an op in place, y = x) gets one stand-in.
func (b *Backend) emulate(op string, ts []*tensor.Tensor, outs uint32, run func(f []*tensor.Tensor)) {
	c := b.call(op)
	f := make([]*tensor.Tensor, len(ts))
	bits := make([][]uint16, len(ts))
	for i, t := range ts {
		f[i] = t
		if t == nil || t.DType != tensor.BF16 {
			continue
		}
		if j := sameTensor(ts[:i], t); j >= 0 {
			f[i] = f[j] // an output listed twice is rounded once, from its first place
			if outs&(1<<i) != 0 {
				outs |= 1 << j
			}
			continue
		}
		v := c.raw("a bf16 operand", t)
		if !c.ok() {
			return
		}
		w := b.standIn(i, len(v.bf16))
		parallelElems(len(v.bf16), func(lo, hi int) { fromBF16(w[lo:hi], v.bf16[lo:hi]) })
		f[i] = &tensor.Tensor{Shape: t.Shape, Buf: &buffer{data: w}}
		bits[i] = v.bf16
	}
	run(f)
	if b.Err() != nil {
		return
	}
	for i := range ts {
		if outs&(1<<i) == 0 || bits[i] == nil {
			continue
		}
		w, h := f[i].Buf.(*buffer).data, bits[i]
		parallelElems(len(h), func(lo, hi int) { toBF16(h[lo:hi], w[lo:hi]) })
	}
}

// sameTensor returns the index in ts of a tensor viewing the same elements
// as t (an op called in place), or -1.
func sameTensor(ts []*tensor.Tensor, t *tensor.Tensor) int {
	for j, u := range ts {
		if u != nil && u.Buf == t.Buf && u.Off == t.Off && u.Numel() == t.Numel() && u.DType == t.DType {
			return j
		}
	}
	return -1
}

// standIn returns the float32 stand-in buffer of argument position i, n
// elements, contents undefined (emulate widens into it).
func (b *Backend) standIn(i, n int) []float32 {
	for len(b.standIns) <= i {
		b.standIns = append(b.standIns, nil)
	}
	if cap(b.standIns[i]) < n {
		b.standIns[i] = make([]float32, n)
	}
	return b.standIns[i][:n:n]
}
