package main

import (
	"strings"
	"testing"
)

// TestSummaryPlan: summary --plan N prints the plan after the summary:
// LeNet's two convolution + ReLU pairs fused, the arena at batch 4; and
// --plan with --json is refused.
func TestSummaryPlan(t *testing.T) {
	code, out, errOut := runCLI(t, "summary", "lenet", "--plan", "4")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"plan: batch 4,", "fused conv2d+relu     conv1 + relu1", "fused conv2d+relu     conv2 + relu2"} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in\n%s", want, out)
		}
	}
	if code, _, _ := runCLI(t, "summary", "lenet", "--plan", "4", "--json"); code != exitUsage {
		t.Errorf("--plan with --json: exit %d, want %d", code, exitUsage)
	}
}
