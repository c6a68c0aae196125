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
	for _, want := range []string{"plan: batch 4,", "fused conv2d+relu           conv1 + relu1", "fused conv2d+relu           conv2 + relu2"} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in\n%s", want, out)
		}
	}
	if code, _, _ := runCLI(t, "summary", "lenet", "--plan", "4", "--json"); code != exitUsage {
		t.Errorf("--plan with --json: exit %d, want %d", code, exitUsage)
	}
}

// TestSummaryPlanConvBN: summary --plan N shows a training plan's
// conv2d+batchnorm fusions (resnet20's stem: conv1, bn1, relu; a block's
// second convolution and its batch norm), and with CNNCTL_FUSE_CONVBN=0
// the batch norm fused with its ReLU alone.
func TestSummaryPlanConvBN(t *testing.T) {
	code, out, errOut := runCLI(t, "summary", "resnet20", "--plan", "2")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"fused conv2d+batchnorm+relu conv1 + bn1 + relu", "fused conv2d+batchnorm      layer1.0.conv2 + layer1.0.bn2"} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in\n%s", want, out)
		}
	}
	t.Setenv("CNNCTL_FUSE_CONVBN", "0")
	code, out, errOut = runCLI(t, "summary", "resnet20", "--plan", "2")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.Contains(out, "fused batchnorm+relu        bn1 + relu") || strings.Contains(out, "conv2d+batchnorm") {
		t.Errorf("with CNNCTL_FUSE_CONVBN=0:\n%s", out)
	}
}
