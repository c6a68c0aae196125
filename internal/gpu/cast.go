//go:build cuda

package gpu

import (
	"unsafe"

	"gorgonia.org/cu"

	"github.com/cnnctl/cnnctl/internal/tensor"
)

// Cast converts src into dst (same element count): f32 -> bf16 rounds to
// nearest, ties to even, NaN kept (kernels/cast.cu, tensor.ToBF16's bits);
// bf16 -> f32 widens exactly; the same dtype copies.
func (b *Backend) Cast(dst, src *tensor.Tensor) {
	c := b.call("cast")
	dp, sp := c.raw("dst", dst, 0), c.raw("src", src, 0)
	c.check(c.err != nil || dst.Numel() == src.Numel(), "dst %v and src %v differ in size", dst.Shape, src.Shape)
	if c.err == nil && dst.DType == src.DType {
		b.Copy(dst, src)
		return
	}
	name := "cast_f32_bf16"
	if c.err == nil && src.DType == tensor.BF16 {
		name = "cast_bf16_f32"
	}
	c.launch(name, b.grid1D(src.Numel()), dp, sp, int64(src.Numel()))
}

// UploadBytes copies src, t's elements little-endian (any dtype), into t,
// in stream order (as Upload).
func (b *Backend) UploadBytes(t *tensor.Tensor, src []byte) {
	c := b.call("upload bytes")
	ptr := c.raw("t", t, 0)
	c.check(c.err != nil || len(src) == t.Numel()*t.DType.Size(), "%d bytes for %v %v (%d bytes)", len(src), t.Shape, t.DType, t.Numel()*t.DType.Size())
	if !c.ok() || len(src) == 0 {
		return
	}
	b.do(c.op, func() {
		c.driver("copy to device", cu.MemcpyHtoDAsync(ptr, unsafe.Pointer(&src[0]), int64(len(src)), b.stream))
	})
}

// DownloadBytes copies t's elements (any dtype) into dst, little-endian,
// waiting for the work queued before.
func (b *Backend) DownloadBytes(dst []byte, t *tensor.Tensor) {
	c := b.call("download bytes")
	ptr := c.raw("t", t, 0)
	c.check(c.err != nil || len(dst) == t.Numel()*t.DType.Size(), "%d bytes for %v %v (%d bytes)", len(dst), t.Shape, t.DType, t.Numel()*t.DType.Size())
	if !c.ok() || len(dst) == 0 {
		return
	}
	b.do(c.op, func() {
		c.driver("copy to host", cu.MemcpyDtoHAsync(unsafe.Pointer(&dst[0]), ptr, int64(len(dst)), b.stream))
	})
}
