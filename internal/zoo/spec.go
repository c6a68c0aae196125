// Package zoo reads model specs (configs/models/*.yaml and user files),
// checks them strictly, counts their parameters and MACs from the spec alone,
// and builds them into layers.Model values.
//
// A spec is a tree of layers. Every layer has a name relative to its parent;
// the full, dotted name (the PyTorch module name, "layer1.0.conv1") joins the
// names of its ancestors with ".".
package zoo

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
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

// Layer is one node of the spec tree. Which fields matter depends on Type.
type Layer struct {
	Type string // "conv2d", "linear", "maxpool", "avgpool", "dropout", "batchnorm", "relu", "sigmoid", "tanh", "flatten", "globalavgpool", "sequential", "residual", "concat", "pad"
	Name string // relative name, joined to the parent's with "."
	Pos  Pos    // where the layer's mapping starts

	// Out is K for conv2d and pad, O for linear; OutClasses means "out: classes".
	Out        int
	OutClasses bool
	// Kernel, Stride and Padding are (H, W) pairs for conv2d and the pools
	// (pad uses Stride[0]).
	Kernel, Stride, Padding [2]int
	Bias                    bool    // conv2d, linear (default true)
	P                       float64 // dropout probability (default 0.5)
	Momentum, Eps           float64 // batchnorm (defaults 0.1, 1e-5)

	Layers []*Layer // sequential: the children in order
	// Body and Shortcut are a residual's two paths: out = Post(Body(x) + Shortcut(x)).
	// A nil Shortcut is the identity.
	Body     []*Layer
	Shortcut []*Layer
	Post     string   // "", "relu", "sigmoid" or "tanh"
	Branches []*Layer // concat: sequential layers whose outputs are stacked along channels
}

// Leaf reports whether the layer has no children.
func (l *Layer) Leaf() bool {
	switch l.Type {
	case "sequential", "residual", "concat":
		return false
	}
	return true
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
		out := strconv.Itoa(l.Out)
		if l.OutClasses {
			out = "classes"
		}
		pair := func(p [2]int) string { return strconv.Itoa(p[0]) + "x" + strconv.Itoa(p[1]) }
		g := func(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }
		switch l.Type {
		case "conv2d":
			fmt.Fprintf(b, " out=%s kernel=%s stride=%s padding=%s bias=%t", out, pair(l.Kernel), pair(l.Stride), pair(l.Padding), l.Bias)
		case "linear":
			fmt.Fprintf(b, " out=%s bias=%t", out, l.Bias)
		case "maxpool", "avgpool":
			fmt.Fprintf(b, " kernel=%s stride=%s padding=%s", pair(l.Kernel), pair(l.Stride), pair(l.Padding))
		case "dropout":
			fmt.Fprintf(b, " p=%s", g(l.P))
		case "batchnorm":
			fmt.Fprintf(b, " momentum=%s eps=%s", g(l.Momentum), g(l.Eps))
		case "pad":
			fmt.Fprintf(b, " out=%s stride=%d", out, l.Stride[0])
		case "residual":
			if l.Post != "" {
				fmt.Fprintf(b, " post=%s", l.Post)
			}
		}
		b.WriteByte('\n')
		switch l.Type {
		case "sequential":
			canonical(b, full, l.Layers)
		case "residual":
			b.WriteString(full + " body\n")
			canonical(b, full, l.Body)
			if l.Shortcut == nil {
				b.WriteString(full + " shortcut identity\n")
			} else {
				b.WriteString(full + " shortcut\n")
				canonical(b, full, l.Shortcut)
			}
			b.WriteString(full + " end\n")
		case "concat":
			canonical(b, full, l.Branches)
			b.WriteString(full + " end\n")
		}
	}
}
