package plan

import (
	"fmt"
	"slices"
	"testing"

	"github.com/cnnctl/cnnctl/internal/cpu"
	"github.com/cnnctl/cnnctl/internal/layers"
	"github.com/cnnctl/cnnctl/internal/tensor"
	"github.com/cnnctl/cnnctl/internal/zoo"
)

// passthrough is a wrapper of a leaf (as cnnctl bench's timers are): it
// delegates everything and has Unwrap.
type passthrough struct{ layers.Layer }

func (p *passthrough) Unwrap() layers.Layer { return p.Layer }

// TestWrappedLeaves: a plan looks through wrappers of leaves. A model
// whose every leaf is wrapped gets the same fusions, slots, sharing and
// arena as the bare model, Options.Wrap is called once per fused leaf
// node with the wrappers it replaces and its result is what runs, and
// training and evaluation give bit for bit the bare plan's results.
func TestWrappedLeaves(t *testing.T) {
	for _, name := range []string{"resnet20", "lenet", "googlenet"} {
		t.Run(name, func(t *testing.T) {
			spec, err := zoo.Load(name)
			if err != nil {
				t.Fatal(err)
			}
			in := tensor.Shape{3, 32, 32}
			bare, err := zoo.Build(spec, cpu.New(), in, 10, 1)
			if err != nil {
				t.Fatal(err)
			}
			wrapped, err := zoo.BuildWith(spec, cpu.New(), in, 10, 1, zoo.BuildOptions{Wrap: func(l layers.Layer) layers.Layer { return &passthrough{l} }})
			if err != nil {
				t.Fatal(err)
			}
			const n = 3
			for _, train := range []bool{true, false} {
				var calls []string
				opts := Options{Fuse: true, Share: true, Wrap: func(f layers.Layer, parts []layers.Layer) layers.Layer {
					for _, p := range parts {
						if _, ok := p.(*passthrough); !ok {
							t.Errorf("part %s of %s is not the tree's wrapper", p.Name(), f.Name())
						}
					}
					calls = append(calls, f.Type()+":"+parts[0].Name()+"+"+parts[1].Name())
					return &passthrough{f}
				}}
				pb, err := Describe(bare, n, train, Options{Fuse: true, Share: true})
				if err != nil {
					t.Fatal(err)
				}
				pw, err := Describe(wrapped, n, train, opts)
				if err != nil {
					t.Fatal(err)
				}
				if pb.Stats != pw.Stats || fmt.Sprint(pb.Fusions) != fmt.Sprint(pw.Fusions) {
					t.Errorf("train %v: wrapped %+v %v, bare %+v %v", train, pw.Stats, pw.Fusions, pb.Stats, pb.Fusions)
				}
				var want []string
				for _, f := range pb.Fusions {
					if f.Pattern != "residual+relu" {
						want = append(want, f.Pattern+":"+f.Layers[0]+"+"+f.Layers[1])
					}
				}
				if !slices.Equal(calls, want) || len(want) == 0 {
					t.Errorf("train %v: Wrap called for %v, want %v", train, calls, want)
				}
			}
			// The wrapped nodes run, and give the bare plan's results.
			opts := Options{Fuse: true, Share: true, Wrap: func(f layers.Layer, _ []layers.Layer) layers.Layer { return &passthrough{f} }}
			ran := 0
			pw, err := Attach(wrapped, n, true, opts)
			if err != nil {
				t.Fatal(err)
			}
			layers.Walk(pw.Root, func(l layers.Layer, _ int) {
				if p, ok := l.(*passthrough); ok {
					switch p.Layer.(type) {
					case *layers.BatchNormReLU, *layers.ConvReLU, *layers.ConvBatchNorm:
						ran++
					}
				}
			})
			if ran == 0 {
				t.Errorf("no wrapped fused node in the plan's tree")
			}
			pb, err := Attach(bare, n, true, Options{Fuse: true, Share: true})
			if err != nil {
				t.Fatal(err)
			}
			wt, we := run(t, wrapped, n, 7)
			bt, bev := run(t, bare, n, 7)
			for _, c := range []struct {
				what string
				a, b []float32
			}{{"output", wt.out, bt.out}, {"gradients", wt.grads, bt.grads}, {"state", wt.state, bt.state}, {"evaluation", we.out, bev.out}} {
				if !slices.Equal(c.a, c.b) {
					t.Errorf("%s: the wrapped plan's %s differ from the bare plan's", name, c.what)
				}
			}
			pw.Free()
			pb.Free()
		})
	}
}
