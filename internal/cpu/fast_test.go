package cpu_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/cnnctl/cnnctl/internal/cpu"
	"github.com/cnnctl/cnnctl/internal/tensor"
	"github.com/cnnctl/cnnctl/internal/tensor/tensortest"
)

// fastConvCases are geometries that reach the fast engine's paths the
// shared cases leave out: one image per product (OH*OW >= 256), 1x1
// products on the images in place, groups with a short last one, and a
// batch of one with the product split inside gemm.
func fastConvCases() []tensortest.Case {
	sq := func(stride, pad int) tensor.ConvParams {
		return tensor.ConvParams{StrideH: stride, StrideW: stride, PadH: pad, PadW: pad}
	}
	signed := func(r *rand.Rand) float32 { return 2*r.Float32() - 1 }
	in := func(name string, s ...int) tensortest.Arg {
		return tensortest.Arg{Name: name, Shape: s, Init: signed}
	}
	out := func(name string, s ...int) tensortest.Arg { return tensortest.Arg{Name: name, Shape: s, Out: true} }
	type geom struct {
		N, C, H, W, K, R, S int
		p                   tensor.ConvParams
		bias                bool
	}
	var cs []tensortest.Case
	for _, g := range []geom{
		{5, 3, 17, 17, 4, 3, 3, sq(1, 1), true},  // one image per product
		{4, 8, 16, 16, 6, 1, 1, sq(1, 0), true},  // 1x1 in place
		{3, 5, 20, 20, 7, 1, 1, sq(1, 0), false}, // 1x1 in place, no bias
		{1, 4, 18, 18, 5, 3, 3, sq(1, 1), true},  // batch 1: gemm split
		{1, 6, 16, 16, 5, 1, 1, sq(1, 0), true},  // batch 1, 1x1
		{40, 6, 4, 4, 9, 3, 3, sq(1, 1), true},   // 16 images per product, last group 8
		{40, 6, 8, 8, 9, 1, 1, sq(1, 0), false},  // 1x1 gathered
		{6, 4, 33, 33, 5, 5, 5, sq(2, 2), true},  // stride 2, one image per product
		{9, 3, 12, 12, 4, 3, 3, sq(3, 1), true},  // stride 3
		{4, 6, 9, 8, 5, 1, 1, sq(2, 0), false},   // 1x1 stride 2: backward data phases without taps
		{3, 4, 10, 10, 3, 2, 2, sq(3, 0), true},  // kernel below the stride: pixels no output reads
		{4, 16, 16, 16, 8, 3, 3, sq(2, 1), true}, // stride 2, pad 1, even width: ResNet's downsampling
		{3, 5, 15, 14, 6, 3, 3, tensor.ConvParams{StrideH: 2, StrideW: 3, PadH: 0, PadW: 2}, false},
		{6, 16, 9, 11, 5, 3, 3, sq(1, 1), true},  // backward data with flipped kernels
		{4, 20, 7, 7, 6, 5, 5, sq(1, 0), false},  // flipped, unpadded
		{3, 17, 20, 18, 4, 3, 3, sq(1, 2), true}, // flipped, one image per product
		{3, 2, 19, 23, 3, 3, 5, tensor.ConvParams{StrideH: 1, StrideW: 2, PadH: 2, PadW: 1}, true},
		{7, 3, 32, 32, 6, 5, 5, sq(1, 0), true},                                                   // LeNet conv1: indirect, x read in place
		{5, 6, 14, 14, 16, 5, 5, sq(1, 0), true},                                                  // LeNet conv2: indirect, flipped backward data
		{3, 5, 9, 13, 7, 3, 5, tensor.ConvParams{StrideH: 1, StrideW: 1, PadH: 1, PadW: 2}, true}, // indirect, padded, not square
		{2, 1, 6, 6, 1, 6, 6, sq(1, 0), false},                                                    // kernel as large as the input: one output
		{1, 32, 2, 2, 24, 3, 3, sq(1, 1), true},                                                   // batch 1, 2x2: row-dot (VGG's last layers)
		{2, 8, 1, 1, 5, 3, 3, sq(1, 1), true},                                                     // 2 images of 1x1: row-dot, 2 rows
		{1, 1, 2, 2, 3, 3, 3, sq(1, 1), false},                                                    // row-dot shape, K*R*S below one vector
		{1, 24, 4, 4, 40, 3, 3, sq(1, 1), true},                                                   // batch 1, 4x4: row-dot form, blocked product
	} {
		oh := (g.H+2*g.p.PadH-g.R)/g.p.StrideH + 1
		ow := (g.W+2*g.p.PadW-g.S)/g.p.StrideW + 1
		name := fmt.Sprintf("N%d C%d %dx%d K%d %dx%d s%dx%d p%dx%d", g.N, g.C, g.H, g.W, g.K, g.R, g.S,
			g.p.StrideH, g.p.StrideW, g.p.PadH, g.p.PadW)
		p := g.p
		fwd := []tensortest.Arg{in("x", g.N, g.C, g.H, g.W), in("w", g.K, g.C, g.R, g.S), out("y", g.N, g.K, oh, ow)}
		filter := []tensortest.Arg{in("x", g.N, g.C, g.H, g.W), in("dy", g.N, g.K, oh, ow), out("dw", g.K, g.C, g.R, g.S)}
		if g.bias {
			fwd = append(fwd, in("b", g.K))
			filter = append(filter, out("db", g.K))
		}
		cs = append(cs,
			tensortest.Case{Op: "Conv2DForward", Name: name, Args: fwd,
				Run: func(be tensor.Backend, t tensortest.Tensors) { be.Conv2DForward(t["x"], t["w"], t["b"], t["y"], p) }},
			tensortest.Case{Op: "Conv2DBackwardData", Name: name,
				Args: []tensortest.Arg{in("dy", g.N, g.K, oh, ow), in("w", g.K, g.C, g.R, g.S), out("dx", g.N, g.C, g.H, g.W)},
				Run:  func(be tensor.Backend, t tensortest.Tensors) { be.Conv2DBackwardData(t["dy"], t["w"], t["dx"], p) }},
			tensortest.Case{Op: "Conv2DBackwardFilter", Name: name, Args: filter,
				Run: func(be tensor.Backend, t tensortest.Tensors) {
					be.Conv2DBackwardFilter(t["x"], t["dy"], t["dw"], t["db"], p)
				}},
		)
	}
	return cs
}

