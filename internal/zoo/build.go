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

var activations = map[string]tensor.Activation{
	"relu":    tensor.ReLU,
	"sigmoid": tensor.Sigmoid,
	"tanh":    tensor.Tanh,
}

func (b builder) layer(prefix string, l *Layer) (layers.Layer, error) {
	switch l.Type {
	case "sequential", "residual", "concat":
		return b.container(prefix, l)
	}
	made, err := b.plain(prefix, l)
	if err != nil {
		return nil, err
	}
	return b.leaf(made), nil
}

// plain makes a leaf layer.
func (b builder) plain(prefix string, l *Layer) (layers.Layer, error) {
	full := join(prefix, l.Name)
	out := l.Out
	if l.OutClasses {
		out = b.classes
	}
	pool := tensor.PoolParams{R: l.Kernel[0], S: l.Kernel[1], StrideH: l.Stride[0], StrideW: l.Stride[1], PadH: l.Padding[0], PadW: l.Padding[1]}
	switch l.Type {
	case "conv2d":
		p := tensor.ConvParams{StrideH: l.Stride[0], StrideW: l.Stride[1], PadH: l.Padding[0], PadW: l.Padding[1]}
		return layers.NewConv2D(full, out, l.Kernel[0], l.Kernel[1], p, l.Bias), nil
	case "linear":
		return layers.NewLinear(full, out, l.Bias), nil
	case "relu", "sigmoid", "tanh":
		return layers.NewActivation(full, activations[l.Type]), nil
	case "maxpool":
		return layers.NewMaxPool2D(full, pool), nil
	case "avgpool":
		return layers.NewAvgPool2D(full, pool), nil
	case "globalavgpool":
		return layers.NewGlobalAvgPool(full), nil
	case "flatten":
		return layers.NewFlatten(full), nil
	case "dropout":
		return layers.NewDropout(full, float32(l.P)), nil
	case "batchnorm":
		return layers.NewBatchNorm(full, tensor.BatchNormParams{Momentum: float32(l.Momentum), Eps: float32(l.Eps)}), nil
	case "pad":
		return layers.NewShortcutPad(full, out, l.Stride[0]), nil
	}
	return nil, &Error{l.Pos, fmt.Sprintf("layer %q: unknown type %q", full, l.Type)}
}

// container makes a sequential, residual or concat block.
func (b builder) container(prefix string, l *Layer) (layers.Layer, error) {
	full := join(prefix, l.Name)
	switch l.Type {
	case "sequential":
		children, err := b.list(full, l.Layers)
		return layers.NewSequential(full, children...), err
	case "residual":
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
		if l.Post != "" {
			// PyTorch's blocks call their one "relu" module (or F.relu) again.
			post = b.leaf(layers.NewActivation(join(full, l.Post), activations[l.Post]))
		}
		return layers.NewResidual(full, body, short, post), nil
	case "concat":
		branches, err := b.list(full, l.Branches)
		return layers.NewConcat(full, branches...), err
	}
	return nil, &Error{l.Pos, fmt.Sprintf("layer %q: unknown type %q", full, l.Type)}
}
