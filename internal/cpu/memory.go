package cpu

import (
	"github.com/cnnctl/cnnctl/internal/tensor"
)

// buffer is the CPU's memory: a Go slice.
type buffer struct{ data []float32 }

// Len is the number of float32 elements in the buffer.
func (b *buffer) Len() int { return len(b.data) }

// New allocates a zero-filled tensor.
func (b *Backend) New(s tensor.Shape) *tensor.Tensor {
	for _, d := range s {
		if d < 0 {
			b.record(b.call("new").errorf("negative dimension in %v", s))
			return &tensor.Tensor{Shape: tensor.Shape{0}, Buf: &buffer{}}
		}
	}
	return &tensor.Tensor{Shape: s.Clone(), Buf: &buffer{data: make([]float32, s.Numel())}}
}

// Free drops t's buffer; every view of it then has no elements.
func (b *Backend) Free(t *tensor.Tensor) {
	if buf, ok := t.Buf.(*buffer); ok {
		buf.data = nil
		return
	}
	b.record(b.call("free").errorf("%v is a %T, not a cpu buffer", t.Shape, t.Buf))
}

// Upload copies src (len t.Numel()) into t.
func (b *Backend) Upload(t *tensor.Tensor, src []float32) {
	c := b.call("upload")
	d := c.data("t", t, 0)
	c.check(len(src) == len(d), "%d host values for t %v", len(src), t.Shape)
	if c.ok() {
		copy(d, src)
	}
}

// Download copies t into dst (len t.Numel()).
func (b *Backend) Download(dst []float32, t *tensor.Tensor) {
	c := b.call("download")
	d := c.data("t", t, 0)
	c.check(len(dst) == len(d), "%d host values for t %v", len(dst), t.Shape)
	if c.ok() {
		copy(dst, d)
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

// Copy copies src into dst; both have the same number of elements.
func (b *Backend) Copy(dst, src *tensor.Tensor) {
	c := b.call("copy")
	d := c.data("dst", dst, 0)
	s := c.data("src", src, 0)
	c.check(len(d) == len(s), "dst %v and src %v differ in size", dst.Shape, src.Shape)
	if c.ok() {
		copy(d, s)
	}
}
