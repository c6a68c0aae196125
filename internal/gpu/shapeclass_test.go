package gpu

import (
	"testing"

	"github.com/cnnctl/cnnctl/internal/kernelhost"
	"github.com/cnnctl/cnnctl/internal/tensor"
)

// TestShapeClasses: tcForward gives each zoo shape its class and kernel,
// the class tc_forward_class in kernels/conv2d_tc.cuh gives (through
// internal/kernelhost) —
// the flat small-channel path for first layers on RGB and grey images,
// the 1x1 kernels for 1x1 layers of stride 1 and padding 0, the generic
// kernel for the rest — and the flat path never
// takes more pipeline steps than the generic one would (no GPU needed).
func TestShapeClasses(t *testing.T) {
	same := func(c, r, s int) tcShape {
		return tcShape{C: c, R: r, S: s, StrideH: 1, StrideW: 1, PadH: r / 2, PadW: s / 2, HW: 28 * 28, Aligned: true}
	}
	for _, tt := range []struct {
		g      tcShape
		class  string
		kernel string
		steps  int
	}{
		{same(3, 3, 3), classSmallC, "conv2d_forward_flat_tf32", 2},    // CIFAR first layers: 27 columns, not 9 steps
		{same(1, 5, 5), classSmallC, "conv2d_forward_flat_tf32", 2},    // LeNet's conv1 on grey images: 25 columns
		{same(3, 11, 11), classSmallC, "conv2d_forward_flat_tf32", 23}, // AlexNet's conv1: 363 columns, not 121 steps
		{same(4, 1, 1), classSmallC, "conv2d_forward_flat_tf32", 1},
		{same(5, 3, 3), classWide, "conv2d_forward_tf32", 9},
		{same(192, 1, 1), class1x1, "conv2d_forward_1x1_v4_tf32", 12},                                                         // GoogLeNet's 1x1 reductions at 28x28
		{tcShape{C: 832, R: 1, S: 1, StrideH: 1, StrideW: 1, HW: 49, Aligned: true}, class1x1, "conv2d_forward_1x1_tf32", 52}, // GoogLeNet at 7x7
		{tcShape{C: 96, R: 1, S: 1, StrideH: 1, StrideW: 1, HW: 64, Aligned: false}, class1x1, "conv2d_forward_1x1_tf32", 6},  // NiN, unaligned
		{tcShape{C: 18, R: 1, S: 1, StrideH: 1, StrideW: 1, HW: 64, Aligned: true}, class1x1, "conv2d_forward_1x1_tf32", 2},   // C not a multiple of 4
		{tcShape{C: 64, R: 1, S: 1, StrideH: 2, StrideW: 2, HW: 64, Aligned: true}, classWide, "conv2d_forward_tf32", 4},      // ResNet projection
		{same(256, 3, 3), classWide, "conv2d_forward_tf32", 144},
	} {
		p := tcForward(tt.g)
		if p.Class != tt.class || p.Kernel != tt.kernel || p.Steps != tt.steps {
			t.Errorf("%+v: %+v, want class %s, kernel %s, %d steps", tt.g, p, tt.class, tt.kernel, tt.steps)
		}
	}
	if tcSmallC != kernelhost.SmallC || tcStep != kernelhost.TileK {
		t.Errorf("tcSmallC %d, tcStep %d; conv2d_tc.cuh says TC_SMALL_C %d, TC_BK %d", tcSmallC, tcStep, kernelhost.SmallC, kernelhost.TileK)
	}
	classes := map[int]string{kernelhost.ClassSmallC: classSmallC, kernelhost.Class1x1: class1x1, kernelhost.ClassWide: classWide}
	names := map[string]Kernel{}
	for _, k := range Kernels() {
		names[k.Name] = k
	}
	slots := map[string]int{"conv2d_forward": kernelhost.Slot1x1Forward, "conv2d_backward_data": kernelhost.Slot1x1Data,
		"conv2d_backward_filter": kernelhost.Slot1x1Filter}
	for c := 1; c <= 64; c++ {
		for _, rs := range [][2]int{{1, 1}, {3, 3}, {5, 5}, {7, 7}, {1, 7}} {
			for _, sp := range [][2]int{{1, 0}, {1, 1}, {2, 0}} {
				for _, hw := range [][2]int{{8, 8}, {7, 7}, {6, 5}} {
					for _, aligned := range []bool{true, false} {
						kg := kernelhost.Conv{N: 1, C: c, H: hw[0], W: hw[1], K: 8, R: rs[0], S: rs[1],
							P: tensor.ConvParams{StrideH: sp[0], StrideW: sp[0], PadH: sp[1], PadW: sp[1]}}
						if kg.OH() < 1 || kg.OW() < 1 {
							continue
						}
						g := tcShape{C: c, R: rs[0], S: rs[1], StrideH: sp[0], StrideW: sp[0], PadH: sp[1], PadW: sp[1],
							HW: hw[0] * hw[1], Aligned: aligned}
						checkShapeClass(t, g, kg, names, classes, slots)
					}
				}
			}
		}
	}
}

