package checkpoint

import (
	"bytes"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cnnctl/cnnctl/internal/safetensors"
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

// FuzzMetadata reaches the metadata parser behind the metadata checksum
// (FuzzLoad's random bytes rarely get past it): any metadata text, stored
// with a matching checksum beside good tensors, either is refused or loads
// and survives an encode and decode unchanged. It works in memory, so that
// it runs thousands of times faster than the file-based FuzzLoad.
func FuzzMetadata(f *testing.F) {
	tensors, md, err := encode(sample(1), Version)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(md[metaKey])
	f.Add(strings.Replace(md[metaKey], `"version":2`, `"version":1`, 1))
	f.Add(`{"format":"cnnctl-checkpoint","version":2,"recipe":{"lr":1e309}}`)
	f.Add(`{"format":"cnnctl-checkpoint","version":2,"crc32":1,"input":[-1],"mean":null}`)
	// roundTrip writes tensors and metadata as a safetensors file in memory
	// and decodes it as a checkpoint.
	roundTrip := func(ts []safetensors.Tensor, md map[string]string) (*Checkpoint, error) {
		var b bytes.Buffer
		if err := safetensors.Write(&b, ts, md); err != nil {
			return nil, err
		}
		sf, err := safetensors.Read(bytes.NewReader(b.Bytes()), int64(b.Len()))
		if err != nil {
			return nil, err
		}
		return decode("fuzz", sf)
	}
	f.Fuzz(func(t *testing.T, meta string) {
		md := map[string]string{metaKey: meta, metaCRCKey: fmt.Sprintf("%08x", crc32.ChecksumIEEE([]byte(meta)))}
		ck, err := roundTrip(tensors, md)
		if err != nil {
			return
		}
		before, err := json.Marshal(ck.Meta)
		if err != nil {
			return // e.g. a recipe value JSON cannot write back
		}
		version, sum := ck.Version, ck.CRC // encode rewrites both
		ts2, md2, err := encode(ck, Version)
		if err != nil {
			t.Fatalf("an accepted checkpoint does not encode: %v", err)
		}
		again, err := roundTrip(ts2, md2)
		if err != nil {
			t.Fatalf("an accepted checkpoint, encoded again, does not decode: %v", err)
		}
		again.Version, again.CRC = version, sum
		after, _ := json.Marshal(again.Meta)
		if string(after) != string(before) {
			t.Fatalf("metadata changed in a round trip:\n%s\n%s", before, after)
		}
	})
}
