package zoo

import (
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/cnnctl/cnnctl/internal/layers"
	"github.com/cnnctl/cnnctl/internal/tensor"
)

// ResidualParams are a residual block's settings besides its two paths
// (Layer.Body and Layer.Shortcut).
type ResidualParams struct {
	// Post is the activation after the addition, nil for none: a layer
	// of an Activation kind named after its type (PyTorch's blocks call
	// their one relu module again), with no summary row of its own.
	Post *Layer
}

var residualKind = &Kind{
	Name: "residual",
	Doc:  "residual block, post(body(x) + shortcut(x)), both paths named relative to the block",
	Keys: []Key{
		{"body", "the main path, a list of layers (required)"},
		{"shortcut", "identity, one layer or a list of layers (identity)"},
		{"post", "the activation after the addition, named <block>.<post>: a type that may be a residual's post (none)"},
	},
	Example:   `{type: residual, name: "0", body: [{type: conv2d, name: conv1, out: 16, kernel: 3, padding: 1}, {type: relu, name: relu}], post: relu}`,
	Layer:     "residual",
	Container: true,
	impl:      residual{},
}

type residual struct{}

func (residual) decode(d *decoder, l *Layer, fields map[string]field) error {
	p := &ResidualParams{}
	l.Params = p
	f, ok := fields["body"]
	if !ok {
		return d.missing(l, fields, "body")
	}
	var err error
	if l.Body, err = d.list(f); err != nil {
		return err
	}
	if f, ok := fields["shortcut"]; ok {
		switch v := f.val; {
		case v.Kind == yaml.ScalarNode && v.Value == "identity":
		case v.Kind == yaml.MappingNode:
			if l.Shortcut, err = d.layer(v); err != nil {
				return err
			}
		case v.Kind == yaml.SequenceNode:
			if l.Shortcut, err = d.list(f); err != nil {
				return err
			}
		default:
			return d.errorf(v, "shortcut: expected identity, a layer or a list of layers, got %s", kindName(v))
		}
	}
	// Body and shortcut share the block's name space.
	if err := checkSiblings(append(append([]*Layer(nil), l.Body...), l.Shortcut...)); err != nil {
		return err
	}
	if f, ok := fields["post"]; ok {
		name, err := d.str(f)
		if err != nil {
			return err
		}
		acts := activationNames()
		if !contains(acts, name) {
			return d.errorf(f.val, "post: unknown activation %q%s", name, suggest(name, acts, "activations"))
		}
		p.Post = &Layer{Type: name, Name: name, Pos: d.pos(f.val)}
	}
	return nil
}

func (residual) canonical(b *strings.Builder, full string, l *Layer) {
	if p := l.Params.(*ResidualParams); p.Post != nil {
		b.WriteString(" post=" + p.Post.Type)
	}
	b.WriteString("\n" + full + " body\n")
	canonical(b, full, l.Body)
	if l.Shortcut == nil {
		b.WriteString(full + " shortcut identity\n")
	} else {
		b.WriteString(full + " shortcut\n")
		canonical(b, full, l.Shortcut)
	}
	b.WriteString(full + " end\n")
}

func (residual) shape(w *walker, v *visit) (tensor.Shape, error) {
	body, err := w.list(v.full, v.l.Body, v.in, v.depth+1)
	if err != nil {
		return nil, err
	}
	short := v.in
	if v.l.Shortcut != nil {
		if short, err = w.list(v.full, v.l.Shortcut, v.in, v.depth+1); err != nil {
			return nil, err
		}
	}
	if !body.Equal(short) {
		return nil, v.errorf("body gives %s but the shortcut gives %s: they must match to be added", body, short)
	}
	return body, nil
}

func (residual) build(b builder, full string, l *Layer) (layers.Layer, error) {
	body, err := b.group(full, l.Body)
	if err != nil {
		return nil, err
	}
	var short, post layers.Layer
	if l.Shortcut != nil {
		if short, err = b.group(full, l.Shortcut); err != nil {
			return nil, err
		}
	}
	if p := l.Params.(*ResidualParams); p.Post != nil {
		if post, err = b.layer(full, p.Post); err != nil {
			return nil, err
		}
	}
	return layers.NewResidual(full, body, short, post), nil
}

// activationNames are the kinds a residual's post may name, sorted.
func activationNames() []string {
	var names []string
	for _, k := range kinds {
		if k.Activation {
			names = append(names, k.Name)
		}
	}
	return names
}
