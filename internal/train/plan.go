package train

import (
	"github.com/cnnctl/cnnctl/internal/layers"
	"github.com/cnnctl/cnnctl/internal/plan"
)

// attachPlan compiles m for training batches of up to n samples
// (internal/plan: fused nodes, one arena for every layer's tensors) and
// makes it the model's Runner, so that the step, and the evaluations
// between epochs, run the plan. Nothing is attached with CNNCTL_PLAN=0, or
// when the model already has a Runner.
func attachPlan(m *layers.Model, n int) (*plan.Plan, error) {
	if !plan.Enabled() || m.Runner != nil {
		return nil, nil
	}
	return plan.Attach(m, n, true, plan.FromEnv())
}
