// Package safetensors reads and writes the safetensors tensor file format
// (https://github.com/huggingface/safetensors), the format cnnctl exchanges
// weights in with PyTorch.
//
// A file is an 8-byte little-endian u64 N, then N bytes of UTF-8 JSON, then
// the data section:
//
//	{"NAME": {"dtype": "F32", "shape": [6, 3, 5, 5], "data_offsets": [BEGIN, END]},
//	 ..., "__metadata__": {"key": "value", ...}}
//
// Offsets count bytes from the start of the data section; the tensors must
// cover it exactly, without overlaps or holes. Data is little-endian,
// row-major.
//
// Write produces F32 (and I64 for tensors given as Int64, such as PyTorch's
// int64 BatchNorm num_batches_tracked), in the order given, with the header
// padded with spaces to a multiple of 8 bytes. Read accepts F32, F16, BF16
// and I64 and returns float32 (I64 tensors also as Int64). Read is strict: it rejects anything the specification
// does not allow (see FormatError), so every file it accepts can be written
// back by Write.
//
// The maintained Go package github.com/nlpodyssey/safetensors was
// considered: it reorders tensors by name when writing, keeps the last of
// duplicate JSON keys and converts no dtypes, so this small package is used
// instead.
package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxHeaderSize is the largest JSON header Read accepts, in bytes (the
// reference implementation's limit).
const MaxHeaderSize = 100_000_000

// metadataKey is the reserved header entry that holds string metadata.
const metadataKey = "__metadata__"

// ErrFormat is matched (errors.Is) by every error that reports a malformed
// file, as opposed to an I/O failure.
var ErrFormat = errors.New("invalid safetensors file")

// FormatError describes a malformed file or an invalid tensor to write.
type FormatError struct {
	Path   string // the file, when known
	Tensor string // the tensor concerned, "" for header-wide problems
	Reason string
}

func (e *FormatError) Error() string {
	var b strings.Builder
	b.WriteString("safetensors: ")
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	if e.Tensor != "" {
		fmt.Fprintf(&b, "tensor %q: ", e.Tensor)
	}
	b.WriteString(e.Reason)
	return b.String()
}

// Is makes errors.Is(err, ErrFormat) true for a *FormatError.
func (e *FormatError) Is(target error) bool { return target == ErrFormat }

func formatErr(tensor, format string, args ...any) error {
	return &FormatError{Tensor: tensor, Reason: fmt.Sprintf(format, args...)}
}

// Tensor is one named tensor, its data row-major.
type Tensor struct {
	Name  string
	Shape []int
	Data  []float32
	// Int64, when not nil, makes the tensor an I64 one: Write writes these
	// values and ignores Data. Read fills it for I64 tensors, and Data with
	// the same values rounded to float32.
	Int64 []int64
}

// File is the content of a safetensors file.
type File struct {
	// Tensors in the order of their data in the file.
	Tensors []Tensor
	// Metadata is the header's __metadata__ (empty, never nil, if absent).
	Metadata map[string]string
}

// Get returns the tensor called name.
func (f *File) Get(name string) (Tensor, bool) {
	for _, t := range f.Tensors {
		if t.Name == name {
			return t, true
		}
	}
	return Tensor{}, false
}

// dtypeSizes lists the dtypes Read converts, with their size in bytes.
var dtypeSizes = map[string]int{"F32": 4, "F16": 2, "BF16": 2, "I64": 8}

// entry is one tensor's header record.
type entry struct {
	name       string
	dtype      string
	shape      []int
	begin, end uint64
}

// ReadFile reads and validates a whole safetensors file.
func ReadFile(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	file, err := Read(f, st.Size())
	if err != nil {
		var fe *FormatError
		if errors.As(err, &fe) {
			fe.Path = path
			return nil, fe
		}
		return nil, fmt.Errorf("safetensors: read %s: %w", path, err)
	}
	return file, nil
}

// Read reads and validates the size bytes of a safetensors file from r.
func Read(r io.ReaderAt, size int64) (*File, error) {
	if size < 8 {
		return nil, formatErr("", "file is %d bytes, too short for the 8-byte header length", size)
	}
	var lenBuf [8]byte
	if _, err := r.ReadAt(lenBuf[:], 0); err != nil {
		return nil, fmt.Errorf("read header length: %w", err)
	}
	n := binary.LittleEndian.Uint64(lenBuf[:])
	if n > MaxHeaderSize {
		return nil, formatErr("", "header length %d exceeds the %d-byte limit", n, MaxHeaderSize)
	}
	if n > uint64(size-8) {
		return nil, formatErr("", "header length %d exceeds the %d bytes after it", n, size-8)
	}
	header := make([]byte, n)
	if _, err := readAt(r, header, 8); err != nil {
		return nil, fmt.Errorf("read header: %w", err)
	}
	entries, meta, err := parseHeader(header)
	if err != nil {
		return nil, err
	}
	dataStart := 8 + int64(n)
	if err := checkLayout(entries, uint64(size-dataStart)); err != nil {
		return nil, err
	}

	file := &File{Tensors: make([]Tensor, len(entries)), Metadata: meta}
	for i, e := range entries {
		raw := make([]byte, e.end-e.begin)
		if _, err := readAt(r, raw, dataStart+int64(e.begin)); err != nil {
			return nil, fmt.Errorf("read tensor %q: %w", e.name, err)
		}
		file.Tensors[i] = Tensor{Name: e.name, Shape: e.shape, Data: decode(e.dtype, raw)}
		if e.dtype == "I64" {
			file.Tensors[i].Int64 = decodeInt64(raw)
		}
	}
	return file, nil
}

// readAt is r.ReadAt except that an empty read always succeeds (some
// readers report io.EOF for an empty read at the end).
func readAt(r io.ReaderAt, p []byte, off int64) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	return r.ReadAt(p, off)
}

