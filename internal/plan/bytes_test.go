package plan

import (
	"testing"

	"github.com/cnnctl/cnnctl/internal/tensor"
)

// null is a backend that allocates (buffers with a length and no memory)
// and computes nothing: a model's allocations at full size cost no time.
// It has the fused ops, as the CPU and GPU backends do.
type null struct {
	bytes int64 // allocated since the last reset
}

type nullBuf struct{ n int }

func (b *nullBuf) Len() int { return b.n }

func (z *null) Name() string { return "null" }
func (z *null) Err() error   { return nil }
func (z *null) Sync() error  { return nil }
func (z *null) Close() error { return nil }
func (z *null) New(s tensor.Shape) *tensor.Tensor {
	return z.NewTyped(s, tensor.F32)
}
func (z *null) NewTyped(s tensor.Shape, dt tensor.DType) *tensor.Tensor {
	z.bytes += int64(s.Numel() * dt.Size())
	return &tensor.Tensor{Shape: s.Clone(), Buf: &nullBuf{s.Numel()}, DType: dt}
}
func (z *null) Free(*tensor.Tensor)                                          {}
func (z *null) Upload(*tensor.Tensor, []float32)                             {}
func (z *null) Download([]float32, *tensor.Tensor)                           {}
func (z *null) UploadBytes(*tensor.Tensor, []byte)                           {}
func (z *null) DownloadBytes([]byte, *tensor.Tensor)                         {}
func (z *null) Fill(*tensor.Tensor, float32)                                 {}
func (z *null) Copy(_, _ *tensor.Tensor)                                     {}
func (z *null) Cast(_, _ *tensor.Tensor)                                     {}
func (z *null) Conv2DForward(_, _, _, _ *tensor.Tensor, _ tensor.ConvParams) {}
func (z *null) Conv2DBackwardData(_, _, _ *tensor.Tensor, _ tensor.ConvParams) {
}
func (z *null) Conv2DBackwardFilter(_, _, _, _ *tensor.Tensor, _ tensor.ConvParams) {}
func (z *null) LinearForward(_, _, _, _ *tensor.Tensor)                             {}
func (z *null) LinearBackward(_, _, _, _, _, _ *tensor.Tensor)                      {}
func (z *null) MaxPool2DForward(_, _ *tensor.Tensor, _ tensor.PoolParams)           {}
func (z *null) MaxPool2DBackward(_, _, _ *tensor.Tensor, _ tensor.PoolParams)       {}
func (z *null) AvgPool2DForward(_, _ *tensor.Tensor, _ tensor.PoolParams)           {}
func (z *null) AvgPool2DBackward(_, _ *tensor.Tensor, _ tensor.PoolParams)          {}
func (z *null) ActivationForward(tensor.Activation, *tensor.Tensor, *tensor.Tensor) {}
func (z *null) ActivationBackward(_ tensor.Activation, _, _, _ *tensor.Tensor)      {}
func (z *null) BatchNormForwardTrain(_, _, _, _, _, _, _, _ *tensor.Tensor, _ tensor.BatchNormParams) {
}
func (z *null) BatchNormForwardInfer(_, _, _, _, _, _ *tensor.Tensor, _ tensor.BatchNormParams) {}
func (z *null) BatchNormBackward(_, _, _, _, _, _, _, _ *tensor.Tensor)                         {}
func (z *null) Add(_, _, _ *tensor.Tensor)                                                      {}
func (z *null) Mul(_, _, _ *tensor.Tensor)                                                      {}
func (z *null) ShortcutPadForward(_, _ *tensor.Tensor, _ int)                                   {}
func (z *null) ShortcutPadBackward(_, _ *tensor.Tensor, _ int)                                  {}
func (z *null) CopyChannels(_, _ *tensor.Tensor, _ int)                                         {}
func (z *null) ExtractChannels(_, _ *tensor.Tensor, _ int)                                      {}
func (z *null) DropoutForward(_, _, _ *tensor.Tensor, _ float32, _, _ uint64)                   {}
func (z *null) SoftmaxCrossEntropy(_, _, _, _ *tensor.Tensor, _ float32)                        {}
func (z *null) SGDUpdate(_, _, _ *tensor.Tensor, _ tensor.SGDParams)                            {}
func (z *null) AdamUpdate(_, _, _, _ *tensor.Tensor, _ tensor.AdamParams)                       {}
func (z *null) BatchNormReLUForwardTrain(_, _, _, _, _, _, _, _ *tensor.Tensor, _ tensor.BatchNormParams) {
}
func (z *null) BatchNormReLUForwardInfer(_, _, _, _, _, _ *tensor.Tensor, _ tensor.BatchNormParams) {}
func (z *null) BatchNormReLUBackward(_, _, _, _, _, _, _, _, _ *tensor.Tensor)                      {}
func (z *null) Conv2DForwardEpilogue(_, _, _, _ *tensor.Tensor, _ tensor.ConvParams, _ tensor.Epilogue) {
}
func (z *null) AddReLU(_, _, _ *tensor.Tensor) {}

var (
	_ tensor.Backend       = (*null)(nil)
	_ tensor.BatchNormReLU = (*null)(nil)
	_ tensor.ConvEpilogue  = (*null)(nil)
	_ tensor.AddReLU       = (*null)(nil)
)

// TestArenaBytes measures, at batch 128, what one training step's layers
// allocate without a plan (every New of a forward and backward, counted on
// a backend that computes nothing) and the plan's arena with the rewrite
// and gradient sharing, with the rewrite only and with neither. Without
// either, the plan's tensors are exactly the unplanned step's allocations
// (the layers declare every tensor they allocate), and each option only
// takes memory away.
func TestArenaBytes(t *testing.T) {
	const n = 128
	for _, name := range []string{"resnet20", "vgg16-bn", "googlenet"} {
		be := &null{}
		m := build(t, be, name)
		x := be.New(append(tensor.Shape{n}, m.In...))
		be.bytes = 0
		m.Forward(x, false)
		todayEval := be.bytes
		ev, err := Compile(m, n, false, Options{Fuse: true, Share: true})
		if err != nil {
			t.Fatal(err)
		}
		evalArena := ev.Stats.Arena
		ev.Free()
		if evalArena > todayEval {
			t.Errorf("%s: evaluation arena %d bytes, more than the %d an unplanned forward allocates", name, evalArena, todayEval)
		}
		t.Logf("%s, batch %d, evaluation: %s allocated by a forward without a plan; plan arena %s (fused + shared outputs)", name, n, mib(todayEval), mib(evalArena))
		m = build(t, be, name)
		be.bytes = 0
		dy := be.New(append(tensor.Shape{n}, m.Out...))
		be.bytes = 0
		m.Backward(m.Forward(x, true).View(dy.Shape))
		today := be.bytes
		var arena [3]int64
		var declared int64
		for i, o := range []Options{{Fuse: true, Share: true}, {Fuse: true}, {}} {
			p, err := Compile(m, n, true, o)
			if err != nil {
				t.Fatal(err)
			}
			arena[i], declared = p.Stats.Arena, p.Stats.Unshared
			p.Free()
		}
		t.Logf("%s, batch %d: %s allocated by a step without a plan; plan arena %s (fused + shared gradients), %s (fused), %s (neither)",
			name, n, mib(today), mib(arena[0]), mib(arena[1]), mib(arena[2]))
		if declared != today {
			t.Errorf("%s: the layers declare %d bytes of tensors, a step allocates %d", name, declared, today)
		}
		if arena[0] > arena[1] || arena[1] > arena[2] {
			t.Errorf("%s: arenas %v: an option added memory", name, arena)
		}
	}
}
