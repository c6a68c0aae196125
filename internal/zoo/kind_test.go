package zoo

import (
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/cnnctl/cnnctl/configs"
	"github.com/cnnctl/cnnctl/internal/cpu"
	"github.com/cnnctl/cnnctl/internal/tensor"
)

// TestKindsComplete checks every registered kind: a doc line, documented
// keys that do not shadow type, name or repeat, a built-layer type and
// (for a leaf) a cost class, unique names and layer types, the registry
// sorted by name, and an example that decodes, walks, builds into a layer
// of the declared type and writes a canonical line.
func TestKindsComplete(t *testing.T) {
	names, types := map[string]bool{}, map[string]bool{}
	for i, k := range Kinds() {
		if k.impl == nil || k.Name == "" {
			t.Fatalf("kind %d: %+v has no name or no behaviour", i, k)
		}
		if i > 0 && kinds[i-1].Name >= k.Name {
			t.Errorf("%s after %s: the registry is not sorted by name", k.Name, kinds[i-1].Name)
		}
		if names[k.Name] || types[k.Layer] {
			t.Errorf("%s: name or layer type %q registered twice", k.Name, k.Layer)
		}
		names[k.Name], types[k.Layer] = true, true
		if strings.TrimSpace(k.Doc) == "" || strings.Contains(k.Doc, "\n") {
			t.Errorf("%s: doc %q, want one non-empty line", k.Name, k.Doc)
		}
		if k.Layer == "" {
			t.Errorf("%s: no built-layer type", k.Name)
		}
		if k.Example == "" {
			t.Errorf("%s: no example", k.Name)
		}
		seen := map[string]bool{"type": true, "name": true, "repeat": true}
		for _, key := range k.Keys {
			if seen[key.Name] || key.Doc == "" {
				t.Errorf("%s: key %q repeated, reserved or without a doc", k.Name, key.Name)
			}
			seen[key.Name] = true
		}
		switch {
		case k.Container && (k.Cost != CostUnknown || k.Reusable || k.Activation):
			t.Errorf("%s: a container with a cost class, reusable or an activation", k.Name)
		case !k.Container && k.Cost == CostUnknown:
			t.Errorf("%s: a leaf without a cost class", k.Name)
		}
		if CostOf(k.Layer) != k.Cost {
			t.Errorf("CostOf(%q) = %v, want %v", k.Layer, CostOf(k.Layer), k.Cost)
		}
		t.Run(k.Name, func(t *testing.T) { checkExample(t, k) })
	}
	if CostOf("no-such-layer") != CostUnknown {
		t.Error("an unknown layer type has a cost class")
	}
}

// checkExample runs a kind's example through every hook: decode, canonical
// text, shape walk (on the first of 3x8x8, 16x8x8 and 192 features that
// fits) and build, whose top layer must have the kind's layer type.
func checkExample(t *testing.T, k *Kind) {
	s, err := Parse("example.yaml", []byte(head+"  - "+k.Example+"\n"))
	if err != nil {
		t.Fatalf("example %s: %v", k.Example, err)
	}
	if len(s.Layers) != 1 || s.Layers[0].Kind() != k {
		t.Fatalf("example %s decodes to %d layers, the first of kind %v", k.Example, len(s.Layers), s.Layers[0].Kind())
	}
	line := strings.SplitN(s.Canonical(), "\n", 3)[1]
	if want := s.Layers[0].Name + " " + k.Name; !strings.HasPrefix(line, want) {
		t.Errorf("canonical line %q, want it to start with %q", line, want)
	}
	var in tensor.Shape
	for _, try := range []tensor.Shape{{3, 8, 8}, {16, 8, 8}, {192}} {
		if _, err := Summary(s, try, 0); err == nil {
			in = try
			break
		}
	}
	if in == nil {
		t.Fatalf("example %s walks on none of 3x8x8, 16x8x8 and 192", k.Example)
	}
	be := cpu.New()
	defer be.Close()
	m, err := Build(s, be, in, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Root.Children()[0].Type(); got != k.Layer {
		t.Errorf("example builds a %q layer, the kind declares %q", got, k.Layer)
	}
}

// TestZooKindsRegistered reads every type: of configs/models/*.yaml from
// the raw YAML (not through the decoder) and checks that a kind of that
// name is registered.
func TestZooKindsRegistered(t *testing.T) {
	files, err := fs.Glob(configs.Models, "models/*.yaml")
	if err != nil || len(files) != 17 {
		t.Fatalf("%d model files (%v), want 17", len(files), err)
	}
	used := map[string]bool{}
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		if n.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == "type" {
					used[n.Content[i+1].Value] = true
				}
			}
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	for _, f := range files {
		data, err := fs.ReadFile(configs.Models, f)
		if err != nil {
			t.Fatal(err)
		}
		var doc yaml.Node
		if err := yaml.Unmarshal(data, &doc); err != nil {
			t.Fatal(err)
		}
		walk(&doc)
	}
	if len(used) < 10 {
		t.Fatalf("only %d types found in the zoo: %v", len(used), used)
	}
	for typ := range used {
		if kindNamed(typ) == nil {
			t.Errorf("configs/models uses type %q, which no kind registers", typ)
		}
	}
}

