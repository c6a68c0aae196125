package torchcheck

import "testing"

// JudgeStep fails t for every tensor of engine r's step that the float64
// referee judges wrong (see JudgeMultiple), listing at most 8, and logs
// Summary: r's worst error and closest call, and the worst error of each
// other engine (others, then PyTorch float32).
func JudgeStep(t testing.TB, r *StepResult, others []*StepResult, ref *F64Step) {
	t.Helper()
	v, err := Judge(r, others, ref)
	if err != nil {
		t.Fatal(err)
	}
	bad := 0
	for _, x := range v {
		if !x.OK() {
			if bad++; bad <= 8 {
				t.Errorf("%s on %s: %v", ref.Model, r.Engine, x)
			}
		}
	}
	if bad > 8 {
		t.Errorf("%s on %s: %d tensors beyond their limit in all", ref.Model, r.Engine, bad)
	}
	errs := map[string][]TensorError{"pytorch float32": ref.Torch32Errors()}
	for _, o := range others {
		if errs[o.Engine], err = Errors(o, ref); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%-9s %s: %s", ref.Model, r.Engine, Summary(v, errs))
}
