//go:build cuda

package gpu

import (
	"gorgonia.org/cu"

	"github.com/cnnctl/cnnctl/internal/tensor"
)

// LinearForward: x (N,I), w (O,I), b (O) or nil -> y (N,O) = x·wᵀ + b, on
// CUDA cores or, with MathTF32, on tensor cores through the TF32
// convolutions' GEMM core with row-major loaders (kernels/conv2d_tc.cu),
// with MathBF16 through the bf16 convolutions' (kernels/gemm_bf16.cu: the
// linear as a 1x1 convolution on 1x1 images); Select chose, registry.go.
func (b *Backend) LinearForward(x, w, bias, y *tensor.Tensor) {
	c := b.call("linear forward")
	xp, wp, yp := c.ptr("x", x, 2), c.ptr("w", w, 2), c.ptr("y", y, 2)
	bp := c.opt("b", bias, 1)
	if c.err != nil {
		c.ok()
		return
	}
	n, in, out := x.Shape[0], x.Shape[1], w.Shape[0]
	c.shape("w", w, out, in)
	c.shape("b", bias, out)
	c.shape("y", y, n, out)
	k := b.kernel("linear_forward")
	d := dims{gx: ceilDiv(out, gemmTile), gy: ceilDiv(n, gemmTile), gz: 1, block: 256}
	if k.Math.TensorCore() {
		d = dims{gx: ceilDiv(n, tcTileM), gy: ceilDiv(out, tcTileN), gz: 1, block: tcThreads}
	}
	c.launch(k.Name, d, xp, wp, bp, yp, n, in, out)
}

// LinearBackward: x (N,I), w (O,I), dy (N,O) -> dx (N,I) or nil, dw (O,I),
// db (O) or nil. dx = dy·w; dw = dyᵀ·x (reduction over N split over blocks
// when the output is small, in a fixed order); db = Σ_n dy (float32 in
// every math). With MathTF32 or MathBF16 dx and dw run on tensor cores as
// the forward does (Select chose).
func (b *Backend) LinearBackward(x, w, dy, dx, dw, db *tensor.Tensor) {
	c := b.call("linear backward")
	xp, wp, dyp, dwp := c.ptr("x", x, 2), c.ptr("w", w, 2), c.ptr("dy", dy, 2), c.ptr("dw", dw, 2)
	dxp, dbp := c.opt("dx", dx, 2), c.opt("db", db, 1)
	if c.err != nil {
		c.ok()
		return
	}
	n, in, out := x.Shape[0], x.Shape[1], w.Shape[0]
	c.shape("w", w, out, in)
	c.shape("dy", dy, n, out)
	c.shape("dx", dx, n, in)
	c.shape("dw", dw, out, in)
	c.shape("db", db, out)
	kd, kf := b.kernel("linear_backward_data"), b.kernel("linear_backward_filter")
	dd := dims{gx: ceilDiv(in, gemmTile), gy: ceilDiv(n, gemmTile), gz: 1, block: 256}
	if kd.Math.TensorCore() {
		dd = dims{gx: ceilDiv(n, tcTileM), gy: ceilDiv(in, tcTileN), gz: 1, block: tcThreads}
	}
	splits := splitK(ceilDiv(in, gemmTile)*ceilDiv(out, gemmTile), n, b.info.SMs)
	df := dims{gx: ceilDiv(in, gemmTile), gy: ceilDiv(out, gemmTile), gz: splits, block: 256}
	if kf.Math.TensorCore() {
		splits = splitK(ceilDiv(out, tcTileM)*ceilDiv(in, tcTileN), n, b.info.SMs)
		df = dims{gx: ceilDiv(out, tcTileM), gy: ceilDiv(in, tcTileN), gz: splits, block: tcThreads}
	}
	data := c.kernelArgs([]any{dyp, wp, dxp, n, in, out})
	filt := c.kernelArgs([]any{xp, dyp, cu.DevicePtr(0), n, in, out})
	sum := c.kernelArgs([]any{cu.DevicePtr(0), dwp, splits, int64(out * in)})
	bias := c.kernelArgs([]any{dyp, dbp, n, out})
	if !c.ok() {
		return
	}
	b.do(c.op, func() {
		if dx != nil {
			c.launchHere(kd.Name, dd, data)
		}
		if splits == 1 {
			filt[2] = uint64(dwp)
			c.launchHere(kf.Name, df, filt)
		} else {
			ws, release, ok := c.scratch(int64(splits) * int64(out*in) * 4)
			if !ok {
				return
			}
			filt[2], sum[0] = uint64(ws), uint64(ws)
			c.launchHere(kf.Name, df, filt)
			c.launchHere("sum_splits", b.grid1D(out*in), sum)
			release()
		}
		if db != nil {
			c.launchHere("linear_backward_bias", b.grid1D(out), bias)
		}
	})
}
