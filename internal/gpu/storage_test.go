//go:build cuda

package gpu

import (
	"strings"
	"testing"

	"github.com/cnnctl/cnnctl/internal/tensor"
	"github.com/cnnctl/cnnctl/internal/tensor/tensortest"
)

// storageOps are the ops with bf16-storage kernels (storage.go).
var storageOps = map[string]bool{"ActivationForward": true, "ActivationBackward": true, "Add": true, "AddReLU": true, "Mul": true,
	"ShortcutPadForward": true, "ShortcutPadBackward": true, "CopyChannels": true, "ExtractChannels": true,
	"MaxPool2DForward": true, "MaxPool2DBackward": true, "AvgPool2DForward": true, "AvgPool2DBackward": true,
	"DropoutForward": true, "DropoutForwardAt": true}

// TestStorageKernels runs the bf16-storage kernels on their ops' storage
// cases (tensortest.StorageCases: bf16 activations and gradients, outputs
// NaN-poisoned, guard cells, in-place calls) against the CPU reference's
// widen, compute in float32, round; bf16 outputs are held to
// tensortest.StoredTolerance.
func TestStorageKernels(t *testing.T) {
	be := newBackend(t)
	var cs []tensortest.Case
	for _, c := range tensortest.StorageCases() {
		if storageOps[c.Op] {
			cs = append(cs, c)
		}
	}
	if len(cs) < 20 {
		t.Fatalf("%d storage cases of %v", len(cs), storageOps)
	}
	tensortest.CheckCases(t, be, cs)
}

// TestStorageRefuses: an op given a dtype combination it has no kernel
// for records an error naming the op and the dtypes, and writes nothing.
func TestStorageRefuses(t *testing.T) {
	for _, c := range []struct {
		name string
		run  func(be *Backend, f, h *tensor.Tensor)
		want string
	}{
		{"activation forward f32 -> bf16", func(be *Backend, f, h *tensor.Tensor) { be.ActivationForward(tensor.ReLU, f, h) }, "activation forward: takes all f32 or x bf16, y bf16"},
		{"add with a float32 b", func(be *Backend, f, h *tensor.Tensor) { be.Add(h, f, h) }, "add: takes all f32 or a bf16, b bf16, y bf16"},
		{"maxpool2d f32 -> bf16", func(be *Backend, f, h *tensor.Tensor) {
			be.MaxPool2DForward(f.View(tensor.Shape{1, 1, 2, 4}), h.View(tensor.Shape{1, 1, 1, 2}), tensor.PoolParams{R: 2, S: 2, StrideH: 2, StrideW: 2})
		}, "maxpool2d forward: takes all f32 or x bf16, y bf16"},
		{"batch norm on bf16 (no kernel yet)", func(be *Backend, f, h *tensor.Tensor) {
			be.BatchNormForwardInfer(h.View(tensor.Shape{4, 2}), f.Slice(0, tensor.Shape{2}), f.Slice(2, tensor.Shape{2}), f.Slice(4, tensor.Shape{2}), f.Slice(6, tensor.Shape{2}), h.View(tensor.Shape{4, 2}), tensor.BatchNormParams{Momentum: 0.1, Eps: 1e-5})
		}, "takes f32 tensors only"},
	} {
		t.Run(c.name, func(t *testing.T) {
			be := newBackend(t)
			f, h := be.New(tensor.Shape{8}), be.NewTyped(tensor.Shape{8}, tensor.BF16)
			c.run(be, f, h)
			if err := be.Err(); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %v, want one saying %q", err, c.want)
			}
		})
	}
}
