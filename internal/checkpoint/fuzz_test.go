package checkpoint

import (
	"math"
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoad checks that Load never panics on any file, and that whatever it
// accepts saves and loads again unchanged. Seeds live in testdata/fuzz/FuzzLoad.
func FuzzLoad(f *testing.F) {
	dir := f.TempDir()
	p := filepath.Join(dir, "seed")
	if err := Save(p, sample(1)); err != nil {
		f.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add(b[:len(b)/2])
	f.Fuzz(func(t *testing.T, b []byte) {
		in := filepath.Join(dir, "in")
		if err := os.WriteFile(in, b, 0o644); err != nil {
			t.Fatal(err)
		}
		ck, err := Load(in)
		if err != nil {
			return
		}
		out := filepath.Join(dir, "out")
		if err := Save(out, ck); err != nil {
			return // e.g. a state tensor loaded from an int64 entry has no float data
		}
		again, err := Load(out)
		if err != nil {
			t.Fatalf("an accepted checkpoint, saved again, does not load: %v", err)
		}
		if len(again.State) != len(ck.State) || len(again.Optim) != len(ck.Optim) || again.Epoch != ck.Epoch || again.ConfigHash != ck.ConfigHash {
			t.Fatalf("round trip changed the checkpoint: %d/%d tensors, epoch %d/%d", len(again.State), len(ck.State), again.Epoch, ck.Epoch)
		}
		for i, s := range ck.State {
			g := again.State[i]
			if g.Name != s.Name || len(g.Data) != len(s.Data) {
				t.Fatalf("tensor %d: %q, want %q", i, g.Name, s.Name)
			}
			for j := range s.Data {
				if math.Float32bits(g.Data[j]) != math.Float32bits(s.Data[j]) {
					t.Fatalf("%s[%d] changed", s.Name, j)
				}
			}
		}
	})
}