// checkLayout sorts entries by offset and checks that each tensor's byte
// count matches its shape and that the tensors tile [0, dataLen) exactly.
func checkLayout(entries []entry, dataLen uint64) error {
	for _, e := range entries {
		if e.begin > e.end {
			return formatErr(e.name, "data_offsets [%d, %d] end before they begin", e.begin, e.end)
		}
		if e.end > dataLen {
			return formatErr(e.name, "data_offsets [%d, %d] run past the %d-byte data section",
				e.begin, e.end, dataLen)
		}
		numel, ok := numElements(e.shape)
		size := uint64(dtypeSizes[e.dtype])
		if !ok || numel > math.MaxUint64/size {
			return formatErr(e.name, "shape %v is too large", e.shape)
		}
		if want := numel * size; e.end-e.begin != want {
			return formatErr(e.name, "shape %v of %s needs %d bytes, data_offsets [%d, %d] hold %d",
				e.shape, e.dtype, want, e.begin, e.end, e.end-e.begin)
		}
	}
	sort.SliceStable(entries, func(i, j int) bool {
		if entries[i].begin != entries[j].begin {
			return entries[i].begin < entries[j].begin
		}
		return entries[i].end < entries[j].end
	})
	var pos uint64
	prev := ""
	for _, e := range entries {
		switch {
		case e.begin < pos:
			return formatErr(e.name, "data_offsets [%d, %d] overlap tensor %q, which ends at %d",
				e.begin, e.end, prev, pos)
		case e.begin > pos:
			return formatErr(e.name, "data_offsets [%d, %d] leave bytes [%d, %d) of the data section unused",
				e.begin, e.end, pos, e.begin)
		}
		pos, prev = e.end, e.name
	}
	if pos != dataLen {
		return formatErr("", "tensors cover %d bytes of the %d-byte data section", pos, dataLen)
	}
	return nil
}

