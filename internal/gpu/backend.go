//go:build cuda

package gpu

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync"
	"unsafe"

	"gorgonia.org/cu"

	"github.com/cnnctl/cnnctl/internal/tensor"
)

// Backend runs every op on one GPU with cnnctl's kernels. All driver calls
// happen on one goroutine locked to its OS thread, which holds the CUDA
// context; methods may be called from any goroutine, one at a time or not.
// Kernels run in order on the backend's own stream: methods return once their
// work is queued, and Sync waits for it.
type Backend struct {
	device int
	info   Info

	work  chan func()
	reply chan struct{}
	// callMu makes do's send and receive one exchange.
	callMu sync.Mutex

	mu  sync.Mutex
	err error // the first failure of an op or the driver: later ops are skipped
	// allocErr is the first failed allocation (out of memory): reported by
	// Err like err, but the backend stays usable, since nothing on the
	// device went wrong.
	allocErr error
	// reported: Err or Sync has returned the error they return now, so
	// Close does not return it again.
	reported bool
	// capturing: work is being recorded into a graph (graph.go); a failure
	// then goes to captureErr, for EndCapture to report, and does not stop
	// the backend: the caller runs the work uncaptured instead.
	capturing  bool
	captureErr error
	// captureScratch: the scratch blocks of the capture under way, by
	// class size, free for its next op: a graph's kernels run in order, so
	// its ops share them as eager ops share the pool's. Its graph keeps
	// them (graph.go): the pool must not hand them out while a replay may
	// write them.
	captureScratch map[int64][]uintptr
	closed         bool
	// opts are the options the backend runs with, sel the kernel chosen
	// for each slot from them (Select, registry.go).
	opts Options
	sel  map[string]Kernel

	// The fields below belong to the device goroutine.
	ctx cu.CUContext
	// stream is the backend's own stream (non-blocking: it does not
	// synchronise with the legacy default stream, and it can be captured
	// into a CUDA graph, graph.go). Every launch, copy and memset goes
	// there, so work runs in the order it was queued.
	stream cu.Stream
	// copies is the stream of UploadAside (copyqueue.go), created on
	// first use: the copy engine runs it beside stream's kernels.
	copies cu.Stream
	mod    cu.Module
	fns    map[string]cu.Function
	pool   *pool
	// events are CUDA events free for timers (timer.go); the context's
	// destruction frees them.
	events []cu.Event
}

var _ tensor.Backend = (*Backend)(nil)

// Built reports whether this binary has the CUDA engine.
const Built = true

// New opens GPU device (0 for the first), creates a context on it and loads
// the kernels, with the default options (fp32 math). Without a usable GPU
// the error wraps ErrNoDevice: "no CUDA device: <reason>".
func New(device int) (*Backend, error) { return NewWith(device, Options{}) }

// NewWith is New with options: the kernels are chosen once here, by Select
// (registry.go), and SetMath chooses again.
func NewWith(device int, o Options) (*Backend, error) {
	if err := initError(); err != nil {
		return nil, err
	}
	n, err := cu.NumDevices()
	if err != nil {
		return nil, fmt.Errorf("%w: count devices: %v", ErrNoDevice, err)
	}
	if n == 0 {
		return nil, fmt.Errorf("%w: the driver found no GPU", ErrNoDevice)
	}
	if device < 0 || device >= n {
		return nil, fmt.Errorf("%w: device %d asked for, %d present (0 to %d)", ErrNoDevice, device, n, n-1)
	}
	b := &Backend{device: device, opts: o, work: make(chan func()), reply: make(chan struct{})}
	ready := make(chan error)
	go b.loop(ready)
	if err := <-ready; err != nil {
		return nil, err
	}
	return b, nil
}

// loop is the device goroutine: it locks its OS thread, makes the context
// current there and runs every piece of work sent to b.work. It never
// unlocks the thread, so the thread ends with the goroutine.
func (b *Backend) loop(ready chan<- error) {
	runtime.LockOSThread()
	if err := b.open(); err != nil {
		if b.ctx != (cu.CUContext{}) {
			b.ctx.Destroy()
		}
		ready <- err
		return
	}
	ready <- nil
	for f := range b.work {
		f()
		b.reply <- struct{}{}
	}
}

