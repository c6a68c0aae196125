package train

import (
	"testing"

	"github.com/cnnctl/cnnctl/internal/cpu"
	"github.com/cnnctl/cnnctl/internal/tensor"
)

// fusedRecorder is a stepRecorder that also passes on (and counts) the
// CPU's fused ops, so that a plan's fused nodes take them.
type fusedRecorder struct {
	stepRecorder
	fused *cpu.Backend
}

func (r fusedRecorder) BatchNormReLUForwardTrain(x, gamma, beta, runMean, runVar, y, saveMean, saveInvStd *tensor.Tensor, p tensor.BatchNormParams) {
	r.op("BatchNormReLUForwardTrain", func() { r.fused.BatchNormReLUForwardTrain(x, gamma, beta, runMean, runVar, y, saveMean, saveInvStd, p) })
}
func (r fusedRecorder) BatchNormReLUForwardInfer(x, gamma, beta, runMean, runVar, y *tensor.Tensor, p tensor.BatchNormParams) {
	r.op("BatchNormReLUForwardInfer", func() { r.fused.BatchNormReLUForwardInfer(x, gamma, beta, runMean, runVar, y, p) })
}
func (r fusedRecorder) BatchNormReLUBackward(x, y, dy, gamma, saveMean, saveInvStd, dx, dgamma, dbeta *tensor.Tensor) {
	r.op("BatchNormReLUBackward", func() { r.fused.BatchNormReLUBackward(x, y, dy, gamma, saveMean, saveInvStd, dx, dgamma, dbeta) })
}
func (r fusedRecorder) Conv2DForwardEpilogue(x, w, b, y *tensor.Tensor, p tensor.ConvParams, e tensor.Epilogue) {
	r.op("Conv2DForwardEpilogue", func() { r.fused.Conv2DForwardEpilogue(x, w, b, y, p, e) })
}
func (r fusedRecorder) AddReLU(a, b, y *tensor.Tensor) {
	r.op("AddReLU", func() { r.fused.AddReLU(a, b, y) })
}

var (
	_ tensor.BatchNormReLU = fusedRecorder{}
	_ tensor.ConvEpilogue  = fusedRecorder{}
	_ tensor.AddReLU       = fusedRecorder{}
)

// TestPlanStepCalls counts the backend calls of a ResNet-20 Step.Run with
// the plan's fused nodes taking the fused ops (the recorder passes them
// on) against one without (the recorder hides them, so the nodes run the
// plain sequences): fewer calls, still no host sync and no allocation
// after the first step; and the weights after the steps are the same bits.
func TestPlanStepCalls(t *testing.T) {
	c := stepCases[0]
	bs := batches([]int{8, 8, 8})
	count := func(fused bool) (calls, syncs int, st trained) {
		be := cpu.New()
		rec := newRecorder(be)
		var b tensor.Backend = stepRecorder{recorder: rec, ops: be}
		if fused {
			b = fusedRecorder{stepRecorder{recorder: rec, ops: be}, be}
		}
		m := buildModel(t, b, c.model)
		opt, err := NewOptimizer(m, c.opt)
		if err != nil {
			t.Fatal(err)
		}
		s := NewStep(m, opt, 8, len(bs), len(bs), 0)
		defer s.Free()
		if s.plan == nil {
			t.Fatal("NewStep attached no plan")
		}
		s.StartEpoch([]float32{0.1, 0.1, 0.1}, 0)
		runChecked(t, s, rec, bs, func(i int) {
			if i == len(bs)-1 {
				calls, syncs = rec.total(), rec.syncs()
				if fused && rec.calls["BatchNormReLUForwardTrain"] != 10 || fused && rec.calls["AddReLU"] != 9 {
					t.Errorf("fused ops called %v", rec.calls)
				}
			}
		})
		if _, err := s.Read(); err != nil {
			t.Fatal(err)
		}
		return calls, syncs, snapshot(t, m, opt)
	}
	plainCalls, _, plain := count(false)
	fusedCalls, fusedSyncs, fused := count(true)
	t.Logf("ResNet-20 Step.Run, batch 8, plan attached: %d backend calls with the plain sequences, %d with the fused ops, %d host syncs", plainCalls, fusedCalls, fusedSyncs)
	if fusedCalls >= plainCalls || fusedSyncs != 0 {
		t.Errorf("fused: %d calls (plain %d), %d syncs", fusedCalls, plainCalls, fusedSyncs)
	}
	for i := range plain.state {
		sameBits(t, "state tensor", plain.state[i], fused.state[i])
	}
}