// numElements multiplies out shape; ok is false on overflow.
func numElements(shape []int) (n uint64, ok bool) {
	n = 1
	for _, d := range shape {
		if d == 0 {
			return 0, true
		}
	}
	for _, d := range shape {
		if d < 0 || n > math.MaxInt64/uint64(d) {
			return 0, false
		}
		n *= uint64(d)
	}
	return n, true
}

// decode converts little-endian raw data of a supported dtype to float32.
func decode(dtype string, raw []byte) []float32 {
	switch dtype {
	case "F32":
		out := make([]float32, len(raw)/4)
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
		}
		return out
	case "I64":
		out := make([]float32, len(raw)/8)
		for i := range out {
			out[i] = float32(int64(binary.LittleEndian.Uint64(raw[8*i:])))
		}
		return out
	case "F16":
		out := make([]float32, len(raw)/2)
		for i := range out {
			out[i] = f16ToF32(binary.LittleEndian.Uint16(raw[2*i:]))
		}
		return out
	default: // BF16
		out := make([]float32, len(raw)/2)
		for i := range out {
			out[i] = bf16ToF32(binary.LittleEndian.Uint16(raw[2*i:]))
		}
		return out
	}
}

// decodeInt64 converts little-endian I64 data.
func decodeInt64(raw []byte) []int64 {
	out := make([]int64, len(raw)/8)
	for i := range out {
		out[i] = int64(binary.LittleEndian.Uint64(raw[8*i:]))
	}
	return out
}

// f16ToF32 converts an IEEE 754 binary16 value exactly.
func f16ToF32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f: // Inf, NaN (payload kept)
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	case exp == 0: // zero, subnormal: mant * 2^-24, exact in float32
		f := float32(mant) / (1 << 24)
		if sign != 0 {
			f = -f
		}
		return f
	default:
		return math.Float32frombits(sign | (exp+127-15)<<23 | mant<<13)
	}
}

// bf16ToF32 converts a bfloat16 value: its bits are float32's top half.
func bf16ToF32(b uint16) float32 { return math.Float32frombits(uint32(b) << 16) }

// parseHeader decodes the JSON header strictly: an object of tensor entries
// and an optional __metadata__ object of strings, no duplicate keys at any
// level, no unknown or missing fields, nothing after the object but spaces.
func parseHeader(header []byte) ([]entry, map[string]string, error) {
	if !utf8.Valid(header) {
		return nil, nil, formatErr("", "header is not valid UTF-8")
	}
	if len(header) == 0 || header[0] != '{' {
		return nil, nil, formatErr("", "header does not start with '{'")
	}
	dec := json.NewDecoder(bytes.NewReader(header))
	dec.UseNumber()
	if err := expectDelim(dec, '{'); err != nil {
		return nil, nil, formatErr("", "%v", err)
	}
	var entries []entry
	meta := map[string]string{}
	seen := map[string]bool{}
	for dec.More() {
		key, err := stringToken(dec)
		if err != nil {
			return nil, nil, formatErr("", "%v", err)
		}
		if seen[key] {
			return nil, nil, formatErr(key, "duplicate key in header")
		}
		seen[key] = true
		if key == metadataKey {
			if meta, err = parseMetadata(dec); err != nil {
				return nil, nil, formatErr("", "__metadata__: %v", err)
			}
			continue
		}
		e, err := parseEntry(dec)
		if err != nil {
			return nil, nil, formatErr(key, "%v", err)
		}
		e.name = key
		entries = append(entries, e)
	}
	if err := expectDelim(dec, '}'); err != nil {
		return nil, nil, formatErr("", "%v", err)
	}
	if tok, err := dec.Token(); err != io.EOF {
		if err == nil {
			err = fmt.Errorf("unexpected %v", tok)
		}
		return nil, nil, formatErr("", "header: data after the JSON object: %v", err)
	}
	return entries, meta, nil
}

