package safetensors

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// rawFile builds a file from a literal header (unpadded) and data bytes.
func rawFile(header string, data []byte) []byte {
	out := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	out = append(out, header...)
	return append(out, data...)
}

func readBytes(b []byte) (*File, error) { return Read(bytes.NewReader(b), int64(len(b))) }

func sameTensors(t *testing.T, got, want []Tensor) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d tensors, want %d", len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Name != w.Name || len(g.Shape) != len(w.Shape) || len(g.Data) != len(w.Data) {
			t.Fatalf("tensor %d: got %q %v (%d values), want %q %v (%d values)",
				i, g.Name, g.Shape, len(g.Data), w.Name, w.Shape, len(w.Data))
		}
		for j := range w.Shape {
			if g.Shape[j] != w.Shape[j] {
				t.Fatalf("tensor %q: shape %v, want %v", w.Name, g.Shape, w.Shape)
			}
		}
		for j := range w.Data {
			if math.Float32bits(g.Data[j]) != math.Float32bits(w.Data[j]) {
				t.Fatalf("tensor %q [%d]: %v, want %v", w.Name, j, g.Data[j], w.Data[j])
			}
		}
	}
}

func TestRoundTrip(t *testing.T) {
	tensors := []Tensor{
		{Name: "conv1.weight", Shape: []int{2, 1, 2, 2}, Data: []float32{1, -2, 3.5, 0, float32(math.Inf(1)), -0.0, 1e-40, math.MaxFloat32}},
		{Name: "bn.num_batches_tracked", Shape: []int{}, Data: []float32{7}},
		{Name: "empty", Shape: []int{0, 3}, Data: []float32{}},
		{Name: "a", Shape: []int{3}, Data: []float32{float32(math.NaN()), 2, 3}},
	}
	meta := map[string]string{"format": "pt", "note": `quotes " and <tags> & ünïcode`}
	var buf bytes.Buffer
	if err := Write(&buf, tensors, meta); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	n := binary.LittleEndian.Uint64(b)
	if n%8 != 0 {
		t.Errorf("header length %d is not a multiple of 8", n)
	}
	if want := 8 + n + 4*(8+1+0+3); uint64(len(b)) != want {
		t.Errorf("file is %d bytes, want %d", len(b), want)
	}
	// Header entries keep the given order (names unpadded JSON, so indexes compare).
	h := string(b[8 : 8+n])
	last := -1
	for _, tn := range tensors {
		i := strings.Index(h, `"`+tn.Name+`"`)
		if i <= last {
			t.Errorf("header %s: %q out of order", h, tn.Name)
		}
		last = i
	}
	f, err := readBytes(b)
	if err != nil {
		t.Fatal(err)
	}
	// Offset order; the empty tensor sits at offset 36 with "bn.num_batches_tracked"
	// ending there, so it sorts after it.
	sameTensors(t, f.Tensors, tensors)
	if len(f.Metadata) != 2 || f.Metadata["note"] != meta["note"] || f.Metadata["format"] != "pt" {
		t.Errorf("metadata %v, want %v", f.Metadata, meta)
	}
	if g, ok := f.Get("a"); !ok || g.Data[1] != 2 {
		t.Errorf("Get(a) = %v, %v", g, ok)
	}
	if _, ok := f.Get("missing"); ok {
		t.Error("Get(missing) found something")
	}
}

func TestReadNoMetadata(t *testing.T) {
	for _, hdr := range []string{
		`{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`,
		`{"__metadata__":null,"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}   `,
	} {
		f, err := readBytes(rawFile(hdr, []byte{0, 0, 0x80, 0x3f}))
		if err != nil {
			t.Fatalf("%s: %v", hdr, err)
		}
		if f.Metadata == nil || len(f.Metadata) != 0 || f.Tensors[0].Data[0] != 1 {
			t.Errorf("%s: got %+v", hdr, f)
		}
	}
	// No tensors at all is a valid file.
	f, err := readBytes(rawFile(`{}`, nil))
	if err != nil || len(f.Tensors) != 0 {
		t.Errorf("empty file: %v, %v", f, err)
	}
}

