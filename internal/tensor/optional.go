package tensor

import "time"

// Optional interfaces: extra abilities a Backend may have. Callers test for
// them with a type assertion (`if t, ok := be.(tensor.EventTimer); ok`) and
// fall back to what every Backend offers where the answer is no.

// EventTimer is implemented by backends that queue work on a device and can
// time it there (CUDA events): the time between two marks in the queue,
// free of the host's launch overhead and of a round trip per measurement.
// Backends that run ops synchronously do not implement it; time them with
// Sync and a wall clock.
type EventTimer interface {
	// StartTimer records a start mark after the work queued so far.
	StartTimer() Timer
}

// Timer is one running measurement of an EventTimer.
type Timer interface {
	// Stop records an end mark after the work queued since the start,
	// waits for it and returns the device time between the marks. A
	// failure is recorded on the backend (its Err) and gives 0. Stop is
	// called once.
	Stop() time.Duration
}

// MemInfo is implemented by backends with memory of their own (a GPU), so
// that a run can be checked against it before any allocation. Backends
// that use the host's memory do not implement it.
type MemInfo interface {
	// DeviceMemory returns the device's free and total bytes (as found
	// when the backend started) and its name.
	DeviceMemory() (free, total int64, name string)
}