// checkShapeClass holds the choice for g to the kernels' own functions
// on kg (the same convolution): the class tc_forward_class's, the 1x1
// class exactly g1_plain's shapes (above TC_SMALL_C), the 16-byte forms
// exactly g1_vec4's; every kernel chosen registered in its slot and class.
func checkShapeClass(t *testing.T, g tcShape, kg kernelhost.Conv, names map[string]Kernel, classes map[int]string, slots map[string]int) {
	t.Helper()
	p := tcForward(g)
	if cl := classes[kernelhost.ForwardClass(kg)]; cl != p.Class {
		t.Errorf("%+v: class %s, tc_forward_class says %s", g, p.Class, cl)
	}
	if plain := kernelhost.Plain1x1(kg) && g.C > tcSmallC; plain != (p.Class == class1x1) {
		t.Errorf("%+v: class %s, g1_plain says %v", g, p.Class, plain)
	}
	if generic := g.R * g.S * ceilDiv(g.C, tcStep); p.Steps > generic {
		t.Errorf("%+v: %s takes %d steps, the generic kernel %d", g, p.Kernel, p.Steps, generic)
	}
	for slot, s := range slots {
		name := p.Kernel
		if slot != "conv2d_forward" {
			name = tcBackward(slot, g)
		}
		k, ok := names[name]
		if !ok || k.Slot != slot || k.Math != MathTF32 {
			t.Errorf("%+v: %s is no registered tf32 %s kernel (%+v)", g, name, slot, k)
		}
		want := ""
		if p.Class == class1x1 || p.Class == classSmallC && slot == "conv2d_forward" {
			want = p.Class
		}
		if k.Class != want {
			t.Errorf("%+v: class %s launches %s of class %q for %s", g, p.Class, name, k.Class, slot)
		}
		bf, want := bfKernel(slot, g), ""
		if p.Class == class1x1 {
			want = class1x1
		}
		if k, ok := names[bf]; !ok || k.Slot != slot || k.Math != MathBF16 || k.Class != want {
			t.Errorf("%+v: %s is no registered bf16 %s kernel of class %q (%+v)", g, bf, slot, want, k)
		}
		if p.Class == class1x1 {
			if v4, w := tc1x1Vec4(slot, g), kernelhost.Vec4(kg, s, g.Aligned); v4 != w {
				t.Errorf("%+v %s: 16-byte form %v, g1_vec4 says %v", g, slot, v4, w)
			}
		}
	}
}

// TestBNStatsForward: every tensor-core forward the backend may launch
// (the selected tf32 and bf16 conv2d_forward, the small-channel form and
// the 1x1 class's 4- and 16-byte forms) has an epilogue-statistics form
// registered under a class of its own (never selected), of the same math;
// the fp32 forward has none (fp32 keeps the plain ops' bits).
func TestBNStatsForward(t *testing.T) {
	byName := map[string]Kernel{}
	for _, k := range Kernels() {
		byName[k.Name] = k
	}
	for _, k := range Kernels() {
		if k.Slot != "conv2d_forward" || k.Class == classBNStats || k.Class == classSmallCBNStats || k.Class == class1x1BNStats {
			continue
		}
		name, ok := bnStatsForward(k.Name)
		if !k.Math.TensorCore() {
			if ok {
				t.Errorf("%s (%v) has the epilogue-statistics form %s", k.Name, k.Math, name)
			}
			continue
		}
		s, found := byName[name]
		want := classBNStats
		switch k.Class {
		case classSmallC:
			want = classSmallCBNStats
		case class1x1:
			want = class1x1BNStats
		}
		if !ok || !found || s.Math != k.Math || s.Class != want || s.MinSM != k.MinSM {
			t.Errorf("%s (%v, class %q): epilogue-statistics form %q %v, registered %+v", k.Name, k.Math, k.Class, name, ok, s)
		}
	}
}
