// Package cpu is cnnctl's pure-Go backend. It holds two engines behind one
// type: the reference (NewReference), where each op is written as plain
// loops that read as its specification, with the shapes of its arguments in
// comments, and every other backend is checked against it; and the fast
// engine (New), where convolutions and linear layers run on internal/gemm
// and the other ops are parallel tight loops (relu and sigmoid in AVX2
// assembly where the CPU has it). A convolution takes one of four paths,
// chosen per layer and pass from measurements (BenchmarkConv): im2col into
// reused buffers, several images per product where the images are small
// (conv2d_fast.go); indirect products that read the padded image through
// an offset table instead of writing im2col, for layers with few channels
// or large images (conv2d_indirect.go); per-pixel products over the valid
// taps only, for 2x2 and 4x4 outputs where most taps fall on the padding
// (conv2d_pixel.go); and, for a forward pass with at most 16 output pixels
// in the batch (VGG's last layers at batch 1), the transposed product
// yᵀ = colᵀ·wᵀ that streams the weights once (conv2d_rowdot.go). The
// engine gives the same bits on every run with the same GOMAXPROCS.
//
// Dimension letters are those of package tensor: N batch, C input channels,
// H W input size, K output channels, OH OW output size, R S kernel size,
// I linear inputs, O linear outputs.
package cpu

import (
	"fmt"
	"runtime"
	"slices"
	"sync"

	"github.com/cnnctl/cnnctl/internal/gemm"
	"github.com/cnnctl/cnnctl/internal/parallel"
	"github.com/cnnctl/cnnctl/internal/tensor"
)

// Backend runs every op on the host. Its methods may be called from one
// goroutine at a time; the big ops spread their work over
// runtime.GOMAXPROCS threads themselves, through the worker pool of
// internal/parallel.
type Backend struct {
	mu  sync.Mutex
	err error
	// ref selects the plain-loop reference kernels.
	ref bool
	// scratch holds the fast engine's work buffers, [slot][worker], grown
	// to the largest size asked for and reused by every later call.
	scratch [numSlots][][]float32
	ints    []int // offsets of the indirect convolutions
	// pixelPlans caches the per-pixel convolutions' groups by geometry.
	pixelPlans map[conv2D][]pixelGroup
	// tapPlans caches the per-tap convolutions' pixel pairs by geometry.
	tapPlans map[conv2D]*tapPlan
	// phasePlans caches the per-phase backward data's phases by geometry.
	phasePlans map[conv2D]*phasePlan
	// standIns are the float32 stand-ins of BF16 tensors (bf16.go), one
	// per argument position.
	standIns [][]float32
}

var _ tensor.Backend = (*Backend)(nil)

// New returns the fast CPU backend. It holds no resources beyond Go memory.
func New() *Backend { return &Backend{} }

// NewReference returns the CPU backend that runs the plain-loop reference
// kernels: the specification the fast engine and other backends are tested
// against.
func NewReference() *Backend { return &Backend{ref: true} }

// Name says which engine runs and how many threads it uses.
func (b *Backend) Name() string {
	if b.ref {
		return fmt.Sprintf("cpu reference (%d threads)", runtime.GOMAXPROCS(0))
	}
	return fmt.Sprintf("cpu (%d threads, gemm %s)", runtime.GOMAXPROCS(0), gemm.Kernel())
}

// Err returns the first error recorded by an op, or nil.
func (b *Backend) Err() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.err
}

// Sync returns Err: every op has finished when its method returns.
func (b *Backend) Sync() error { return b.Err() }

// Close returns Err; the garbage collector frees the buffers.
func (b *Backend) Close() error { return b.Err() }

func (b *Backend) record(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err == nil {
		b.err = err
	}
}

// call checks one op's arguments. The first failed check is recorded on the
// backend, and ok then reports false so the op does nothing.
type call struct {
	be  *Backend
	op  string
	err error
}

func (b *Backend) call(op string) *call { return &call{be: b, op: op} }