// open creates the context, loads the fatbin and reads the device's facts.
func (b *Backend) open() error {
	dev, err := cu.GetDevice(b.device)
	if err != nil {
		return fmt.Errorf("%w: get device %d: %v", ErrNoDevice, b.device, err)
	}
	info, err := deviceInfo(dev, b.device)
	if err != nil {
		return err
	}
	if b.ctx, err = dev.MakeContext(cu.SchedAuto); err != nil {
		return fmt.Errorf("gpu: create context on device %d: %w", b.device, err)
	}
	if err := cu.SetCurrentContext(b.ctx); err != nil {
		return fmt.Errorf("gpu: make context current: %w", err)
	}
	if info.FreeMem, info.TotalMem, err = cu.MemInfo(); err != nil {
		return fmt.Errorf("gpu: memory info: %w", err)
	}
	b.info = info
	if b.sel, err = Select(Kernels(), info.SM(), b.opts); err != nil {
		return fmt.Errorf("gpu: %s: %w", info.Name, err)
	}
	if b.stream, err = cu.MakeStream(cu.NonBlocking); err != nil {
		return fmt.Errorf("gpu: create a stream: %w", err)
	}
	if b.mod, err = cu.LoadData(kernelsFatbin); err != nil {
		return fmt.Errorf("gpu: load kernels.fatbin (sm_70/80/90 + compute_90 PTX) on %s (sm_%d%d): %w; rebuild with make kernels",
			info.Name, info.Major, info.Minor, err)
	}
	ks := Kernels()
	b.fns = make(map[string]cu.Function, len(ks))
	for _, k := range ks {
		fn, err := b.mod.Function(k.Name)
		if err != nil {
			return fmt.Errorf("gpu: kernels.fatbin has no kernel %s (%w): rebuild with make kernels", k.Name, err)
		}
		b.fns[k.Name] = fn
	}
	b.pool = newPool(
		func(n int64) (uintptr, error) {
			p, err := cu.MemAlloc(n)
			if isOOM(err) {
				// The pool frees its idle blocks next; work still
				// queued may read them, so let it finish first.
				cu.Synchronize()
			}
			return uintptr(p), err
		},
		func(p uintptr) error { return cu.MemFree(cu.DevicePtr(p)) },
	)
	return nil
}

// do runs f on the device goroutine and waits for it. After Close it
// records an error instead.
func (b *Backend) do(op string, f func()) {
	b.mu.Lock()
	closed := b.closed
	b.mu.Unlock()
	if closed {
		b.record(fmt.Errorf("gpu: %s: backend is closed", op))
		return
	}
	b.callMu.Lock()
	defer b.callMu.Unlock()
	b.work <- f
	<-b.reply
}

func (b *Backend) record(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.capturing {
		if b.captureErr == nil {
			b.captureErr = err
		}
		return
	}
	if b.err == nil {
		b.err, b.reported = err, false
	}
}

// recordAlloc records a failed allocation: Err reports it, but later ops
// still run (those on the tensor that was not allocated fail on their own).
func (b *Backend) recordAlloc(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.allocErr == nil {
		b.allocErr = err
		if b.err == nil {
			b.reported = false
		}
	}
}

// firstErr is the error Err reports; b.mu is held.
func (b *Backend) firstErr() error {
	if b.err != nil {
		return b.err
	}
	return b.allocErr
}

// Name says which GPU this is.
func (b *Backend) Name() string { return b.info.String() }

// Info describes the backend's GPU, with the free memory when it was opened.
func (b *Backend) Info() Info { return b.info }

// Err returns the first error the backend met, or nil. Errors of kernels
// that are still running show only after Sync. A failed allocation is
// reported here too, but does not stop later ops.
func (b *Backend) Err() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	err := b.firstErr()
	if err != nil {
		b.reported = true
	}
	return err
}

// Sync waits for all queued work and returns Err().
func (b *Backend) Sync() error {
	b.do("sync", func() {
		if err := cu.Synchronize(); err != nil {
			b.record(fmt.Errorf("gpu: sync (a kernel failed since the last sync): %w", err))
		}
	})
	return b.Err()
}

// Close waits for queued work, then destroys the context, which frees every
// buffer and the kernels. It returns the first error the backend met unless
// Err or Sync has already returned it (an error is reported once: a caller
// that handled an out-of-memory error does not get it again from Close),
// or else an error of closing itself.
func (b *Backend) Close() error {
	b.mu.Lock()
	closed := b.closed
	b.mu.Unlock()
	if closed {
		return nil
	}
	var closing error
	b.do("close", func() {
		if err := cu.Synchronize(); err != nil {
			closing = fmt.Errorf("gpu: close: sync: %w", err)
		}
		if err := b.ctx.Destroy(); err != nil && closing == nil {
			closing = fmt.Errorf("gpu: close: destroy context: %w", err)
		}
	})
	close(b.work)
	return b.closeErr(closing)
}

