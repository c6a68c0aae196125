package cpu

import (
	"github.com/cnnctl/cnnctl/internal/gemm"
	"github.com/cnnctl/cnnctl/internal/parallel"
)

// The per-tap convolutions, for small outputs with many channels (VGG's
// 8x8, 4x4 and 2x2 layers, AlexNet's last three). A convolution is the sum
// over its kernel taps t = (r, s) of one product per tap: with the images
// as pixel rows (row n*H*W+i holds the C channels of pixel i of image n),
//
//	Y[n, o] += X[n, i] · W_t        for each output pixel o whose input
//	                                 pixel i under tap t is in the image
//
// where W_t (C × K) is the kernel's tap t. Only those pixel pairs are
// multiplied: at 4x4 with padding 1 a 3x3 kernel has 6.25 of its 9 taps
// inside the image on average, 4 at 2x2, and im2col's product multiplies
// the rest by zeros; the indirect path also computes the padded columns
// (a fifth of the work at 8x8). Each tap's product is C (or K) deep, long
// enough for the micro-kernel, and the rows it reads and writes are
// gathered and scattered one pixel (C or K contiguous values) at a time,
// a copy per C·K multiply-adds.
//
// The backward passes are the same sums the other way: dX[n, i] += dY[n, o]
// · W_tᵀ, and dW_t += X[n, i]ᵀ · dY[n, o] summed over the batch.
//
// The batch is cut into chunks of up to tapChunkRows output pixels, each
// computed wholly by one worker. A forward or backward-data output row is
// the same sum whichever chunk holds it, so those bits do not depend on
// the number of threads; the filter gradient is summed per worker and the
// workers' sums added in worker order, as on the im2col path.

// tapMode forces the per-tap path on (1) or off (-1) for tests and
// benchmarks; 0 lets tapPath decide.
var tapMode = 0

// tapChunkRows is the number of output pixels (images × OH*OW) a chunk
// aims for: its pixel rows stay in the L2 cache between the taps. 128,
// 512 and 1024 measured no better on VGG's 8x8, 4x4 and 2x2 layers.
const tapChunkRows = 256

// tapPath reports whether g runs on the per-tap path: outputs of at most
// 8x8, at least 128 channels in and out, and a batch of at least 256
// output pixels (smaller batches keep the latency paths). BenchmarkConv
// auto, batch 128, 2 threads, two alternating runs of the test binaries
// before and after, per-tap time over the earlier choice (forward,
// backward data, filter): vgg512x4 0.64-0.67, 0.49-0.50, 0.74-0.76
// (im2col, per-pixel, per-pixel); vgg512x2 0.61-1.01, 0.51-0.56,
// 0.86-0.90 (per-pixel); vgg256x8 0.79-0.83, 0.77, 0.88 (indirect,
// indirect, im2col); alex192x4 0.62-0.67, 0.46-0.49, 0.63-0.66 (im2col).
// At 64 channels (resnet64x8) it lost to the indirect path (forward and
// data 1.13 and 1.17), and at 16x16 with 128 channels to it and to im2col.
func (g *conv2D) tapPath() bool {
	if tapMode != 0 {
		return tapMode > 0
	}
	ohw := g.OH * g.OW
	return !g.pointwise() && ohw <= 64 && g.N*ohw >= 256 && min(g.C, g.K) >= 128
}

// tapPlan is, for each tap t = r*S+s, the output pixels o (in order) whose
// input pixel under t lies in the image, and those input pixels; whole
// marks the taps whose pixels are all of the output (outsAll) or all of
// the input (insAll), in order: those products read or write the pixel
// rows in place.
type tapPlan struct {
	outs, ins       [][]int
	outsAll, insAll []bool
}