// parseMetadata decodes __metadata__: null or an object of string values.
func parseMetadata(dec *json.Decoder) (map[string]string, error) {
	meta := map[string]string{}
	tok, err := token(dec)
	if err != nil {
		return nil, err
	}
	if tok == nil {
		return meta, nil
	}
	if tok != json.Delim('{') {
		return nil, fmt.Errorf("want an object, got %v", tok)
	}
	for dec.More() {
		key, err := stringToken(dec)
		if err != nil {
			return nil, err
		}
		if _, dup := meta[key]; dup {
			return nil, fmt.Errorf("duplicate key %q", key)
		}
		val, err := stringToken(dec)
		if err != nil {
			return nil, fmt.Errorf("key %q: %v", key, err)
		}
		meta[key] = val
	}
	return meta, expectDelim(dec, '}')
}

// parseEntry decodes {"dtype": ..., "shape": [...], "data_offsets": [b, e]}.
func parseEntry(dec *json.Decoder) (entry, error) {
	var e entry
	if err := expectDelim(dec, '{'); err != nil {
		return e, err
	}
	seen := map[string]bool{}
	for dec.More() {
		field, err := stringToken(dec)
		if err != nil {
			return e, err
		}
		if seen[field] {
			return e, fmt.Errorf("duplicate field %q", field)
		}
		seen[field] = true
		switch field {
		case "dtype":
			if e.dtype, err = stringToken(dec); err != nil {
				return e, fmt.Errorf("dtype: %v", err)
			}
			if _, ok := dtypeSizes[e.dtype]; !ok {
				return e, fmt.Errorf("dtype %q is not supported (F32, F16, BF16 and I64 are)", e.dtype)
			}
		case "shape":
			dims, err := uintArray(dec)
			if err != nil {
				return e, fmt.Errorf("shape: %v", err)
			}
			e.shape = make([]int, len(dims))
			for i, d := range dims {
				if d > math.MaxInt64 {
					return e, fmt.Errorf("shape: dimension %d too large", d)
				}
				e.shape[i] = int(d)
			}
		case "data_offsets":
			offs, err := uintArray(dec)
			if err != nil {
				return e, fmt.Errorf("data_offsets: %v", err)
			}
			if len(offs) != 2 {
				return e, fmt.Errorf("data_offsets has %d values, want 2", len(offs))
			}
			e.begin, e.end = offs[0], offs[1]
		default:
			return e, fmt.Errorf("unknown field %q", field)
		}
	}
	for _, f := range []string{"dtype", "shape", "data_offsets"} {
		if !seen[f] {
			return e, fmt.Errorf("missing field %q", f)
		}
	}
	return e, expectDelim(dec, '}')
}

// uintArray decodes a JSON array of non-negative integers.
func uintArray(dec *json.Decoder) ([]uint64, error) {
	if err := expectDelim(dec, '['); err != nil {
		return nil, err
	}
	out := []uint64{}
	for dec.More() {
		tok, err := token(dec)
		if err != nil {
			return nil, err
		}
		num, ok := tok.(json.Number)
		if !ok {
			return nil, fmt.Errorf("want a non-negative integer, got %v", tok)
		}
		v, err := strconv.ParseUint(string(num), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("want a non-negative integer, got %s", num)
		}
		out = append(out, v)
	}
	return out, expectDelim(dec, ']')
}

// token is dec.Token with errors that say they come from the header JSON.
func token(dec *json.Decoder) (json.Token, error) {
	tok, err := dec.Token()
	if err == io.EOF {
		return nil, errors.New("header JSON ends early")
	}
	if err != nil {
		return nil, fmt.Errorf("header JSON: %v", err)
	}
	return tok, nil
}

func stringToken(dec *json.Decoder) (string, error) {
	tok, err := token(dec)
	if err != nil {
		return "", err
	}
	s, ok := tok.(string)
	if !ok {
		return "", fmt.Errorf("want a string, got %v", tok)
	}
	return s, nil
}

func expectDelim(dec *json.Decoder, want json.Delim) error {
	tok, err := token(dec)
	if err != nil {
		return err
	}
	if tok != want {
		return fmt.Errorf("want %q, got %v", want, tok)
	}
	return nil
}
