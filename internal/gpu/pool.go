package gpu

import (
	"fmt"
	"math/bits"
)

// pool keeps freed device blocks in size classes so that a training step
// reuses the previous step's memory instead of calling the driver. A class
// is a power of two up to 1 MiB and a multiple of an eighth of the power of
// two above that, so at most 12.5% of a large block is wasted.
//
// The pool is not safe for concurrent use; the backend calls it from its
// one device goroutine. It knows device memory only through alloc and free,
// so that it can be tested without a GPU.
type pool struct {
	alloc func(bytes int64) (uintptr, error)
	free  func(ptr uintptr) error
	// idle holds freed blocks by class size.
	idle map[int64][]uintptr
	// held is the bytes of blocks in use, cached the bytes of idle ones.
	held, cached int64
}

func newPool(alloc func(int64) (uintptr, error), free func(uintptr) error) *pool {
	return &pool{alloc: alloc, free: free, idle: map[int64][]uintptr{}}
}

// classSize rounds bytes up to its size class (at least 256 bytes).
func classSize(bytes int64) int64 {
	const small = 1 << 20
	if bytes <= 256 {
		return 256
	}
	p := int64(1) << (64 - bits.LeadingZeros64(uint64(bytes-1))) // next power of two
	if p <= small {
		return p
	}
	step := p / 16 // classes between p/2 and p: p/2 + k*p/16
	return (bytes + step - 1) / step * step
}

// get returns a block of at least bytes and its class size. When the driver
// is out of memory it frees every idle block and tries once more; isOOM says
// which driver errors mean that.
func (p *pool) get(bytes int64, isOOM func(error) bool) (uintptr, int64, error) {
	size := classSize(bytes)
	if list := p.idle[size]; len(list) > 0 {
		ptr := list[len(list)-1]
		p.idle[size] = list[:len(list)-1]
		p.cached -= size
		p.held += size
		return ptr, size, nil
	}
	ptr, err := p.alloc(size)
	if err != nil && isOOM(err) && p.cached > 0 {
		if err := p.trim(); err != nil {
			return 0, 0, err
		}
		ptr, err = p.alloc(size)
	}
	if err != nil {
		return 0, 0, err
	}
	p.held += size
	return ptr, size, nil
}

// put returns a block of class size to the pool.
func (p *pool) put(ptr uintptr, size int64) {
	p.idle[size] = append(p.idle[size], ptr)
	p.held -= size
	p.cached += size
}

// trim frees every idle block.
func (p *pool) trim() error {
	var first error
	for size, list := range p.idle {
		for _, ptr := range list {
			if err := p.free(ptr); err != nil && first == nil {
				first = fmt.Errorf("free %d bytes: %w", size, err)
			}
			p.cached -= size
		}
		delete(p.idle, size)
	}
	return first
}