// data returns the elements t views, checking that t belongs to this backend,
// lies inside its buffer and, when rank > 0, has rank dimensions.
func (c *call) data(name string, t *tensor.Tensor, rank int) []float32 {
	if c.err != nil {
		return nil
	}
	buf, ok := t.Buf.(*buffer)
	if !ok {
		c.fail("%s (%v) is a %T, not a cpu buffer", name, t.Shape, t.Buf)
		return nil
	}
	if t.DType != tensor.F32 || buf.dt != tensor.F32 {
		c.fail("%s (%v) is %v; %s takes f32 tensors only (Cast to f32 first)", name, t.Shape, c.dtype(t, buf), c.op)
		return nil
	}
	if rank > 0 && len(t.Shape) != rank {
		c.fail("%s is %v, want %d dimensions", name, t.Shape, rank)
		return nil
	}
	n := t.Numel()
	if t.Off < 0 || t.Off+n > len(buf.data) {
		c.fail("%s (%v at offset %d) lies outside its buffer of %d elements", name, t.Shape, t.Off, len(buf.data))
		return nil
	}
	return buf.data[t.Off : t.Off+n : t.Off+n]
}

// shape checks that t has exactly the dimensions want. The message takes a
// copy of want, so that want does not escape: every op's call would
// otherwise allocate its variadic slice.
func (c *call) shape(name string, t *tensor.Tensor, want ...int) {
	if c.err == nil && !t.Shape.Equal(want) {
		c.fail("%s is %v, want %v", name, t.Shape, tensor.Shape(slices.Clone(want)))
	}
}

// check records the failure described by format unless cond holds.
func (c *call) check(cond bool, format string, args ...any) {
	if c.err == nil && !cond {
		c.fail(format, args...)
	}
}

func (c *call) fail(format string, args ...any) {
	if c.err == nil {
		c.err = c.errorf(format, args...)
	}
}

// errorf returns an error that names the backend and the op.
func (c *call) errorf(format string, args ...any) error {
	return fmt.Errorf("cpu: %s: %s", c.op, fmt.Sprintf(format, args...))
}

// ok records the first failure, if any, and reports whether the op may run.
func (c *call) ok() bool {
	if c.err != nil {
		c.be.record(c.err)
		return false
	}
	return true
}

// parallelFor splits [0, n) into contiguous ranges, one per thread up to
// runtime.GOMAXPROCS, and runs f on each: f(w, lo, hi) for range w, on the
// caller or a worker of the pool (internal/parallel), whose split depends
// on n and GOMAXPROCS only. It returns when all are done.
func parallelFor(n int, f func(worker, lo, hi int)) {
	parallel.Split(n, workers(n), parallel.Func(f))
}

// workers is how many ranges parallelFor(n, ...) makes.
func workers(n int) int { return max(1, min(parallel.Threads(), n)) }

// parallelElems is parallelFor for cheap elementwise loops: below 1<<15
// elements it runs f on the caller's goroutine.
func parallelElems(n int, f func(lo, hi int)) {
	if n < 1<<15 {
		f(0, n)
		return
	}
	parallel.Split(n, workers(n), parallel.Range(f))
}

// Scratch slots: the buffers one op may use at once, per worker.
const (
	slotCol     = iota // im2col matrix
	slotGather         // dy gathered or y before scattering, several images
	slotPartial        // one worker's share of a reduced gradient
	slotWeights        // weights rearranged (flipped kernels)
	slotPacked         // weights packed for an indirect product
	slotBNScale        // a fused batch norm's per-channel scales
	slotTap            // the per-tap path's weights or filter sums (not slotWeights: a flipped backward data holds it)
	numSlots
)

// intBuf returns a reused []int of n elements, contents undefined.
func (b *Backend) intBuf(n int) []int {
	if cap(b.ints) < n {
		b.ints = make([]int, n)
	}
	return b.ints[:n]
}

// bufs returns the scratch buffers of slot for workers workers, n elements
// each, contents undefined. Callers are serialised (one op at a time) and
// call it before starting their goroutines, so it needs no lock.
func (b *Backend) bufs(slot, workers, n int) [][]float32 {
	s := &b.scratch[slot]
	for len(*s) < workers {
		*s = append(*s, nil)
	}
	for w := range workers {
		if cap((*s)[w]) < n {
			(*s)[w] = make([]float32, n)
		}
		(*s)[w] = (*s)[w][:n:cap((*s)[w])]
	}
	return (*s)[:workers]
}