// TestUnknownTypePosition: an unknown type is an error at its file:line:col
// when decoding, and at the layer's position when a spec made in code
// reaches Summary or Build with one.
func TestUnknownTypePosition(t *testing.T) {
	_, err := Parse("m.yaml", []byte(head+"  - {type: relu, name: r}\n  - {type: gelu, name: g}\n"))
	var e *Error
	if !errors.As(err, &e) || e.Error() != `m.yaml:5:12: unknown layer type "gelu" (did you mean "relu"?)` {
		t.Errorf("parse: %v", err)
	}
	s := &Spec{Name: "m", File: "m.yaml", Input: tensor.Shape{3, 8, 8}, Classes: 10, Layers: []*Layer{
		{Type: "sequential", Name: "s", Pos: Pos{"m.yaml", 4, 5}, Layers: []*Layer{
			{Type: "gelu", Name: "g", Pos: Pos{"m.yaml", 7, 9}},
		}},
	}}
	want := `m.yaml:7:9: layer "s.g": unknown type "gelu"`
	if _, err := Summary(s, nil, 0); err == nil || err.Error() != want {
		t.Errorf("summary: %v, want %s", err, want)
	}
	b := builder{classes: 10}
	if _, err := b.list("", s.Layers); err == nil || err.Error() != want {
		t.Errorf("build: %v, want %s", err, want)
	}
	if !s.Layers[0].Layers[0].Leaf() || s.Layers[0].Leaf() {
		t.Error("Leaf: an unknown type is a leaf, a sequential is not")
	}
}

// registryFiles are the files allowed to name layer kinds in comparisons:
// the registry itself.
func registryFile(path string) bool {
	dir, base := filepath.Base(filepath.Dir(path)), filepath.Base(path)
	return dir == "zoo" && (base == "kind.go" || strings.HasPrefix(base, "kind_"))
}

// kindNameUses returns "file:line: text" for each place in src that
// compares a string with a layer kind's name or built-layer type: a case
// of a switch, an == or != operand, or a key of a map literal.
func kindNameUses(fset *token.FileSet, f *ast.File, names map[string]bool) []string {
	var uses []string
	lit := func(e ast.Expr, what string) {
		if b, ok := e.(*ast.BasicLit); ok && b.Kind == token.STRING {
			if v, err := strconv.Unquote(b.Value); err == nil && names[v] {
				uses = append(uses, fset.Position(b.Pos()).String()+": "+what+" "+b.Value)
			}
		}
	}
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.CaseClause:
			for _, e := range n.List {
				lit(e, "case")
			}
		case *ast.BinaryExpr:
			if n.Op == token.EQL || n.Op == token.NEQ {
				lit(n.X, n.Op.String())
				lit(n.Y, n.Op.String())
			}
		case *ast.CompositeLit:
			if _, ok := n.Type.(*ast.MapType); ok {
				for _, e := range n.Elts {
					if kv, ok := e.(*ast.KeyValueExpr); ok {
						lit(kv.Key, "map key")
					}
				}
			}
		}
		return true
	})
	return uses
}

// kindStrings are the kinds' names and built-layer types.
func kindStrings() map[string]bool {
	names := map[string]bool{}
	for _, k := range kinds {
		names[k.Name], names[k.Layer] = true, true
	}
	return names
}

