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
// the generic kernel for 1x1 and wide layers — and the flat path never
// takes more pipeline steps than the generic one would (no GPU needed).
func TestShapeClasses(t *testing.T) {
	for _, tt := range []struct {
		c, r, s int
		class   string
		kernel  string
		steps   int
	}{
		{3, 3, 3, classSmallC, "conv2d_forward_flat_tf32", 2},    // CIFAR first layers: 27 columns, not 9 steps
		{1, 5, 5, classSmallC, "conv2d_forward_flat_tf32", 2},    // LeNet's conv1 on grey images: 25 columns
		{3, 11, 11, classSmallC, "conv2d_forward_flat_tf32", 23}, // AlexNet's conv1: 363 columns, not 121 steps
		{4, 1, 1, classSmallC, "conv2d_forward_flat_tf32", 1},
		{5, 3, 3, classWide, "conv2d_forward_tf32", 9},
		{192, 1, 1, class1x1, "conv2d_forward_tf32", 12}, // GoogLeNet's 1x1 reductions
		{96, 1, 1, class1x1, "conv2d_forward_tf32", 6},   // NiN's mlpconv
		{256, 3, 3, classWide, "conv2d_forward_tf32", 144},
	} {
		p := tcForward(tt.c, tt.r, tt.s)
		if p.Class != tt.class || p.Kernel != tt.kernel || p.Steps != tt.steps {
			t.Errorf("C %d, %dx%d: %+v, want class %s, kernel %s, %d steps", tt.c, tt.r, tt.s, p, tt.class, tt.kernel, tt.steps)
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
	for c := 1; c <= 64; c++ {
		for _, rs := range [][2]int{{1, 1}, {3, 3}, {5, 5}, {7, 7}, {1, 7}} {
			p := tcForward(c, rs[0], rs[1])
			g := kernelhost.Conv{N: 1, C: c, H: 8, W: 8, K: 8, R: rs[0], S: rs[1], P: tensor.ConvParams{StrideH: 1, StrideW: 1, PadH: 3, PadW: 3}}
			if cl := classes[kernelhost.ForwardClass(g)]; cl != p.Class {
				t.Errorf("C %d, %dx%d: class %s, tc_forward_class says %s", c, rs[0], rs[1], p.Class, cl)
			}
			generic := rs[0] * rs[1] * ceilDiv(c, tcStep)
			if p.Steps > generic {
				t.Errorf("C %d, %dx%d: %s takes %d steps, the generic kernel %d", c, rs[0], rs[1], p.Kernel, p.Steps, generic)
			}
			k, ok := names[p.Kernel]
			if !ok || k.Slot != "conv2d_forward" || k.Math != MathTF32 {
				t.Errorf("C %d, %dx%d: %s is no registered tf32 conv2d_forward kernel (%+v)", c, rs[0], rs[1], p.Kernel, k)
			}
			if want := map[string]string{classSmallC: classSmallC}[p.Class]; k.Class != want {
				t.Errorf("C %d, %dx%d: class %s launches %s of class %q", c, rs[0], rs[1], p.Class, p.Kernel, k.Class)
			}
		}
	}
}

// TestBNStatsForward: every tensor-core forward the backend may launch
// (the selected tf32 and bf16 conv2d_forward and the small-channel form)
// has an epilogue-statistics form registered under a class of its own
// (never selected), of the same math; the fp32 forward has none (fp32
// keeps the plain ops' bits).
func TestBNStatsForward(t *testing.T) {
	byName := map[string]Kernel{}
	for _, k := range Kernels() {
		byName[k.Name] = k
	}
	for _, k := range Kernels() {
		if k.Slot != "conv2d_forward" || k.Class == classBNStats || k.Class == classSmallCBNStats {
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
		if k.Class == classSmallC {
			want = classSmallCBNStats
		}
		if !ok || !found || s.Math != k.Math || s.Class != want || s.MinSM != k.MinSM {
			t.Errorf("%s (%v, class %q): epilogue-statistics form %q %v, registered %+v", k.Name, k.Math, k.Class, name, ok, s)
		}
	}
}
