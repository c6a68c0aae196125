//go:build cuda

package gpu

import (
	"gorgonia.org/cu"

	"github.com/cnnctl/cnnctl/internal/tensor"
)

// conv2D is one convolution's geometry: x (N,C,H,W), w (K,C,R,S), y (N,K,OH,OW).
type conv2D struct {
	N, C, H, W, K, R, S, OH, OW int
	p                           tensor.ConvParams
}

// conv reads the geometry from x and w and checks y (N,K,OH,OW) against it.
func (c *call) conv(x, w, y *tensor.Tensor, p tensor.ConvParams) conv2D {
	var g conv2D
	if c.err != nil {
		return g
	}
	g = conv2D{N: x.Shape[0], C: x.Shape[1], H: x.Shape[2], W: x.Shape[3], K: w.Shape[0], R: w.Shape[2], S: w.Shape[3], p: p}
	c.check(w.Shape[1] == g.C, "w %v has %d input channels, x %v has %d", w.Shape, w.Shape[1], x.Shape, g.C)
	c.check(p.StrideH >= 1 && p.StrideW >= 1 && p.PadH >= 0 && p.PadW >= 0,
		"stride %dx%d, padding %dx%d: want strides >= 1 and padding >= 0", p.StrideH, p.StrideW, p.PadH, p.PadW)
	c.check(g.H+2*p.PadH >= g.R && g.W+2*p.PadW >= g.S,
		"kernel %dx%d is larger than the padded input %dx%d", g.R, g.S, g.H+2*p.PadH, g.W+2*p.PadW)
	if c.err == nil {
		g.OH = (g.H+2*p.PadH-g.R)/p.StrideH + 1
		g.OW = (g.W+2*p.PadW-g.S)/p.StrideW + 1
		c.shape("y", y, g.N, g.K, g.OH, g.OW)
	}
	return g
}

// tcShape is g's shape for the TF32 kernels' shape classes
// (shapeclass.go), with aligned: whether the tensors the kernel copies from
// are 16-byte aligned.
func (g conv2D) tcShape(aligned bool) tcShape {
	return tcShape{C: g.C, R: g.R, S: g.S, StrideH: g.p.StrideH, StrideW: g.p.StrideW, PadH: g.p.PadH, PadW: g.p.PadW,
		HW: g.H * g.W, Aligned: aligned}
}

// tcClasses reports whether the tensor-core launchers take the shape
// classes' forms (not Options.NoShapeClasses).
func (b *Backend) tcClasses() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return !b.opts.NoShapeClasses
}

// aligned16 reports whether every pointer of ps is 16-byte aligned.
func aligned16(ps ...cu.DevicePtr) bool {
	for _, p := range ps {
		if uint64(p)%16 != 0 {
			return false
		}
	}
	return true
}

// args are the kernels' CONV_PARAMS.
func (g conv2D) args() []any {
	return []any{g.N, g.C, g.H, g.W, g.K, g.R, g.S, g.OH, g.OW, g.p.StrideH, g.p.StrideW, g.p.PadH, g.p.PadW}
}

// The TF32 and bf16 kernels' block tile and size (TC_BM, TC_BN, TC_THREADS
// in kernels/conv2d_tc.cuh, which conv2d_bf16.cuh's BF_BM, BF_BN and
// BF_THREADS are; TestTF32Tiling holds them equal).
const (
	tcTileM   = 128
	tcTileN   = 64
	tcThreads = 256
)

var _ tensor.ConvEpilogue = (*Backend)(nil)

// Conv2DForward: x (N,C,H,W), w (K,C,R,S), b (K) or nil -> y (N,K,OH,OW), as
// an implicit GEMM Y (K, N*OH*OW) = W (K, C*R*S) · im2col(X), on CUDA cores
// or, with MathTF32 or MathBF16, on tensor cores (Select chose,
// registry.go; under MathTF32 the shape class picks the kernel's form,
// shapeclass.go).
func (b *Backend) Conv2DForward(x, w, bias, y *tensor.Tensor, p tensor.ConvParams) {
	b.convForward("conv2d forward", x, w, bias, y, p, tensor.Epilogue{})
}

// Conv2DForwardEpilogue is Conv2DForward with e applied as each output
// element is stored: + e.Residual (y's shape) when not nil, then ReLU
// when e.ReLU; the same kernels, bit for bit the plain ops' result
// (kernels/epilogue.cuh).
func (b *Backend) Conv2DForwardEpilogue(x, w, bias, y *tensor.Tensor, p tensor.ConvParams, e tensor.Epilogue) {
	b.convForward("conv2d forward epilogue", x, w, bias, y, p, e)
}

func (b *Backend) convForward(op string, x, w, bias, y *tensor.Tensor, p tensor.ConvParams, e tensor.Epilogue) {
	c := b.call(op)
	xp, wp, yp := c.ptr("x", x, 4), c.ptr("w", w, 4), c.ptr("y", y, 4)
	bp, rp := c.opt("b", bias, 1), c.opt("residual", e.Residual, 4)
	g := c.conv(x, w, y, p)
	c.shape("b", bias, g.K)
	if e.Residual != nil {
		c.shape("residual", e.Residual, g.N, g.K, g.OH, g.OW)
		c.check(c.err != nil || rp != yp && rp != xp, "the residual must not be x or y")
	}
	relu := 0
	if e.ReLU {
		relu = 1
	}
	k := b.kernel("conv2d_forward")
	name := b.forwardKernel(k, g, aligned16(xp, wp))
	d := dims{gx: ceilDiv(g.N*g.OH*g.OW, gemmTile), gy: ceilDiv(g.K, gemmTile), gz: 1, block: 256}
	if k.Math.TensorCore() {
		d = dims{gx: ceilDiv(g.N*g.OH*g.OW, tcTileM), gy: ceilDiv(g.K, tcTileN), gz: 1, block: tcThreads}
	}
	c.launch(name, d, append([]any{xp, wp, bp, rp, yp, relu}, g.args()...)...)
}

