package train

import (
	"fmt"

	"github.com/cnnctl/cnnctl/internal/layers"
	"github.com/cnnctl/cnnctl/internal/tensor"
)

// OptimizerConfig selects and parameterises the optimiser.
type OptimizerConfig struct {
	Kind        string // sgd, adam, adamw
	Momentum    float64
	Nesterov    bool
	WeightDecay float64
	Beta1       float64
	Beta2       float64
	Eps         float64
}

// Validate rejects settings PyTorch would reject.
func (c OptimizerConfig) Validate() error {
	switch c.Kind {
	case "sgd":
		if c.Momentum < 0 {
			return fmt.Errorf("optimizer sgd: momentum must not be negative, got %g", c.Momentum)
		}
		if c.Nesterov && c.Momentum == 0 {
			return fmt.Errorf("optimizer sgd: --nesterov needs a positive --momentum")
		}
	case "adam", "adamw":
	default:
		return fmt.Errorf("unknown optimizer %q (want sgd, adam or adamw)", c.Kind)
	}
	if c.WeightDecay < 0 {
		return fmt.Errorf("optimizer: weight decay must not be negative, got %g", c.WeightDecay)
	}
	return nil
}

// Optimizer updates all of a model's trainable parameters in one op over
// the contiguous weight buffer.
type Optimizer struct {
	cfg  OptimizerConfig
	be   tensor.Backend
	m    *layers.Model
	slot [2]*tensor.Tensor // sgd: velocity; adam: first and second moments
	// Step counts updates done (Adam's bias correction needs it).
	Step int
}

// NewOptimizer allocates the optimiser's state (zeros) on the model's backend.
func NewOptimizer(m *layers.Model, cfg OptimizerConfig) (*Optimizer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	be := m.Ctx.Backend
	o := &Optimizer{cfg: cfg, be: be, m: m}
	if m.Weights == nil {
		return nil, fmt.Errorf("optimizer: model has no trainable parameters")
	}
	o.slot[0] = be.New(m.Weights.Shape)
	if cfg.Kind != "sgd" {
		o.slot[1] = be.New(m.Weights.Shape)
	}
	return o, nil
}

// Update applies one step with learning rate lr.
func (o *Optimizer) Update(lr float64) {
	o.Step++
	switch o.cfg.Kind {
	case "sgd":
		o.be.SGDUpdate(o.m.Weights, o.m.Grads, o.slot[0], tensor.SGDParams{
			LR: float32(lr), Momentum: float32(o.cfg.Momentum),
			WeightDecay: float32(o.cfg.WeightDecay), Nesterov: o.cfg.Nesterov,
		})
	default:
		o.be.AdamUpdate(o.m.Weights, o.m.Grads, o.slot[0], o.slot[1], tensor.AdamParams{
			LR: float32(lr), Beta1: float32(o.cfg.Beta1), Beta2: float32(o.cfg.Beta2),
			Eps: float32(o.cfg.Eps), WeightDecay: float32(o.cfg.WeightDecay),
			Decoupled: o.cfg.Kind == "adamw", Step: o.Step,
		})
	}
}

// State returns the optimiser's buffers as host slices, named for the
// checkpoint ("momentum" / "exp_avg", "exp_avg_sq").
func (o *Optimizer) State() map[string][]float32 {
	names := [2]string{"momentum", ""}
	if o.cfg.Kind != "sgd" {
		names = [2]string{"exp_avg", "exp_avg_sq"}
	}
	out := map[string][]float32{}
	for i, t := range o.slot {
		if t == nil {
			continue
		}
		v := make([]float32, t.Numel())
		o.be.Download(v, t)
		out[names[i]] = v
	}
	return out
}

// SetState restores buffers saved by State.
func (o *Optimizer) SetState(state map[string][]float32, step int) error {
	names := [2]string{"momentum", ""}
	if o.cfg.Kind != "sgd" {
		names = [2]string{"exp_avg", "exp_avg_sq"}
	}
	for i, t := range o.slot {
		if t == nil {
			continue
		}
		v, ok := state[names[i]]
		if !ok {
			return fmt.Errorf("optimizer state: %q missing (was the checkpoint written with another optimizer?)", names[i])
		}
		if len(v) != t.Numel() {
			return fmt.Errorf("optimizer state: %q has %d values, model has %d parameters", names[i], len(v), t.Numel())
		}
		o.be.Upload(t, v)
	}
	o.Step = step
	return nil
}
