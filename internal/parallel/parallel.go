// Package parallel is the CPU engine's worker pool: the one place through
// which every parallel loop of internal/cpu and internal/gemm runs.
//
// A loop is split into a fixed number of pieces, piece w covering
// [w·n/pieces, (w+1)·n/pieces), and piece w is always passed to the body as
// w: the split, and so every per-piece partial result and the order in
// which the caller reduces them, depends on (n, pieces) alone. Which
// goroutine runs a piece does not change its bits, so the engine's results
// do not depend on scheduling.
//
// The workers are goroutines started once, on the first parallel loop,
// and added as GOMAXPROCS grows (up to GOMAXPROCS−1 of them: the caller is
// the other worker). Between loops they are parked on a one-slot channel
// each. A loop is sent to as many workers as it has pieces beyond the
// caller's, and the caller and the workers take pieces from an atomic
// counter, so a worker that the operating system has not run yet delays
// nothing: the caller takes its pieces. A job a worker has not taken yet
// is replaced by the next one, never queued behind. The caller returns
// when every piece is done. A loop allocates nothing: its job record comes
// from a free list, the wake and completion signals are sends on buffered
// channels, and a body that is a pointer or a func value is stored in the
// Body interface as it is.
//
// Loops may run from several goroutines at once (each has its own job) and
// may nest (a piece that starts a loop becomes that loop's caller): no
// goroutine ever waits for a piece that nobody has taken.
package parallel

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// Body is a parallel loop's work: Run computes piece w, the range [lo, hi).
type Body interface {
	Run(w, lo, hi int)
}

// Func is a Body that is a function of the piece and its range.
type Func func(w, lo, hi int)

// Run calls f(w, lo, hi).
func (f Func) Run(w, lo, hi int) { f(w, lo, hi) }

// Range is a Body that needs only the range, not the piece.
type Range func(lo, hi int)

// Run calls f(lo, hi).
func (f Range) Run(_, lo, hi int) { f(lo, hi) }

// Threads is how many goroutines a loop may use: GOMAXPROCS, the engine's
// thread count.
func Threads() int { return runtime.GOMAXPROCS(0) }

// Split runs body on pieces contiguous pieces of [0, n): piece w is
// [w·n/pieces, (w+1)·n/pieces), computed by body.Run(w, lo, hi) on the
// calling goroutine or a pool worker, each piece exactly once. It returns
// when all are done. With pieces ≤ 1, or one thread, the pieces run in
// order on the caller. With more pieces than n some pieces are empty
// (lo == hi); body still runs for them.
func Split(n, pieces int, body Body) {
	if n <= 0 {
		return
	}
	if pieces <= 1 {
		body.Run(0, 0, n)
		return
	}
	helpers := min(pieces, Threads()) - 1
	if helpers <= 0 {
		for w := range pieces {
			body.Run(w, w*n/pieces, (w+1)*n/pieces)
		}
		return
	}
	thePool.run(n, pieces, helpers, body)
}

// job is one loop in flight.
type job struct {
	body      Body
	n, pieces int
	next      atomic.Int64 // the next piece to hand out
	left      atomic.Int64 // pieces not finished
	// refs counts the goroutines that may still read the job: the caller
	// and every worker it was sent to. The last one to let go puts it
	// back on the free list.
	refs atomic.Int64
	// done carries one token from the worker that finishes the last
	// piece to the caller, when the caller did not finish it itself.
	done chan struct{}
}

// work runs pieces until none is left to take and reports whether this
// goroutine finished the loop's last piece.
func (j *job) work() (last bool) {
	for {
		w := int(j.next.Add(1) - 1)
		if w >= j.pieces {
			return false
		}
		j.body.Run(w, w*j.n/j.pieces, (w+1)*j.n/j.pieces)
		if j.left.Add(-1) == 0 {
			return true
		}
	}
}

// pool is the process's workers: one set, as GOMAXPROCS is one setting.
type pool struct {
	mu sync.Mutex // held while starting workers
	// workers is every worker started, replaced (never changed) when
	// more are started, so callers read it without the lock.
	workers atomic.Pointer[[]*worker]
	free    chan *job // finished jobs, for reuse
}

// worker is one pool goroutine's mailbox: capacity 1, the latest job sent
// to it that it has not taken yet.
type worker struct {
	wake chan *job
}

var thePool = &pool{free: make(chan *job, 64)}

// run is Split's parallel case: helpers workers are sent the job to share
// its pieces with the caller. A worker still busy gets it in its mailbox
// and takes it when free (finding nothing left, if the caller was
// quicker); a job a worker has not taken yet is replaced by this one, so
// wake-ups never queue up behind a worker the operating system is not
// running, and no worker is passed over because it was late once.
func (p *pool) run(n, pieces, helpers int, body Body) {
	ws := p.workers.Load()
	if ws == nil || len(*ws) < helpers {
		ws = p.start(helpers)
	}
	var j *job
	select {
	case j = <-p.free:
	default:
		j = &job{done: make(chan struct{}, 1)}
	}
	j.body, j.n, j.pieces = body, n, pieces
	j.next.Store(0)
	j.left.Store(int64(pieces))
	j.refs.Store(1)
	for _, w := range (*ws)[:helpers] {
		select {
		case old := <-w.wake: // not taken: this job replaces it
			p.release(old)
		default:
		}
		j.refs.Add(1)
		select {
		case w.wake <- j:
		default: // another caller's job got there first
			j.refs.Add(-1)
		}
	}
	if !j.work() {
		<-j.done
	}
	j.body = nil
	p.release(j)
}

// release drops one reference to j; the last returns it to the free list.
func (p *pool) release(j *job) {
	if j.refs.Add(-1) == 0 {
		select {
		case p.free <- j:
		default:
		}
	}
}

// start brings the workers up to n and returns them.
func (p *pool) start(n int) *[]*worker {
	p.mu.Lock()
	defer p.mu.Unlock()
	var ws []*worker
	if old := p.workers.Load(); old != nil {
		ws = *old
	}
	if len(ws) >= n {
		return &ws
	}
	ws = append([]*worker(nil), ws...)
	for len(ws) < n {
		w := &worker{wake: make(chan *job, 1)}
		go p.work(w)
		ws = append(ws, w)
	}
	p.workers.Store(&ws)
	return &ws
}

// work is worker w's life: it helps with every job it takes.
func (p *pool) work(w *worker) {
	for j := range w.wake {
		last := j.work()
		// Let go before the signal: the caller still holds j, so it
		// cannot be reused before the caller has the token, and once the
		// caller lets go j is free at once for the next loop.
		p.release(j)
		if last {
			j.done <- struct{}{}
		}
	}
}