func TestHalfPrecision(t *testing.T) {
	f16 := []struct {
		bits uint16
		want float32
	}{
		{0x3c00, 1}, {0xc000, -2}, {0x3555, 0.333251953125}, {0x7bff, 65504},
		{0x0400, 1.0 / 16384}, {0x0001, 1.0 / 16777216}, {0x03ff, 1023.0 / 16777216},
		{0x8000, float32(math.Copysign(0, -1))}, {0x7c00, float32(math.Inf(1))},
		{0xfc00, float32(math.Inf(-1))},
	}
	bf16 := []struct {
		bits uint16
		want float32
	}{
		{0x3f80, 1}, {0xc000, -2}, {0x4049, 3.140625}, {0x7f7f, 3.3895314e38},
		{0x0001, math.Float32frombits(0x10000)}, {0x7f80, float32(math.Inf(1))},
		{0x8000, float32(math.Copysign(0, -1))},
	}
	var data []byte
	for _, c := range f16 {
		data = binary.LittleEndian.AppendUint16(data, c.bits)
	}
	for _, c := range bf16 {
		data = binary.LittleEndian.AppendUint16(data, c.bits)
	}
	data = binary.LittleEndian.AppendUint16(data, 0x7e00) // F16 NaN
	data = binary.LittleEndian.AppendUint16(data, 0x7fc0) // BF16 NaN
	nh, nb := 2*len(f16), 2*len(bf16)
	hdr := `{"h":{"dtype":"F16","shape":[` + strconv.Itoa(len(f16)) + `],"data_offsets":[0,` + strconv.Itoa(nh) + `]},` +
		`"b":{"dtype":"BF16","shape":[` + strconv.Itoa(len(bf16)) + `],"data_offsets":[` + strconv.Itoa(nh) + `,` + strconv.Itoa(nh+nb) + `]},` +
		`"hn":{"dtype":"F16","shape":[],"data_offsets":[` + strconv.Itoa(nh+nb) + `,` + strconv.Itoa(nh+nb+2) + `]},` +
		`"bn":{"dtype":"BF16","shape":[1,1],"data_offsets":[` + strconv.Itoa(nh+nb+2) + `,` + strconv.Itoa(nh+nb+4) + `]}}`
	f, err := readBytes(rawFile(hdr, data))
	if err != nil {
		t.Fatal(err)
	}
	h, _ := f.Get("h")
	for i, c := range f16 {
		if math.Float32bits(h.Data[i]) != math.Float32bits(c.want) {
			t.Errorf("F16 %#04x = %g, want %g", c.bits, h.Data[i], c.want)
		}
	}
	b, _ := f.Get("b")
	for i, c := range bf16 {
		if math.Float32bits(b.Data[i]) != math.Float32bits(c.want) {
			t.Errorf("BF16 %#04x = %g, want %g", c.bits, b.Data[i], c.want)
		}
	}
	for _, name := range []string{"hn", "bn"} {
		if g, _ := f.Get(name); !math.IsNaN(float64(g.Data[0])) {
			t.Errorf("%s = %g, want NaN", name, g.Data[0])
		}
	}
}

