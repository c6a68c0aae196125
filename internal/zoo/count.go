package zoo

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/cnnctl/cnnctl/internal/tensor"
)

// Row is one line of a model summary.
type Row struct {
	Name    string // full dotted name
	Type    string
	Depth   int // 0 for the root's children
	In, Out tensor.Shape
	// Params counts trainable values (BatchNorm's running statistics are
	// buffers, not counted); MACs counts conv2d and linear multiply-adds per
	// sample. A container's row holds the sums over its children.
	Params, MACs int64
	Leaf         bool
}

// Report is a spec walked for one input shape and class count.
type Report struct {
	Model   string
	In, Out tensor.Shape
	Classes int
	Rows    []Row // depth first, containers before their children
	Params  int64
	MACs    int64
}

// Count walks the spec without building it and returns its trainable
// parameter count and MACs per sample for the per-sample input shape in
// (nil: the spec's default input) and classes (0: the spec's default).
func Count(spec *Spec, in tensor.Shape, classes int) (params, macs int64, err error) {
	r, err := Summary(spec, in, classes)
	if err != nil {
		return 0, 0, err
	}
	return r.Params, r.MACs, nil
}

// Summary infers every layer's shapes from the spec and counts parameters
// and MACs per layer. Shape errors carry the file position and full name of
// the layer.
func Summary(spec *Spec, in tensor.Shape, classes int) (*Report, error) {
	in, classes, err := resolveInput(spec, in, classes)
	if err != nil {
		return nil, err
	}
	w := &walker{classes: classes}
	out, err := w.list("", spec.Layers, in, 0)
	if err != nil {
		return nil, err
	}
	r := &Report{Model: spec.Name, In: in, Out: out, Classes: classes, Rows: w.rows}
	for _, row := range w.rows {
		if row.Leaf {
			r.Params += row.Params
			r.MACs += row.MACs
		}
	}
	return r, nil
}

// resolveInput applies the spec's defaults.
func resolveInput(spec *Spec, in tensor.Shape, classes int) (tensor.Shape, int, error) {
	if in == nil {
		in = spec.Input
	}
	if in == nil {
		return nil, 0, fmt.Errorf("model %s: no input shape: %s gives no input: default and none was passed", spec.Name, spec.File)
	}
	for _, d := range in {
		if d <= 0 {
			return nil, 0, fmt.Errorf("model %s: input shape %v has a non-positive size", spec.Name, in)
		}
	}
	if classes <= 0 {
		classes = spec.Classes
	}
	if classes <= 0 {
		classes = DefaultClasses
	}
	return in.Clone(), classes, nil
}

type walker struct {
	classes int
	rows    []Row
}

func (w *walker) list(prefix string, ls []*Layer, in tensor.Shape, depth int) (tensor.Shape, error) {
	x := in
	for _, l := range ls {
		var err error
		if x, err = w.layer(prefix, l, x, depth); err != nil {
			return nil, err
		}
	}
	return x, nil
}

// shapeError names the layer, its position and its input shape.
func shapeError(l *Layer, full string, in tensor.Shape, format string, args ...any) error {
	return &Error{l.Pos, fmt.Sprintf("%s %q on input %s: %s", l.Type, full, in, fmt.Sprintf(format, args...))}
}

func (w *walker) out(l *Layer) int {
	if l.OutClasses {
		return w.classes
	}
	return l.Out
}

// window computes a conv or pool output size along one axis.
func window(size, kernel, stride, pad int) int {
	return (size+2*pad-kernel)/stride + 1
}