// TestFastConvPaths checks the fast convolutions against the reference on
// fastConvCases with 1, 2 and 3 workers, on each convolution path.
func TestFastConvPaths(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	defer convModes[0].set().restore()
	for _, mode := range convModes {
		for _, procs := range []int{1, 2, 3} {
			t.Run(fmt.Sprintf("%s/procs%d", mode.name, procs), func(t *testing.T) {
				runtime.GOMAXPROCS(procs)
				mode.set()
				tensortest.CheckCases(t, cpu.New(), fastConvCases())
			})
		}
	}
}

// convStep is one convolution's forward and backward on the fast engine,
// with tensors allocated once.
type convStep struct {
	be                     *cpu.Backend
	x, w, b, y, dy, dx, dw *tensor.Tensor
	db                     *tensor.Tensor
	p                      tensor.ConvParams
}

func newConvStep(n, c, h, k, r int, seed uint64) *convStep {
	be := cpu.New()
	rng := rand.New(rand.NewPCG(seed, 1))
	fill := func(s ...int) *tensor.Tensor {
		t := be.New(s)
		v := make([]float32, t.Numel())
		for i := range v {
			v[i] = 2*rng.Float32() - 1
		}
		be.Upload(t, v)
		return t
	}
	s := &convStep{be: be, p: tensor.ConvParams{StrideH: 1, StrideW: 1, PadH: r / 2, PadW: r / 2}}
	s.x, s.w, s.b = fill(n, c, h, h), fill(k, c, r, r), fill(k)
	s.y, s.dy = be.New(tensor.Shape{n, k, h, h}), fill(n, k, h, h)
	s.dx, s.dw, s.db = be.New(tensor.Shape{n, c, h, h}), be.New(tensor.Shape{k, c, r, r}), be.New(tensor.Shape{k})
	return s
}

func (s *convStep) run() {
	s.be.Conv2DForward(s.x, s.w, s.b, s.y, s.p)
	s.be.Conv2DBackwardData(s.dy, s.w, s.dx, s.p)
	s.be.Conv2DBackwardFilter(s.x, s.dy, s.dw, s.db, s.p)
}

// outputs returns the bits of every output.
func (s *convStep) outputs() []uint32 {
	var bits []uint32
	for _, t := range []*tensor.Tensor{s.y, s.dx, s.dw, s.db} {
		v := make([]float32, t.Numel())
		s.be.Download(v, t)
		for _, f := range v {
			bits = append(bits, math.Float32bits(f))
		}
	}
	return bits
}

