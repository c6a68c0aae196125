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
//
// On one queue the upload of batch i+1 waits for step i's kernels, and
// step i+1's for the upload: copy and compute take turns. On a backend
// with a copy queue of its own (tensor.CopyQueue: a second CUDA stream)
// the upload goes there instead, into one of two device slots, so that it
// runs while the steps queued before it compute:
//
//	copy queue:  wait done[k]; slot → dev[k]; set ready[k]
//	op queue:    wait ready[k]; dev[k] → the step's x and y; set done[k]
//
// with k alternating. The copy of batch i+1 into dev[k] waits only for the
// op queue to have copied batch i-1 out of it (done[k], at the start of
// step i-1), not for step i; the step waits for its own batch only. The
// copies out (device to device) are outside any captured graph: Load
// queues them before Run.
type staging struct {
	p     tensor.Pinned
	slots [][]float32
	used  int // slots queued since the host last waited for the device

	q           tensor.CopyQueue // nil: uploads go on the op queue
	be          tensor.Backend
	dev         [2]*tensor.Tensor // device slots, x then y
	ready, done [2]tensor.Fence   // the copy into dev[k] is done; the op queue is done with dev[k]
	next        int               // the device slot of the next upload
}

// UsePinned makes Load copy batches through page-locked host memory where
// the backend has it (tensor.Pinned), on the backend's copy queue where it
// has one (tensor.CopyQueue), and reports whether it does; note gets the
// one line that says why not, when pinning (or the copy queue) fails.
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
	s.pin = newStaging(p, s.be, per, s.window, note)
	return s.pin != nil
}

// newStaging pins slots slots of per floats on p (be) and, where be has a
// copy queue, sets up its device slots and fences; nil (with the one line
// to note) when pinning fails. A training step (Step.UsePinned) and a
// streamed evaluation (stepper.usePinned) share it.
func newStaging(p tensor.Pinned, be tensor.Backend, per, slots int, note func(format string, args ...any)) *staging {
	st := &staging{p: p, be: be}
	for range slots {
		buf, err := p.PinnedFloats(per)
		if err != nil {
			st.free()
			note("warning: pinned: %v: batches are copied from pageable memory", err)
			return nil
		}
		st.slots = append(st.slots, buf)
	}
	if q, ok := be.(tensor.CopyQueue); ok {
		if err := st.aside(q, per); err != nil {
			note("warning: pinned: %v: batches are copied on the compute queue, between the steps", err)
		}
	}
	return st
}

// copySlotBytes is the device memory a copy queue's staging allocates for
// batches of n images of shape in (with their labels): two device slots
// (staging.aside), each a batch.
func copySlotBytes(in tensor.Shape, n int) int64 {
	return 2 * int64(n) * int64(in.Numel()+1) * 4
}

// aside sets up the copy queue's device slots and fences; on failure it
// leaves the uploads on the op queue.
func (st *staging) aside(q tensor.CopyQueue, per int) error {
	var fences []tensor.Fence
	for range 4 {
		f, err := q.NewFence()
		if err != nil {
			for _, f := range fences {
				f.Free()
			}
			return err
		}
		fences = append(fences, f)
	}
	st.q = q
	st.ready, st.done = [2]tensor.Fence{fences[0], fences[1]}, [2]tensor.Fence{fences[2], fences[3]}
	for k := range st.dev {
		st.dev[k] = st.be.New(tensor.Shape{per})
	}
	return nil
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
	if st.q == nil {
		st.p.UploadPinned(x, buf[:nx])
		st.p.UploadPinned(y, buf[nx:nx+n])
		return true
	}
	k, d := st.next, st.dev[st.next]
	st.next ^= 1
	st.q.UploadAside(d.Slice(0, tensor.Shape{nx + n}), buf[:nx+n], st.done[k], st.ready[k])
	st.q.Await(st.ready[k])
	st.be.Copy(x, d.Slice(0, x.Shape))
	st.be.Copy(y, d.Slice(nx, y.Shape))
	st.q.Signal(st.done[k])
	return true
}

// waited records that the host has waited for the device: every slot is free.
func (st *staging) waited() {
	if st != nil {
		st.used = 0
	}
}

// free releases the slots, the device slots and the fences.
func (st *staging) free() {
	if st == nil {
		return
	}
	for _, buf := range st.slots {
		st.p.FreePinned(buf)
	}
	st.slots = nil
	if st.q != nil {
		for k := range st.dev {
			st.be.Free(st.dev[k])
			st.ready[k].Free()
			st.done[k].Free()
		}
		st.q = nil
	}
}
