package layers

import (
	"strings"
	"testing"

	"github.com/cnnctl/cnnctl/internal/cpu"
	"github.com/cnnctl/cnnctl/internal/tensor"
)

// TestSetupErrors checks that bad shapes and settings are errors (not
// panics) that name the layer at fault.
func TestSetupErrors(t *testing.T) {
	bn := DefaultBatchNorm()
	for _, c := range []struct {
		layer Layer
		in    tensor.Shape
		want  []string
	}{
		{conv("features.3", 4, 3, 3, 1, 0, true), tensor.Shape{3, 2, 2},
			[]string{"layer features.3 (conv2d): input 3x2x2 is smaller than kernel 3x3 with padding 0"}},
		{conv("c", 4, 3, 3, 1, 0, true), tensor.Shape{10}, []string{"layer c (conv2d)", "(C,H,W)"}},
		{conv("c", 0, 3, 3, 1, 0, true), tensor.Shape{1, 5, 5}, []string{"layer c (conv2d)", "0 output channels"}},
		{NewConv2D("c", 1, 1, 1, tensor.ConvParams{StrideH: -1}, false), tensor.Shape{1, 5, 5}, []string{"layer c (conv2d)", "stride"}},
		{conv("c", 1, 1, 1, 1, -1, false), tensor.Shape{1, 5, 5}, []string{"layer c (conv2d)", "padding"}},
		{NewLinear("classifier.0", 10, true), tensor.Shape{16, 5, 5}, []string{"layer classifier.0 (linear)", "16x5x5", "flatten"}},
		{NewLinear("fc", 0, true), tensor.Shape{4}, []string{"layer fc (linear)", "0 outputs"}},
		{NewMaxPool2D("pool", pool(3, 3, 2, 0)), tensor.Shape{4, 2, 2}, []string{"layer pool (maxpool2d)", "smaller than window 3x3"}},
		{NewAvgPool2D("pool", pool(2, 2, 2, 2)), tensor.Shape{4, 8, 8}, []string{"layer pool (avgpool2d)", "half the window"}},
		{NewAvgPool2D("pool", pool(0, 2, 2, 0)), tensor.Shape{4, 8, 8}, []string{"layer pool (avgpool2d)", "window"}},
		{NewMaxPool2D("pool", pool(2, 2, 2, 0)), tensor.Shape{8}, []string{"layer pool (maxpool2d)", "(C,H,W)"}},
		{NewGlobalAvgPool("gap"), tensor.Shape{8}, []string{"layer gap (globalavgpool)", "(C,H,W)"}},
		{NewDropout("drop", 1.5), tensor.Shape{8}, []string{"layer drop (dropout)", "p = 1.5"}},
		{NewBatchNorm("bn", bn), tensor.Shape{3, 4}, []string{"layer bn (batchnorm)", "3x4"}},
		{NewBatchNorm("bn", tensor.BatchNormParams{Momentum: 2, Eps: 1e-5}), tensor.Shape{3}, []string{"layer bn (batchnorm)", "momentum 2"}},
		{NewActivation("act", tensor.Activation(9)), tensor.Shape{3}, []string{"layer act", "unknown activation"}},
		{NewFlatten("flat"), tensor.Shape{3, 0, 2}, []string{"layer flat (flatten)", "3x0x2"}},
		{NewShortcutPad("sc", 2, 2), tensor.Shape{4, 8, 8}, []string{"layer sc (shortcutpad)", "more channels"}},
		{NewShortcutPad("sc", 8, 0), tensor.Shape{4, 8, 8}, []string{"layer sc (shortcutpad)", "stride 0"}},
		// A container passes on its child's error unchanged.
		{NewSequential("features", conv("features.0", 4, 3, 3, 1, 1, true), NewLinear("features.1", 3, true)),
			tensor.Shape{3, 8, 8}, []string{"layer features.1 (linear)", "4x8x8"}},
		{NewResidual("layer2.0", conv("layer2.0.conv1", 8, 3, 3, 2, 1, false), nil, nil), tensor.Shape{4, 8, 8},
			[]string{"layer layer2.0 (residual)", "8x4x4", "identity shortcut", "4x8x8"}},
		{NewResidual("layer2.0", conv("layer2.0.conv1", 8, 3, 3, 2, 1, false), NewShortcutPad("layer2.0.shortcut", 8, 1), nil),
			tensor.Shape{4, 8, 8}, []string{"layer layer2.0 (residual)", "8x4x4", "shortcut layer2.0.shortcut", "8x8x8"}},
		{NewResidual("block", nil, nil, nil), tensor.Shape{4, 8, 8}, []string{"layer block (residual)", "no body"}},
		{NewConcat("inc", conv("inc.b1", 2, 1, 1, 1, 0, true), conv("inc.b2", 2, 3, 3, 1, 0, true)), tensor.Shape{4, 8, 8},
			[]string{"layer inc (concat)", "branch inc.b2", "2x6x6", "branch inc.b1", "2x8x8"}},
		{NewConcat("inc", NewFlatten("inc.f")), tensor.Shape{4, 8, 8}, []string{"layer inc (concat)", "branch inc.f", "256"}},
		{NewConcat("inc"), tensor.Shape{4, 8, 8}, []string{"layer inc (concat)", "no branches"}},
	} {
		_, err := Build(cpu.New(), c.layer, c.in, 1)
		if err == nil {
			t.Errorf("%s (%s) on %v: no error", c.layer.Name(), c.layer.Type(), c.in)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s on %v: error %q does not say %q", c.layer.Name(), c.in, err, w)
			}
		}
	}
}

func TestDuplicateNames(t *testing.T) {
	s := NewSequential("net", NewLinear("net.fc", 3, true), NewLinear("net.fc", 3, true))
	if _, err := Build(cpu.New(), s, tensor.Shape{3}, 1); err == nil || !strings.Contains(err.Error(), "net.fc.weight") {
		t.Errorf("two layers named net.fc: error %v", err)
	}
}