// tapPlan returns g's plan, computed once per geometry.
func (b *Backend) tapPlan(g *conv2D) *tapPlan {
	if p, ok := b.tapPlans[*g]; ok {
		return p
	}
	rs, ohw, hw := g.R*g.S, g.OH*g.OW, g.H*g.W
	p := &tapPlan{outs: make([][]int, rs), ins: make([][]int, rs), outsAll: make([]bool, rs), insAll: make([]bool, rs)}
	for t := range rs {
		r, s := t/g.S, t%g.S
		for o := range ohw {
			ih := o/g.OW*g.p.StrideH - g.p.PadH + r
			iw := o%g.OW*g.p.StrideW - g.p.PadW + s
			if ih >= 0 && ih < g.H && iw >= 0 && iw < g.W {
				p.outs[t] = append(p.outs[t], o)
				p.ins[t] = append(p.ins[t], ih*g.W+iw)
			}
		}
		p.outsAll[t] = len(p.outs[t]) == ohw
		p.insAll[t] = len(p.ins[t]) == hw
		for j, i := range p.ins[t] {
			p.insAll[t] = p.insAll[t] && i == j
		}
	}
	if b.tapPlans == nil {
		b.tapPlans = map[conv2D]*tapPlan{}
	}
	b.tapPlans[*g] = p
	return p
}

// tapChunks returns the images per chunk and the number of chunks: at
// most tapChunkRows output pixels per chunk, and at least a chunk per
// thread where the batch allows.
func (g *conv2D) tapChunks() (nb, count int) {
	per := (g.N + parallel.Threads() - 1) / parallel.Threads()
	nb = max(1, min(per, tapChunkRows/(g.OH*g.OW)))
	return nb, (g.N + nb - 1) / nb
}

// toRows writes m images of ch planes of hw pixels (NCHW) as pixel rows:
// dst[(n*hw+p)*ch+c] = src[(n*ch+c)*hw+p].
func toRows(src, dst []float32, m, ch, hw int) {
	for n := range m {
		img, rows := src[n*ch*hw:(n+1)*ch*hw], dst[n*hw*ch:(n+1)*hw*ch]
		for c := range ch {
			for p, v := range img[c*hw : (c+1)*hw] {
				rows[p*ch+c] = v
			}
		}
	}
}

// fromRows is toRows the other way.
func fromRows(src, dst []float32, m, ch, hw int) {
	for n := range m {
		rows, img := src[n*hw*ch:(n+1)*hw*ch], dst[n*ch*hw:(n+1)*ch*hw]
		for c := range ch {
			plane := img[c*hw : (c+1)*hw]
			for p := range plane {
				plane[p] = rows[p*ch+c]
			}
		}
	}
}

// gatherRows copies, for each of m images, the rows of its pixels px
// (row length w, hw rows per image) into dst, image by image.
func gatherRows(src, dst []float32, m, hw, w int, px []int) {
	np := len(px)
	for n := range m {
		for j, p := range px {
			copy(dst[(n*np+j)*w:][:w], src[(n*hw+p)*w:][:w])
		}
	}
}

// scatterAddRows adds the rows gathered as gatherRows lays them out back
// into src's pixels: dst[(n*hw+p)*w+c] += rows[(n*np+j)*w+c].
func scatterAddRows(rows, dst []float32, m, hw, w int, px []int) {
	np := len(px)
	for n := range m {
		for j, p := range px {
			d, s := dst[(n*hw+p)*w:][:w], rows[(n*np+j)*w:][:w]
			for i := addVector(d, s, d, false); i < w; i++ {
				d[i] += s[i]
			}
		}
	}
}

