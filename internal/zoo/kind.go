package zoo

import (
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/cnnctl/cnnctl/internal/layers"
	"github.com/cnnctl/cnnctl/internal/tensor"
)

// Kind is one layer type of the model files: its YAML name and keys, how
// its keys decode into its parameters, its line of the canonical text, its
// shapes and counts in a summary, the layer it builds and the class of work
// cnnctl bench counts for it. Each kind is declared once, in its own
// kind_*.go file, and listed in kinds; nothing else in the module
// switches on or compares kind names (TestKindNamesOnlyInRegistry).
type Kind struct {
	// Name is the YAML type ("conv2d").
	Name string
	// Doc is one line for `cnnctl models --kinds`: what the layer is and
	// the PyTorch module it matches.
	Doc string
	// Keys are the keys the kind takes besides type, name and repeat, in
	// the order "unknown key" errors list them.
	Keys []Key
	// Example is one layer of the kind in YAML's flow style, for
	// `cnnctl models --kinds` (and checked by TestKindsComplete).
	Example string
	// Layer is the type of the layer it builds (layers.Layer.Type), the
	// type cnnctl bench's rows show: "maxpool2d" for maxpool.
	Layer string
	// Container marks a kind that holds other layers (sequential,
	// residual, concat): it has no parameters of its own, its summary row
	// sums its children's, and BuildOptions.Wrap does not see it.
	Container bool
	// Reusable marks a parameter-free kind that may appear twice among
	// siblings under one name when both have the same settings: PyTorch
	// calls one module twice (GoogLeNet's maxpool).
	Reusable bool
	// Activation marks a kind that may be a residual's post.
	Activation bool
	// Cost is the work cnnctl bench counts for the built layer.
	Cost Cost

	// impl is the kind's behaviour.
	impl kindImpl
}

// kindImpl is what a kind does, each kind's own type in its kind_*.go
// file. (An interface, not func fields: the container kinds' hooks reach
// the registry through the generic walkers, which a package-level func
// value would turn into an initialisation cycle.)
type kindImpl interface {
	// decode reads the kind's keys (already checked to be among Keys)
	// from fields into l.Params and, for a container, l's children.
	decode(d *decoder, l *Layer, fields map[string]field) error
	// canonical writes the rest of l's lines of the canonical text after
	// "name type": each hyper-parameter as " key=value", the newline and,
	// for a container, its children (and its markers).
	canonical(b *strings.Builder, full string, l *Layer)
	// shape checks the input of the layer v visits and returns its
	// output, filling in v.row's Params and MACs for a leaf.
	shape(w *walker, v *visit) (tensor.Shape, error)
	// build makes the layer named full from l.
	build(b builder, full string, l *Layer) (layers.Layer, error)
}

// Key is one YAML key of a layer kind.
type Key struct {
	Name string
	// Doc says what the key means, its form and its default (or that it
	// is required).
	Doc string
}

// Cost is the class of work a built layer does, for cnnctl bench's FLOP
// and byte counts (internal/bench/cost.go gives each class its formula).
type Cost int

const (
	// CostUnknown is no known class: bench counts the bytes only. Every
	// registered leaf kind has a class other than this.
	CostUnknown Cost = iota
	// CostGEMM is a convolution or linear layer: 2·MACs FLOPs forward,
	// twice that backward, run in the backend's matrix arithmetic.
	CostGEMM
	// CostPointwise is a cheap elementwise function (relu): 1 FLOP per
	// element each way.
	CostPointwise
	// CostTranscendental is an elementwise function with an exp (sigmoid,
	// tanh): 4 FLOPs forward, 3 backward.
	CostTranscendental
	// CostWindow is a pooling window: R·S FLOPs per output element.
	CostWindow
	// CostReduce is a global pooling: 1 FLOP per input element.
	CostReduce
	// CostNormalize is batch normalisation: 7 FLOPs per element forward
	// in training, 4 in inference, 9 backward.
	CostNormalize
	// CostMask is dropout: 2 FLOPs per element forward, 1 backward.
	CostMask
	// CostMove moves data without arithmetic (ResNet's pad shortcut):
	// bytes only.
	CostMove
	// CostView is a view of its input (flatten): no FLOPs, no bytes.
	CostView
)

// kinds is the registry: every layer kind, sorted by name. A new kind is a
// new kind_*.go file and a line here (TestKindFilesRegistered checks both).
var kinds = []*Kind{
	avgpoolKind,
	batchnormKind,
	concatKind,
	conv2dKind,
	dropoutKind,
	flattenKind,
	globalavgpoolKind,
	linearKind,
	maxpoolKind,
	padKind,
	reluKind,
	residualKind,
	sequentialKind,
	sigmoidKind,
	tanhKind,
}

