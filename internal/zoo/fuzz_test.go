package zoo

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/cnnctl/cnnctl/internal/tensor"
)

// FuzzParse checks that the model loader never panics or runs away on any
// YAML: a rejected file is an *Error with a file:line:col, an accepted one
// summarises (or fails with an error) for its own and a fixed input, and
// its hash is stable. Seeds: every zoo model, plus testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("../../configs/models/*.yaml")
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("name: x\ninput: 1x8x8\nlayers:\n  - {type: linear, name: fc, out: classes}\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		spec, err := Parse("fuzz.yaml", b)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error without a position: %T %v", err, err)
			}
			if e.Pos.File != "fuzz.yaml" || e.Pos.Line < 1 || e.Pos.Col < 1 {
				t.Fatalf("error with a bad position %v: %v", e.Pos, err)
			}
			return
		}
		if spec.Hash() != spec.Hash() {
			t.Fatal("hash is not stable")
		}
		Summary(spec, nil, 0)
		Summary(spec, tensor.Shape{3, 32, 32}, 10)
	})
}
