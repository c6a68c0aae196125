package zoo

import (
	"strings"
	"testing"

	"github.com/cnnctl/cnnctl/internal/tensor"
)

// head is a valid start of a model file; the cases append their layers.
const head = "name: m\ninput: 3x32x32\nlayers:\n"

func TestDecodeErrors(t *testing.T) {
	cases := []struct {
		name, src, want string
	}{
		{"syntax", head + "  - {type: relu, name: r\n",
			"m.yaml:4:5: YAML syntax: did not find expected ',' or '}' (for the { here)"},
		{"syntax mapping value", "name: m: x\nlayers: []\n",
			"m.yaml:1:8: YAML syntax: mapping values are not allowed in this context"},
		{"block", head + "  - type: relu\n    name: r\n   x: 1\n",
			"m.yaml:4:3: YAML syntax: did not find expected '-' indicator (in the block that starts here)"},
		{"tab", head + "\t- {type: relu, name: r}\n",
			"m.yaml:4:1: YAML syntax: found character that cannot start any token"},
		{"empty", "", "m.yaml:1:1: empty model file: want name, description, input and layers"},
		{"top not mapping", "- a\n", "m.yaml:1:1: model: expected a mapping, got a list"},
		{"unknown top key", "name: m\nlayer:\n  - {type: relu, name: r}\n",
			`m.yaml:2:1: model: unknown key "layer" (did you mean "layers"?)`},
		{"missing name", "layers:\n  - {type: relu, name: r}\n", "m.yaml:1:1: model: missing name"},
		{"missing layers", "name: m\n", "m.yaml:1:1: model: missing layers"},
		{"empty layers", "name: m\nlayers: []\n", "m.yaml:2:9: layers: expected at least one layer"},
		{"bad input", "name: m\ninput: 3x32\nlayers:\n  - {type: relu, name: r}\n",
			`m.yaml:2:8: input: "3x32" is not a shape like 3x32x32: want CxHxW or F`},
		{"unknown type", head + "  - {type: convv2d, name: c, out: 4, kernel: 3}\n",
			`m.yaml:4:12: unknown layer type "convv2d" (did you mean "conv2d"?)`},
		{"unknown type far", head + "  - {type: transformer, name: c}\n",
			`m.yaml:4:12: unknown layer type "transformer"; known types: avgpool, batchnorm, concat, conv2d, dropout, flatten, globalavgpool, linear, maxpool, pad, relu, residual, sequential, sigmoid, tanh`},
		{"unknown key", head + "  - {type: conv2d, name: c, out: 4, kernal: 3}\n",
			`m.yaml:4:37: conv2d: unknown key "kernal" (did you mean "kernel"?)`},
		{"key on a keyless type", head + "  - {type: relu, name: r, inplace: true}\n",
			`m.yaml:4:27: relu: unknown key "inplace"; known keys: type, name, repeat`},
		{"duplicate key", head + "  - {type: linear, name: f, out: 4, out: 5}\n",
			`m.yaml:4:37: linear: key "out" given twice (first at line 4)`},
		{"missing type", head + "  - {name: r}\n", "m.yaml:4:5: layer: missing type (one of avgpool, batchnorm, concat, conv2d, dropout, flatten, globalavgpool, linear, maxpool, pad, relu, residual, sequential, sigmoid, tanh)"},
		{"missing layer name", head + "  - {type: relu}\n",
			"m.yaml:4:5: relu: missing name (the PyTorch module name relative to its parent, e.g. conv1 or 0)"},
		{"dotted name", head + "  - {type: relu, name: a.b}\n",
			`m.yaml:4:24: name: "a.b" may hold only letters, digits, _ and - (the dots of full names come from nesting)`},
		{"kernel not int", head + "  - {type: conv2d, name: c, out: 4, kernel: x}\n",
			`m.yaml:4:45: kernel: expected an integer, got "x"`},
		{"kernel zero", head + "  - {type: maxpool, name: p, kernel: 0}\n",
			"m.yaml:4:38: kernel: must be positive, got 0"},
		{"negative padding", head + "  - {type: conv2d, name: c, out: 4, kernel: 3, padding: [1, -1]}\n",
			"m.yaml:4:57: padding: must be zero or positive, got -1"},
		{"out negative", head + "  - {type: linear, name: f, out: -3}\n",
			"m.yaml:4:34: out: must be positive, got -3"},
		{"out word", head + "  - {type: linear, name: f, out: clases}\n",
			`m.yaml:4:34: out: expected an integer or classes, got "clases"`},
		{"missing out", head + "  - {type: linear, name: f}\n",
			`m.yaml:4:6: linear "f": missing out (a size, or classes)`},
		{"missing kernel", head + "  - {type: conv2d, name: c, out: 4}\n",
			`m.yaml:4:6: conv2d "c": missing kernel`},
		{"bias not bool", head + "  - {type: linear, name: f, out: 4, bias: 1}\n",
			"m.yaml:4:43: bias: expected true or false, got \"1\""},
		{"dropout p", head + "  - {type: dropout, name: d, p: 1.5}\n",
			"m.yaml:4:33: p: must be in [0, 1), got 1.5"},
		{"duplicate siblings", head + "  - {type: linear, name: fc, out: 4}\n  - {type: linear, name: fc, out: 4}\n",
			`m.yaml:5:5: duplicate name "fc" (first at line 4): siblings need distinct names, except a parameter-free layer used twice`},
		{"nested duplicate", head + "  - type: sequential\n    name: s\n    layers:\n      - {type: relu, name: \"0\"}\n      - {type: sigmoid, name: 0}\n",
			`m.yaml:8:9: duplicate name "0" (first at line 7): siblings need distinct names, except a parameter-free layer used twice`},
		{"residual body/shortcut clash", head + "  - type: residual\n    name: r\n    body: [{type: conv2d, name: c, out: 3, kernel: 1}]\n    shortcut: [{type: conv2d, name: c, out: 3, kernel: 1}]\n",
			`m.yaml:7:16: duplicate name "c" (first at line 6): siblings need distinct names, except a parameter-free layer used twice`},
		{"bad shortcut", head + "  - type: residual\n    name: r\n    body: [{type: relu, name: a}]\n    shortcut: none\n",
			`m.yaml:7:15: shortcut: expected identity, a layer or a list of layers, got "none"`},
		{"bad post", head + "  - type: residual\n    name: r\n    body: [{type: relu, name: a}]\n    post: rellu\n",
			`m.yaml:7:11: post: unknown activation "rellu" (did you mean "relu"?)`},
		{"branch without name", head + "  - type: concat\n    name: c\n    branches:\n      - layers: [{type: relu, name: a}]\n",
			"m.yaml:7:9: branch: missing name (the PyTorch module name, e.g. b1)"},
		{"repeat without {i}", head + "  - {type: relu, name: r, repeat: {count: 2}}\n",
			`m.yaml:4:24: name: a repeated layer's name must contain {i} once (e.g. "{i}" or "block{i}"), got "r"`},
		{"{i} without repeat", head + "  - {type: relu, name: \"{i}\"}\n",
			`m.yaml:4:24: name: "{i}" uses {i} but the layer has no repeat`},
		{"repeat count", head + "  - {type: relu, name: \"{i}\", repeat: {count: 0}}\n",
			"m.yaml:4:47: count: must be positive, got 0"},
		{"sequential without layers", head + "  - {type: sequential, name: s}\n",
			`m.yaml:4:6: sequential "s": missing layers`},
		{"layer not mapping", head + "  - relu\n", `m.yaml:4:5: layer: expected a mapping with type and name, got "relu"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse("m.yaml", []byte(c.src))
			if err == nil {
				t.Fatalf("no error, want %s", c.want)
			}
			if err.Error() != c.want {
				t.Errorf("got  %s\nwant %s", err, c.want)
			}
		})
	}
}

func TestShapeErrors(t *testing.T) {
	cases := []struct {
		name, layers, want string
	}{
		{"linear without flatten", "  - {type: linear, name: fc, out: 4}\n",
			`m.yaml:4:5: linear "fc" on input 3x32x32: wants a 1-D input (F): put a flatten before it`},
		{"kernel too big", "  - type: sequential\n    name: features\n    layers:\n      - {type: conv2d, name: \"0\", out: 4, kernel: 33}\n",
			`m.yaml:7:9: conv2d "features.0" on input 3x32x32: kernel 33x33 does not fit (padding 0x0)`},
		{"residual mismatch", "  - type: residual\n    name: \"0\"\n    body: [{type: conv2d, name: conv1, out: 8, kernel: 3, padding: 1}]\n",
			`m.yaml:4:5: residual "0" on input 3x32x32: body gives 8x32x32 but the shortcut gives 3x32x32: they must match to be added`},
		{"conv after flatten", "  - {type: flatten, name: f}\n  - {type: conv2d, name: c, out: 4, kernel: 1}\n",
			`m.yaml:5:5: conv2d "c" on input 3072: wants a (C,H,W) input`},
		{"concat sizes", "  - type: concat\n    name: inc\n    branches:\n      - {name: b1, layers: [{type: relu, name: \"0\"}]}\n      - {name: b2, layers: [{type: maxpool, name: \"0\", kernel: 2}]}\n",
			`m.yaml:4:5: concat "inc" on input 3x32x32: branch "b2" gives 3x16x16 but the first branch gives 3x32x32: heights and widths must match`},
		{"pad channels", "  - {type: pad, name: sc, out: 4, stride: 2}\n",
			`m.yaml:4:5: pad "sc" on input 3x32x32: out 4 must be at least the 3 input channels and differ from them by an even number`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := Parse("m.yaml", []byte(head+c.layers))
			if err != nil {
				t.Fatal(err)
			}
			_, _, err = Count(s, tensor.Shape{3, 32, 32}, 10)
			if err == nil || err.Error() != c.want {
				t.Errorf("got  %v\nwant %s", err, c.want)
			}
		})
	}
}

func TestDecodeFeatures(t *testing.T) {
	src := head + `  - {type: conv2d, name: c, out: 4, kernel: [3, 1], padding: [1, 0], bias: false}
  - &block
    type: residual
    name: "b{i}"
    repeat: {count: 2, start: 1}
    body: [{type: conv2d, name: conv, out: 4, kernel: 3, padding: 1}]
    shortcut: identity
    post: tanh
  - {type: maxpool, name: pool, kernel: 2}
  - {type: batchnorm, name: bn, momentum: 0.01, eps: 0.001}
  - {type: maxpool, name: pool, kernel: 2}
  - {type: flatten, name: flatten}
  - {type: dropout, name: drop, p: 0.2}
  - {type: linear, name: fc, out: classes}
`
	s, err := Parse("m.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, l := range s.Layers {
		names = append(names, l.Name)
	}
	if got := strings.Join(names, " "); got != "c b1 b2 pool bn pool flatten drop fc" {
		t.Errorf("layers %s", got)
	}
	c := s.Layers[0].Params.(*Conv2DParams)
	if c.Kernel != [2]int{3, 1} || c.Padding != [2]int{1, 0} || c.Stride != [2]int{1, 1} || c.Bias {
		t.Errorf("conv %+v", c)
	}
	if p := s.Layers[3].Params.(*PoolParams); p.Stride != [2]int{2, 2} {
		t.Errorf("pool stride %v, want the kernel size", p.Stride)
	}
	if bn := s.Layers[4].Params.(*BatchNormParams); bn.Momentum != 0.01 || bn.Eps != 0.001 {
		t.Errorf("batchnorm %v %v", bn.Momentum, bn.Eps)
	}
	r, err := Summary(s, nil, 7)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Out.Equal(tensor.Shape{7}) {
		t.Errorf("out %v", r.Out)
	}
	// conv 4*3*3*1 (no bias) + 2 blocks * (4*4*9+4) + bn 8 + fc 4*8*8*7+7.
	if want := int64(36 + 2*148 + 8 + 4*8*8*7 + 7); r.Params != want {
		t.Errorf("params %d, want %d", r.Params, want)
	}
}

func TestDecodeAliases(t *testing.T) {
	src := head + `  - type: sequential
    name: s1
    layers: &pair
      - {type: conv2d, name: conv, out: 3, kernel: 3, padding: 1}
      - {type: relu, name: relu}
  - type: sequential
    name: s2
    layers: *pair
`
	s, err := Parse("m.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	params, _, err := Count(s, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	if params != 2*(3*3*9+3) {
		t.Errorf("params %d, want %d", params, 2*(3*3*9+3))
	}
}
