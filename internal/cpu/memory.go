package cpu

import (
	"encoding/binary"
	"math"

	"github.com/cnnctl/cnnctl/internal/tensor"
)

// buffer is the CPU's memory: a Go slice, data for F32 and half for BF16
// (bfloat16 bits), the other nil.
type buffer struct {
	data []float32
	half []uint16
	dt   tensor.DType
}

// Len is the number of elements in the buffer.
func (b *buffer) Len() int {
	if b.dt == tensor.BF16 {
		return len(b.half)
	}
	return len(b.data)
}

// New allocates a zero-filled F32 tensor.
func (b *Backend) New(s tensor.Shape) *tensor.Tensor { return b.NewTyped(s, tensor.F32) }

// NewTyped allocates a zero-filled tensor of dtype dt.
func (b *Backend) NewTyped(s tensor.Shape, dt tensor.DType) *tensor.Tensor {
	for _, d := range s {
		if d < 0 {
			b.record(b.call("new").errorf("negative dimension in %v", s))
			return &tensor.Tensor{Shape: tensor.Shape{0}, Buf: &buffer{}}
		}
	}
	switch dt {
	case tensor.F32:
		return &tensor.Tensor{Shape: s.Clone(), Buf: &buffer{data: make([]float32, s.Numel())}}
	case tensor.BF16:
		return &tensor.Tensor{Shape: s.Clone(), Buf: &buffer{half: make([]uint16, s.Numel()), dt: dt}, DType: dt}
	}
	b.record(b.call("new").errorf("%v %v: unknown dtype (want f32 or bf16)", s, dt))
	return &tensor.Tensor{Shape: tensor.Shape{0}, Buf: &buffer{}}
}

// Free drops t's buffer; every view of it then has no elements.
func (b *Backend) Free(t *tensor.Tensor) {
	if buf, ok := t.Buf.(*buffer); ok {
		buf.data, buf.half = nil, nil
		return
	}
	b.record(b.call("free").errorf("%v is a %T, not a cpu buffer", t.Shape, t.Buf))
}

// Upload copies src (len t.Numel()) into t.
func (b *Backend) Upload(t *tensor.Tensor, src []float32) {
	c := b.call("upload")
	d := c.data("t", t, 0)
	if !(len(src) == len(d)) {
		c.fail("%d host values for t %v", len(src), t.Shape)
	}
	if c.ok() {
		copy(d, src)
	}
}

// Download copies t into dst (len t.Numel()).
func (b *Backend) Download(dst []float32, t *tensor.Tensor) {
	c := b.call("download")
	d := c.data("t", t, 0)
	if !(len(dst) == len(d)) {
		c.fail("%d host values for t %v", len(dst), t.Shape)
	}
	if c.ok() {
		copy(dst, d)
	}
}

// UploadBytes copies src, t's elements little-endian, into t (any dtype).
func (b *Backend) UploadBytes(t *tensor.Tensor, src []byte) {
	c := b.call("upload bytes")
	v := c.raw("t", t)
	if !(len(src) == t.Numel()*t.DType.Size()) {
		c.fail("%d bytes for t %v %v (%d bytes)", len(src), t.Shape, t.DType, t.Numel()*t.DType.Size())
	}
	if !c.ok() {
		return
	}
	if v.f32 != nil {
		for i := range v.f32 {
			v.f32[i] = math.Float32frombits(binary.LittleEndian.Uint32(src[4*i:]))
		}
		return
	}
	for i := range v.bf16 {
		v.bf16[i] = binary.LittleEndian.Uint16(src[2*i:])
	}
}

// DownloadBytes copies t's elements (any dtype) into dst, little-endian.
func (b *Backend) DownloadBytes(dst []byte, t *tensor.Tensor) {
	c := b.call("download bytes")
	v := c.raw("t", t)
	if !(len(dst) == t.Numel()*t.DType.Size()) {
		c.fail("%d bytes for t %v %v (%d bytes)", len(dst), t.Shape, t.DType, t.Numel()*t.DType.Size())
	}
	if !c.ok() {
		return
	}
	if v.f32 != nil {
		for i, x := range v.f32 {
			binary.LittleEndian.PutUint32(dst[4*i:], math.Float32bits(x))
		}
		return
	}
	for i, h := range v.bf16 {
		binary.LittleEndian.PutUint16(dst[2*i:], h)
	}
}

// Fill sets every element of t to v.
func (b *Backend) Fill(t *tensor.Tensor, v float32) {
	c := b.call("fill")
	d := c.data("t", t, 0)
	if c.ok() {
		for i := range d {
			d[i] = v
		}
	}
}

// Copy copies src into dst; both have the same number of elements and the
// same dtype.
func (b *Backend) Copy(dst, src *tensor.Tensor) {
	c := b.call("copy")
	d, s := c.raw("dst", dst), c.raw("src", src)
	if !(dst.Numel() == src.Numel()) {
		c.fail("dst %v and src %v differ in size", dst.Shape, src.Shape)
	}
	if !(dst.DType == src.DType) {
		c.fail("dst is %v, src %v; use Cast to convert", dst.DType, src.DType)
	}
	if c.ok() {
		copy(d.f32, s.f32)
		copy(d.bf16, s.bf16)
	}
}

// typed is the elements a tensor views, in the slice of its dtype (the
// other nil).
type typed struct {
	f32  []float32
	bf16 []uint16
}

// raw returns the elements t views whatever its dtype, checking that t
// belongs to this backend, agrees with its buffer's dtype and lies inside
// it. Only the ops that move other dtypes call it; every other op calls data.
func (c *call) raw(name string, t *tensor.Tensor) typed {
	if c.err != nil {
		return typed{}
	}
	buf, ok := t.Buf.(*buffer)
	if !ok {
		c.fail("%s (%v) is a %T, not a cpu buffer", name, t.Shape, t.Buf)
		return typed{}
	}
	if t.DType != buf.dt {
		c.fail("%s (%v) says %v but its buffer holds %v", name, t.Shape, t.DType, buf.dt)
		return typed{}
	}
	n, size := t.Numel(), buf.Len()
	if t.Off < 0 || t.Off+n > size {
		c.fail("%s (%v at offset %d) lies outside its buffer of %d elements", name, t.Shape, t.Off, size)
		return typed{}
	}
	if buf.dt == tensor.BF16 {
		return typed{bf16: buf.half[t.Off : t.Off+n : t.Off+n]}
	}
	return typed{f32: buf.data[t.Off : t.Off+n : t.Off+n]}
}

// dtype names t's dtype for an error, and its buffer's where they differ.
func (c *call) dtype(t *tensor.Tensor, buf *buffer) string {
	if t.DType != buf.dt {
		return t.DType.String() + " on a " + buf.dt.String() + " buffer"
	}
	return t.DType.String()
}