// forwardKernel is the forward kernel launched for convolution g when k is
// the selected conv2d_forward: the shape class's own where the tensor-core
// launchers take classes (aligned: x and w 16-byte aligned), else k's.
// ConvBatchNormForwardTrain asks it too, so that the fused op's statistics
// form extends exactly the kernel the plain forward would run.
func (b *Backend) forwardKernel(k Kernel, g conv2D, aligned bool) string {
	switch {
	case k.Math == MathTF32 && b.tcClasses():
		return tcForward(g.tcShape(aligned)).Kernel
	case k.Math == MathBF16 && b.tcClasses():
		return bfKernel(k.Slot, g.tcShape(false))
	}
	return k.Name
}

// Conv2DBackwardData: dy (N,K,OH,OW), w (K,C,R,S) -> dx (N,C,H,W), as the
// gather GEMM DX (C, N*H*W) = Wᵀ (C, K*R*S) · D̂Y (K*R*S, N*H*W), on CUDA
// cores or, with MathTF32 or MathBF16, on tensor cores (Select chose,
// registry.go; under MathTF32 the shape class picks the kernel's form,
// shapeclass.go).
func (b *Backend) Conv2DBackwardData(dy, w, dx *tensor.Tensor, p tensor.ConvParams) {
	c := b.call("conv2d backward data")
	dyp, wp, dxp := c.ptr("dy", dy, 4), c.ptr("w", w, 4), c.ptr("dx", dx, 4)
	g := c.conv(dx, w, dy, p)
	k := b.kernel("conv2d_backward_data")
	name := k.Name
	d := dims{gx: ceilDiv(g.N*g.H*g.W, gemmTile), gy: ceilDiv(g.C, gemmTile), gz: 1, block: 256}
	if k.Math.TensorCore() {
		if k.Math == MathTF32 && b.tcClasses() {
			name = tcBackward(k.Slot, g.tcShape(aligned16(dyp)))
		} else if k.Math == MathBF16 && b.tcClasses() {
			name = bfKernel(k.Slot, g.tcShape(false))
		}
		d = dims{gx: ceilDiv(g.N*g.H*g.W, tcTileM), gy: ceilDiv(g.C, tcTileN), gz: 1, block: tcThreads}
	}
	c.launch(name, d, append([]any{dyp, wp, dxp}, g.args()...)...)
}

// Conv2DBackwardFilter: x (N,C,H,W), dy (N,K,OH,OW) -> dw (K,C,R,S), db (K)
// or nil. DW (K, C*R*S) = DY (K, N*OH*OW) · im2col(X)ᵀ with the long
// reduction split over blocks into a scratch slab per split, then summed in
// a fixed order (deterministic); on CUDA cores or, with MathTF32 or
// MathBF16, on tensor cores (Select chose, registry.go; under MathTF32 the
// shape class picks the kernel's form, shapeclass.go).
func (b *Backend) Conv2DBackwardFilter(x, dy, dw, db *tensor.Tensor, p tensor.ConvParams) {
	c := b.call("conv2d backward filter")
	xp, dyp, dwp := c.ptr("x", x, 4), c.ptr("dy", dy, 4), c.ptr("dw", dw, 4)
	dbp := c.opt("db", db, 1)
	g := c.conv(x, dw, dy, p)
	c.shape("db", db, g.K)
	crs, kd := g.C*g.R*g.S, g.N*g.OH*g.OW
	k := b.kernel("conv2d_backward_filter")
	name := k.Name
	if k.Math == MathTF32 && b.tcClasses() {
		name = tcBackward(k.Slot, g.tcShape(aligned16(xp, dyp)))
	} else if k.Math == MathBF16 && b.tcClasses() {
		name = bfKernel(k.Slot, g.tcShape(false))
	}
	tiles := ceilDiv(crs, gemmTile) * ceilDiv(g.K, gemmTile)
	splits := splitK(tiles, kd, b.info.SMs)
	d := dims{gx: ceilDiv(crs, gemmTile), gy: ceilDiv(g.K, gemmTile), gz: splits, block: 256}
	if k.Math.TensorCore() {
		splits = splitK(ceilDiv(g.K, tcTileM)*ceilDiv(crs, tcTileN), kd, b.info.SMs)
		d = dims{gx: ceilDiv(g.K, tcTileM), gy: ceilDiv(crs, tcTileN), gz: splits, block: tcThreads}
	}
	slots := c.kernelArgs(append([]any{xp, dyp, cu.DevicePtr(0)}, g.args()...))
	sum := c.kernelArgs([]any{cu.DevicePtr(0), dwp, splits, int64(g.K * crs)})
	bias := c.kernelArgs([]any{dyp, dbp, g.N, g.K, g.OH * g.OW})
	if !c.ok() {
		return
	}
	b.do(c.op, func() {
		if splits == 1 {
			slots[2] = uint64(dwp)
			c.launchHere(name, d, slots)
		} else {
			ws, release, ok := c.scratch(int64(splits) * int64(g.K*crs) * 4)
			if !ok {
				return
			}
			slots[2], sum[0] = uint64(ws), uint64(ws)
			c.launchHere(name, d, slots)
			c.launchHere("sum_splits", b.grid1D(g.K*crs), sum)
			release()
		}
		if db != nil {
			c.launchHere("conv2d_backward_bias", dims{gx: g.K, gy: 1, gz: 1, block: 256}, bias)
		}
	})
}
