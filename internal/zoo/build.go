package zoo

import (
	"fmt"

	"github.com/cnnctl/cnnctl/internal/layers"
	"github.com/cnnctl/cnnctl/internal/tensor"
)

// Build makes the spec's layers for the per-sample input shape in (nil: the
// spec's default input) and classes (0: the spec's default), allocates them
// on be and initialises them from seed. The spec is walked first, so shape
// errors carry the file position of the layer.
func Build(spec *Spec, be tensor.Backend, in tensor.Shape, classes int, seed int64) (*layers.Model, error) {
	return BuildWith(spec, be, in, classes, seed, BuildOptions{})
}

// BuildOptions changes how BuildWith makes the layers.
type BuildOptions struct {
	// Wrap, when set, is applied to every leaf layer (not to sequential,
	// residual and concat containers) as it is made; what it returns takes
	// the leaf's place. A wrapper must keep the leaf's Name, Type and
	// MACs, and delegate Setup, Forward and Backward (cnnctl bench wraps
	// each leaf in a timer).
	Wrap func(layers.Layer) layers.Layer
}

// BuildWith is Build with options.
func BuildWith(spec *Spec, be tensor.Backend, in tensor.Shape, classes int, seed int64, opts BuildOptions) (*layers.Model, error) {
	in, classes, err := resolveInput(spec, in, classes)
	if err != nil {
		return nil, err
	}
	if _, err := Summary(spec, in, classes); err != nil {
		return nil, err
	}
	b := builder{classes: classes, wrap: opts.Wrap}
	children, err := b.list("", spec.Layers)
	if err != nil {
		return nil, err
	}
	root := layers.NewSequential("", children...)
	m, err := layers.Build(be, root, in, seed)
	if err != nil {
		return nil, fmt.Errorf("build model %s: %w", spec.Name, err)
	}
	return m, nil
}

type builder struct {
	classes int
	wrap    func(layers.Layer) layers.Layer
}

// leaf applies the Wrap option to a leaf layer.
func (b builder) leaf(l layers.Layer) layers.Layer {
	if b.wrap == nil {
		return l
	}
	return b.wrap(l)
}

func (b builder) list(prefix string, ls []*Layer) ([]layers.Layer, error) {
	out := make([]layers.Layer, len(ls))
	for i, l := range ls {
		var err error
		if out[i], err = b.layer(prefix, l); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// group is one layer, or a Sequential named after the block that holds the
// layers (a residual's body or shortcut is not a PyTorch module of its own).
func (b builder) group(full string, ls []*Layer) (layers.Layer, error) {
	children, err := b.list(full, ls)
	if err != nil {
		return nil, err
	}
	if len(children) == 1 {
		return children[0], nil
	}
	return layers.NewSequential(full, children...), nil
}

// layer makes one layer of the spec, wrapping a leaf in the Wrap option.
func (b builder) layer(prefix string, l *Layer) (layers.Layer, error) {
	full := join(prefix, l.Name)
	k := l.Kind()
	if k == nil {
		return nil, &Error{l.Pos, fmt.Sprintf("layer %q: unknown type %q", full, l.Type)}
	}
	made, err := k.impl.build(b, full, l)
	if err != nil || k.Container {
		return made, err
	}
	return b.leaf(made), nil
}
