package train

import (
	"fmt"
	"math"
)

// Schedule gives the learning rate at a fractional epoch.
type Schedule struct {
	Kind         string  // constant, step, cosine, onecycle
	BaseLR       float64 // the --lr value (onecycle: the peak)
	Epochs       int     // total epochs of the run
	WarmupEpochs float64 // linear warm-up from BaseLR/100 (not used by onecycle)
	StepEvery    int     // step: multiply by StepGamma every StepEvery epochs
	StepGamma    float64
}

// Validate rejects schedules that cannot run.
func (s Schedule) Validate() error {
	switch s.Kind {
	case "constant", "cosine", "onecycle":
	case "step":
		if s.StepEvery <= 0 {
			return fmt.Errorf("schedule step: --step-every must be positive, got %d", s.StepEvery)
		}
		if s.StepGamma <= 0 {
			return fmt.Errorf("schedule step: --step-gamma must be positive, got %g", s.StepGamma)
		}
	default:
		return fmt.Errorf("unknown schedule %q (want constant, step, cosine or onecycle)", s.Kind)
	}
	if s.WarmupEpochs < 0 {
		return fmt.Errorf("schedule: warm-up epochs must not be negative, got %g", s.WarmupEpochs)
	}
	return nil
}

// LR is the learning rate at epoch position t (epoch index + fraction done).
func (s Schedule) LR(t float64) float64 {
	total := float64(s.Epochs)
	if total <= 0 {
		total = 1
	}
	if s.Kind == "onecycle" {
		// PyTorch's OneCycleLR shape (cosine annealing): 30% up from
		// peak/25, then down to peak/(25*1e4).
		up := 0.3 * total
		lo, end := s.BaseLR/25, s.BaseLR/25/1e4
		if t < up {
			return lo + (s.BaseLR-lo)*(1-math.Cos(math.Pi*t/up))/2
		}
		f := math.Min(1, (t-up)/(total-up))
		return end + (s.BaseLR-end)*(1+math.Cos(math.Pi*f))/2
	}
	if s.WarmupEpochs > 0 && t < s.WarmupEpochs {
		start := s.BaseLR / 100
		return start + (s.BaseLR-start)*t/s.WarmupEpochs
	}
	switch s.Kind {
	case "step":
		return s.BaseLR * math.Pow(s.StepGamma, math.Floor(t/float64(s.StepEvery)))
	case "cosine":
		w := s.WarmupEpochs
		f := math.Min(1, math.Max(0, (t-w)/math.Max(total-w, 1e-9)))
		return s.BaseLR * (1 + math.Cos(math.Pi*f)) / 2
	}
	return s.BaseLR
}
