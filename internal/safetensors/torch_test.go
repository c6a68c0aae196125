package safetensors

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestTorchFixtures reads the files written by scripts/torch_fixtures.py when
// CNNCTL_TORCH_FIXTURES names their directory, and checks that Write
// reproduces each of them byte for byte (both writers emit compact JSON,
// __metadata__ first with sorted keys, then the tensors in file order).
//
//	/usr/bin/python3 scripts/torch_fixtures.py /tmp/fx --models lenet resnet
//	CNNCTL_TORCH_FIXTURES=/tmp/fx go test -run TestTorchFixtures ./internal/safetensors
func TestTorchFixtures(t *testing.T) {
	dir := os.Getenv("CNNCTL_TORCH_FIXTURES")
	if dir == "" {
		t.Skip("CNNCTL_TORCH_FIXTURES not set")
	}
	paths, err := filepath.Glob(filepath.Join(dir, "*.safetensors"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no *.safetensors in %s (%v)", dir, err)
	}
	for _, path := range paths {
		f, err := ReadFile(path)
		if err != nil {
			t.Error(err)
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var got bytes.Buffer
		if err := Write(&got, f.Tensors, f.Metadata); err != nil {
			t.Errorf("%s: %v", path, err)
			continue
		}
		if !bytes.Equal(got.Bytes(), want) {
			t.Errorf("%s: re-encoded file differs (%d bytes, want %d)", path, got.Len(), len(want))
		}
	}
}
