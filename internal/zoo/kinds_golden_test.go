package zoo

import (
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cnnctl/cnnctl/internal/cpu"
	"github.com/cnnctl/cnnctl/internal/layers"
	"github.com/cnnctl/cnnctl/internal/tensor"
)

// kindCases are layer lists that reach every check of every layer kind's
// decoding and shape walk, each appended to head. Each prints its error, or
// its canonical text and summary when it has none.
var kindCases = []string{
	// Every kind, every key, non-default values.
	`  - {type: conv2d, name: c, out: 8, kernel: [3, 1], stride: [2, 1], padding: [1, 0], bias: false}
  - {type: batchnorm, name: bn, momentum: 0.2, eps: 0.001}
  - {type: relu, name: r}
  - {type: sigmoid, name: s}
  - {type: tanh, name: t}
  - {type: maxpool, name: mp, kernel: 3, stride: 1, padding: 1}
  - {type: avgpool, name: ap, kernel: [2, 1]}
  - {type: dropout, name: d, p: 0.25}
  - {type: dropout, name: d, p: 0.25}
  - type: residual
    name: res
    body: [{type: conv2d, name: c1, out: 12, kernel: 3, padding: 1, stride: 2}]
    shortcut: {type: pad, name: sc, out: 12, stride: 2}
    post: sigmoid
  - type: residual
    name: res2
    body:
      - {type: conv2d, name: c1, out: 12, kernel: 1}
      - {type: relu, name: r}
    post: tanh
  - type: residual
    name: res3
    body: [{type: conv2d, name: c1, out: 4, kernel: 1}]
    shortcut:
      - {type: conv2d, name: "0", out: 4, kernel: 1}
      - {type: batchnorm, name: "1"}
  - type: concat
    name: cat
    branches:
      - {name: b1, layers: [{type: conv2d, name: "0", out: 2, kernel: 1}]}
      - {type: sequential, name: b2, layers: [{type: maxpool, name: "0", kernel: 3, stride: 1, padding: 1}]}
  - type: sequential
    name: seq
    layers:
      - {type: globalavgpool, name: gap}
      - {type: flatten, name: f}
      - {type: batchnorm, name: bn1d}
      - {type: linear, name: "{i}", out: 5, bias: false, repeat: {count: 2, start: 3}}
      - {type: linear, name: head, out: classes}
`,
	// Decoding, kind by kind.
	"  - {type: conv2d, name: c, out: classes, kernel: 3, stride: 0}\n",
	"  - {type: conv2d, name: c, out: 3, kernel: [1, 2, 3]}\n",
	"  - {type: conv2d, name: c, out: 3, kernel: 3, padding: x}\n",
	"  - {type: conv2d, name: c, out: 3, kernel: 3, bias: yes}\n",
	"  - {type: conv2d, name: c, out: 3, kernel: 3, p: 0.5}\n",
	"  - {type: conv2d, name: c, kernel: 3}\n",
	"  - {type: conv2d, name: c, out: 0, kernel: 3}\n",
	"  - {type: conv2d, name: c, out: 2.5, kernel: 3}\n",
	"  - {type: linear, name: f, out: 4, kernel: 3}\n",
	"  - {type: linear, name: f, out: [4]}\n",
	"  - {type: maxpool, name: p}\n",
	"  - {type: maxpool, name: p, kernel: 2, out: 3}\n",
	"  - {type: avgpool, name: p, kernel: 2, stride: [1, 0]}\n",
	"  - {type: avgpool, name: p, kernel: 2, padding: -1}\n",
	"  - {type: dropout, name: d, p: -0.1}\n",
	"  - {type: dropout, name: d, p: x}\n",
	"  - {type: dropout, name: d, rate: 0.1}\n",
	"  - {type: batchnorm, name: b, momentum: 1.5}\n",
	"  - {type: batchnorm, name: b, momentum: x}\n",
	"  - {type: batchnorm, name: b, eps: 0}\n",
	"  - {type: batchnorm, name: b, eps: -1}\n",
	"  - {type: batchnorm, name: b, affine: false}\n",
	"  - {type: pad, name: p, stride: 2}\n",
	"  - {type: pad, name: p, out: 8}\n",
	"  - {type: pad, name: p, out: 8, stride: [1, 2]}\n",
	"  - {type: pad, name: p, out: 8, stride: 2, kernel: 1}\n",
	"  - {type: flatten, name: f, start_dim: 1}\n",
	"  - {type: globalavgpool, name: g, kernel: 2}\n",
	"  - {type: sigmoid, name: s, out: 2}\n",
	"  - {type: tanh, name: t, p: 2}\n",
	"  - {type: sequential, name: s, layers: {type: relu, name: r}}\n",
	"  - {type: sequential, name: s, layers: []}\n",
	"  - {type: sequential, name: s, body: []}\n",
	"  - {type: residual, name: r}\n",
	"  - {type: residual, name: r, body: [{type: relu, name: a}], post: 3}\n",
	"  - {type: residual, name: r, body: [{type: relu, name: a}], post: [relu]}\n",
	"  - {type: residual, name: r, body: [{type: relu, name: a}], post: gelu}\n",
	"  - {type: residual, name: r, body: [{type: relu, name: a}], shortcut: [{type: relu, name: a}]}\n",
	"  - {type: residual, name: r, body: [{type: relu, name: a}], shortcut: {type: linear, name: s}}\n",
	"  - {type: residual, name: r, body: [{type: relu, name: a}], layers: []}\n",
	"  - {type: concat, name: c}\n",
	"  - {type: concat, name: c, branches: []}\n",
	"  - {type: concat, name: c, branches: [{name: b, type: residual, layers: []}]}\n",
	"  - {type: concat, name: c, branches: [{name: b}]}\n",
	"  - {type: concat, name: c, branches: [{name: a.b, layers: [{type: relu, name: r}]}]}\n",
	"  - {type: concat, name: c, branches: [{name: b, layers: [{type: relu, name: r}], post: relu}]}\n",
	"  - {type: concat, name: c, branches: [{name: b, layers: [{type: relu, name: r}]}, {name: b, layers: [{type: tanh, name: r}]}]}\n",
	"  - {type: maxpool, name: p, kernel: 2}\n  - {type: maxpool, name: p, kernel: 3}\n",
	"  - {type: dropout, name: p, p: 0.1}\n  - {type: dropout, name: p, p: 0.2}\n",
	"  - {type: batchnorm, name: b}\n  - {type: batchnorm, name: b}\n",
	"  - {type: pad, name: p, out: 5, stride: 1}\n  - {type: pad, name: p, out: 5, stride: 1}\n",
	"  - {type: relu, name: p}\n  - {type: sigmoid, name: p}\n",
	"  - {type: relu, name: p}\n  - {type: relu, name: p}\n",
	"  - {type: Conv2d, name: c}\n",
	"  - {type: [conv2d], name: c}\n",
	"  - {type: relu, name: r, repeat: {count: 2, start: -1}}\n",
	"  - {type: relu, name: \"r{i}{i}\", repeat: {count: 2}}\n",
	"  - {type: relu, name: \"r{i}\", repeat: {count: 2000}}\n",
	"  - {type: relu, name: \"r{i}\", repeat: {times: 2}}\n",
	// Shapes, kind by kind.
	"  - {type: maxpool, name: p, kernel: 3, padding: 2}\n",
	"  - {type: avgpool, name: p, kernel: 64}\n",
	"  - {type: conv2d, name: c, out: 100000000, kernel: 1000}\n",
	"  - {type: flatten, name: f}\n  - {type: linear, name: l, out: 100000000000}\n",
	"  - {type: flatten, name: f}\n  - {type: maxpool, name: p, kernel: 2}\n",
	"  - {type: flatten, name: f}\n  - {type: globalavgpool, name: g}\n",
	"  - {type: flatten, name: f}\n  - {type: pad, name: p, out: 8, stride: 2}\n",
	"  - {type: flatten, name: f}\n  - {type: batchnorm, name: b}\n  - {type: dropout, name: d}\n  - {type: tanh, name: t}\n",
	"  - {type: pad, name: p, out: 2, stride: 1}\n",
	"  - {type: pad, name: p, out: 9, stride: 3}\n",
	"  - {type: concat, name: c, branches: [{name: b, layers: [{type: flatten, name: f}]}]}\n",
	"  - {type: residual, name: r, body: [{type: maxpool, name: p, kernel: 2}], shortcut: [{type: pad, name: s, out: 3, stride: 2}]}\n",
	"  - {type: residual, name: r, body: [{type: linear, name: p, out: 2}]}\n",
	"  - type: sequential\n    name: s\n    layers: [{type: flatten, name: f}, {type: conv2d, name: c, out: 2, kernel: 1}]\n",
}

