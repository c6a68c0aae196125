package checkpoint

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cnnctl/cnnctl/internal/safetensors"
)

func sample(scale float32) *Checkpoint {
	return &Checkpoint{
		Meta: Meta{Model: "lenet", ConfigHash: "abc123", Input: []int{3, 32, 32}, Classes: []string{"a", "b"},
			Mean: []float32{0.5}, Std: []float32{0.5}, Epoch: 2, Step: 64, OptimizerStep: 64, BestTop1: 0.5,
			NumBatchesTracked: map[string]int64{"bn": 64}},
		State: []Named{
			{Name: "conv.weight", Shape: []int{2, 3}, Data: []float32{1 * scale, 2, 3, 4, 5, float32(math.Copysign(0, -1))}},
			{Name: "fc.bias", Shape: []int{2}, Data: []float32{-1, scale}},
		},
		Optim: map[string][]float32{"momentum": {0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, scale}},
	}
}

func save(t *testing.T, path string, ck *Checkpoint) []byte {
	t.Helper()
	if err := Save(path, ck); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSaveLoadRoundTrip(t *testing.T) {
	p := filepath.Join(t.TempDir(), "last")
	save(t, p, sample(1))
	ck, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	want := sample(1)
	if ck.Version != Version || ck.Format != formatName || ck.ConfigHash != "abc123" || ck.Epoch != 2 || ck.Step != 64 || ck.NumBatchesTracked["bn"] != 64 {
		t.Fatalf("meta %+v", ck.Meta)
	}
	for i, s := range want.State {
		g := ck.State[i]
		if g.Name != s.Name || len(g.Data) != len(s.Data) {
			t.Fatalf("tensor %d: %s %v", i, g.Name, g.Shape)
		}
		for j := range s.Data {
			if math.Float32bits(g.Data[j]) != math.Float32bits(s.Data[j]) {
				t.Fatalf("%s[%d] = %v, want %v", s.Name, j, g.Data[j], s.Data[j])
			}
		}
	}
	if len(ck.Optim["momentum"]) != 8 {
		t.Fatalf("optimiser state %v", ck.Optim)
	}
}

// rewrite saves ck, then re-encodes the file with its metadata changed by edit.
func rewrite(t *testing.T, p string, edit func(md map[string]string)) {
	t.Helper()
	save(t, p, sample(1))
	f, err := safetensors.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	edit(f.Metadata)
	// As another writer would: the metadata checksum matches the edit.
	f.Metadata[metaCRCKey] = fmt.Sprintf("%08x", crc32.ChecksumIEEE([]byte(f.Metadata[metaKey])))
	if err := safetensors.WriteFile(p, f.Tensors, f.Metadata); err != nil {
		t.Fatal(err)
	}
}

// header returns a raw safetensors file with the given JSON header and data.
func header(js string, data int) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, uint64(len(js)))
	b.WriteString(js)
	b.Write(make([]byte, data))
	return b.Bytes()
}

// TestLoadRejects: every damaged or foreign file is an error that names
// the file and says what is wrong; none loads as a good checkpoint.
func TestLoadRejects(t *testing.T) {
	dir := t.TempDir()
	good := save(t, filepath.Join(dir, "good"), sample(1))
	tests := []struct {
		name string
		make func(p string)
		want []string
		is   error
	}{
		{"missing", func(p string) {}, []string{"no such file"}, nil},
		{"empty", func(p string) { os.WriteFile(p, nil, 0o644) }, []string{"load checkpoint"}, nil},
		{"truncated header", func(p string) { os.WriteFile(p, good[:40], 0o644) }, []string{"load checkpoint"}, nil},
		{"truncated data", func(p string) { os.WriteFile(p, good[:len(good)-5], 0o644) }, []string{"load checkpoint"}, nil},
		{"header too large", func(p string) {
			b := append([]byte{}, good...)
			binary.LittleEndian.PutUint64(b, 1<<40)
			os.WriteFile(p, b, 0o644)
		}, []string{"header"}, nil},
		{"offsets out of range", func(p string) {
			os.WriteFile(p, header(`{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,800]}}`, 8), 0o644)
		}, []string{"load checkpoint"}, nil},
		{"offsets overlapping", func(p string) {
			os.WriteFile(p, header(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}`, 12), 0o644)
		}, []string{"load checkpoint"}, nil},
		{"flipped data byte", func(p string) {
			b := append([]byte{}, good...)
			b[len(b)-3] ^= 0x40
			os.WriteFile(p, b, 0o644)
		}, []string{"checksum", "corrupt"}, nil},
		{"plain safetensors", func(p string) {
			safetensors.WriteFile(p, []safetensors.Tensor{{Name: "w", Shape: []int{1}, Data: []float32{1}}}, nil)
		}, []string{"not a cnnctl checkpoint", "cnnctl import"}, nil},
		{"newer version", func(p string) {
			rewrite(t, p, func(md map[string]string) {
				md[metaKey] = strings.Replace(md[metaKey], `"version":2,`, `"version":99,`, 1)
			})
		}, []string{"format version 99", "reads versions 1 to 2"}, ErrVersion},
		{"other format", func(p string) {
			rewrite(t, p, func(md map[string]string) {
				md[metaKey] = strings.Replace(md[metaKey], formatName, "darknet-weights", 1)
			})
		}, []string{`format "darknet-weights"`}, nil},
		{"flipped metadata bit (normalisation)", func(p string) {
			b := append([]byte{}, good...)
			i := bytes.Index(b, []byte(`mean\":[0.5]`)) // inside the header's JSON string
			b[i+len(`mean\":[0.`)] ^= 0x04              // 0.5 -> 0.1
			os.WriteFile(p, b, 0o644)
		}, []string{"metadata checksum", "corrupt", "normalisation"}, nil},
		{"flipped metadata bit (class name)", func(p string) {
			b := append([]byte{}, good...)
			i := bytes.Index(b, []byte(`classes\":[\"a\",`))
			b[i+len(`classes\":[\"`)] ^= 0x03 // a -> b
			os.WriteFile(p, b, 0o644)
		}, []string{"metadata checksum", "corrupt"}, nil},
		{"metadata checksum removed", func(p string) {
			save(t, p, sample(1))
			f, _ := safetensors.ReadFile(p)
			delete(f.Metadata, metaCRCKey)
			safetensors.WriteFile(p, f.Tensors, f.Metadata)
		}, []string{"without its metadata checksum"}, nil},
		{"bad metadata JSON", func(p string) {
			rewrite(t, p, func(md map[string]string) { md[metaKey] = "{" })
		}, []string{"metadata"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "ckpt")
			tc.make(p)
			ck, err := Load(p)
			if err == nil {
				t.Fatalf("loaded a %s file as good: epoch %d", tc.name, ck.Epoch)
			}
			msg := err.Error()
			if !strings.Contains(msg, p) {
				t.Errorf("error does not name the file: %v", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error does not say %q: %v", w, err)
				}
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error does not wrap %v: %v", tc.is, err)
			}
		})
	}
}

