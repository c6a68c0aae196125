package zoo

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/cnnctl/cnnctl/internal/tensor"
)

// Error is a problem at a place in a model file.
type Error struct {
	Pos Pos
	Msg string
}

func (e *Error) Error() string { return e.Pos.String() + ": " + e.Msg }

var topKeys = []string{"name", "description", "input", "classes", "layers"}

// layerTypes returns the known layer types, sorted.
func layerTypes() []string {
	ts := make([]string, len(kinds))
	for i, k := range kinds {
		ts[i] = k.Name
	}
	return ts
}

// Parse decodes a model file's bytes; file names the file in errors.
func Parse(file string, data []byte) (*Spec, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, syntaxError(file, data, err)
	}
	d := &decoder{file: file}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil, &Error{Pos{file, 1, 1}, "empty model file: want name, description, input and layers"}
	}
	s, err := d.spec(doc.Content[0])
	if err != nil {
		return nil, err
	}
	s.Source = append([]byte(nil), data...)
	return s, nil
}

var lineRE = regexp.MustCompile(`^yaml: (?:line (\d+): )?(.*)$`)

// parserMessages are the YAML parser's (not scanner's) errors: for those
// the library reports the 0-based line where the enclosing construct (the
// flow mapping, the block sequence) starts.
var parserMessages = []string{
	"did not find expected ',' or ']'", "did not find expected ',' or '}'",
	"did not find expected '-' indicator", "did not find expected key",
	"did not find expected node content", "did not find expected <document start>",
	"found incompatible YAML document", "found undefined tag handle",
}

// syntaxError turns a YAML library error into file:line:col. The library
// reports only a line, so the column points at the likely culprit: the
// unclosed bracket, a tab, a second ": " on the line, or else the line's
// first character.
func syntaxError(file string, data []byte, err error) error {
	line, msg := 1, strings.TrimPrefix(err.Error(), "yaml: ")
	if m := lineRE.FindStringSubmatch(err.Error()); m != nil {
		msg = m[2]
		if m[1] != "" {
			line, _ = strconv.Atoi(m[1])
		}
	}
	parser := contains(parserMessages, msg)
	if parser && strings.HasPrefix(err.Error(), "yaml: line ") {
		line++
	}
	lines := strings.Split(string(data), "\n")
	col := 1
	if line >= 1 && line <= len(lines) {
		text := lines[line-1]
		col = len(text) - len(strings.TrimLeft(text, " ")) + 1
		switch {
		case parser && strings.HasSuffix(msg, "'}'") && strings.Contains(text, "{"):
			col = strings.LastIndex(text, "{") + 1
			msg += " (for the { here)"
		case parser && strings.HasSuffix(msg, "']'") && strings.Contains(text, "["):
			col = strings.LastIndex(text, "[") + 1
			msg += " (for the [ here)"
		case parser:
			msg += " (in the block that starts here)"
		case strings.Contains(msg, "cannot start any token") && strings.ContainsAny(text, "\t@`"):
			col = strings.IndexAny(text, "\t@`") + 1
		case strings.Contains(msg, "mapping values are not allowed"):
			if i := strings.Index(text, ": "); i >= 0 {
				if j := strings.Index(text[i+2:], ":"); j >= 0 {
					col = i + 2 + j + 1
				}
			}
		}
	}
	return &Error{Pos{file, line, col}, "YAML syntax: " + msg}
}

type decoder struct {
	file string
}

func (d *decoder) pos(n *yaml.Node) Pos { return Pos{d.file, n.Line, n.Column} }

func (d *decoder) errorf(n *yaml.Node, format string, args ...any) error {
	return &Error{d.pos(n), fmt.Sprintf(format, args...)}
}

// field is one key: value pair of a mapping.
type field struct {
	key, val *yaml.Node
}

// resolve follows aliases.
func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "nothing"
		}
		return strconv.Quote(n.Value)
	}
	return "an unexpected YAML node"
}

