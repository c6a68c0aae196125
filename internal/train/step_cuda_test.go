//go:build cuda

package train

import (
	"errors"
	"fmt"
	"os"
	"testing"

	"github.com/cnnctl/cnnctl/internal/gpu"
	"github.com/cnnctl/cnnctl/internal/tensor"
)

// gpuBackend opens the first GPU, or skips (fails with CNNCTL_REQUIRE_GPU=1).
func gpuBackend(t *testing.T) *gpu.Backend {
	t.Helper()
	be, err := gpu.New(0)
	if errors.Is(err, gpu.ErrNoDevice) {
		if os.Getenv("CNNCTL_REQUIRE_GPU") == "1" {
			t.Fatalf("CNNCTL_REQUIRE_GPU=1: %v", err)
		}
		t.Skip(err.Error())
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { be.Close() })
	return be
}

// TestGPUStepBitIdenticalToInline: on the GPU, the step through the
// device-side StepOps gives the same bits as the inline loop through the
// plain ops with host arguments (the same kernels' arithmetic; the GPU's
// kernels are deterministic).
func TestGPUStepBitIdenticalToInline(t *testing.T) {
	be := gpuBackend(t)
	for _, c := range stepCases {
		t.Run(c.model+"/"+c.opt.Kind, func(t *testing.T) {
			bs := batches(c.sizes)
			inline := trainInline(t, buildModel(t, be, c.model), c, bs, nil)
			compare(t, inline, trainStep(t, buildModel(t, be, c.model), c, bs, 3, nil))
		})
	}
}

// TestGPUStepRunMakesNoHostSync: Step.Run on the GPU queues its work
// without a Download, Sync or Err, and allocates nothing after the first
// step.
func TestGPUStepRunMakesNoHostSync(t *testing.T) {
	be := gpuBackend(t)
	rec := newRecorder(be)
	sr := stepRecorder{recorder: rec, ops: tensor.StepOps(be)}
	c := stepCases[0]
	m := buildModel(t, sr, c.model)
	opt, err := NewOptimizer(m, c.opt)
	if err != nil {
		t.Fatal(err)
	}
	bs := batches([]int{8, 8, 8})
	s := NewStep(m, opt, 8, len(bs), len(bs), 0)
	s.StartEpoch([]float32{0.1, 0.1, 0.1}, 0)
	runChecked(t, s, rec, bs, nil)
	if got, err := s.Read(); err != nil || len(got.Loss) != len(bs) || got.Bad >= 0 {
		t.Fatalf("read: %v, %+v", err, got)
	}
}

// TestGPUHeldDataSameBits: on the GPU, training resnet20 from the set held
// on the device (gather_batch at the device's batch counter) gives the
// bits of training on the host loader's uploaded batches: weights,
// optimiser state, metrics, and an interrupted-and-resumed held run.
func TestGPUHeldDataSameBits(t *testing.T) {
	heldSameBits(t, func() tensor.Backend { return gpuBackend(t) })
}

// TestGPUGraphsBitIdentical: on the GPU, two epochs whose steps are
// captured per batch size and replayed as CUDA graphs (with the batches
// copied through pinned memory on the copy stream, tensor.CopyQueue, into
// two device slots, each awaited by the step's stream through an event)
// leave the bits of the same steps queued
// op by op: weights, buffers, optimiser state, losses and hits, on
// resnet20 (SGD), lenet-bn (Adam) and nin (AdamW, dropout, whose counter
// the replays read on the device).
func TestGPUGraphsBitIdentical(t *testing.T) {
	be := gpuBackend(t)
	for _, c := range stepCases {
		t.Run(c.model+"/"+c.opt.Kind, func(t *testing.T) {
			bs := batches(c.sizes)
			plain, _ := graphRun(t, c, bs, graphOptions{backend: be})
			got, st := graphRun(t, c, bs, graphOptions{backend: be, graphs: true, pinned: true})
			if len(st.notes) != 0 {
				t.Fatalf("graphs or pinned memory were turned off: %q", st.notes)
			}
			if d := diff(plain, got); d != "" {
				t.Fatalf("graph replay vs --no-graphs: %s", d)
			}
			if want := distinct(c.sizes); st.graphs != want {
				t.Errorf("%d graphs at the end, want %d (one per batch size)", st.graphs, want)
			}
		})
	}
}

// TestGPUEvalOnDeviceSameBits: on the GPU, evaluations with the split held
// on the device (gather_batch in order, no augmentation) and the loss and
// hits summed by the StepMetrics kernel, the logits read once, report the
// bits of the per-batch path that uploads each batch and reads its loss
// and logits back; with graphs replayed by the recording fake around the
// GPU, and with the GPU's own CUDA graphs.
func TestGPUEvalOnDeviceSameBits(t *testing.T) {
	be := gpuBackend(t)
	evalOnDeviceSameBits(t, newEvalFixture(t, be))
	m := buildModel(t, be, "resnet20")
	streamed := evalLoader(t, synthSplit(t, 19), 8)
	held, set, where := placeEval(DataDevice, be, streamed, "evaluation set", 0)
	if set == nil {
		t.Fatal(where)
	}
	defer set.Free()
	var notes []string
	note := func(format string, args ...any) { notes = append(notes, fmt.Sprintf(format, args...)) }
	want := evalBits(t)(EvaluateWith(m, streamed, tenClasses, 8, EvalOptions{perBatch: true}))
	for _, src := range []Source{streamed, held} {
		for _, o := range []EvalOptions{{}, {Graphs: true, Note: note}, {Graphs: true, Note: note, logitBytes: 2 * 8 * 10 * 4}} {
			if got := evalBits(t)(EvaluateWith(m, src, tenClasses, 8, o)); got != want {
				t.Errorf("%T, graphs %v, logit bytes %d:\n%s\nwant (streamed, per batch)\n%s", src, o.Graphs, o.logitBytes, got, want)
			}
		}
	}
	if len(notes) != 0 {
		t.Errorf("graphs were turned off: %q", notes)
	}
}

// TestGPUEvalOnDeviceNoHostSync: on the GPU, an evaluation's batches after
// the first wait for nothing and allocate nothing (held: copy nothing).
func TestGPUEvalOnDeviceNoHostSync(t *testing.T) {
	evalOnDeviceNoHostSync(t, newEvalFixture(t, gpuBackend(t)))
}