// closeErr marks b closed and says what Close returns: the first error
// unless Err or Sync has returned it already, else closing's own error.
func (b *Backend) closeErr(closing error) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	if err := b.firstErr(); err != nil && !b.reported {
		b.reported = true
		return err
	}
	return closing
}

// buffer is one pooled block of device memory holding n elements of dtype dt.
type buffer struct {
	be    *Backend
	ptr   cu.DevicePtr
	n     int
	dt    tensor.DType
	size  int64 // the pool's class size in bytes
	freed bool
}

func (m *buffer) Len() int { return m.n }

// New allocates a zero-filled tensor from the pool. When the GPU is out of
// memory it records an error saying how much was asked and is free, and
// returns a tensor that every op rejects.
func (b *Backend) New(s tensor.Shape) *tensor.Tensor { return b.NewTyped(s, tensor.F32) }

// NewTyped is New for a tensor of dtype dt.
func (b *Backend) NewTyped(s tensor.Shape, dt tensor.DType) *tensor.Tensor {
	n := s.Numel()
	t := &tensor.Tensor{Shape: s.Clone(), Buf: &buffer{be: b, n: n, dt: dt, freed: true}, DType: dt}
	if !dt.Valid() {
		b.record(fmt.Errorf("gpu: new %v: unknown %v (want f32 or bf16)", s, dt))
		return t
	}
	if n < 0 || n > math.MaxInt32 {
		b.recordAlloc(fmt.Errorf("gpu: new %v: %d elements, at most %d supported", s, n, math.MaxInt32))
		return t
	}
	bytes := int64(n) * int64(dt.Size())
	b.do("new", func() {
		ptr, size, err := b.pool.get(bytes, isOOM)
		if err != nil {
			free, total, _ := cu.MemInfo()
			b.recordAlloc(oomError(fmt.Sprintf("new %v", s), bytes, free, total, b.pool.held+b.pool.cached, err))
			return
		}
		zero := func() error { return cu.MemsetD32Async(cu.DevicePtr(ptr), 0, bytes/4, b.stream) }
		if bytes%4 != 0 {
			zero = func() error { return cu.MemsetD8Async(cu.DevicePtr(ptr), 0, bytes, b.stream) }
		}
		if err := zero(); err != nil {
			b.pool.put(ptr, size)
			b.record(fmt.Errorf("gpu: new %v: zero fill: %w", s, err))
			return
		}
		t.Buf = &buffer{be: b, ptr: cu.DevicePtr(ptr), n: n, dt: dt, size: size}
	})
	return t
}

// oomError explains a failed allocation; out of memory, it says how much
// was asked and is free, and suggests a smaller batch.
func oomError(what string, bytes, free, total, held int64, err error) error {
	if !isOOM(err) {
		return fmt.Errorf("gpu: %s: alloc %d bytes: %w", what, bytes, err)
	}
	return fmt.Errorf("gpu: %s: out of GPU memory: asked for %d bytes (%s), %s free of %s, %s held by cnnctl; try a smaller --batch-size: %w",
		what, bytes, mib(bytes), mib(free), mib(total), mib(held), err)
}

func isOOM(err error) bool { return errors.Is(err, cu.OutOfMemory) }

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// Free returns t's buffer to the pool. The memory is reused by later work
// in stream order, so work queued on it before finishes first.
func (b *Backend) Free(t *tensor.Tensor) {
	m, ok := t.Buf.(*buffer)
	if !ok || m.be != b {
		b.record(fmt.Errorf("gpu: free %v: not a buffer of this backend (%T)", t.Shape, t.Buf))
		return
	}
	b.do("free", func() {
		if m.freed {
			if m.ptr != 0 {
				b.record(fmt.Errorf("gpu: free %v: freed twice", t.Shape))
			}
			return
		}
		m.freed = true
		b.pool.put(uintptr(m.ptr), m.size)
	})
}

// Upload copies host values into t, in stream order after the work queued
// before; src may be reused as soon as it returns (the driver has staged
// pageable memory by then).
func (b *Backend) Upload(t *tensor.Tensor, src []float32) {
	c := b.call("upload")
	ptr := c.ptr("t", t, 0)
	c.check(len(src) == t.Numel(), "%d values for %v (%d elements)", len(src), t.Shape, t.Numel())
	if !c.ok() || len(src) == 0 {
		return
	}
	b.do(c.op, func() {
		c.driver("copy to device", cu.MemcpyHtoDAsync(ptr, unsafe.Pointer(&src[0]), int64(4*len(src)), b.stream))
	})
}

