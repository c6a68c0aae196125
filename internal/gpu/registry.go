package gpu

import (
	"fmt"
	"sort"
	"strings"

	"github.com/cnnctl/cnnctl/internal/tensor"
)

// The kernel registry: every kernel of kernels.fatbin, described by what it
// computes and what it needs, and Select, the one place where the variant
// each launch runs is chosen. It is free of cgo, so that a build without
// CUDA lists it (cnnctl device --kernels) and tests it.

// Kernel describes one CUDA kernel.
type Kernel struct {
	// Op is the Backend method that launches it, e.g. "Conv2DForward"
	// (the name of its cases in tensortest).
	Op string `json:"op"`
	// Slot is the step of Op it performs; the variants of a slot do the
	// same work and one is chosen per backend. It is the name of the
	// slot's fp32 kernel, e.g. "conv2d_forward".
	Slot string `json:"slot"`
	// Variant names the version: "fp32", "tf32", ...
	Variant string `json:"variant"`
	// DType is the storage it reads or writes beyond f32 (BF16 for the
	// casts), else F32.
	DType tensor.DType `json:"dtype"`
	// Math is the arithmetic of its products.
	Math Math `json:"math"`
	// MinSM is the compute capability it needs, times ten (80 = sm_80).
	MinSM int `json:"min_sm"`
	// Name is the kernel's function in kernels.fatbin.
	Name string `json:"name"`
	// Class, when not empty, is the shape class the kernel is specialised
	// for (shapeclass.go): it is no variant of its own that Select could
	// pick for every shape, but the form its variant takes on shapes of
	// that class, which the launcher picks (tcForward).
	Class string `json:"class,omitempty"`
}

