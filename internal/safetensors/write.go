package safetensors

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"unicode/utf8"
)

// Write writes tensors as F32 (I64 where Int64 is not nil) in the order
// given, header entries and data alike, with metadata (may be nil) as the header's __metadata__.
func Write(w io.Writer, tensors []Tensor, metadata map[string]string) error {
	header, err := encodeHeader(tensors, metadata)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(w, 1<<16)
	var lenBuf [8]byte
	binary.LittleEndian.PutUint64(lenBuf[:], uint64(len(header)))
	bw.Write(lenBuf[:])
	bw.Write(header)
	var buf [8]byte
	for _, t := range tensors {
		if t.Int64 != nil {
			for _, v := range t.Int64 {
				binary.LittleEndian.PutUint64(buf[:], uint64(v))
				bw.Write(buf[:])
			}
			continue
		}
		for _, v := range t.Data {
			binary.LittleEndian.PutUint32(buf[:], math.Float32bits(v))
			bw.Write(buf[:4])
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("safetensors: write: %w", err)
	}
	return nil
}

// encodeHeader checks the tensors and returns the space-padded JSON header.
func encodeHeader(tensors []Tensor, metadata map[string]string) ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	if len(metadata) > 0 {
		keys := make([]string, 0, len(metadata))
		for k, v := range metadata {
			if !utf8.ValidString(k) || !utf8.ValidString(v) {
				return nil, formatErr("", "metadata %q is not valid UTF-8", k)
			}
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b.WriteString(`"__metadata__":{`)
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			writeString(&b, k)
			b.WriteByte(':')
			writeString(&b, metadata[k])
		}
		b.WriteByte('}')
	}
	seen := make(map[string]bool, len(tensors))
	var offset uint64
	for i, t := range tensors {
		switch {
		case t.Name == metadataKey:
			return nil, formatErr(t.Name, "name is reserved for metadata")
		case !utf8.ValidString(t.Name):
			return nil, formatErr(t.Name, "name is not valid UTF-8")
		case seen[t.Name]:
			return nil, formatErr(t.Name, "duplicate name")
		}
		seen[t.Name] = true
		dtype, size, n := "F32", uint64(4), len(t.Data)
		if t.Int64 != nil {
			dtype, size, n = "I64", 8, len(t.Int64)
		}
		numel, ok := numElements(t.Shape)
		if !ok || numel != uint64(n) {
			return nil, formatErr(t.Name, "shape %v does not hold %d values", t.Shape, n)
		}
		if i > 0 || len(metadata) > 0 {
			b.WriteByte(',')
		}
		writeString(&b, t.Name)
		b.WriteString(`:{"dtype":"` + dtype + `","shape":[`)
		for j, d := range t.Shape {
			if j > 0 {
				b.WriteByte(',')
			}
			b.WriteString(strconv.Itoa(d))
		}
		end := offset + size*numel
		fmt.Fprintf(&b, `],"data_offsets":[%d,%d]}`, offset, end)
		offset = end
	}
	b.WriteByte('}')
	for b.Len()%8 != 0 {
		b.WriteByte(' ')
	}
	if b.Len() > MaxHeaderSize {
		return nil, formatErr("", "header of %d bytes exceeds the %d-byte limit", b.Len(), MaxHeaderSize)
	}
	return b.Bytes(), nil
}

func writeString(b *bytes.Buffer, s string) {
	q, _ := json.Marshal(s) // a valid UTF-8 string always marshals
	b.Write(q)
}

// WriteFile writes the file atomically: to a temporary file in the same
// directory, synced, then renamed over path, and the directory synced.
func WriteFile(path string, tensors []Tensor, metadata map[string]string) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("safetensors: %w", err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err = Write(f, tensors, metadata); err != nil {
		if fe, ok := err.(*FormatError); ok {
			fe.Path = path
		}
		return err
	}
	if err = f.Chmod(0o644); err != nil {
		return fmt.Errorf("safetensors: %w", err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("safetensors: sync %s: %w", tmp, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("safetensors: close %s: %w", tmp, err)
	}
	if err = os.Rename(tmp, path); err != nil {
		return fmt.Errorf("safetensors: %w", err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("safetensors: sync directory: %w", err)
	}
	defer d.Close()
	if err = d.Sync(); err != nil {
		return fmt.Errorf("safetensors: sync directory %s: %w", dir, err)
	}
	return nil
}
