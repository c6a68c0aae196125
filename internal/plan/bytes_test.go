package plan

import (
	"testing"

	"github.com/cnnctl/cnnctl/internal/tensor"
)

// TestArenaBytes measures, at batch 128, what one training step's layers
// allocate without a plan (every New of a forward and backward, counted on
// a backend that computes nothing) and the plan's arena with the rewrite
// and gradient sharing, with the rewrite only and with neither. Without
// either, the plan's tensors are exactly the unplanned step's allocations
// (the layers declare every tensor they allocate), and each option only
// takes memory away.
func TestArenaBytes(t *testing.T) {
	const n = 128
	for _, name := range []string{"resnet20", "vgg16-bn", "googlenet"} {
		dry := &Dry{}
		be := DryFused{dry}
		m := build(t, be, name)
		x := be.New(append(tensor.Shape{n}, m.In...))
		dry.Bytes = 0
		m.Forward(x, false)
		todayEval := dry.Bytes
		ev, err := Compile(m, n, false, Options{Fuse: true, Share: true})
		if err != nil {
			t.Fatal(err)
		}
		evalArena := ev.Stats.Arena
		ev.Free()
		if evalArena > todayEval {
			t.Errorf("%s: evaluation arena %d bytes, more than the %d an unplanned forward allocates", name, evalArena, todayEval)
		}
		t.Logf("%s, batch %d, evaluation: %s allocated by a forward without a plan; plan arena %s (fused + shared outputs)", name, n, mib(todayEval), mib(evalArena))
		m = build(t, be, name)
		dry.Bytes = 0
		dy := be.New(append(tensor.Shape{n}, m.Out...))
		dry.Bytes = 0
		m.Backward(m.Forward(x, true).View(dy.Shape))
		today := dry.Bytes
		var arena [3]int64
		var declared int64
		for i, o := range []Options{{Fuse: true, Share: true}, {Fuse: true}, {}} {
			p, err := Compile(m, n, true, o)
			if err != nil {
				t.Fatal(err)
			}
			arena[i], declared = p.Stats.Arena, p.Stats.Unshared
			p.Free()
		}
		t.Logf("%s, batch %d: %s allocated by a step without a plan; plan arena %s (fused + shared gradients), %s (fused), %s (neither)",
			name, n, mib(today), mib(arena[0]), mib(arena[1]), mib(arena[2]))
		if declared != today {
			t.Errorf("%s: the layers declare %d bytes of tensors, a step allocates %d", name, declared, today)
		}
		if arena[0] > arena[1] || arena[1] > arena[2] {
			t.Errorf("%s: arenas %v: an option added memory", name, arena)
		}
	}
}