// Kernels returns the registry, sorted by op, slot and variant; a fresh
// slice on each call. New loads every kernel in it.
func Kernels() []Kernel {
	var ks []Kernel
	fp32 := func(op string, slots ...string) {
		for _, s := range slots {
			ks = append(ks, Kernel{Op: op, Slot: s, Variant: "fp32", DType: tensor.F32, Math: MathFP32, MinSM: 70, Name: s})
		}
	}
	tf32 := func(op, slot string) {
		ks = append(ks, Kernel{Op: op, Slot: slot, Variant: "tf32", DType: tensor.F32, Math: MathTF32, MinSM: 80, Name: slot + "_tf32"})
	}
	bf16mma := func(op, slot string) {
		ks = append(ks, Kernel{Op: op, Slot: slot, Variant: "bf16", DType: tensor.F32, Math: MathBF16, MinSM: 80, Name: slot + "_bf16"})
	}
	bf16 := func(op, slot string) {
		ks = append(ks, Kernel{Op: op, Slot: slot, Variant: "bf16", DType: tensor.BF16, Math: MathFP32, MinSM: 70, Name: slot})
	}
	fp32("Conv2DForward", "conv2d_forward")
	tf32("Conv2DForward", "conv2d_forward")
	ks = append(ks, Kernel{Op: "Conv2DForward", Slot: "conv2d_forward", Variant: "tf32", DType: tensor.F32,
		Math: MathTF32, MinSM: 80, Name: "conv2d_forward_flat_tf32", Class: classSmallC})
	// The 1x1 class's kernels (kernels/gemm_tc.cu), 4-byte and 16-byte forms.
	for _, s := range []struct{ op, slot string }{{"Conv2DForward", "conv2d_forward"},
		{"Conv2DBackwardData", "conv2d_backward_data"}, {"Conv2DBackwardFilter", "conv2d_backward_filter"}} {
		for _, form := range []string{"_1x1_tf32", "_1x1_v4_tf32"} {
			ks = append(ks, Kernel{Op: s.op, Slot: s.slot, Variant: "tf32", DType: tensor.F32, Math: MathTF32, MinSM: 80,
				Name: s.slot + form, Class: class1x1})
		}
		ks = append(ks, Kernel{Op: s.op, Slot: s.slot, Variant: "bf16", DType: tensor.F32, Math: MathBF16, MinSM: 80,
			Name: s.slot + "_1x1_bf16", Class: class1x1}) // kernels/gemm_bf16.cu
	}
	bf16mma("Conv2DForward", "conv2d_forward")
	// The tensor-core forwards' epilogue-statistics forms (shapeclass.go's
	// bnStatsForward), run by ConvBatchNormForwardTrain where a selected
	// forward has one.
	for _, k := range []struct{ variant, name, class string }{{"tf32", "conv2d_forward_bnstats_tf32", classBNStats},
		{"tf32", "conv2d_forward_flat_bnstats_tf32", classSmallCBNStats}, {"bf16", "conv2d_forward_bnstats_bf16", classBNStats},
		{"tf32", "conv2d_forward_1x1_bnstats_tf32", class1x1BNStats}, {"tf32", "conv2d_forward_1x1_v4_bnstats_tf32", class1x1BNStats},
		{"bf16", "conv2d_forward_1x1_bnstats_bf16", class1x1BNStats}} {
		math := MathTF32
		if k.variant == "bf16" {
			math = MathBF16
		}
		ks = append(ks, Kernel{Op: "Conv2DForward", Slot: "conv2d_forward", Variant: k.variant, DType: tensor.F32,
			Math: math, MinSM: 80, Name: k.name, Class: k.class})
	}
	fp32("Conv2DBackwardData", "conv2d_backward_data")
	tf32("Conv2DBackwardData", "conv2d_backward_data")
	bf16mma("Conv2DBackwardData", "conv2d_backward_data")
	fp32("Conv2DBackwardFilter", "conv2d_backward_filter", "conv2d_backward_bias", "sum_splits")
	tf32("Conv2DBackwardFilter", "conv2d_backward_filter")
	bf16mma("Conv2DBackwardFilter", "conv2d_backward_filter")
	fp32("LinearForward", "linear_forward")
	tf32("LinearForward", "linear_forward")
	fp32("LinearBackward", "linear_backward_data", "linear_backward_filter", "linear_backward_bias")
	tf32("LinearBackward", "linear_backward_data")
	tf32("LinearBackward", "linear_backward_filter")
	bf16mma("LinearForward", "linear_forward")
	bf16mma("LinearBackward", "linear_backward_data")
	bf16mma("LinearBackward", "linear_backward_filter")
	fp32("MaxPool2DForward", "maxpool2d_forward")
	fp32("MaxPool2DBackward", "maxpool2d_backward")
	fp32("AvgPool2DForward", "avgpool2d_forward")
	fp32("AvgPool2DBackward", "avgpool2d_backward")
	fp32("BatchNormForwardTrain", "batchnorm_stats", "batchnorm_forward_train")
	fp32("ConvBatchNormForwardTrain", "batchnorm_partials_combine", "batchnorm_forward_coef")
	fp32("BatchNormForwardInfer", "batchnorm_forward_infer")
	fp32("BatchNormBackward", "batchnorm_backward_stats", "batchnorm_backward")
	fp32("SoftmaxCrossEntropy", "softmax_cross_entropy")
	fp32("ActivationForward", "activation_forward")
	fp32("ActivationBackward", "activation_backward")
	fp32("Add", "add")
	fp32("AddReLU", "add_relu")
	fp32("Mul", "mul")
	// bf16 storage (mixed precision, storage.go): own slots, chosen by
	// the tensors' dtypes.
	bf16("ActivationForward", "activation_forward_bf16")
	bf16("ActivationBackward", "activation_backward_bf16")
	bf16("Add", "add_bf16")
	bf16("AddReLU", "add_relu_bf16")
	bf16("Mul", "mul_bf16_f32")
	bf16("ShortcutPadForward", "shortcut_pad_forward_bf16")
	bf16("MaxPool2DForward", "maxpool2d_forward_bf16")
	bf16("DropoutForward", "dropout_forward_bf16")
	bf16("DropoutForwardAt", "dropout_forward_at_bf16")
	bf16("MaxPool2DBackward", "maxpool2d_backward_bf16")
	bf16("AvgPool2DForward", "avgpool2d_forward_bf16")
	bf16("AvgPool2DBackward", "avgpool2d_backward_bf16")
	bf16("ShortcutPadBackward", "shortcut_pad_backward_bf16")
	bf16("CopyChannels", "copy_channels_bf16")
	bf16("ExtractChannels", "extract_channels_bf16")
	fp32("Fill", "fill")
	fp32("Copy", "copy")
	bf16("Copy", "copy_bf16")
	bf16("Cast", "cast_f32_bf16")
	bf16("Cast", "cast_bf16_f32")
	fp32("ShortcutPadForward", "shortcut_pad_forward")
	fp32("ShortcutPadBackward", "shortcut_pad_backward")
	fp32("CopyChannels", "copy_channels")
	fp32("ExtractChannels", "extract_channels")
	fp32("DropoutForward", "dropout_forward")
	fp32("DropoutForwardAt", "dropout_forward_at")
	fp32("SGDUpdate", "sgd_update")
	fp32("AdamUpdate", "adam_update")
	fp32("Augment", "augment")
	fp32("Gather", "gather_batch")
	fp32("SGDUpdateAt", "sgd_update_at")
	fp32("AdamUpdateAt", "adam_update_at")
	fp32("StepMetrics", "step_metrics")
	fp32("AddScalar", "add_scalar")
	sort.SliceStable(ks, func(i, j int) bool {
		a, b := ks[i], ks[j]
		if a.Op != b.Op {
			return a.Op < b.Op
		}
		if a.Slot != b.Slot {
			return a.Slot < b.Slot
		}
		if a.Variant != b.Variant {
			return a.Variant < b.Variant
		}
		if a.Class != b.Class {
			return a.Class < b.Class
		}
		return a.Name < b.Name
	})
	return ks
}