// tapWeights writes w (K, C, R*S) tap by tap: as rs matrices C × K
// (byC: dst[(t*C+c)*K+k]) or K × C (dst[(t*K+k)*C+c]). The loops run
// along the rows they write.
func (g *conv2D) tapWeights(wd, dst []float32, byC bool) {
	rs := g.R * g.S
	if byC {
		parallelFor(g.C, func(_, lo, hi int) {
			for c := lo; c < hi; c++ {
				for k := range g.K {
					for t, v := range wd[(k*g.C+c)*rs : (k*g.C+c+1)*rs] {
						dst[(t*g.C+c)*g.K+k] = v
					}
				}
			}
		})
		return
	}
	parallelFor(g.K, func(_, lo, hi int) {
		for k := lo; k < hi; k++ {
			for c := range g.C {
				for t, v := range wd[(k*g.C+c)*rs : (k*g.C+c+1)*rs] {
					dst[(t*g.K+k)*g.C+c] = v
				}
			}
		}
	})
}

// tapBuffers returns each worker's scratch, each large enough for a
// chunk's pixel rows on either side of the convolution: the input side,
// the output side, the rows gathered for a tap and a tap's product.
func (b *Backend) tapBuffers(g *conv2D, nw int) (in, out, rows, prod [][]float32) {
	nb, _ := g.tapChunks()
	size := nb * max(g.H*g.W, g.OH*g.OW) * max(g.C, g.K)
	return b.bufs(slotCol, nw, size), b.bufs(slotGather, nw, size), b.bufs(slotPartial, nw, size), b.bufs(slotPacked, nw, size)
}

// tapSide is one side of a per-tap product: ch channels of hw pixels per
// image, and for each tap its pixels (px[t], in the order of the other
// side's) and whether they are all of them in order (all[t]).
type tapSide struct {
	ch, hw int
	px     [][]int
	all    []bool
}

// tapPass adds, for every tap t, the pixel rows of src under t times
// W_t (wts[t], in.ch × out.ch) into the pixel rows of dst: per chunk of
// images, dst's rows are set by init (bias or zeros), the taps' products
// added in tap order, the rows written back to dst (NCHW) and done called
// on the chunk's images. Rows are read and written in place where a side
// has all its pixels under a tap.
func (b *Backend) tapPass(g *conv2D, src, dst, wts []float32, in, out tapSide, init func(row []float32), done func(n0, n1 int)) {
	nb, count := g.tapChunks()
	ins, outs, gath, prods := b.tapBuffers(g, workers(count))
	parallelFor(count, func(worker, lo, hi int) {
		xh, yh, a, t := ins[worker], outs[worker], gath[worker], prods[worker]
		for ci := lo; ci < hi; ci++ {
			n0 := ci * nb
			m := min(nb, g.N-n0)
			toRows(src[n0*in.ch*in.hw:], xh, m, in.ch, in.hw)
			yh := yh[:m*out.hw*out.ch]
			for r := range m * out.hw {
				init(yh[r*out.ch : (r+1)*out.ch])
			}
			for tap, px := range out.px {
				rows := m * len(px)
				if rows == 0 {
					continue
				}
				a := a
				if in.all[tap] {
					a = xh
				} else {
					gatherRows(xh, a, m, in.hw, in.ch, in.px[tap])
				}
				w := wts[tap*in.ch*out.ch : (tap+1)*in.ch*out.ch]
				if out.all[tap] {
					gemm.SgemmSerial(false, false, rows, out.ch, in.ch, 1, a, in.ch, w, out.ch, 1, yh, out.ch)
					continue
				}
				gemm.SgemmSerial(false, false, rows, out.ch, in.ch, 1, a, in.ch, w, out.ch, 0, t, out.ch)
				scatterAddRows(t, yh, m, out.hw, out.ch, px)
			}
			fromRows(yh, dst[n0*out.ch*out.hw:], m, out.ch, out.hw)
			if done != nil {
				done(n0, n0+m)
			}
		}
	})
}

// sides returns the input side (C channels of H×W) and the output side
// (K of OH×OW) of g's per-tap products.
func (p *tapPlan) sides(g *conv2D) (in, out tapSide) {
	return tapSide{g.C, g.H * g.W, p.ins, p.insAll}, tapSide{g.K, g.OH * g.OW, p.outs, p.outsAll}
}

