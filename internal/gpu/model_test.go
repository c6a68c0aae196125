//go:build cuda

package gpu

import (
	"errors"
	"os"
	"testing"

	"github.com/cnnctl/cnnctl/internal/cpu"
	"github.com/cnnctl/cnnctl/internal/torchcheck"
	"github.com/cnnctl/cnnctl/internal/zoo"
)

// TestModelStep runs one training step of every zoo model (zoo.Build's
// weights, torchcheck.StepBatch's 8 images, label smoothing 0.1, SGD with
// momentum and weight decay) on the GPU, on the fast CPU engine and on the
// plain CPU reference, and judges the GPU tensor by tensor against the
// float64 referee (scripts/torch_f64_step.py, run here through Python with
// torch): its error may be at most torchcheck.JudgeMultiple times the
// other float32 engines' error on that tensor (both CPU engines and
// PyTorch float32) plus a floor. The log gives, per model, the GPU's worst
// error and each other engine's, so it says which engine is closer to the
// truth. Without Python and torch it skips (fails under
// CNNCTL_REQUIRE_GPU=1, as gpu-check.sh runs it).
func TestModelStep(t *testing.T) {
	g := newBackend(t)
	dir, err := torchcheck.PrepareF64(t.TempDir(), zoo.Names(), func(s string) { t.Log(s) })
	if errors.Is(err, torchcheck.ErrNoTorch) && os.Getenv("CNNCTL_REQUIRE_GPU") != "1" {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range zoo.Names() {
		t.Run(name, func(t *testing.T) {
			ref, err := torchcheck.ReadF64Step(dir, name)
			if err != nil {
				t.Fatal(err)
			}
			var others []*torchcheck.StepResult
			for _, be := range []*cpu.Backend{cpu.New(), cpu.NewReference()} {
				r, err := torchcheck.RunStep(be, ref)
				if err != nil {
					t.Fatal(err)
				}
				others = append(others, r)
			}
			got, err := torchcheck.RunStep(g, ref)
			if err != nil {
				t.Fatal(err)
			}
			torchcheck.JudgeStep(t, got, others, ref)
		})
	}
}
