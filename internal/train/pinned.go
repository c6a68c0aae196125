package train

import (
	"fmt"

	"github.com/cnnctl/cnnctl/internal/tensor"
)

// maxPinnedBytes bounds the page-locked memory of a step's staging slots:
// beyond it (large images at a large batch), batches go through ordinary
// memory, which the rest of the machine keeps the use of.
const maxPinnedBytes = 256 << 20

// staging is a step's page-locked host memory on a tensor.Pinned backend:
// one slot per step between two reads, each holding a batch's images and
// labels. Load copies the batch into the next slot and queues its upload,
// which then overlaps with the device's work instead of making the host
// wait. A slot is written again only after the host has waited for the
// device (Read's Download), when its upload is surely done; a load past
// the last free slot goes through Upload from ordinary memory.
type staging struct {
	p     tensor.Pinned
	slots [][]float32
	used  int // slots queued since the host last waited for the device
}

// UsePinned makes Load copy batches through page-locked host memory where
// the backend has it (tensor.Pinned) and reports whether it does; note
// gets the one line that says why not, when pinning fails.
func (s *Step) UsePinned(note func(format string, args ...any)) bool {
	p, ok := s.be.(tensor.Pinned)
	if !ok || s.pin != nil {
		return s.pin != nil
	}
	per := s.x.Numel() + s.y.Numel()
	if bytes := int64(4*per) * int64(s.window); bytes > maxPinnedBytes {
		note("pinned: %d batches of %.1f MiB would pin %.0f MiB, more than %d MiB: batches are copied from pageable memory",
			s.window, MiB(int64(4*per)), MiB(bytes), maxPinnedBytes>>20)
		return false
	}
	st := &staging{p: p}
	for range s.window {
		buf, err := p.PinnedFloats(per)
		if err != nil {
			st.free()
			note("warning: pinned: %v: batches are copied from pageable memory", err)
			return false
		}
		st.slots = append(st.slots, buf)
	}
	s.pin = st
	return true
}

// upload queues the copy of b into x (N,C,H,W) and y (N) through the next
// free slot and reports whether it did.
func (st *staging) upload(x, y *tensor.Tensor, b *Batch) bool {
	if st == nil || st.used >= len(st.slots) {
		return false
	}
	buf := st.slots[st.used]
	st.used++
	nx, n := x.Numel(), y.Numel()
	if nx+n > len(buf) {
		panic(fmt.Sprintf("train: a batch of %d values in a pinned slot of %d", nx+n, len(buf)))
	}
	copy(buf[:nx], b.X[:nx])
	copy(buf[nx:nx+n], b.Y[:n])
	st.p.UploadPinned(x, buf[:nx])
	st.p.UploadPinned(y, buf[nx:nx+n])
	return true
}

// waited records that the host has waited for the device: every slot is free.
func (st *staging) waited() {
	if st != nil {
		st.used = 0
	}
}

// free releases the slots.
func (st *staging) free() {
	if st == nil {
		return
	}
	for _, buf := range st.slots {
		st.p.FreePinned(buf)
	}
	st.slots = nil
}