// mapping checks that n is a mapping with known, distinct keys and returns
// its fields by key, in file order.
func (d *decoder) mapping(n *yaml.Node, what string, known []string) (map[string]field, []string, error) {
	if n.Kind != yaml.MappingNode {
		return nil, nil, d.errorf(n, "%s: expected a mapping, got %s", what, kindName(n))
	}
	fields := map[string]field{}
	var order []string
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], resolve(n.Content[i+1])
		if k.Kind != yaml.ScalarNode {
			return nil, nil, d.errorf(k, "%s: keys must be plain words", what)
		}
		if !contains(known, k.Value) {
			return nil, nil, d.errorf(k, "%s: unknown key %q%s", what, k.Value, suggest(k.Value, known, "keys"))
		}
		if f, dup := fields[k.Value]; dup {
			return nil, nil, d.errorf(k, "%s: key %q given twice (first at line %d)", what, k.Value, f.key.Line)
		}
		fields[k.Value] = field{k, v}
		order = append(order, k.Value)
	}
	return fields, order, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Suggest returns ` (did you mean "x"?)` for the nearest candidate within a
// small edit distance, or `; known <what>: a, b, c`: for other strict
// readers (training recipes) to phrase their errors like model files do.
func Suggest(word string, candidates []string, what string) string {
	return suggest(word, candidates, what)
}