// TestInt64 writes and reads an I64 tensor (PyTorch's num_batches_tracked)
// between F32 ones: values exact in Int64, rounded in Data.
func TestInt64(t *testing.T) {
	in := []Tensor{
		{Name: "bn.running_var", Shape: []int{2}, Data: []float32{1, 2}},
		{Name: "bn.num_batches_tracked", Shape: []int{}, Int64: []int64{1<<40 + 1}},
		{Name: "v", Shape: []int{2}, Int64: []int64{-3, 7}},
		{Name: "empty", Shape: []int{0}, Int64: []int64{}},
	}
	var buf bytes.Buffer
	if err := Write(&buf, in, nil); err != nil {
		t.Fatal(err)
	}
	if want := `"bn.num_batches_tracked":{"dtype":"I64","shape":[],"data_offsets":[8,16]}`; !strings.Contains(buf.String(), want) {
		t.Fatalf("header lacks %s:\n%s", want, buf.String())
	}
	f, err := readBytes(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if f.Tensors[0].Int64 != nil {
		t.Errorf("F32 tensor read with Int64 %v", f.Tensors[0].Int64)
	}
	for i, want := range in[1:] {
		got := f.Tensors[i+1]
		if got.Int64 == nil || len(got.Int64) != len(want.Int64) || len(got.Data) != len(want.Int64) {
			t.Fatalf("%s: Int64 %v Data %v, want %v", want.Name, got.Int64, got.Data, want.Int64)
		}
		for j, v := range want.Int64 {
			if got.Int64[j] != v || got.Data[j] != float32(v) {
				t.Errorf("%s[%d]: %d (%v), want %d", want.Name, j, got.Int64[j], got.Data[j], v)
			}
		}
	}
	var again bytes.Buffer
	if err := Write(&again, f.Tensors, nil); err != nil || !bytes.Equal(again.Bytes(), buf.Bytes()) {
		t.Errorf("re-encoding differs (%v)", err)
	}
	bad := []Tensor{{Name: "n", Shape: []int{2}, Int64: []int64{1}}}
	if err := Write(&again, bad, nil); err == nil || !strings.Contains(err.Error(), "does not hold 1 values") {
		t.Errorf("short Int64: error %v", err)
	}
}

func TestReadRejects(t *testing.T) {
	four := make([]byte, 4)
	eight := make([]byte, 8)
	ok1 := `"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}`
	cases := []struct {
		name string
		file []byte
		want string // substring of the error
	}{
		{"short", []byte{1, 2, 3}, "too short"},
		{"header past end", append(binary.LittleEndian.AppendUint64(nil, 100), `{}`...), "exceeds the 2 bytes"},
		{"invalid json", rawFile(`{"x":{"dtype":"F32",}}`, four), "header"},
		{"truncated json", rawFile(`{"x":`, four), "header"},
		{"not an object", rawFile(`[1,2]`, nil), "start with '{'"},
		{"leading space", rawFile(` {}`, nil), "start with '{'"},
		{"trailing data", rawFile(`{}{}`, nil), "after the JSON object"},
		{"invalid utf8", rawFile("{\"x\xff\":{}}", nil), "UTF-8"},
		{"unknown dtype", rawFile(`{"x":{"dtype":"F99","shape":[1],"data_offsets":[0,4]}}`, four), `tensor "x": dtype "F99"`},
		{"unsupported dtype", rawFile(`{"x":{"dtype":"I32","shape":[2],"data_offsets":[0,8]}}`, eight), `dtype "I32" is not supported`},
		{"byte count", rawFile(`{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}`, four), `tensor "x": shape [2] of F32 needs 8 bytes`},
		{"bf16 byte count", rawFile(`{"x":{"dtype":"BF16","shape":[1],"data_offsets":[0,4]}}`, four), "needs 2 bytes"},
		{"out of range", rawFile(`{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, four), `tensor "x": data_offsets [0, 8] run past`},
		{"reversed", rawFile(`{"x":{"dtype":"F32","shape":[0],"data_offsets":[4,0]}}`, four), "end before they begin"},
		{"overlap", rawFile(`{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"y":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, eight), `tensor "y": data_offsets [4, 8] overlap tensor "x"`},
		{"hole", rawFile(`{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"y":{"dtype":"F32","shape":[0],"data_offsets":[8,8]}}`, eight), `tensor "y": data_offsets [8, 8] leave bytes [4, 8)`},
		{"hole at start", rawFile(`{"x":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, eight), "leave bytes [0, 4)"},
		{"trailing bytes", rawFile(`{`+ok1+`}`, eight), "cover 4 bytes of the 8-byte"},
		{"duplicate tensor", rawFile(`{`+ok1+`,`+ok1+`}`, eight), `tensor "x": duplicate key`},
		{"duplicate metadata entry", rawFile(`{"__metadata__":{},"__metadata__":{}}`, nil), "duplicate key"},
		{"duplicate field", rawFile(`{"x":{"dtype":"F32","dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, four), `duplicate field "dtype"`},
		{"case variant field", rawFile(`{"x":{"DTYPE":"F32","shape":[1],"data_offsets":[0,4]}}`, four), `unknown field "DTYPE"`},
		{"duplicate metadata key", rawFile(`{"__metadata__":{"a":"1","a":"2"}}`, nil), `duplicate key "a"`},
		{"metadata not string", rawFile(`{"__metadata__":{"a":1}}`, nil), `key "a"`},
		{"metadata not object", rawFile(`{"__metadata__":[]}`, nil), "want an object"},
		{"unknown field", rawFile(`{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"extra":1}}`, four), `unknown field "extra"`},
		{"missing offsets", rawFile(`{"x":{"dtype":"F32","shape":[1]}}`, four), `missing field "data_offsets"`},
		{"missing dtype", rawFile(`{"x":{"shape":[1],"data_offsets":[0,4]}}`, four), `missing field "dtype"`},
		{"missing shape", rawFile(`{"x":{"dtype":"F32","data_offsets":[0,4]}}`, four), `missing field "shape"`},
		{"three offsets", rawFile(`{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4,4]}}`, four), "has 3 values"},
		{"negative dim", rawFile(`{"x":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}`, four), "non-negative integer"},
		{"fractional dim", rawFile(`{"x":{"dtype":"F32","shape":[1.0],"data_offsets":[0,4]}}`, four), "non-negative integer"},
		{"string dim", rawFile(`{"x":{"dtype":"F32","shape":["1"],"data_offsets":[0,4]}}`, four), "non-negative integer"},
		{"huge shape", rawFile(`{"x":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}}`, four), "too large"},
		{"huge offset", rawFile(`{"x":{"dtype":"F32","shape":[1],"data_offsets":[18446744073709551612,18446744073709551616]}}`, four), "non-negative integer"},
		{"entry not object", rawFile(`{"x":[]}`, nil), `tensor "x"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, err := readBytes(c.file)
			if err == nil {
				t.Fatalf("accepted: %+v", f)
			}
			if !errors.Is(err, ErrFormat) {
				t.Errorf("error %v does not match ErrFormat", err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not contain %q", err, c.want)
			}
		})
	}
}

// zeros is an io.ReaderAt of any claimed size that reads only its prefix.
type zeros struct{ prefix []byte }

func (z zeros) ReadAt(p []byte, off int64) (int, error) {
	for i := range p {
		p[i] = 0
		if int(off)+i < len(z.prefix) {
			p[i] = z.prefix[int(off)+i]
		}
	}
	return len(p), nil
}

func TestReadHeaderCap(t *testing.T) {
	prefix := binary.LittleEndian.AppendUint64(nil, MaxHeaderSize+1)
	_, err := Read(zeros{prefix}, 2*MaxHeaderSize)
	if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "limit") {
		t.Errorf("header over the cap: %v", err)
	}
}

func TestReadFileNamesFileAndTensor(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.safetensors")
	bad := rawFile(`{"fc1.weight":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}`, make([]byte, 4))
	if err := os.WriteFile(path, bad, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := ReadFile(path)
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), `"fc1.weight"`) {
		t.Errorf("error %v should name %s and fc1.weight", err, path)
	}
	if !errors.Is(err, ErrFormat) {
		t.Errorf("error %v does not match ErrFormat", err)
	}
	_, err = ReadFile(filepath.Join(t.TempDir(), "missing.safetensors"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

func TestWriteRejects(t *testing.T) {
	cases := []struct {
		name    string
		tensors []Tensor
		meta    map[string]string
		want    string
	}{
		{"duplicate", []Tensor{{Name: "a", Shape: []int{1}, Data: []float32{1}}, {Name: "a", Shape: []int{1}, Data: []float32{1}}}, nil, `tensor "a": duplicate name`},
		{"shape mismatch", []Tensor{{Name: "a", Shape: []int{2, 2}, Data: []float32{1}}}, nil, `tensor "a": shape [2 2] does not hold 1 values`},
		{"negative dim", []Tensor{{Name: "a", Shape: []int{-1}, Data: nil}}, nil, "does not hold"},
		{"reserved", []Tensor{{Name: "__metadata__", Shape: []int{}, Data: []float32{1}}}, nil, "reserved"},
		{"bad utf8 name", []Tensor{{Name: "a\xff", Shape: []int{}, Data: []float32{1}}}, nil, "UTF-8"},
		{"bad utf8 metadata", nil, map[string]string{"k": "\xff"}, "UTF-8"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var buf bytes.Buffer
			err := Write(&buf, c.tensors, c.meta)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want it to contain %q", err, c.want)
			}
			if buf.Len() != 0 {
				t.Errorf("wrote %d bytes before failing", buf.Len())
			}
		})
	}
}

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "m.safetensors")
	one := []Tensor{{Name: "w", Shape: []int{2}, Data: []float32{1, 2}}}
	two := []Tensor{{Name: "v", Shape: []int{1}, Data: []float32{3}}}
	if err := WriteFile(path, one, nil); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(path, two, map[string]string{"epoch": "2"}); err != nil {
		t.Fatal(err)
	}
	f, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sameTensors(t, f.Tensors, two)
	if f.Metadata["epoch"] != "2" {
		t.Errorf("metadata %v", f.Metadata)
	}
	// A failing write leaves the old file and no temporary behind.
	bad := []Tensor{{Name: "x", Shape: []int{3}, Data: []float32{1}}}
	if err := WriteFile(path, bad, nil); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("bad write: %v, want an error naming %s", err, path)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != "m.safetensors" {
		t.Errorf("directory holds %v", entries)
	}
	if f, err := ReadFile(path); err != nil || len(f.Tensors) != 1 || f.Tensors[0].Name != "v" {
		t.Errorf("old file damaged: %v, %v", f, err)
	}
	if err := WriteFile(filepath.Join(dir, "no", "such", "dir.safetensors"), one, nil); err == nil {
		t.Error("write into a missing directory succeeded")
	}
}
