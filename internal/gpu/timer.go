//go:build cuda

package gpu

import (
	"time"

	"gorgonia.org/cu"

	"github.com/cnnctl/cnnctl/internal/tensor"
)

var _ tensor.EventTimer = (*Backend)(nil)

// eventTimer is a start event recorded on the default stream; Stop records
// the end event and reads the time between from the driver.
type eventTimer struct {
	be    *Backend
	start cu.Event
	live  bool // start was recorded and not yet given back
}

// StartTimer records a CUDA event after the work queued so far. Events come
// from a free list of the device goroutine (created once, freed with the
// context), so timing a layer costs two records and one wait.
func (b *Backend) StartTimer() tensor.Timer {
	t := &eventTimer{be: b}
	c := b.call("start timer")
	if !c.ok() {
		return t
	}
	b.do(c.op, func() {
		ev, err := b.event()
		if err != nil {
			c.driver("create event", err)
			return
		}
		if err := ev.Record(b.stream); err != nil {
			b.events = append(b.events, ev)
			c.driver("record start event", err)
			return
		}
		t.start, t.live = ev, true
	})
	return t
}

// Stop records the end event, waits for it and returns the device time
// since the start event (the driver's resolution is about half a
// microsecond). After an error it returns 0 and the error is the backend's.
func (t *eventTimer) Stop() time.Duration {
	b := t.be
	if !t.live {
		return 0
	}
	t.live = false
	c := b.call("stop timer")
	var d time.Duration
	b.do(c.op, func() {
		defer func() { b.events = append(b.events, t.start) }()
		if c.err != nil {
			return // an earlier error: give the event back, measure nothing
		}
		end, err := b.event()
		if err != nil {
			c.driver("create event", err)
			return
		}
		defer func() { b.events = append(b.events, end) }()
		if err := end.Record(b.stream); err != nil {
			c.driver("record end event", err)
			return
		}
		if err := end.Synchronize(); err != nil {
			c.driver("wait for end event (a kernel failed since the start)", err)
			return
		}
		ms, err := t.start.Elapsed(end)
		if err != nil {
			c.driver("elapsed time", err)
			return
		}
		d = time.Duration(ms * float64(time.Millisecond))
	})
	return d
}

// event takes an event from the free list or creates one (on the device
// goroutine, inside do).
func (b *Backend) event() (cu.Event, error) {
	if n := len(b.events); n > 0 {
		ev := b.events[n-1]
		b.events = b.events[:n-1]
		return ev, nil
	}
	return cu.MakeEvent(cu.DefaultEvent)
}