// Options configure a backend when it starts (NewWith).
type Options struct {
	// Math is the arithmetic of the convolutions and linears: MathFP32
	// (the default), MathTF32 or MathBF16 (convolutions and linears on
	// tensor cores), both sm_80 and later.
	Math Math
	// Variants pins slots to a variant by name ("conv2d_forward": "tf32"),
	// whatever Math says; the tests run every registered variant this way.
	Variants map[string]string
	// NoShapeClasses runs the generic TF32 and bf16 convolution kernels
	// for every shape instead of the forms the shape classes choose
	// (shapeclass.go): the reference those are tested against on a GPU.
	NoShapeClasses bool
}

// Select is the one place where kernels are chosen: for each slot of ks,
// the variant o.Variants pins; else the one whose math is o.Math, if the
// GPU (compute capability sm, times ten) runs it; else the slot's first
// variant the GPU runs that computes in fp32. It fails for an unknown
// math, TF32 or BF16 asked for below sm_80, a pinned slot or variant that
// does not exist or that the GPU cannot run.
func Select(ks []Kernel, sm int, o Options) (map[string]Kernel, error) {
	switch {
	case o.Math != MathFP32 && o.Math != MathTF32 && o.Math != MathBF16:
		return nil, fmt.Errorf("unknown %v (want fp32, tf32 or bf16)", o.Math)
	case o.Math.TensorCore() && sm < 80:
		return nil, fmt.Errorf("math %v: compute capability %d.%d; %s tensor cores need 8.0 or later (use fp32)",
			o.Math, sm/10, sm%10, strings.ToUpper(o.Math.String()))
	}
	bySlot := variantsBySlot(ks)
	for slot, v := range o.Variants {
		if _, ok := bySlot[slot]; !ok {
			return nil, fmt.Errorf("variant %s of %s: no such kernel slot (cnnctl device --kernels lists them)", v, slot)
		}
	}
	sel := make(map[string]Kernel, len(bySlot))
	for slot, vs := range bySlot {
		if want, ok := o.Variants[slot]; ok {
			k, found := Kernel{}, false
			for _, v := range vs {
				if v.Variant == want {
					k, found = v, true
				}
			}
			switch {
			case !found:
				return nil, fmt.Errorf("%s has no variant %q (%s)", slot, want, variantNames(vs))
			case k.MinSM > sm:
				return nil, fmt.Errorf("%s %s needs sm_%d; this GPU is sm_%d", slot, want, k.MinSM, sm)
			}
			sel[slot] = k
			continue
		}
		var best *Kernel
		for i, v := range vs {
			if v.MinSM > sm {
				continue
			}
			if v.Math == o.Math || best == nil && v.Math == MathFP32 {
				best = &vs[i]
				if v.Math == o.Math {
					break
				}
			}
		}
		if best == nil {
			return nil, fmt.Errorf("%s: no variant runs on sm_%d (%s)", slot, sm, variantNames(vs))
		}
		sel[slot] = *best
	}
	return sel, nil
}

func variantNames(vs []Kernel) string {
	s := ""
	for i, v := range vs {
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprintf("%s from sm_%d", v.Variant, v.MinSM)
	}
	return s
}

// Variants returns the slots of ks that have more than one variant, with
// their variants: what the tests run one by one.
func Variants(ks []Kernel) map[string][]Kernel {
	bySlot := variantsBySlot(ks)
	for s, vs := range bySlot {
		if len(vs) < 2 {
			delete(bySlot, s)
		}
	}
	return bySlot
}

// variantsBySlot groups the kernels of ks that serve every shape (no
// Class) by slot: the variants Select chooses among.
func variantsBySlot(ks []Kernel) map[string][]Kernel {
	bySlot := map[string][]Kernel{}
	for _, k := range ks {
		if k.Class == "" {
			bySlot[k.Slot] = append(bySlot[k.Slot], k)
		}
	}
	return bySlot
}
