package torchcheck

import (
	"errors"
	"os"
	"testing"

	"github.com/cnnctl/cnnctl/internal/cpu"
	"github.com/cnnctl/cnnctl/internal/zoo"
)

// TestModelStepF64 judges the CPU engine that trains (the fast one) on one
// training step of every zoo model against the float64 referee of
// scripts/torch_f64_step.py: the loss, every gradient and every updated
// tensor, each within JudgeMultiple times the error of the other float32
// engines (the plain-loop CPU reference, PyTorch float32) plus the floor.
// The log says, per model, how far each engine lands from float64.
//
// It needs Python with torch (minutes of float64 on the CPU): without it,
// or with -short, it skips, unless CNNCTL_REQUIRE_TORCH=1 (make test, CI).
func TestModelStepF64(t *testing.T) {
	if testing.Short() && os.Getenv("CNNCTL_REQUIRE_TORCH") != "1" {
		t.Skip("-short: the float64 referee takes minutes")
	}
	dir, err := PrepareF64(t.TempDir(), zoo.Names(), func(s string) { t.Log(s) })
	if errors.Is(err, ErrNoTorch) && os.Getenv("CNNCTL_REQUIRE_TORCH") != "1" {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range zoo.Names() {
		t.Run(name, func(t *testing.T) {
			ref, err := ReadF64Step(dir, name)
			if err != nil {
				t.Fatal(err)
			}
			fast, err := RunStep(cpu.New(), ref)
			if err != nil {
				t.Fatal(err)
			}
			plain, err := RunStep(cpu.NewReference(), ref)
			if err != nil {
				t.Fatal(err)
			}
			JudgeStep(t, fast, []*StepResult{plain}, ref)
		})
	}
}
