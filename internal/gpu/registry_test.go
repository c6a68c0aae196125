package gpu

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/cnnctl/cnnctl/internal/tensor"
	"github.com/cnnctl/cnnctl/internal/tensor/tensortest"
)

// TestRegistrySources: every registered kernel is a kernel of kernels/*.cu,
// every kernel there is registered, and every name the Go files launch is
// registered (no GPU, no nvcc needed).
func TestRegistrySources(t *testing.T) {
	cu, _ := filepath.Glob("../../kernels/*.cu")
	if len(cu) == 0 {
		t.Fatal("no kernels/*.cu found")
	}
	global := regexp.MustCompile(`extern "C" __global__ void(?:\s+__launch_bounds__\([^)]*\))?\s+(\w+)\s*\(`)
	defined := map[string]bool{}
	for _, f := range cu {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range global.FindAllStringSubmatch(string(src), -1) {
			defined[m[1]] = true
		}
	}
	registered := map[string]bool{}
	for _, k := range Kernels() {
		if registered[k.Name] {
			t.Errorf("%s registered twice", k.Name)
		}
		registered[k.Name] = true
		if !defined[k.Name] {
			t.Errorf("registered %s (%s %s) is not a kernel of kernels/*.cu", k.Name, k.Slot, k.Variant)
		}
		if k.Op == "" || k.Slot == "" || k.Variant == "" || k.MinSM < 70 || !k.DType.Valid() {
			t.Errorf("incomplete %+v", k)
		}
	}
	for name := range defined {
		if !registered[name] {
			t.Errorf("kernel %s of kernels/*.cu is not registered (registry.go)", name)
		}
	}
	gofiles, _ := filepath.Glob("*.go")
	launch := regexp.MustCompile(`launch(?:Here)?\("(\w+)"`)
	for _, f := range gofiles {
		src, _ := os.ReadFile(f)
		for _, m := range launch.FindAllStringSubmatch(string(src), -1) {
			if !registered[m[1]] {
				t.Errorf("%s launches %s, which is not registered", f, m[1])
			}
		}
	}
	// The ops named are the tensortest ops (or optional interfaces').
	// AddReLU's cases are the fused ops' (internal/plan's branch writes
	// them in tensortest); internal/gpu's TestAddReLU holds it to Add and
	// ReLU meanwhile.
	ops := map[string]bool{"Augment": true, "AddReLU": true}
	for _, c := range tensortest.Cases() {
		ops[c.Op] = true
	}
	for _, k := range Kernels() {
		if !ops[k.Op] {
			t.Errorf("%s: op %s has no tensortest cases", k.Name, k.Op)
		}
	}
}

