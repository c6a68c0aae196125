package safetensors

import (
	"bytes"
	"errors"
	"math"
	"testing"
)

// FuzzRead checks that Read never panics, fails only with ErrFormat on
// in-memory input, and that whatever it accepts is written back by Write
// and read again unchanged. Seeds live in testdata/fuzz/FuzzRead.
func FuzzRead(f *testing.F) {
	var buf bytes.Buffer
	err := Write(&buf, []Tensor{
		{Name: "w", Shape: []int{2, 2}, Data: []float32{1, 2, 3, 4}},
		{Name: "s", Shape: []int{}, Data: []float32{5}},
		{Name: "n", Shape: []int{}, Int64: []int64{-6}},
	}, map[string]string{"k": "v"})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	f.Fuzz(func(t *testing.T, b []byte) {
		file, err := readBytes(b)
		if err != nil {
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("in-memory read failed with a non-format error: %v", err)
			}
			return
		}
		var out bytes.Buffer
		if err := Write(&out, file.Tensors, file.Metadata); err != nil {
			t.Fatalf("accepted file does not re-encode: %v", err)
		}
		again, err := readBytes(out.Bytes())
		if err != nil {
			t.Fatalf("re-encoded file is rejected: %v", err)
		}
		if len(again.Tensors) != len(file.Tensors) || len(again.Metadata) != len(file.Metadata) {
			t.Fatalf("re-read %d tensors %d metadata, want %d and %d",
				len(again.Tensors), len(again.Metadata), len(file.Tensors), len(file.Metadata))
		}
		for k, v := range file.Metadata {
			if again.Metadata[k] != v {
				t.Fatalf("metadata %q: %q, want %q", k, again.Metadata[k], v)
			}
		}
		for i, want := range file.Tensors {
			got := again.Tensors[i]
			if got.Name != want.Name || len(got.Data) != len(want.Data) || len(got.Shape) != len(want.Shape) {
				t.Fatalf("tensor %d: %q %v, want %q %v", i, got.Name, got.Shape, want.Name, want.Shape)
			}
			for j := range want.Shape {
				if got.Shape[j] != want.Shape[j] {
					t.Fatalf("tensor %q: shape %v, want %v", want.Name, got.Shape, want.Shape)
				}
			}
			if (got.Int64 == nil) != (want.Int64 == nil) || len(got.Int64) != len(want.Int64) {
				t.Fatalf("tensor %q: Int64 %v, want %v", want.Name, got.Int64, want.Int64)
			}
			for j := range want.Int64 {
				if got.Int64[j] != want.Int64[j] {
					t.Fatalf("tensor %q: Int64[%d] %d, want %d", want.Name, j, got.Int64[j], want.Int64[j])
				}
			}
			for j := range want.Data {
				if math.Float32bits(got.Data[j]) != math.Float32bits(want.Data[j]) {
					t.Fatalf("tensor %q [%d]: %v, want %v", want.Name, j, got.Data[j], want.Data[j])
				}
			}
		}
	})
}