// TestFastConvDeterministic checks that repeated runs, on one backend and
// on fresh ones, give the same bits.
func TestFastConvDeterministic(t *testing.T) {
	for _, g := range [][5]int{{16, 8, 16, 12, 3}, {64, 16, 4, 16, 3}, {8, 12, 8, 10, 1}} {
		a := newConvStep(g[0], g[1], g[2], g[3], g[4], 7)
		a.run()
		first := a.outputs()
		for range 3 {
			a.run()
			b := newConvStep(g[0], g[1], g[2], g[3], g[4], 7)
			b.run()
			for _, got := range [][]uint32{a.outputs(), b.outputs()} {
				for i := range first {
					if got[i] != first[i] {
						t.Fatalf("%v: output bit %d differs between runs: %08x, then %08x", g, i, first[i], got[i])
					}
				}
			}
		}
		if err := a.be.Err(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestFastConvAllocs checks that a convolution's forward and backward
// allocate no buffers in steady state: all that remains is the goroutine
// start-up of the parallel loops (a few small closures), bounded here in
// bytes far below any image or column buffer.
func TestFastConvAllocs(t *testing.T) {
	s := newConvStep(32, 16, 16, 32, 3, 1)
	s.run()
	const runs = 10
	allocs := testing.AllocsPerRun(runs, s.run)
	// TotalAlloc is process-wide: the runtime and other goroutines can add
	// to one round, never take away, so the least of several rounds is
	// this code's own figure.
	bytes := uint64(math.MaxUint64)
	for range 5 {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for range runs {
			s.run()
		}
		runtime.ReadMemStats(&after)
		bytes = min(bytes, (after.TotalAlloc-before.TotalAlloc)/runs)
	}
	t.Logf("conv forward+backward: %.0f allocations, %d bytes per step", allocs, bytes)
	if limit := uint64(4096); bytes > limit {
		t.Errorf("conv forward+backward allocates %d bytes per step (%.0f allocations), want <= %d", bytes, allocs, limit)
	}
	if err := s.be.Err(); err != nil {
		t.Fatal(err)
	}
}

// TestTapThreadBits: on the per-tap path a forward or backward-data output
// row is the same sum whichever chunk computes it, so 1, 2 and 3 threads
// (chunks of 16, 12 and 8 images) give the same bits.
func TestTapThreadBits(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	defer cpu.SetTap(cpu.SetTap(1))
	const n, c, k, h = 24, 32, 40, 4
	p := tensor.ConvParams{StrideH: 1, StrideW: 1, PadH: 1, PadW: 1}
	r := rand.New(rand.NewPCG(3, 4))
	vals := func(m int) []float32 {
		v := make([]float32, m)
		for i := range v {
			v[i] = 2*r.Float32() - 1
		}
		return v
	}
	hx, hw, hb, hdy := vals(n*c*h*h), vals(k*c*9), vals(k), vals(n*k*h*h)
	run := func(procs int) (y, dx []float32) {
		runtime.GOMAXPROCS(procs)
		be := cpu.New()
		up := func(v []float32, s ...int) *tensor.Tensor {
			t := be.New(s)
			be.Upload(t, v)
			return t
		}
		x, w, b, dy := up(hx, n, c, h, h), up(hw, k, c, 3, 3), up(hb, k), up(hdy, n, k, h, h)
		yt, dxt := be.New(tensor.Shape{n, k, h, h}), be.New(tensor.Shape{n, c, h, h})
		be.Conv2DForward(x, w, b, yt, p)
		be.Conv2DBackwardData(dy, w, dxt, p)
		y, dx = make([]float32, yt.Numel()), make([]float32, dxt.Numel())
		be.Download(y, yt)
		be.Download(dx, dxt)
		if err := be.Err(); err != nil {
			t.Fatal(err)
		}
		return y, dx
	}
	y1, dx1 := run(1)
	for _, procs := range []int{2, 3} {
		y, dx := run(procs)
		for i := range y1 {
			if math.Float32bits(y[i]) != math.Float32bits(y1[i]) {
				t.Fatalf("%d threads: y[%d] = %g, 1 thread %g", procs, i, y[i], y1[i])
			}
		}
		for i := range dx1 {
			if math.Float32bits(dx[i]) != math.Float32bits(dx1[i]) {
				t.Fatalf("%d threads: dx[%d] = %g, 1 thread %g", procs, i, dx[i], dx1[i])
			}
		}
	}
}