// Download copies t into dst, waiting for the work queued before (a copy to
// pageable memory returns once it is complete).
func (b *Backend) Download(dst []float32, t *tensor.Tensor) {
	c := b.call("download")
	ptr := c.ptr("t", t, 0)
	c.check(len(dst) == t.Numel(), "%d values for %v (%d elements)", len(dst), t.Shape, t.Numel())
	if !c.ok() || len(dst) == 0 {
		return
	}
	b.do(c.op, func() {
		c.driver("copy to host", cu.MemcpyDtoHAsync(unsafe.Pointer(&dst[0]), ptr, int64(4*len(dst)), b.stream))
	})
}

// call checks one op's arguments; the first failure is recorded on the
// backend and ok then reports false, so the op does nothing. Later errors of
// an op whose arguments were fine (driver errors) are recorded by driver.
type call struct {
	be  *Backend
	op  string
	err error
}

func (b *Backend) call(op string) *call {
	c := &call{be: b, op: op}
	b.mu.Lock()
	failed := b.err != nil
	b.mu.Unlock()
	if failed {
		// After the first failure of an op or the driver, ops do
		// nothing: the error is sticky. A failed allocation is not.
		c.err = errSkipped
	}
	return c
}

// errSkipped marks ops skipped after an earlier error; it is never recorded.
var errSkipped = errors.New("skipped after an earlier error")

// ptr returns the device address of t's first element, checking that t
// is F32 (the dtype every op but Cast and the copies computes in), belongs
// to this backend, is live, lies inside its buffer and, when rank > 0, has
// rank dimensions.
func (c *call) ptr(name string, t *tensor.Tensor, rank int) cu.DevicePtr {
	if c.err == nil && t != nil && t.DType != tensor.F32 {
		c.fail("%s (%v) is %v; %s takes f32 tensors only (Cast to f32 first)", name, t.Shape, t.DType, c.op)
	}
	return c.raw(name, t, rank)
}

// raw is ptr for any dtype: only Cast, Copy and the byte transfers call it.
func (c *call) raw(name string, t *tensor.Tensor, rank int) cu.DevicePtr {
	if c.err != nil {
		return 0
	}
	if t == nil {
		c.fail("%s is nil", name)
		return 0
	}
	m, ok := t.Buf.(*buffer)
	switch {
	case !ok || m.be != c.be:
		c.fail("%s (%v) is a %T, not a buffer of this GPU backend", name, t.Shape, t.Buf)
	case m.freed:
		c.fail("%s (%v) has been freed (or its allocation failed)", name, t.Shape)
	case rank > 0 && len(t.Shape) != rank:
		c.fail("%s is %v, want %d dimensions", name, t.Shape, rank)
	case t.DType != m.dt:
		c.fail("%s (%v) says %v but its buffer holds %v", name, t.Shape, t.DType, m.dt)
	case t.Off < 0 || t.Off+t.Numel() > m.n:
		c.fail("%s (%v at offset %d) lies outside its buffer of %d elements", name, t.Shape, t.Off, m.n)
	default:
		return m.ptr + cu.DevicePtr(t.Off*m.dt.Size())
	}
	return 0
}

// opt is ptr for an optional tensor: nil gives the null address.
func (c *call) opt(name string, t *tensor.Tensor, rank int) cu.DevicePtr {
	if t == nil {
		return 0
	}
	return c.ptr(name, t, rank)
}

// shape checks that t has exactly the dimensions want.
func (c *call) shape(name string, t *tensor.Tensor, want ...int) {
	if c.err == nil && t != nil && !t.Shape.Equal(want) {
		c.fail("%s is %v, want %v", name, t.Shape, tensor.Shape(want))
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
		c.err = fmt.Errorf("gpu: %s: %s", c.op, fmt.Sprintf(format, args...))
	}
}

// ok records the first failure, if any, and reports whether the op may run.
func (c *call) ok() bool {
	if c.err == errSkipped {
		return false
	}
	if c.err != nil {
		c.be.record(c.err)
		return false
	}
	return true
}

// driver records a failed driver call of this op.
func (c *call) driver(what string, err error) {
	if err != nil {
		c.be.record(fmt.Errorf("gpu: %s: %s: %w", c.op, what, err))
	}
}