// suggest returns ` (did you mean "x"?)` for the nearest candidate within a
// small edit distance, or `; known <what>: a, b, c`.
func suggest(word string, candidates []string, what string) string {
	best, bestD := "", 1<<30
	for _, c := range candidates {
		if dist := editDistance(word, c); dist < bestD {
			best, bestD = c, dist
		}
	}
	if best != "" && bestD <= max(2, len(word)/3) {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	if len(candidates) == 0 {
		return "; this layer type takes no other keys"
	}
	return fmt.Sprintf("; known %s: %s", what, strings.Join(candidates, ", "))
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func (d *decoder) str(f field) (string, error) {
	if f.val.Kind != yaml.ScalarNode || f.val.Tag == "!!null" {
		return "", d.errorf(f.val, "%s: expected a string, got %s", f.key.Value, kindName(f.val))
	}
	return f.val.Value, nil
}

func (d *decoder) integer(f field) (int, error) {
	v := f.val
	if v.Kind == yaml.ScalarNode && v.Tag == "!!int" {
		if n, err := strconv.Atoi(v.Value); err == nil {
			return n, nil
		}
	}
	return 0, d.errorf(v, "%s: expected an integer, got %s", f.key.Value, kindName(v))
}

func (d *decoder) positive(f field) (int, error) {
	n, err := d.integer(f)
	if err == nil && n <= 0 {
		err = d.errorf(f.val, "%s: must be positive, got %d", f.key.Value, n)
	}
	return n, err
}

func (d *decoder) float(f field) (float64, error) {
	v := f.val
	if v.Kind == yaml.ScalarNode && (v.Tag == "!!float" || v.Tag == "!!int") {
		if x, err := strconv.ParseFloat(v.Value, 64); err == nil {
			return x, nil
		}
	}
	return 0, d.errorf(v, "%s: expected a number, got %s", f.key.Value, kindName(v))
}

func (d *decoder) boolean(f field) (bool, error) {
	v := f.val
	if v.Kind == yaml.ScalarNode && v.Tag == "!!bool" {
		if b, err := strconv.ParseBool(strings.ToLower(v.Value)); err == nil {
			return b, nil
		}
	}
	return false, d.errorf(v, "%s: expected true or false, got %s", f.key.Value, kindName(v))
}

// pair reads "3" or "[3, 5]" as (H, W); min is the smallest allowed value.
func (d *decoder) pair(f field, min int) ([2]int, error) {
	v := f.val
	var p [2]int
	if v.Kind == yaml.SequenceNode {
		if len(v.Content) != 2 {
			return p, d.errorf(v, "%s: expected an integer or [height, width], got a list of %d", f.key.Value, len(v.Content))
		}
		for i, e := range v.Content {
			n, err := d.integer(field{f.key, resolve(e)})
			if err != nil {
				return p, err
			}
			p[i] = n
		}
	} else {
		n, err := d.integer(f)
		if err != nil {
			return p, err
		}
		p = [2]int{n, n}
	}
	for _, n := range p {
		if n < min {
			what := "positive"
			if min == 0 {
				what = "zero or positive"
			}
			return p, d.errorf(v, "%s: must be %s, got %d", f.key.Value, what, n)
		}
	}
	return p, nil
}

func (d *decoder) spec(root *yaml.Node) (*Spec, error) {
	root = resolve(root)
	fields, _, err := d.mapping(root, "model", topKeys)
	if err != nil {
		return nil, err
	}
	s := &Spec{File: d.file, Classes: DefaultClasses}
	f, ok := fields["name"]
	if !ok {
		return nil, d.errorf(root, "model: missing name")
	}
	if s.Name, err = d.str(f); err != nil {
		return nil, err
	}
	if f, ok := fields["description"]; ok {
		if s.Description, err = d.str(f); err != nil {
			return nil, err
		}
	}
	if f, ok := fields["input"]; ok {
		text, err := d.str(f)
		if err != nil {
			return nil, err
		}
		in, err := tensor.ParseShape(text)
		if err == nil && len(in) != 1 && len(in) != 3 {
			err = errors.New("want CxHxW or F")
		}
		if err != nil {
			return nil, d.errorf(f.val, "input: %q is not a shape like 3x32x32: %v", text, err)
		}
		s.Input = in
	}
	if f, ok := fields["classes"]; ok {
		if s.Classes, err = d.positive(f); err != nil {
			return nil, err
		}
	}
	f, ok = fields["layers"]
	if !ok {
		return nil, d.errorf(root, "model: missing layers")
	}
	if s.Layers, err = d.list(f); err != nil {
		return nil, err
	}
	return s, nil
}

// list decodes a non-empty list of layers, expanding repeats and checking
// that sibling names are distinct.
func (d *decoder) list(f field) ([]*Layer, error) {
	v := f.val
	if v.Kind != yaml.SequenceNode {
		return nil, d.errorf(v, "%s: expected a list of layers, got %s", f.key.Value, kindName(v))
	}
	if len(v.Content) == 0 {
		return nil, d.errorf(v, "%s: expected at least one layer", f.key.Value)
	}
	var out []*Layer
	for _, n := range v.Content {
		ls, err := d.layer(resolve(n))
		if err != nil {
			return nil, err
		}
		out = append(out, ls...)
	}
	return out, checkSiblings(out)
}

// checkSiblings rejects two siblings with one name, unless both are the same
// parameter-free layer: PyTorch calls one module twice (GoogLeNet's maxpool).
func checkSiblings(ls []*Layer) error {
	seen := map[string]*Layer{}
	for _, l := range ls {
		first, dup := seen[l.Name]
		if !dup {
			seen[l.Name] = l
			continue
		}
		if sameStateless(first, l) {
			continue
		}
		return &Error{l.Pos, fmt.Sprintf("duplicate name %q (first at line %d): siblings need distinct names, except a parameter-free layer used twice", l.Name, first.Pos.Line)}
	}
	return nil
}

// sameStateless reports whether a and b are one parameter-free layer: of
// the same Reusable kind, with the same settings.
func sameStateless(a, b *Layer) bool {
	k := a.Kind()
	return k != nil && k.Reusable && k == b.Kind() && reflect.DeepEqual(a.Params, b.Params)
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9_\-{}]+$`)

// layer decodes one layer mapping (several when it has repeat).
func (d *decoder) layer(n *yaml.Node) ([]*Layer, error) {
	if n.Kind != yaml.MappingNode {
		return nil, d.errorf(n, "layer: expected a mapping with type and name, got %s", kindName(n))
	}
	// Find the type first: it decides which keys are allowed.
	var typ string
	var typeNode *yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == "type" {
			typeNode = resolve(n.Content[i+1])
			if typeNode.Kind != yaml.ScalarNode || typeNode.Tag == "!!null" {
				return nil, d.errorf(typeNode, "type: expected a layer type, got %s", kindName(typeNode))
			}
			typ = typeNode.Value
		}
	}
	if typeNode == nil {
		return nil, d.errorf(n, "layer: missing type (one of %s)", strings.Join(layerTypes(), ", "))
	}
	k := kindNamed(typ)
	if k == nil {
		return nil, d.errorf(typeNode, "unknown layer type %q%s", typ, suggest(typ, layerTypes(), "types"))
	}
	known := append([]string{"type", "name", "repeat"}, k.KeyNames()...)
	fields, _, err := d.mapping(n, typ, known)
	if err != nil {
		return nil, err
	}
	l := &Layer{Type: typ, Pos: d.pos(n)}
	f, ok := fields["name"]
	if !ok {
		return nil, d.errorf(n, "%s: missing name (the PyTorch module name relative to its parent, e.g. conv1 or 0)", typ)
	}
	if f.val.Kind != yaml.ScalarNode || f.val.Tag == "!!null" || f.val.Value == "" {
		return nil, d.errorf(f.val, "name: expected a name, got %s", kindName(f.val))
	}
	l.Name = f.val.Value
	if !nameRE.MatchString(l.Name) {
		return nil, d.errorf(f.val, "name: %q may hold only letters, digits, _ and - (the dots of full names come from nesting)", l.Name)
	}
	if err := k.impl.decode(d, l, fields); err != nil {
		return nil, err
	}
	f, ok = fields["repeat"]
	if !ok {
		if strings.ContainsAny(l.Name, "{}") {
			return nil, d.errorf(fields["name"].val, "name: %q uses {i} but the layer has no repeat", l.Name)
		}
		return []*Layer{l}, nil
	}
	return d.repeat(l, f, fields["name"].val)
}

// repeat expands "repeat: {count: N, start: S}": N copies named with {i}
// replaced by S, S+1, ...
// maxRepeat bounds repeat counts, so a typo cannot make the loader allocate
// gigabytes (the deepest zoo model repeats a block 9 times).
const maxRepeat = 1000

func (d *decoder) repeat(l *Layer, f field, nameNode *yaml.Node) ([]*Layer, error) {
	rf, _, err := d.mapping(f.val, "repeat", []string{"count", "start"})
	if err != nil {
		return nil, err
	}
	c, ok := rf["count"]
	if !ok {
		return nil, d.errorf(f.val, "repeat: missing count")
	}
	count, err := d.positive(c)
	if err != nil {
		return nil, err
	}
	if count > maxRepeat {
		return nil, d.errorf(c.val, "repeat: count %d is more than %d", count, maxRepeat)
	}
	start := 0
	if s, ok := rf["start"]; ok {
		if start, err = d.integer(s); err != nil {
			return nil, err
		}
		if start < 0 {
			return nil, d.errorf(s.val, "start: must be zero or positive, got %d", start)
		}
	}
	if strings.Count(l.Name, "{i}") != 1 || strings.Count(l.Name, "{") != 1 {
		return nil, d.errorf(nameNode, "name: a repeated layer's name must contain {i} once (e.g. \"{i}\" or \"block{i}\"), got %q", l.Name)
	}
	out := make([]*Layer, count)
	for i := range out {
		c := *l
		c.Name = strings.Replace(l.Name, "{i}", strconv.Itoa(start+i), 1)
		out[i] = &c
	}
	return out, nil
}
