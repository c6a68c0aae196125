package plan

import (
	"fmt"
	"testing"

	"github.com/cnnctl/cnnctl/internal/cpu"
	"github.com/cnnctl/cnnctl/internal/layers"
	"github.com/cnnctl/cnnctl/internal/tensor"
)

// buildMixed is build with bf16 activations (layers/precision.go).
func buildMixed(t *testing.T, be tensor.Backend, name string) *layers.Model {
	t.Helper()
	m := build(t, be, name)
	if err := m.SetAct(tensor.BF16); err != nil {
		t.Fatal(err)
	}
	return m
}

// poisonBF16 fills a bf16 tensor with NaN (Fill takes float32 only).
func poisonBF16(be tensor.Backend, a *tensor.Tensor) {
	nan := make([]byte, a.Numel()*2)
	for i := 0; i < len(nan); i += 2 {
		nan[i], nan[i+1] = 0xc0, 0x7f // 0x7fc0, a quiet NaN
	}
	be.UploadBytes(a, nan)
}

// TestMixedPlanEquivalence: with bf16 activations a plan (fused nodes,
// shared gradients, both arenas poisoned with NaN) gives the bits of the
// model without one, as TestPlanEquivalence checks for float32: the
// fused nodes round where the plain layers do (a ReLU commutes with
// rounding to nearest), so the comparison is exact. It also checks that
// the arena holds every activation and gradient in bf16: the plan's
// tensors take the float32 plan's bytes with outputs and gradients halved,
// plus the model's boundary (the bf16 input and output gradient, the
// float32 output and input gradient).
func TestMixedPlanEquivalence(t *testing.T) {
	for _, name := range []string{"resnet20", "googlenet", "lenet-bn", "lenet", "mlp", "vgg11-bn"} {
		t.Run(name, func(t *testing.T) {
			n := 2
			plain, planned := buildMixed(t, cpu.New(), name), buildMixed(t, cpu.New(), name)
			plain.InputGrad, planned.InputGrad = true, true
			p, err := Attach(planned, n, true, Options{Fuse: true, Share: true})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Free()
			be := planned.Ctx.Backend
			if p.half == nil {
				t.Fatal("a plan with bf16 activations has no bf16 arena")
			}
			poisonBF16(be, p.half)
			if p.arena != nil {
				be.Fill(p.arena, float32(0x7fc00000))
			}
			for _, s := range p.slots {
				if want := layers.SlotDType(s.Kind, tensor.BF16); s.Layer != nil && (*s.T).DType != want {
					t.Errorf("%s.%s (%v) is %v, want %v", s.Layer.Name(), s.Name, s.Kind, (*s.T).DType, want)
				}
			}
			for i, batch := range []int{n, n - 1, n} {
				wantT, wantE := run(t, plain, batch, uint64(i))
				gotT, gotE := run(t, planned, batch, uint64(i))
				what := fmt.Sprintf("step %d (batch %d) ", i, batch)
				sameBits(t, what+"output", wantT.out, gotT.out)
				sameBits(t, what+"input gradient", wantT.dx, gotT.dx)
				sameBits(t, what+"parameter gradients", wantT.grads, gotT.grads)
				sameBits(t, what+"parameters and buffers", wantT.state, gotT.state)
				sameBits(t, what+"evaluation output", wantE.out, gotE.out)
			}

			f32 := build(t, cpu.New(), name)
			f32.InputGrad = true
			q, err := Describe(f32, n, true, Options{Fuse: true, Share: true})
			if err != nil {
				t.Fatal(err)
			}
			in, out := int64(n*f32.In.Numel()), int64(n*f32.Out.Numel())
			saved := q.Stats.ByKind[layers.Saved]
			want := (q.Stats.Unshared-saved)/2 + saved + 2*in + 4*out + 2*out + 4*in
			if p.Stats.Unshared != want {
				t.Errorf("bf16 plan's tensors: %d bytes, want %d (float32 plan %d, %d of it saved statistics)", p.Stats.Unshared, want, q.Stats.Unshared, saved)
			}
			t.Logf("%s, batch %d: arena %d bytes in float32, %d with bf16 activations (%d bf16 + %d f32)",
				name, n, q.Stats.Arena, p.Stats.Arena, p.Stats.ArenaByDType[tensor.BF16], p.Stats.ArenaByDType[tensor.F32])
		})
	}
}

// TestMixedArenaAllocatesNothing: with bf16 activations, after Compile a
// training and an evaluation step allocate nothing on the backend (the
// boundary casts and the bf16 weights included).
func TestMixedArenaAllocatesNothing(t *testing.T) {
	for _, name := range []string{"resnet20", "lenet-bn"} {
		t.Run(name, func(t *testing.T) {
			be := newCounter()
			m := buildMixed(t, be, name)
			p, err := Attach(m, 2, true, Options{Fuse: true, Share: true})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Free()
			x := be.New(append(tensor.Shape{2}, m.In...))
			dy := be.New(append(tensor.Shape{2}, m.Out...))
			news := be.news
			for range 2 {
				m.Forward(x, true)
				m.Backward(dy)
				m.Forward(x, false)
			}
			if be.news != news {
				t.Errorf("%d allocations in two steps with bf16 activations, want 0", be.news-news)
			}
			if err := be.Err(); err != nil {
				t.Fatal(err)
			}
		})
	}
}
