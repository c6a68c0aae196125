// Package zoo reads model specs (configs/models/*.yaml and user files),
// checks them strictly, counts their parameters and MACs from the spec alone,
// and builds them into layers.Model values.
//
// A spec is a tree of layers. Every layer has a name relative to its parent;
// the full, dotted name (the PyTorch module name, "layer1.0.conv1") joins the
// names of its ancestors with ".".
//
// Each layer type is a Kind, declared once in its own kind_<type>.go file
// and listed in kinds (kind.go): its keys and their decoding into its
// params, its canonical text, its shapes and counts, the layer it builds
// and its cost class for cnnctl bench. The rest of the package walks specs
// through those hooks; nothing compares type strings.
package zoo

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/cnnctl/cnnctl/internal/tensor"
)

// DefaultClasses is the class count used when neither the data nor the
// spec gives one.
const DefaultClasses = 10

// Spec is one decoded model file.
type Spec struct {
	Name        string
	Description string
	// Input is the default per-sample input shape ("input: 3x32x32"), nil
	// when the file gives none: the data then decides.
	Input tensor.Shape
	// Classes is the spec's default class count (DefaultClasses unless the
	// file says "classes: N"); the data's class count overrides it.
	Classes int
	Layers  []*Layer
	// File is where the spec came from ("configs/models/lenet.yaml" for a
	// built-in model, the path for a user file).
	File string
	// Source is the file's text, kept so a checkpoint can carry its model.
	Source []byte
}

// Pos is a position in a model file.
type Pos struct {
	File      string
	Line, Col int
}

func (p Pos) String() string { return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col) }

// Layer is one node of the spec tree: what every layer has, its kind's
// parameters, and the children of a container kind.
type Layer struct {
	Type string // the kind's name (Kinds): "conv2d", "residual", ...
	Name string // relative name, joined to the parent's with "."
	Pos  Pos    // where the layer's mapping starts

	// Params holds the kind's settings, defaults filled in: a
	// *Conv2DParams for conv2d, *PoolParams for maxpool and avgpool, and
	// so on (kind_*.go); nil for a kind without any.
	Params any

	Layers []*Layer // sequential: the children in order
	// Body and Shortcut are a residual's two paths: out = Post(Body(x) + Shortcut(x)).
	// A nil Shortcut is the identity.
	Body     []*Layer
	Shortcut []*Layer
	Branches []*Layer // concat: sequential layers whose outputs are stacked along channels
}

// Kind returns the layer's kind, nil for a type no kind has.
func (l *Layer) Kind() *Kind { return kindNamed(l.Type) }

// Leaf reports whether the layer has no children: its kind is not a
// container.
func (l *Layer) Leaf() bool {
	k := l.Kind()
	return k == nil || !k.Container
}

// join appends a relative name to a parent's full name.
func join(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}

// Hash is a stable SHA-256 (hex) of the network the spec describes: layer
// types, names and hyper-parameters with defaults filled in. It ignores the
// model's name, description, default input and class count, comments and
// formatting, so two files describing the same network hash the same.
func (s *Spec) Hash() string {
	sum := sha256.Sum256([]byte(s.Canonical()))
	return hex.EncodeToString(sum[:])
}

// Canonical writes the network one layer a line, full names and every
// hyper-parameter spelled out: the text that Hash digests.
func (s *Spec) Canonical() string {
	var b strings.Builder
	b.WriteString("cnnctl-zoo-spec v1\n")
	canonical(&b, "", s.Layers)
	return b.String()
}

func canonical(b *strings.Builder, prefix string, ls []*Layer) {
	for _, l := range ls {
		full := join(prefix, l.Name)
		fmt.Fprintf(b, "%s %s", full, l.Type)
		if k := l.Kind(); k != nil {
			k.impl.canonical(b, full, l)
		} else {
			b.WriteByte('\n')
		}
	}
}
