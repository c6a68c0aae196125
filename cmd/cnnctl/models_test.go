package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/cnnctl/cnnctl/internal/zoo"
)

func TestModelsKindsFlag(t *testing.T) {
	o, err := parseCmd(t, newModelsCmd, "--kinds")
	if err != nil || !o.Kinds {
		t.Fatalf("--kinds: %+v, %v", o, err)
	}
}

// TestModelsKinds: `models --kinds` lists every registered layer kind with
// its doc, keys and example, as text and as JSON.
func TestModelsKinds(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"models", "--kinds"}, nil, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	text := out.String()
	for _, k := range zoo.Kinds() {
		for _, want := range []string{"\n" + k.Name + ": " + k.Doc + "\n", "  - " + k.Example + "\n"} {
			if !strings.Contains(text, want) {
				t.Errorf("no %q in\n%s", want, text)
			}
		}
		for _, key := range k.Keys {
			if !strings.Contains(text, key.Doc) {
				t.Errorf("%s: key %s's doc missing", k.Name, key.Name)
			}
		}
	}
	out.Reset()
	if code := run([]string{"models", "--kinds", "--json"}, nil, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	var rows []kindRow
	if err := json.Unmarshal(out.Bytes(), &rows); err != nil {
		t.Fatal(err)
	}
	if len(rows) != len(zoo.Kinds()) || rows[0].Type != zoo.Kinds()[0].Name || len(rows[0].Keys) != len(zoo.Kinds()[0].Keys) {
		t.Errorf("%d JSON rows, want %d: %+v", len(rows), len(zoo.Kinds()), rows)
	}
}
