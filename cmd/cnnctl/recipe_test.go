package main

import "testing"

// TestRecipeResnetFast512: the built-in batch-512 recipe is resnet-fast
// with the batch and the peak learning rate scaled together (x4).
func TestRecipeResnetFast512(t *testing.T) {
	base, err := parseTrain(t, "--model", "resnet", "--data", "synthetic", "--config", "resnet-fast")
	if err != nil {
		t.Fatal(err)
	}
	o, err := parseTrain(t, "--model", "resnet", "--data", "synthetic", "--config", "resnet-fast-512")
	if err != nil {
		t.Fatal(err)
	}
	if o.Batch != 512 || o.LR != base.LR*512/128 {
		t.Errorf("batch %d lr %g, want 512 and %g (resnet-fast's %g x 4)", o.Batch, o.LR, base.LR*4, base.LR)
	}
	if o.Sched != base.Sched || o.Opt != base.Opt || o.Nest != base.Nest || o.WD != base.WD || o.Smooth != base.Smooth ||
		o.Augment != base.Augment || o.Epochs != base.Epochs || o.Mom != base.Mom {
		t.Errorf("resnet-fast-512 differs from resnet-fast beyond batch and lr: %+v vs %+v", o, base)
	}
}