// TestKindNamesOnlyInRegistry scans the module's Go sources (tests
// excepted) for switches, comparisons and map keys over layer-kind names
// or built-layer types outside the registry files: what a layer kind does
// is declared in its kind_*.go file, not decided by string elsewhere.
func TestKindNamesOnlyInRegistry(t *testing.T) {
	names := kindStrings()
	fset := token.NewFileSet()
	var scanned int
	for _, root := range []string{"../../internal", "../../cmd"} {
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") || registryFile(path) {
				return err
			}
			f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
			if err != nil {
				return err
			}
			scanned++
			for _, u := range kindNameUses(fset, f, names) {
				t.Errorf("%s: a layer kind decided by its name outside internal/zoo/kind*.go (declare it on the kind)", u)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if scanned < 50 {
		t.Fatalf("scanned only %d files", scanned)
	}
}

// TestKindNameUsesFinds: the scanner of TestKindNamesOnlyInRegistry finds
// each form it looks for (and not a plain string), so that test can fail.
func TestKindNameUsesFinds(t *testing.T) {
	src := `package p
var activations = map[string]int{"relu": 1}
var ok = []string{"conv2d"}
func f(typ string) bool {
	switch typ {
	case "maxpool", "other":
	}
	return typ == "shortcutpad" || "linear" != typ
}
`
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "p.go", src, 0)
	if err != nil {
		t.Fatal(err)
	}
	got := kindNameUses(fset, f, kindStrings())
	want := []string{`p.go:2:34: map key "relu"`, `p.go:6:7: case "maxpool"`, `p.go:8:16: == "shortcutpad"`, `p.go:8:33: != "linear"`}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("found\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestKindFilesRegistered: every *Kind declared in a kind_*.go file is in
// the registry (a new kind's file without its line in kinds fails here).
func TestKindFilesRegistered(t *testing.T) {
	files, _ := filepath.Glob("kind_*.go")
	fset := token.NewFileSet()
	declared := map[string]bool{}
	for _, path := range files {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			g, ok := d.(*ast.GenDecl)
			if !ok || g.Tok != token.VAR {
				continue
			}
			for _, spec := range g.Specs {
				for _, n := range spec.(*ast.ValueSpec).Names {
					if strings.HasSuffix(n.Name, "Kind") {
						declared[n.Name] = true
					}
				}
			}
		}
	}
	// The idents of the kinds literal in kind.go.
	f, err := parser.ParseFile(fset, "kind.go", nil, parser.SkipObjectResolution)
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	ast.Inspect(f, func(n ast.Node) bool {
		if v, ok := n.(*ast.ValueSpec); ok && len(v.Names) == 1 && v.Names[0].Name == "kinds" {
			for _, e := range v.Values[0].(*ast.CompositeLit).Elts {
				listed[e.(*ast.Ident).Name] = true
			}
		}
		return true
	})
	for n := range declared {
		if !listed[n] {
			t.Errorf("kind_*.go declares %s, which is not in kinds (kind.go)", n)
		}
	}
	for n := range listed {
		if !declared[n] {
			t.Errorf("kinds lists %s, which no kind_*.go file declares", n)
		}
	}
	if len(listed) != len(kinds) || len(kinds) < 15 {
		t.Errorf("%d kinds listed, %d registered", len(listed), len(kinds))
	}
}

// TestSameStatelessByParams: siblings may share a name only when of one
// reusable kind with equal settings.
func TestSameStatelessByParams(t *testing.T) {
	pool := func(k int) *Layer {
		return &Layer{Type: "maxpool", Params: &PoolParams{Kernel: [2]int{k, k}, Stride: [2]int{k, k}}}
	}
	bn := &Layer{Type: "batchnorm", Params: &BatchNormParams{Momentum: 0.1, Eps: 1e-5}}
	relu := &Layer{Type: "relu"}
	cases := []struct {
		a, b *Layer
		want bool
	}{
		{pool(2), pool(2), true},
		{pool(2), pool(3), false},
		{relu, &Layer{Type: "relu"}, true},
		{relu, &Layer{Type: "tanh"}, false},
		{bn, bn, false},
		{&Layer{Type: "gelu"}, &Layer{Type: "gelu"}, false},
	}
	for i, c := range cases {
		if got := sameStateless(c.a, c.b); got != c.want {
			t.Errorf("case %d: %v, want %v", i, got, c.want)
		}
	}
}
