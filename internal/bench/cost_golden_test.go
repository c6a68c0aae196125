package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cnnctl/cnnctl/internal/cpu"
	"github.com/cnnctl/cnnctl/internal/zoo"
)

// everyKind is a small model with a layer of every kind the zoo knows, so
// that the cost golden reaches the kinds the built-in models do not use
// (sigmoid, tanh, avgpool, dropout, pad).
const everyKind = `name: every
input: 3x16x16
layers:
  - {type: conv2d, name: c, out: 8, kernel: 3, padding: 1}
  - {type: batchnorm, name: bn}
  - {type: sigmoid, name: s}
  - {type: tanh, name: t}
  - {type: avgpool, name: ap, kernel: 2}
  - {type: maxpool, name: mp, kernel: 3, stride: 1, padding: 1}
  - type: residual
    name: res
    body: [{type: conv2d, name: c1, out: 12, kernel: 3, padding: 1, stride: 2}]
    shortcut: {type: pad, name: sc, out: 12, stride: 2}
    post: relu
  - type: concat
    name: cat
    branches:
      - {name: b1, layers: [{type: conv2d, name: "0", out: 2, kernel: 1}]}
      - {name: b2, layers: [{type: relu, name: "0"}]}
  - {type: globalavgpool, name: gap}
  - {type: flatten, name: f}
  - {type: dropout, name: d, p: 0.3}
  - {type: linear, name: fc, out: classes}
`

// TestCostGolden pins the FLOPs and bytes layerCost gives every leaf of
// every built-in model and of everyKind, for a batch of 4 in training and
// inference, against testdata/costs.txt (written from the code before the
// cost classes came from the zoo's layer-kind registry).
func TestCostGolden(t *testing.T) {
	specs := []*zoo.Spec{}
	for _, name := range zoo.Names() {
		s, err := zoo.Load(name)
		if err != nil {
			t.Fatal(err)
		}
		specs = append(specs, s)
	}
	s, err := zoo.Parse("every.yaml", []byte(everyKind))
	if err != nil {
		t.Fatal(err)
	}
	specs = append(specs, s)
	var b strings.Builder
	for _, s := range specs {
		be := cpu.New()
		rec := NewRecorder(be)
		m, err := zoo.BuildWith(s, be, nil, 0, 1, zoo.BuildOptions{Wrap: rec.Wrap})
		if err != nil {
			t.Fatal(err)
		}
		params := paramsByLayer(m)
		fmt.Fprintf(&b, "model %s\n", s.Name)
		for _, l := range rec.Leaves() {
			tr := layerCost(l, 4, params[l.Name()], true)
			in := layerCost(l, 4, params[l.Name()], false)
			fmt.Fprintf(&b, "%s %s train %+v infer %+v\n", l.Label, l.Type(), tr, in)
		}
		be.Close()
	}
	path := filepath.Join("testdata", "costs.txt")
	if *update {
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	golden, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/bench -run CostGolden -update)", err)
	}
	if b.String() != string(golden) {
		t.Errorf("layer costs differ from %s:\n%s", path, b.String())
	}
}
