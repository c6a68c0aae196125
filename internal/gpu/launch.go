//go:build cuda

package gpu

import (
	"math"
	"unsafe"

	"gorgonia.org/cu"
)

// threads is the block size of the elementwise kernels.
const threads = 256

// dims are a launch's grid (x, y, z) and block size (x only).
type dims struct {
	gx, gy, gz int
	block      int
}

// grid1D covers n elements with grid-stride blocks of threads, at most 32
// blocks per SM (the kernels loop over the rest).
func (b *Backend) grid1D(n int) dims {
	return dims{gx: max(1, min(ceilDiv(n, threads), 32*max(1, b.info.SMs))), gy: 1, gz: 1, block: threads}
}

// kernelArgs packs kernel arguments into 8-byte slots, the form cu's Launch
// copies: cu.DevicePtr and uint64 as 64-bit, int64 as a C long long, int and
// int32 as a C int, float32 as a C float, bool as a C int.
func (c *call) kernelArgs(args []any) []uint64 {
	slots := make([]uint64, len(args))
	for i, a := range args {
		switch v := a.(type) {
		case cu.DevicePtr:
			slots[i] = uint64(v)
		case uint64:
			slots[i] = v
		case int64:
			slots[i] = uint64(v)
		case int:
			c.check(v >= math.MinInt32 && v <= math.MaxInt32, "argument %d (%d) does not fit a C int", i, v)
			slots[i] = uint64(uint32(int32(v)))
		case int32:
			slots[i] = uint64(uint32(v))
		case float32:
			slots[i] = uint64(math.Float32bits(v))
		case bool:
			if v {
				slots[i] = 1
			}
		default:
			c.fail("argument %d is a %T, which no kernel takes", i, a)
		}
	}
	return slots
}

// launch queues kernel name on the backend's stream.
func (c *call) launch(name string, d dims, args ...any) {
	slots := c.kernelArgs(args)
	if !c.ok() {
		return
	}
	c.be.do(c.op, func() { c.launchHere(name, d, slots) })
}

// launchHere launches on the device goroutine (inside do).
func (c *call) launchHere(name string, d dims, slots []uint64) {
	fn, ok := c.be.fns[name]
	if !ok {
		c.driver("launch", errUnknownKernel(name))
		return
	}
	params := make([]unsafe.Pointer, len(slots))
	for i := range slots {
		params[i] = unsafe.Pointer(&slots[i])
	}
	c.driver("launch "+name, fn.Launch(d.gx, d.gy, d.gz, d.block, 1, 1, 0, c.be.stream, params))
}

type errUnknownKernel string

func (e errUnknownKernel) Error() string { return "no kernel " + string(e) + " was loaded" }

// scratch takes a temporary block of at least bytes from the pool on the
// device goroutine (inside do); give it back with release once the kernels
// using it are queued: later work reuses it in stream order.
//
// During a capture the block comes from, and goes back to, the capture's
// own free list (Backend.captureScratch), which its graph keeps.
func (c *call) scratch(bytes int64) (cu.DevicePtr, func(), bool) {
	b, p := c.be, c.be.pool
	b.mu.Lock()
	capturing := b.capturing
	b.mu.Unlock()
	if capturing {
		size := classSize(bytes)
		if list := b.captureScratch[size]; len(list) > 0 {
			ptr := list[len(list)-1]
			b.captureScratch[size] = list[:len(list)-1]
			return cu.DevicePtr(ptr), func() { b.captureScratch[size] = append(b.captureScratch[size], ptr) }, true
		}
	}
	ptr, size, err := p.get(bytes, isOOM)
	if err != nil {
		free, total, _ := cu.MemInfo()
		b.record(oomError(c.op+": scratch", bytes, free, total, p.held+p.cached, err))
		return 0, nil, false
	}
	if capturing {
		if b.captureScratch == nil {
			b.captureScratch = map[int64][]uintptr{}
		}
		return cu.DevicePtr(ptr), func() { b.captureScratch[size] = append(b.captureScratch[size], ptr) }, true
	}
	return cu.DevicePtr(ptr), func() { p.put(ptr, size) }, true
}
