//go:build cuda

package gpu

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/cnnctl/cnnctl/internal/kernelhost"
	"github.com/cnnctl/cnnctl/internal/tensor"
	"github.com/cnnctl/cnnctl/internal/tensor/tensortest"
)

// newTensorCoreBackend opens GPU 0 with math m (MathTF32 or MathBF16),
// or skips where there is no GPU or it has no tensor cores for m (below
// sm_80, where SetMath must refuse m); the convolution and linear slots
// (tf32Slots, which are the bf16 ones too) must then run their kernels of
// m (name suffix "_tf32", "_bf16").
func newTensorCoreBackend(t testing.TB, m Math) *Backend {
	t.Helper()
	be := newBackend(t)
	if in := be.Info(); in.Major < 8 {
		if err := be.SetMath(m); err == nil {
			t.Fatalf("SetMath(%v) accepted %s", m, in)
		}
		t.Skipf("%s has no %v tensor cores (sm_%d%d)", in, m, in.Major, in.Minor)
	}
	if err := be.SetMath(m); err != nil {
		t.Fatal(err)
	}
	for _, op := range tf32Slots {
		if got, want := be.kernel(op).Name, op+"_"+m.String(); got != want {
			t.Fatalf("with %v %s runs %s, want %s", m, op, got, want)
		}
	}
	return be
}

// TestBackendBF16 checks the bf16 convolutions and linears (forward, data
// and filter gradients; tf32Cases: the shared cases, a VGG classifier
// linear and layers over several blocks and steps) against the CPU reference with the tolerance derived from
// bf16's 8 significant bits (tensortest.Case.Tolerances at BF16: per
// output (2u + u²)·Σ|a||b| with u = 2^-8, half an ulp of an operand
// rounded to nearest even, plus the float32 summation terms), not
// float32's 1e-4 nor TF32's 2^-11.
func TestBackendBF16(t *testing.T) {
	tensortest.CheckCasesPrecision(t, newTensorCoreBackend(t, MathBF16), tf32Cases(), tensortest.BF16)
}

// TestBF16RunsTensorCores: on a 64-channel layer the bf16 forward, data
// and filter gradients differ from both the fp32 and the TF32 kernels'
// (operands rounded to 8 bits: the bf16 kernels really ran) and repeat bit
// for bit (deterministic, the filter gradient's split reduction included).
func TestBF16RunsTensorCores(t *testing.T) {
	be := newTensorCoreBackend(t, MathBF16)
	g := tensortest.Conv{N: 8, C: 64, H: 16, W: 16, K: 128, R: 3, S: 3,
		P: tensor.ConvParams{StrideH: 1, StrideW: 1, PadH: 1, PadW: 1}, Bias: true}
	outs := map[string]string{"Conv2DForward": "y", "Conv2DBackwardData": "dx", "Conv2DBackwardFilter": "dw"}
	for _, c := range g.Cases() {
		out := outs[c.Op]
		run := func(m Math) map[string][]float32 {
			if err := be.SetMath(m); err != nil {
				t.Fatal(err)
			}
			o, err := tensortest.Outputs(be, c)
			if err != nil {
				t.Fatal(err)
			}
			return o
		}
		bf1, bf2, fp, tf := run(MathBF16), run(MathBF16), run(MathFP32), run(MathTF32)
		differFP, differTF := 0, 0
		for i, v := range bf1[out] {
			if math.Float32bits(v) != math.Float32bits(bf2[out][i]) {
				t.Fatalf("%v: %s[%d] = %g, then %g", c, out, i, v, bf2[out][i])
			}
			if v != fp[out][i] {
				differFP++
			}
			if v != tf[out][i] {
				differTF++
			}
		}
		t.Logf("%v: %d of %d outputs differ from fp32, %d from tf32", c, differFP, len(bf1[out]), differTF)
		if differFP == 0 || differTF == 0 {
			t.Errorf("%v: bf16 agrees bit for bit with fp32 or tf32: the bf16 kernel did not run", c)
		}
	}
	if err := errors.Join(be.SetMath(MathFP32), be.Err()); err != nil {
		t.Fatal(err)
	}
}

// TestBF16Tiling: the launch geometry Conv2D* uses for the tensor-core
// kernels (tcTileM x tcTileN, tcThreads) is the bf16 kernels' tiling too
// (conv2d_bf16.cuh declares BF_BM, BF_BN, BF_THREADS as TC_BM, TC_BN,
// TC_THREADS; read through kernelhost).
func TestBF16Tiling(t *testing.T) {
	if tcThreads != kernelhost.BF16Threads || tcTileM != kernelhost.BF16TileM || tcTileN != kernelhost.BF16TileN {
		t.Errorf("launch tile %dx%d, %d threads; conv2d_bf16.cuh says %dx%d, %d threads",
			tcTileM, tcTileN, tcThreads, kernelhost.BF16TileM, kernelhost.BF16TileN, kernelhost.BF16Threads)
	}
}

// TestBF16KernelChoice: Select (through SetMath) gives the bf16 variants
// of the convolutions and linears only with MathBF16 on sm_80 or later; SetMath refuses bf16 below sm_80
// and leaves the kernels as they were (no GPU needed).
func TestBF16KernelChoice(t *testing.T) {
	for _, major := range []int{7, 8, 9} {
		b := &Backend{info: Info{Name: "test GPU", Major: major}}
		err := b.SetMath(MathBF16)
		if (err == nil) != (major >= 8) {
			t.Fatalf("sm_%d0: SetMath(bf16) = %v", major, err)
		}
		for _, op := range tf32Slots {
			want := op
			if major >= 8 {
				want = op + "_bf16"
			}
			if got := b.kernel(op).Name; got != want {
				t.Errorf("sm_%d0, bf16: %s runs %s, want %s", major, op, got, want)
			}
		}
		if major < 8 && !strings.Contains(err.Error(), "8.0 or later") {
			t.Errorf("SetMath(bf16) on sm_70 = %v, want an error saying 8.0 or later", err)
		}
	}
}
