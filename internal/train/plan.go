package train

import (
	"github.com/cnnctl/cnnctl/internal/layers"
	"github.com/cnnctl/cnnctl/internal/plan"
)

// attachPlan compiles m for batches of up to n samples, for training or
// evaluation (internal/plan: fused nodes, one arena for every layer's
// tensors), and makes it the model's Runner: the step, and the
// evaluations between its epochs, run the training plan; an evaluation on
// its own runs an evaluation plan. Nothing is attached (nil, nil) with
// CNNCTL_PLAN=0, or when the model already has a Runner.
func attachPlan(m *layers.Model, n int, train bool) (*plan.Plan, error) {
	if !plan.Enabled() || m.Runner != nil {
		return nil, nil
	}
	return plan.Attach(m, n, train, plan.FromEnv())
}