// TestSaveFailureKeepsPrevious: a save that cannot complete returns an
// error and leaves the previous file byte for byte, with no temp file.
func TestSaveFailureKeepsPrevious(t *testing.T) {
	t.Run("no such folder", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "missing", "last")
		if err := Save(p, sample(1)); err == nil {
			t.Fatal("saved into a missing folder")
		} else if !strings.Contains(err.Error(), "save checkpoint") {
			t.Errorf("error %v", err)
		}
	})
	t.Run("target is a folder", func(t *testing.T) {
		dir := t.TempDir()
		p := filepath.Join(dir, "last")
		os.MkdirAll(filepath.Join(p, "keep"), 0o755)
		if err := Save(p, sample(1)); err == nil {
			t.Fatal("saved over a folder")
		}
		if _, err := os.Stat(filepath.Join(p, "keep")); err != nil {
			t.Errorf("the folder was damaged: %v", err)
		}
		assertNoTemps(t, dir)
	})
	t.Run("disk full", func(t *testing.T) {
		dir := smallTmpfs(t, "64k")
		p := filepath.Join(dir, "last")
		before := save(t, p, sample(1))
		// Fill the rest of the file system, then try to save again.
		filler := bytes.Repeat([]byte{1}, 4096)
		f, _ := os.Create(filepath.Join(dir, "filler"))
		for {
			if _, err := f.Write(filler); err != nil {
				break
			}
		}
		f.Close()
		err := Save(p, sample(2))
		if err == nil {
			t.Fatal("save on a full disk succeeded")
		}
		if !strings.Contains(err.Error(), "no space left on device") || !strings.Contains(err.Error(), "save checkpoint") {
			t.Errorf("unclear error: %v", err)
		}
		after, _ := os.ReadFile(p)
		if !bytes.Equal(before, after) {
			t.Error("the previous checkpoint was changed by the failed save")
		}
		if _, err := Load(p); err != nil {
			t.Errorf("the previous checkpoint no longer loads: %v", err)
		}
		assertNoTemps(t, dir)
	})
}

func assertNoTemps(t *testing.T, dir string) {
	t.Helper()
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temp file left: %s", e.Name())
		}
	}
}

// smallTmpfs mounts a tmpfs, or skips where that is not allowed.
func smallTmpfs(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small tmpfs")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", dir).Run() })
	return dir
}

// TestLoadVersion1: a version 1 checkpoint (no metadata checksum) still
// loads, with all its metadata; saved again it is version 2.
func TestLoadVersion1(t *testing.T) {
	p := filepath.Join(t.TempDir(), "v1")
	if err := saveVersion(p, sample(1), 1); err != nil {
		t.Fatal(err)
	}
	f, err := safetensors.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := f.Metadata[metaCRCKey]; ok || f.Metadata["version"] != "1" {
		t.Fatalf("not a version 1 file: %v", f.Metadata)
	}
	ck, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if ck.Version != 1 || ck.Epoch != 2 || ck.Classes[1] != "b" || ck.Mean[0] != 0.5 || len(ck.State) != 2 {
		t.Errorf("version 1 checkpoint loaded as %+v", ck.Meta)
	}
	if err := Save(p, ck); err != nil {
		t.Fatal(err)
	}
	if ck, err = Load(p); err != nil || ck.Version != Version {
		t.Errorf("saved again: %v, version %d", err, ck.Version)
	}
}