func (w *walker) layer(prefix string, l *Layer, in tensor.Shape, depth int) (tensor.Shape, error) {
	full := join(prefix, l.Name)
	row := Row{Name: full, Type: l.Type, Depth: depth, In: in.Clone(), Leaf: l.Leaf()}
	idx := len(w.rows)
	w.rows = append(w.rows, row)
	need3 := func() error {
		if len(in) != 3 {
			return shapeError(l, full, in, "wants a (C,H,W) input")
		}
		return nil
	}
	var out tensor.Shape
	switch l.Type {
	case "conv2d", "maxpool", "avgpool":
		if err := need3(); err != nil {
			return nil, err
		}
		c, h, wd := in[0], in[1], in[2]
		r, s := l.Kernel[0], l.Kernel[1]
		if l.Type != "conv2d" && (2*l.Padding[0] > r || 2*l.Padding[1] > s) {
			return nil, shapeError(l, full, in, "padding %dx%d is more than half the kernel %dx%d", l.Padding[0], l.Padding[1], r, s)
		}
		oh := window(h, r, l.Stride[0], l.Padding[0])
		ow := window(wd, s, l.Stride[1], l.Padding[1])
		if h+2*l.Padding[0] < r || wd+2*l.Padding[1] < s || oh < 1 || ow < 1 {
			return nil, shapeError(l, full, in, "kernel %dx%d does not fit (padding %dx%d)", r, s, l.Padding[0], l.Padding[1])
		}
		k := c
		if l.Type == "conv2d" {
			k = w.out(l)
			if n := float64(k) * float64(c) * float64(r) * float64(s); n > maxValues {
				return nil, shapeError(l, full, in, "%.3g weights, beyond any machine's memory", n)
			}
			row.Params = int64(k) * int64(c) * int64(r) * int64(s)
			if l.Bias {
				row.Params += int64(k)
			}
			row.MACs = int64(k) * int64(oh) * int64(ow) * int64(c) * int64(r) * int64(s)
		}
		out = tensor.Shape{k, oh, ow}
	case "linear":
		if len(in) != 1 {
			return nil, shapeError(l, full, in, "wants a 1-D input (F): put a flatten before it")
		}
		o := w.out(l)
		if n := float64(o) * float64(in[0]); n > maxValues {
			return nil, shapeError(l, full, in, "%.3g weights, beyond any machine's memory", n)
		}
		row.Params = int64(o) * int64(in[0])
		if l.Bias {
			row.Params += int64(o)
		}
		row.MACs = int64(o) * int64(in[0])
		out = tensor.Shape{o}
	case "batchnorm":
		if len(in) != 3 && len(in) != 1 {
			return nil, shapeError(l, full, in, "wants a (C,H,W) or (F) input")
		}
		row.Params = 2 * int64(in[0])
		out = in.Clone()
	case "relu", "sigmoid", "tanh", "dropout":
		out = in.Clone()
	case "flatten":
		out = tensor.Shape{in.Numel()}
	case "globalavgpool":
		if err := need3(); err != nil {
			return nil, err
		}
		out = tensor.Shape{in[0], 1, 1}
	case "pad":
		if err := need3(); err != nil {
			return nil, err
		}
		k, st := w.out(l), l.Stride[0]
		if k < in[0] || (k-in[0])%2 != 0 {
			return nil, shapeError(l, full, in, "out %d must be at least the %d input channels and differ from them by an even number", k, in[0])
		}
		out = tensor.Shape{k, (in[1] + st - 1) / st, (in[2] + st - 1) / st}
	case "sequential":
		var err error
		if out, err = w.list(full, l.Layers, in, depth+1); err != nil {
			return nil, err
		}
	case "residual":
		body, err := w.list(full, l.Body, in, depth+1)
		if err != nil {
			return nil, err
		}
		short := in
		if l.Shortcut != nil {
			if short, err = w.list(full, l.Shortcut, in, depth+1); err != nil {
				return nil, err
			}
		}
		if !body.Equal(short) {
			return nil, shapeError(l, full, in, "body gives %s but the shortcut gives %s: they must match to be added", body, short)
		}
		out = body
	case "concat":
		var c int
		var first tensor.Shape
		for _, b := range l.Branches {
			bo, err := w.layer(full, b, in, depth+1)
			if err != nil {
				return nil, err
			}
			if len(bo) != 3 {
				return nil, shapeError(l, full, in, "branch %q gives %s, not (C,H,W)", b.Name, bo)
			}
			if first != nil && (bo[1] != first[1] || bo[2] != first[2]) {
				return nil, shapeError(l, full, in, "branch %q gives %s but the first branch gives %s: heights and widths must match", b.Name, bo, first)
			}
			if first == nil {
				first = bo
			}
			c += bo[0]
		}
		out = tensor.Shape{c, first[1], first[2]}
	default:
		return nil, &Error{l.Pos, fmt.Sprintf("layer %q: unknown type %q", full, l.Type)}
	}
	if !row.Leaf {
		for _, r := range w.rows[idx+1:] {
			if r.Leaf {
				row.Params += r.Params
				row.MACs += r.MACs
			}
		}
	}
	n := 1.0
	for _, d := range out {
		n *= float64(d)
	}
	if n > maxValues {
		return nil, shapeError(l, full, in, "output %s holds %.3g values per image, beyond any machine's memory", out, n)
	}
	row.Out = out
	w.rows[idx] = row
	return out, nil
}

// maxValues bounds a layer's weights and its output per image (2^48 values,
// 1 PiB of float32): sizes beyond it are errors, so that no product of
// sizes can overflow and the memory plan stays meaningful.
const maxValues = 1 << 48

// WriteText prints the report as a table: one row per layer (names
// indented by depth; a container's counts, in parentheses, sum its
// children), then the totals.
func (r *Report) WriteText(w io.Writer) error {
	cells := [][]string{{"name", "type", "input", "output", "params", "MACs"}}
	for _, row := range r.Rows {
		params, macs := thousands(row.Params), thousands(row.MACs)
		if !row.Leaf {
			params, macs = "("+params+")", "("+macs+")"
		}
		cells = append(cells, []string{strings.Repeat("  ", row.Depth) + row.Name, row.Type, row.In.String(), row.Out.String(), params, macs})
	}
	cells = append(cells, []string{"total", "", r.In.String(), r.Out.String(), thousands(r.Params), thousands(r.MACs)})
	width := make([]int, len(cells[0]))
	for _, c := range cells {
		for i, s := range c {
			width[i] = max(width[i], len(s))
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "model %s: input %s, %d classes\n", r.Model, r.In, r.Classes)
	for _, c := range cells {
		line := fmt.Sprintf("%-*s  %-*s  %*s -> %-*s  %*s  %*s", width[0], c[0], width[1], c[1], width[2], c[2], width[3], c[3], width[4], c[4], width[5], c[5])
		b.WriteString(strings.TrimRight(line, " ") + "\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// thousands writes n with comma separators: 62,006.
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
