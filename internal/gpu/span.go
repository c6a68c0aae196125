//go:build cuda

package gpu

import (
	"time"

	"gorgonia.org/cu"

	"github.com/cnnctl/cnnctl/internal/tensor"
)

var _ tensor.SpanTimer = (*Backend)(nil)

// span is a pair of events of the free list (timer.go) on the backend's
// stream: recording either does not wait; Elapsed waits for the end.
type span struct {
	be         *Backend
	start, end cu.Event
	started    bool
	ended      bool
}

// StartSpan records a start event after the work queued so far.
func (b *Backend) StartSpan() tensor.Span {
	s := &span{be: b}
	c := b.call("start span")
	if !c.ok() {
		return s
	}
	b.do(c.op, func() { s.start, s.started = s.record(c, "record span start") })
	return s
}

// record takes an event and records it on the stream (device goroutine).
func (s *span) record(c *call, what string) (cu.Event, bool) {
	b := s.be
	ev, err := b.event()
	if err != nil {
		c.driver("create event", err)
		return ev, false
	}
	if err := ev.Record(b.stream); err != nil {
		b.events = append(b.events, ev)
		c.driver(what, err)
		return ev, false
	}
	return ev, true
}

// End records the end event.
func (s *span) End() {
	b := s.be
	if !s.started {
		return
	}
	c := b.call("end span")
	if !c.ok() {
		return
	}
	b.do(c.op, func() { s.end, s.ended = s.record(c, "record span end") })
}

// Elapsed waits for the end event, returns the time since the start and
// gives both events back.
func (s *span) Elapsed() time.Duration {
	b := s.be
	if !s.started {
		return 0
	}
	c := b.call("span elapsed")
	var d time.Duration
	b.do(c.op, func() {
		defer func() {
			b.events = append(b.events, s.start)
			if s.ended {
				b.events = append(b.events, s.end)
			}
			s.started, s.ended = false, false
		}()
		if c.err != nil || !s.ended {
			return
		}
		if err := s.end.Synchronize(); err != nil {
			c.driver("wait for span end (a kernel failed since the start)", err)
			return
		}
		ms, err := s.start.Elapsed(s.end)
		if err != nil {
			c.driver("span elapsed time", err)
			return
		}
		d = time.Duration(ms * float64(time.Millisecond))
	})
	return d
}