// conv2DTapForward: x (N,C,H,W), w (K,C*R*S), b (K) or nil -> y
// (N,K,OH,OW), then epi on each chunk's images.
func (b *Backend) conv2DTapForward(g *conv2D, xd, wd, bd, yd []float32, epi *convEpilogue) {
	wt := b.bufs(slotTap, 1, g.R*g.S*g.C*g.K)[0]
	g.tapWeights(wd, wt, true)
	in, out := b.tapPlan(g).sides(g)
	init := func(row []float32) { clear(row) }
	if bd != nil {
		init = func(row []float32) { copy(row, bd) }
	}
	b.tapPass(g, xd, yd, wt, in, out, init, func(n0, n1 int) { epi.finish(g, yd, n0, n1) })
}

// conv2DTapData: dy (N,K,OH,OW), w (K,C*R*S) -> dx (N,C,H,W): the forward's
// products the other way, with the taps' weights transposed.
func (b *Backend) conv2DTapData(g *conv2D, dyd, wd, dxd []float32) {
	wk := b.bufs(slotTap, 1, g.R*g.S*g.C*g.K)[0]
	g.tapWeights(wd, wk, false)
	in, out := b.tapPlan(g).sides(g)
	b.tapPass(g, dyd, dxd, wk, out, in, func(row []float32) { clear(row) }, nil)
}

// conv2DTapFilter: x (N,C,H,W), dy (N,K,OH,OW) -> dw (K,C*R*S).
func (b *Backend) conv2DTapFilter(g *conv2D, xd, dyd, dwd []float32) {
	p := b.tapPlan(g)
	nb, count := g.tapChunks()
	rs, hw, ohw, chw, kohw := g.R*g.S, g.H*g.W, g.OH*g.OW, g.C*g.H*g.W, g.K*g.OH*g.OW
	nw := workers(count)
	ins, outs, gath, prods := b.tapBuffers(g, nw)
	// Each worker's sum, tap by tap (K × C each).
	parts := b.bufs(slotTap, nw, rs*g.K*g.C)
	parallelFor(count, func(worker, lo, hi int) {
		xh, dyh, ax, ady := ins[worker], outs[worker], gath[worker], prods[worker]
		part := parts[worker]
		for tap, px := range p.outs {
			if len(px) == 0 {
				clear(part[tap*g.K*g.C : (tap+1)*g.K*g.C])
			}
		}
		for ci := lo; ci < hi; ci++ {
			n0 := ci * nb
			m := min(nb, g.N-n0)
			toRows(xd[n0*chw:], xh, m, g.C, hw)
			toRows(dyd[n0*kohw:], dyh, m, g.K, ohw)
			beta := float32(1)
			if ci == lo {
				beta = 0
			}
			for tap, px := range p.outs {
				np := len(px)
				if np == 0 {
					continue
				}
				xs, dys := xh, dyh
				if !p.insAll[tap] {
					xs = ax
					gatherRows(xh, ax, m, hw, g.C, p.ins[tap])
				}
				if !p.outsAll[tap] {
					dys = ady
					gatherRows(dyh, ady, m, ohw, g.K, px)
				}
				gemm.SgemmSerial(true, false, g.K, g.C, m*np, 1, dys, g.K, xs, g.C, beta, part[tap*g.K*g.C:(tap+1)*g.K*g.C], g.C)
			}
		}
	})
	// dw[k][c][t] = Σ over workers, in worker order, of part[t][k][c].
	parallelFor(g.K, func(_, lo, hi int) {
		for k := lo; k < hi; k++ {
			for c := range g.C {
				dst := dwd[(k*g.C+c)*rs : (k*g.C+c+1)*rs]
				for t := range dst {
					i := (t*g.K+k)*g.C + c
					v := parts[0][i]
					for _, part := range parts[1:] {
						v += part[i]
					}
					dst[t] = v
				}
			}
		}
	})
}
