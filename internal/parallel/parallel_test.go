package parallel

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
)

// record is a Body that notes which piece covered each index and how often
// each index was visited.
type record struct {
	piece []int32
	hits  []atomic.Int32
	// bounds[w] is the range piece w was given.
	bounds [][2]int
	calls  atomic.Int32
}

func newRecord(n, pieces int) *record {
	return &record{piece: make([]int32, n), hits: make([]atomic.Int32, n), bounds: make([][2]int, pieces)}
}

func (r *record) Run(w, lo, hi int) {
	r.calls.Add(1)
	r.bounds[w] = [2]int{lo, hi}
	for i := lo; i < hi; i++ {
		r.piece[i] = int32(w)
		r.hits[i].Add(1)
	}
}

// check fails unless every index was visited once, by the piece the split
// formula assigns it, and piece w got exactly [w·n/pieces, (w+1)·n/pieces).
func (r *record) check(t *testing.T, n, pieces int) {
	t.Helper()
	if got := int(r.calls.Load()); got != pieces {
		t.Errorf("n=%d pieces=%d: body ran %d times", n, pieces, got)
	}
	for w := range pieces {
		if want := [2]int{w * n / pieces, (w + 1) * n / pieces}; r.bounds[w] != want {
			t.Errorf("n=%d pieces=%d: piece %d got %v, want %v", n, pieces, w, r.bounds[w], want)
		}
	}
	for i := range n {
		if h := r.hits[i].Load(); h != 1 {
			t.Fatalf("n=%d pieces=%d: index %d visited %d times", n, pieces, i, h)
		}
	}
}

func TestSplitCoversEachIndexOnce(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	for _, procs := range []int{1, 2, 3, 8} {
		runtime.GOMAXPROCS(procs)
		for _, c := range []struct{ n, pieces int }{{1, 1}, {5, 1}, {2, 2}, {7, 3}, {100, 8}, {1000, 7}, {65536, 64}} {
			for range 20 {
				r := newRecord(c.n, c.pieces)
				Split(c.n, c.pieces, r)
				r.check(t, c.n, c.pieces)
			}
		}
	}
}

func TestSplitEmpty(t *testing.T) {
	Split(0, 4, Func(func(w, lo, hi int) { t.Errorf("body ran on an empty loop: piece %d [%d, %d)", w, lo, hi) }))
}

// TestSplitNested runs loops from inside pieces, as a product inside a
// convolution's per-image piece would: every index of every inner loop is
// covered once and nothing deadlocks.
func TestSplitNested(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	const outer, inner = 16, 1000
	recs := make([]*record, outer)
	for i := range recs {
		recs[i] = newRecord(inner, 5)
	}
	Split(outer, 4, Func(func(_, lo, hi int) {
		for i := lo; i < hi; i++ {
			Split(inner, 5, recs[i])
		}
	}))
	for _, r := range recs {
		r.check(t, inner, 5)
	}
}

// TestSplitConcurrentCallers runs loops from several goroutines at once
// (two backends in one process): each gets its own pieces, each once.
func TestSplitConcurrentCallers(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(3))
	var wg sync.WaitGroup
	for g := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for it := range 200 {
				n, pieces := 50+g*31+it, 1+(g+it)%5
				r := newRecord(n, pieces)
				Split(n, pieces, r)
				r.check(t, n, pieces)
			}
		}()
	}
	wg.Wait()
}

// sum is a Body that writes each piece's partial sum of its range.
type sum struct {
	x     []float32
	parts []float32
}

func (s *sum) Run(w, lo, hi int) {
	var acc float32
	for _, v := range s.x[lo:hi] {
		acc += v
	}
	s.parts[w] = acc
}

// TestSplitAllocs checks that a parallel loop allocates nothing once the
// workers are up: no goroutine, closure, WaitGroup or job per call. It
// counts the process's mallocs around many loops at GOMAXPROCS 2
// (testing.AllocsPerRun would set GOMAXPROCS to 1, where nothing runs in
// parallel), the least of several rounds, since the runtime and other
// goroutines can only add to a round.
func TestSplitAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	s := &sum{x: make([]float32, 4096), parts: make([]float32, 2)}
	for i := range s.x {
		s.x[i] = float32(i % 7)
	}
	const loops = 1000
	Split(len(s.x), 2, s) // the workers start
	least := uint64(1 << 62)
	for range 5 {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for range loops {
			Split(len(s.x), 2, s)
		}
		runtime.ReadMemStats(&after)
		least = min(least, after.Mallocs-before.Mallocs)
	}
	t.Logf("%d loops of 2 pieces: %d allocations", loops, least)
	if least >= loops/10 {
		t.Errorf("%d parallel loops made %d allocations, want none per loop", loops, least)
	}
	if got, want := s.parts[0]+s.parts[1], float32(0); got == want {
		t.Errorf("the sum's pieces did not run")
	}
}
