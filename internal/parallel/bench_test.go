package parallel

import (
	"fmt"
	"sync"
	"testing"
)

// spawn is the split the pool replaced: a goroutine and a WaitGroup per
// loop, piece 0 on the caller. It is the peer BenchmarkSplit measures the
// pool against.
func spawn(n, pieces int, body Body) {
	var wg sync.WaitGroup
	wg.Add(pieces - 1)
	for w := 1; w < pieces; w++ {
		go func() {
			defer wg.Done()
			body.Run(w, w*n/pieces, (w+1)*n/pieces)
		}()
	}
	body.Run(0, 0, n/pieces)
	wg.Wait()
}

// BenchmarkSplit times one parallel loop of 2 pieces over n floats (a sum
// per piece), through the pool and through goroutines started per loop,
// at the GOMAXPROCS the benchmark runs with (-cpu 2).
//
//	go test -run '^$' -bench Split -cpu 2 -count 5 ./internal/parallel
func BenchmarkSplit(b *testing.B) {
	for _, n := range []int{1 << 10, 1 << 14, 1 << 18} {
		s := &sum{x: make([]float32, n), parts: make([]float32, 2)}
		for _, impl := range []struct {
			name string
			run  func(n, pieces int, body Body)
		}{{"pool", Split}, {"spawn", spawn}} {
			b.Run(fmt.Sprintf("%s/n=%d", impl.name, n), func(b *testing.B) {
				b.ReportAllocs()
				for range b.N {
					impl.run(n, 2, s)
				}
			})
		}
	}
}