// TestSelect: the default is fp32 everywhere; tf32 and bf16 take their
// tensor-core convolutions and linears from sm_80; a pin wins over the math; bad requests fail
// with words that say why.
func TestSelect(t *testing.T) {
	ks := Kernels()
	pick := func(sm int, o Options) map[string]Kernel {
		t.Helper()
		sel, err := Select(ks, sm, o)
		if err != nil {
			t.Fatalf("Select(sm_%d, %+v): %v", sm, o, err)
		}
		return sel
	}
	slots := map[string]bool{}
	for _, k := range ks {
		slots[k.Slot] = true
	}
	for _, sm := range []int{70, 80, 90} {
		sel := pick(sm, Options{})
		if len(sel) != len(slots) {
			t.Errorf("sm_%d: %d slots chosen, %d registered", sm, len(sel), len(slots))
		}
		for slot, k := range sel {
			if k.Math != MathFP32 || k.Slot != slot {
				t.Errorf("sm_%d default: %s runs %s", sm, slot, k.Name)
			}
		}
	}
	for _, sm := range []int{80, 90} {
		sel := pick(sm, Options{Math: MathTF32})
		for _, slot := range tf32Slots {
			if sel[slot].Name != slot+"_tf32" {
				t.Errorf("sm_%d tf32: %s runs %s", sm, slot, sel[slot].Name)
			}
		}
		if sel["linear_backward_bias"].Name != "linear_backward_bias" || sel["sum_splits"].Math != MathFP32 {
			t.Errorf("sm_%d tf32: slots without a tf32 variant left fp32: %+v %+v", sm, sel["linear_backward_bias"], sel["sum_splits"])
		}
		bf := pick(sm, Options{Math: MathBF16})
		for slot, k := range bf {
			tc := slices.Contains(tf32Slots, slot) // the bf16 slots are the tf32 ones
			if tc && (k.Name != slot+"_bf16" || k.Math != MathBF16 || k.DType != tensor.F32) || !tc && k.Math != MathFP32 {
				t.Errorf("sm_%d bf16: %s runs %+v", sm, slot, k)
			}
		}
		pinned := pick(sm, Options{Math: MathTF32, Variants: map[string]string{"conv2d_forward": "fp32"}})
		if pinned["conv2d_forward"].Name != "conv2d_forward" || pinned["conv2d_backward_data"].Name != "conv2d_backward_data_tf32" {
			t.Errorf("sm_%d: the pin did not win over the math only on its slot", sm)
		}
	}
	for _, tt := range []struct {
		sm   int
		o    Options
		want string
	}{
		{70, Options{Math: MathTF32}, "8.0 or later"},
		{75, Options{Math: MathBF16}, "BF16 tensor cores need 8.0 or later"},
		{70, Options{Variants: map[string]string{"conv2d_backward_data": "bf16"}}, "needs sm_80"},
		{90, Options{Math: Math(5)}, "unknown"},
		{70, Options{Variants: map[string]string{"conv2d_forward": "tf32"}}, "needs sm_80"},
		{90, Options{Variants: map[string]string{"conv2d_forward": "fp16"}}, `no variant "fp16"`},
		{90, Options{Variants: map[string]string{"conv3d": "fp32"}}, "no such kernel slot"},
	} {
		_, err := Select(ks, tt.sm, tt.o)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Select(sm_%d, %+v) = %v, want an error saying %q", tt.sm, tt.o, err, tt.want)
		}
	}
	if v := Variants(ks); len(v) != len(tf32Slots) {
		t.Errorf("Variants: %d slots with several variants, want the %d with a tf32 variant", len(v), len(tf32Slots))
	}
	for _, vs := range Variants(ks) {
		for _, k := range vs {
			if k.Class != "" {
				t.Errorf("Variants lists %s, a kernel of shape class %s only", k.Name, k.Class)
			}
		}
	}
	// A shape-class kernel is never a variant Select picks, nor one a pin
	// can name for every shape.
	for _, sm := range []int{80, 90} {
		for _, k := range pick(sm, Options{Math: MathTF32}) {
			if k.Class != "" {
				t.Errorf("sm_%d tf32: Select picked %s, a kernel of shape class %s only", sm, k.Name, k.Class)
			}
		}
	}
}

// tf32Slots are the slots with a TF32 tensor-core variant: the
// convolutions' and the linears' forward, data and filter gradients.
var tf32Slots = []string{"conv2d_forward", "conv2d_backward_data", "conv2d_backward_filter",
	"linear_forward", "linear_backward_data", "linear_backward_filter"}

// TestLayerTypesMatchRegistry: Math.LayerTypes names exactly the layer
// types whose ops have a kernel of that math in the registry (TF32 and
// bf16: convolutions and linears), so bench's
// per-layer math cannot drift from what Select runs; none for fp32.
func TestLayerTypesMatchRegistry(t *testing.T) {
	layer := map[string]string{"Conv2D": "conv2d", "Linear": "linear"}
	for _, m := range []Math{MathTF32, MathBF16} {
		seen := map[string]bool{}
		for _, k := range Kernels() {
			if k.Math != m {
				continue
			}
			typ := ""
			for prefix, lt := range layer {
				if strings.HasPrefix(k.Op, prefix) {
					typ = lt
				}
			}
			if typ == "" {
				t.Errorf("%v: %s (%s) is of no layer type this test knows", m, k.Name, k.Op)
				continue
			}
			seen[typ] = true
		}
		var want []string
		for _, lt := range []string{"conv2d", "linear"} {
			if seen[lt] {
				want = append(want, lt)
			}
		}
		if got := m.LayerTypes(); strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("%v.LayerTypes() = %v; the registry has %v kernels for %v", m, got, m, want)
		}
	}
	if lt := MathFP32.LayerTypes(); lt != nil {
		t.Errorf("fp32.LayerTypes() = %v, want none", lt)
	}
}
