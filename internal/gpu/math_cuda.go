//go:build cuda

package gpu

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
)

// SetMath chooses the convolutions' arithmetic for the ops queued from now
// on: Select runs again with the backend's options and math m. MathTF32
// and MathBF16 need a GPU of compute capability 8.0 or later.
//
// The default stays MathFP32 until a GPU run has verified the TF32 kernels
// (TestBackendTF32 in docs/gpu-results.md); then it is to become TF32, as
// PyTorch's default for convolutions is.
func (b *Backend) SetMath(m Math) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	o := b.opts
	o.Math = m
	sel, err := Select(Kernels(), b.info.SM(), o)
	if err != nil {
		return fmt.Errorf("gpu: set math: %s: %w", b.info.Name, err)
	}
	b.opts, b.sel = o, sel
	return nil
}

// Math is the convolutions' arithmetic chosen by the options or SetMath.
func (b *Backend) Math() Math {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.opts.Math
}

// kernel is the kernel Select chose for slot (the name of its fp32
// kernel); a slot Select does not know runs its fp32 kernel.
func (b *Backend) kernel(slot string) Kernel {
	b.mu.Lock()
	defer b.mu.Unlock()
	if k, ok := b.sel[slot]; ok {
		return k
	}
	return Kernel{Slot: slot, Variant: "fp32", Math: MathFP32, Name: slot}
}

// Selected returns the kernel chosen for each slot, by op and slot.
func (b *Backend) Selected() []Kernel {
	b.mu.Lock()
	defer b.mu.Unlock()
	ks := slices.Collect(maps.Values(b.sel))
	slices.SortFunc(ks, func(x, y Kernel) int {
		if x.Op != y.Op {
			return cmp.Compare(x.Op, y.Op)
		}
		return cmp.Compare(x.Slot, y.Slot)
	})
	return ks
}