// Kinds returns the registered layer kinds, sorted by name.
func Kinds() []*Kind { return append([]*Kind(nil), kinds...) }

// kindNamed returns the kind with YAML type name, nil if there is none.
func kindNamed(name string) *Kind {
	for _, k := range kinds {
		if k.Name == name {
			return k
		}
	}
	return nil
}

// CostOf returns the cost class of a built layer of type layerType
// (layers.Layer.Type, as cnnctl bench's rows and reports show it);
// CostUnknown for a type no kind builds.
func CostOf(layerType string) Cost {
	for _, k := range kinds {
		if k.Layer == layerType {
			return k.Cost
		}
	}
	return CostUnknown
}

// KeyNames returns the names of the kind's keys, in order.
func (k *Kind) KeyNames() []string {
	names := make([]string, len(k.Keys))
	for i, key := range k.Keys {
		names[i] = key.Name
	}
	return names
}

// Size is a size that may be the class count ("out: classes").
type Size struct {
	N       int
	Classes bool // N is unset: the size is the class count
}

// Resolve returns the size for a model with classes classes.
func (s Size) Resolve(classes int) int {
	if s.Classes {
		return classes
	}
	return s.N
}

// String is the size as the YAML gives it: "64" or "classes".
func (s Size) String() string {
	if s.Classes {
		return "classes"
	}
	return strconv.Itoa(s.N)
}

// pairString writes an (H, W) pair as "3x3".
func pairString(p [2]int) string { return strconv.Itoa(p[0]) + "x" + strconv.Itoa(p[1]) }

// floatString writes a float hyper-parameter in its shortest form.
func floatString(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// missing is the error for a required key that the layer lacks.
func (d *decoder) missing(l *Layer, fields map[string]field, what string) error {
	return d.errorf(fields["type"].key, "%s %q: missing %s", l.Type, l.Name, what)
}

// size decodes a required size key that may say "classes" (out).
func (d *decoder) size(l *Layer, fields map[string]field, key string) (Size, error) {
	f, ok := fields[key]
	if !ok {
		return Size{}, d.missing(l, fields, key+" (a size, or classes)")
	}
	if f.val.Kind == yaml.ScalarNode && f.val.Value == "classes" && f.val.Tag == "!!str" {
		return Size{Classes: true}, nil
	}
	n, err := d.integer(f)
	if err != nil {
		return Size{}, d.errorf(f.val, "%s: expected an integer or classes, got %s", key, kindName(f.val))
	}
	if n <= 0 {
		return Size{}, d.errorf(f.val, "%s: must be positive, got %d", key, n)
	}
	return Size{N: n}, nil
}

// optionalPair decodes key as a pair when given (keeping p otherwise).
func (d *decoder) optionalPair(fields map[string]field, key string, min int, p *[2]int) error {
	f, ok := fields[key]
	if !ok {
		return nil
	}
	var err error
	*p, err = d.pair(f, min)
	return err
}

// optionalBool decodes key as a boolean when given (keeping b otherwise).
func (d *decoder) optionalBool(fields map[string]field, key string, b *bool) error {
	f, ok := fields[key]
	if !ok {
		return nil
	}
	var err error
	*b, err = d.boolean(f)
	return err
}

// optionalFloat decodes key as a number when given (keeping x otherwise)
// and checks it with check, which returns the allowed range for the error
// message, or "" when x is in it.
func (d *decoder) optionalFloat(fields map[string]field, key string, x *float64, check func(float64) string) error {
	f, ok := fields[key]
	if !ok {
		return nil
	}
	var err error
	if *x, err = d.float(f); err != nil {
		return err
	}
	if want := check(*x); want != "" {
		return d.errorf(f.val, "%s: must be %s, got %v", key, want, *x)
	}
	return nil
}

// keyless is the decoding and canonical text of a kind without keys, for
// embedding in its kindImpl.
type keyless struct{}

func (keyless) decode(d *decoder, l *Layer, fields map[string]field) error { return nil }

func (keyless) canonical(b *strings.Builder, full string, l *Layer) { b.WriteByte('\n') }

// kernel decodes the required kernel key.
func (d *decoder) kernel(l *Layer, fields map[string]field) ([2]int, error) {
	f, ok := fields["kernel"]
	if !ok {
		return [2]int{}, d.missing(l, fields, "kernel")
	}
	return d.pair(f, 1)
}
