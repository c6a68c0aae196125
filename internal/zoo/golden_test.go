package zoo

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/cnnctl/cnnctl/internal/cpu"
)

// TestZooGolden pins what every built-in model (configs/models/*.yaml)
// means: its summary table, its canonical text and hash, and the name,
// shape and kind (parameter or buffer) of every state_dict entry of the
// built model, against testdata/models/<name>.txt. The files were written
// from the code before the layer-kind registry replaced the switches over
// type strings, so this is the proof that the registry changed nothing a
// checkpoint, a PyTorch import or a summary can see. Refresh with -update
// only for an intended change of a model file.
func TestZooGolden(t *testing.T) {
	for _, name := range Names() {
		t.Run(name, func(t *testing.T) {
			s, err := Load(name)
			if err != nil {
				t.Fatal(err)
			}
			var b bytes.Buffer
			r, err := Summary(s, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			if err := r.WriteText(&b); err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&b, "\nhash %s\n%s\n", s.Hash(), s.Canonical())
			be := cpu.New()
			defer be.Close()
			m, err := Build(s, be, nil, 0, 1)
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&b, "built: %d params, %d MACs, out %s\n", m.NumParams(), m.MACs(), m.Out)
			for _, p := range m.All() {
				kind := "param"
				if p.Buffer {
					kind = "buffer"
				}
				fmt.Fprintf(&b, "%s %s %s\n", p.Name, p.Shape, kind)
			}
			checkGolden(t, filepath.Join("testdata", "models", name+".txt"), b.String(), "ZooGolden")
		})
	}
}

// checkGolden compares got with the golden file at path, rewriting it
// first under -update; run names the test for the -update hint.
func checkGolden(t *testing.T, path, got, run string) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	golden, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/zoo -run %s -update)", err, run)
	}
	if got != string(golden) {
		t.Errorf("%s differs (rerun with -update only for an intended change of a model file):\n%s", path, got)
	}
}
