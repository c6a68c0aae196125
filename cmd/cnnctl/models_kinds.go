package main

import (
	"fmt"
	"strings"

	"github.com/cnnctl/cnnctl/internal/zoo"
)

// kindRow is one layer type of `cnnctl models --kinds --json`.
type kindRow struct {
	Type       string   `json:"type"`
	Doc        string   `json:"doc"`
	Keys       []keyRow `json:"keys"`
	Container  bool     `json:"container"`
	Activation bool     `json:"activation"`
	Example    string   `json:"example"`
}

// keyRow is one key of a layer type.
type keyRow struct {
	Name string `json:"name"`
	Doc  string `json:"doc"`
}

// kindsIntro heads the text listing: what every layer takes.
const kindsIntro = `Layer types of model files (configs/README.md has the format). Every layer
takes type and name, and repeat: {count: N, start: S} to write it N times with
{i} in its name replaced by S, S+1, ...; a type's other keys follow it.
`

// runKinds lists the registered layer kinds: the YAML a model file may use.
func runKinds(opts *modelsOptions) error {
	rows := []kindRow{}
	for _, k := range zoo.Kinds() {
		r := kindRow{Type: k.Name, Doc: k.Doc, Keys: []keyRow{}, Container: k.Container, Activation: k.Activation, Example: k.Example}
		for _, key := range k.Keys {
			r.Keys = append(r.Keys, keyRow{key.Name, key.Doc})
		}
		rows = append(rows, r)
	}
	if opts.JSON {
		return printJSON(opts.f, rows)
	}
	var b strings.Builder
	b.WriteString(kindsIntro)
	for _, r := range rows {
		fmt.Fprintf(&b, "\n%s: %s\n", r.Type, r.Doc)
		for _, key := range r.Keys {
			fmt.Fprintf(&b, "  %-9s %s\n", key.Name, key.Doc)
		}
		if r.Activation {
			b.WriteString("  (may be a residual's post)\n")
		}
		fmt.Fprintf(&b, "  - %s\n", r.Example)
	}
	_, err := fmt.Fprint(opts.f.Out, b.String())
	return err
}