// TestKindsGolden pins every layer kind's decoding errors, defaults,
// canonical text and shape walk against testdata/kinds.txt (written from the
// code before the layer-kind registry), byte for byte.
func TestKindsGolden(t *testing.T) {
	var b strings.Builder
	for i, c := range kindCases {
		fmt.Fprintf(&b, "=== case %d\n%s", i, c)
		s, err := Parse("m.yaml", []byte(head+c))
		if err != nil {
			fmt.Fprintf(&b, "--- parse error\n%v\n", err)
			continue
		}
		fmt.Fprintf(&b, "--- canonical %s\n%s", s.Hash(), s.Canonical())
		r, err := Summary(s, tensor.Shape{3, 16, 16}, 7)
		if err != nil {
			fmt.Fprintf(&b, "--- shape error\n%v\n", err)
			continue
		}
		b.WriteString("--- summary\n")
		if err := r.WriteText(&b); err != nil {
			t.Fatal(err)
		}
		if r.Params < 1e6 {
			writeBuilt(t, &b, s)
		}
	}
	checkGolden(t, filepath.Join("testdata", "kinds.txt"), b.String(), "KindsGolden")
}

// writeBuilt builds s for 3x16x16 and 7 classes on the CPU and writes the
// built layer tree (name, type, MACs), the state_dict entries and, after one
// training forward of a fixed batch of 2, the output the sum of its magnitudes, its first values and the sums of every
// parameter and buffer to 4 significant digits: a hyper-parameter lost
// between the spec and the built layer (a stride, eps, momentum or dropout
// p) changes them.
func writeBuilt(t *testing.T, b *strings.Builder, s *Spec) {
	be := cpu.New()
	defer be.Close()
	m, err := Build(s, be, tensor.Shape{3, 16, 16}, 7, 1)
	if err != nil {
		fmt.Fprintf(b, "--- build error\n%v\n", err)
		return
	}
	b.WriteString("--- built\n")
	layers.Walk(m.Root, func(l layers.Layer, depth int) {
		fmt.Fprintf(b, "%s%s %s %d\n", strings.Repeat("  ", depth), l.Name(), l.Type(), l.MACs())
	})
	x := be.New(tensor.Shape{2, 3, 16, 16})
	hx := make([]float32, x.Numel())
	for i := range hx {
		hx[i] = float32(i%7)/7 - 0.4
	}
	be.Upload(x, hx)
	y := m.Forward(x, true)
	hy := make([]float32, y.Numel())
	be.Download(hy, y)
	var sum float64
	for _, v := range hy {
		sum += math.Abs(float64(v))
	}
	fmt.Fprintf(b, "output %s sum|.| %.4g, first values", y.Shape, sum)
	for _, v := range hy[:min(len(hy), 16)] {
		fmt.Fprintf(b, " %.4g", v+0) // +0: no -0
	}
	b.WriteString("\n")
	for _, p := range m.All() {
		v := make([]float32, p.Value.Numel())
		be.Download(v, p.Value)
		var sum float64
		for _, e := range v {
			sum += float64(e)
		}
		fmt.Fprintf(b, "%s %s buffer=%t sum %.4g\n", p.Name, p.Shape, p.Buffer, sum)
	}
}
