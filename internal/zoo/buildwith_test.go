package zoo

import (
	"testing"

	"github.com/cnnctl/cnnctl/internal/cpu"
	"github.com/cnnctl/cnnctl/internal/layers"
)

// wrapped marks a leaf that went through BuildOptions.Wrap.
type wrapped struct{ layers.Layer }

// TestBuildWithWrapsEveryLeaf checks that Wrap sees each leaf of the summary
// once, in order, containers never, and that the wrapped model still counts
// what the summary counts.
func TestBuildWithWrapsEveryLeaf(t *testing.T) {
	for _, name := range []string{"lenet", "resnet", "googlenet"} {
		t.Run(name, func(t *testing.T) {
			s, err := Load(name)
			if err != nil {
				t.Fatal(err)
			}
			var seen []string
			wrap := func(l layers.Layer) layers.Layer {
				if l.Children() != nil {
					t.Errorf("Wrap got container %s", l.Name())
				}
				seen = append(seen, l.Name())
				return wrapped{l}
			}
			be := cpu.New()
			m, err := BuildWith(s, be, nil, 0, 1, BuildOptions{Wrap: wrap})
			if err != nil {
				t.Fatal(err)
			}
			r, err := Summary(s, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			var leaves []string
			for _, row := range r.Rows {
				if row.Leaf {
					leaves = append(leaves, row.Name)
				}
			}
			got := map[string]bool{}
			for _, n := range seen {
				got[n] = true
			}
			for _, n := range leaves {
				if !got[n] {
					t.Errorf("leaf %s was not wrapped", n)
				}
			}
			// A residual's post activation is a leaf the summary does not list.
			if len(seen) < len(leaves) {
				t.Errorf("wrapped %d leaves, summary has %d", len(seen), len(leaves))
			}
			layers.Walk(m.Root, func(l layers.Layer, _ int) {
				if l.Children() == nil {
					if _, ok := l.(wrapped); !ok {
						t.Errorf("leaf %s in the built model is not wrapped", l.Name())
					}
				}
			})
			if m.MACs() != r.MACs {
				t.Errorf("wrapped model MACs %d, summary %d", m.MACs(), r.MACs)
			}
		})
	}
}
