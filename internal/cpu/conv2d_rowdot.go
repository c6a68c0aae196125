package cpu

import "github.com/cnnctl/cnnctl/internal/gemm"

// The row-dot convolution: for a forward pass with only a few output
// pixels in the whole batch (VGG's 2x2 and 4x4 layers at batch 1: 4 or 16
// pixels against weights of 512×4608 floats, 9.4 MB), the im2col product
// y = w · col has so few columns that gemm's tiles, 32 columns wide, are
// mostly empty, and w is packed (a second pass over it) to feed them. Here
// the product is transposed, yᵀ (N·OH·OW, K) = colᵀ · wᵀ: the pixels are
// the rows and K the full-width columns. Up to 4 pixels that is gemm's
// row-dot path, which streams w once as stored. colᵀ and yᵀ are a few
// thousand floats.

// rowDotMaxPixels is the most output pixels (over the batch) for which the
// forward takes the row-dot path. Measured (BenchmarkConv vgg512x2b1 and
// vgg512x4b1, GFLOP per CPU-second): 2x2 at batch 1 48 against im2col's 9,
// 4x4 48 against 36.
const rowDotMaxPixels = 16

// rowDotMode forces the row-dot path on (1) or off (-1) for tests and
// benchmarks; 0 leaves the choice to rowDotForward.
var rowDotMode = 0

// rowDotForward reports whether g's forward takes the row-dot path.
func (g *conv2D) rowDotForward() bool {
	if rowDotMode != 0 {
		return rowDotMode > 0
	}
	return g.N*g.OH*g.OW <= rowDotMaxPixels
}

// conv2DRowDotForward: x (N,C,H,W), w (K,C*R*S), b (K) or nil -> y (N,K,OH,OW).
func (b *Backend) conv2DRowDotForward(g *conv2D, xd, wd, bd, yd []float32) {
	crs, ohw, chw := g.C*g.R*g.S, g.OH*g.OW, g.C*g.H*g.W
	m := g.N * ohw
	// col (C*R*S, N*OH*OW): column n*OH*OW + p is pixel p of image n.
	col := b.bufs(slotCol, 1, crs*m)[0]
	for n := range g.N {
		g.im2colFast(xd[n*chw:(n+1)*chw], col[n*ohw:], m)
	}
	// colT (N*OH*OW, C*R*S) and yT (N*OH*OW, K) share the gather slot.
	buf := b.bufs(slotGather, 1, m*crs+m*g.K)[0]
	colT, yT := buf[:m*crs], buf[m*crs:]
	for q := range crs {
		for p, v := range col[q*m : (q+1)*m] {
			colT[p*crs+q] = v
		}
	}
	gemm.Sgemm(false, true, m, g.K, crs, 1, colT, crs, wd, crs, 0, yT, g.K)
	for n := range g.N {
		for k := range g.K {
			var bias float32
			if bd != nil {
				bias = bd[k]
			}
			dst := yd[(n*g.K+k)*ohw : (n*g.K+k+1)*ohw]
			for p := range dst {
				dst[p] = yT[(n*ohw+p)*g.K+k] + bias
			}
		}
	}
}
