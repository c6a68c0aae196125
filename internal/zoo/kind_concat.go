package zoo

import (
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/cnnctl/cnnctl/internal/layers"
	"github.com/cnnctl/cnnctl/internal/tensor"
)

var concatKind = &Kind{
	Name:      "concat",
	Doc:       "branches run on the same input, their outputs stacked along channels (torch.cat(dim=1), GoogLeNet's Inception)",
	Keys:      []Key{{"branches", "the branches, a list of {name, layers}, each a sequential (required)"}},
	Example:   `{type: concat, name: inception, branches: [{name: b1, layers: [{type: conv2d, name: "0", out: 8, kernel: 1}]}, {name: b2, layers: [{type: maxpool, name: "0", kernel: 3, stride: 1, padding: 1}]}]}`,
	Layer:     "concat",
	Container: true,
	impl:      concat{},
}

type concat struct{}

func (concat) decode(d *decoder, l *Layer, fields map[string]field) error {
	f, ok := fields["branches"]
	if !ok {
		return d.missing(l, fields, "branches")
	}
	v := f.val
	if v.Kind != yaml.SequenceNode || len(v.Content) == 0 {
		return d.errorf(v, "branches: expected a list of branches ({name, layers}), got %s", kindName(v))
	}
	for _, bn := range v.Content {
		b, err := d.branch(resolve(bn))
		if err != nil {
			return err
		}
		l.Branches = append(l.Branches, b)
	}
	return checkSiblings(l.Branches)
}

// branch decodes one concat branch, {name, layers} with an optional
// "type: sequential", into a sequential layer.
func (d *decoder) branch(bn *yaml.Node) (*Layer, error) {
	bf, _, err := d.mapping(bn, "branch", []string{"type", "name", "layers"})
	if err != nil {
		return nil, err
	}
	b := &Layer{Type: sequentialKind.Name, Pos: d.pos(bn)}
	if t, ok := bf["type"]; ok && t.val.Value != sequentialKind.Name {
		return nil, d.errorf(t.val, "branch: type must be sequential (or left out), got %s", kindName(t.val))
	}
	nf, ok := bf["name"]
	if !ok {
		return nil, d.errorf(bn, "branch: missing name (the PyTorch module name, e.g. b1)")
	}
	if nf.val.Kind != yaml.ScalarNode || nf.val.Value == "" || !nameRE.MatchString(nf.val.Value) || strings.ContainsAny(nf.val.Value, "{}") {
		return nil, d.errorf(nf.val, "name: expected a name, got %s", kindName(nf.val))
	}
	b.Name = nf.val.Value
	lf, ok := bf["layers"]
	if !ok {
		return nil, d.errorf(bn, "branch %q: missing layers", b.Name)
	}
	if b.Layers, err = d.list(lf); err != nil {
		return nil, err
	}
	return b, nil
}

func (concat) canonical(b *strings.Builder, full string, l *Layer) {
	b.WriteByte('\n')
	canonical(b, full, l.Branches)
	b.WriteString(full + " end\n")
}

func (concat) shape(w *walker, v *visit) (tensor.Shape, error) {
	var c int
	var first tensor.Shape
	for _, b := range v.l.Branches {
		bo, err := w.layer(v.full, b, v.in, v.depth+1)
		if err != nil {
			return nil, err
		}
		if len(bo) != 3 {
			return nil, v.errorf("branch %q gives %s, not (C,H,W)", b.Name, bo)
		}
		if first != nil && (bo[1] != first[1] || bo[2] != first[2]) {
			return nil, v.errorf("branch %q gives %s but the first branch gives %s: heights and widths must match", b.Name, bo, first)
		}
		if first == nil {
			first = bo
		}
		c += bo[0]
	}
	return tensor.Shape{c, first[1], first[2]}, nil
}

func (concat) build(b builder, full string, l *Layer) (layers.Layer, error) {
	branches, err := b.list(full, l.Branches)
	return layers.NewConcat(full, branches...), err
}
