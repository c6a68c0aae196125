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

// visit is one layer as the walker reaches it: the spec, the full name,
// the input shape and depth, and the summary row its kind fills in.
type visit struct {
	l     *Layer
	full  string
	in    tensor.Shape
	depth int
	row   *Row
}

// errorf is a shape error of the visited layer.
func (v *visit) errorf(format string, args ...any) error {
	return shapeError(v.l, v.full, v.in, format, args...)
}

// need3 checks for a (C,H,W) input.
func (v *visit) need3() error {
	if len(v.in) != 3 {
		return v.errorf("wants a (C,H,W) input")
	}
	return nil
}

// window checks that a (C,H,W) input fits a convolution or pooling window
// and returns the output height and width.
func (v *visit) window(kernel, stride, padding [2]int) (oh, ow int, err error) {
	if err := v.need3(); err != nil {
		return 0, 0, err
	}
	h, wd, r, s := v.in[1], v.in[2], kernel[0], kernel[1]
	oh = (h+2*padding[0]-r)/stride[0] + 1
	ow = (wd+2*padding[1]-s)/stride[1] + 1
	if h+2*padding[0] < r || wd+2*padding[1] < s || oh < 1 || ow < 1 {
		return 0, 0, v.errorf("kernel %dx%d does not fit (padding %dx%d)", r, s, padding[0], padding[1])
	}
	return oh, ow, nil
}

func (w *walker) layer(prefix string, l *Layer, in tensor.Shape, depth int) (tensor.Shape, error) {
	full := join(prefix, l.Name)
	k := l.Kind()
	if k == nil {
		return nil, &Error{l.Pos, fmt.Sprintf("layer %q: unknown type %q", full, l.Type)}
	}
	row := Row{Name: full, Type: l.Type, Depth: depth, In: in.Clone(), Leaf: !k.Container}
	idx := len(w.rows)
	w.rows = append(w.rows, row)
	out, err := k.impl.shape(w, &visit{l: l, full: full, in: in, depth: depth, row: &row})
	if err != nil {
		return nil, err
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
