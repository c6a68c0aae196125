package data

import (
	"fmt"
	"math/rand/v2"
	"sync"
)

// LoaderOptions configures a Loader.
type LoaderOptions struct {
	BatchSize int
	Shuffle   bool  // a new seeded order each epoch; false: the split's order
	Seed      int64 // with the epoch, fixes the order and the augmentation
	// Mean and Std are per channel, applied to pixel/255; nil means the
	// identity (mean 0, std 1). Use Dataset.Mean and Dataset.Std for the
	// data set's defaults.
	Mean, Std []float32
	Augment   Augment
	DropLast  bool // leave out the last, short batch
	Workers   int  // goroutines preparing batches; 0 means 2
	Prefetch  int  // batches prepared ahead of the consumer; 0 means 2*Workers
}

// Augment is the training augmentation, applied per image.
type Augment struct {
	// Pad > 0: random crop of the original size from the image padded with
	// Pad zero pixels on each side (torchvision RandomCrop(size, padding=Pad)).
	Pad int
	// HFlip: mirror left-right with probability 1/2.
	HFlip bool
}

// Batch is one batch on the host.
type Batch struct {
	X      []float32 // (N,C,H,W), normalised and augmented
	Y      []float32 // (N), class indices as float32
	Labels []int32   // (N), the same class indices
	N      int
	Index  int // the batch's index within its epoch
}

// Loader prepares the batches of one split in background goroutines, into a
// fixed set of reusable buffers (no allocation per batch). Epoch e's order
// and augmentation depend only on (Seed, e), and batch b's augmentation only
// on (Seed, e, b), so the number of workers and skipping batches do not
// change them. One goroutine consumes one iterator at a time.
type Loader struct {
	s        *Split
	o        LoaderOptions
	nb       int
	lut      [][256]float32 // per channel: pixel value → normalised value
	bufs     []*buffer
	mu       sync.Mutex
	active   *Iterator
	chw      int
	prefetch int
}

type buffer struct {
	b     int // batch index
	batch Batch
	done  chan struct{}
	pcg   rand.PCG
}

// NewLoader checks the options and allocates the batch buffers.
func NewLoader(s *Split, o LoaderOptions) (*Loader, error) {
	if s == nil || s.N == 0 {
		return nil, fmt.Errorf("loader: empty split")
	}
	if o.BatchSize <= 0 {
		return nil, fmt.Errorf("loader: batch size %d, want > 0", o.BatchSize)
	}
	if o.Mean == nil && o.Std == nil {
		o.Mean, o.Std = make([]float32, s.C), make([]float32, s.C)
		for c := range o.Std {
			o.Std[c] = 1
		}
	}
	if len(o.Mean) != s.C || len(o.Std) != s.C {
		return nil, fmt.Errorf("loader: %d means and %d stds for %d channels", len(o.Mean), len(o.Std), s.C)
	}
	for c, v := range o.Std {
		if !(v > 0) {
			return nil, fmt.Errorf("loader: std[%d] = %g, want > 0", c, v)
		}
	}
	if o.Augment.Pad < 0 || o.Augment.Pad > s.H || o.Augment.Pad > s.W {
		return nil, fmt.Errorf("loader: crop padding %d not in [0,%d]", o.Augment.Pad, min(s.H, s.W))
	}
	if o.Workers <= 0 {
		o.Workers = 2
	}
	if o.Prefetch <= 0 {
		o.Prefetch = 2 * o.Workers
	}
	l := &Loader{s: s, o: o, chw: s.C * s.H * s.W, prefetch: o.Prefetch}
	l.nb = s.N / o.BatchSize
	if !o.DropLast && s.N%o.BatchSize != 0 {
		l.nb++
	}
	if l.nb == 0 {
		return nil, fmt.Errorf("loader: %d images make no full batch of %d (DropLast)", s.N, o.BatchSize)
	}
	l.lut = make([][256]float32, s.C)
	for c := range s.C {
		for p := range 256 {
			l.lut[c][p] = (float32(p)/255 - o.Mean[c]) / o.Std[c]
		}
	}
	// One buffer per prefetched batch plus the one the consumer holds.
	for range o.Prefetch + 1 {
		l.bufs = append(l.bufs, &buffer{
			batch: Batch{
				X:      make([]float32, o.BatchSize*l.chw),
				Y:      make([]float32, o.BatchSize),
				Labels: make([]int32, o.BatchSize),
			},
			done: make(chan struct{}, 1),
		})
	}
	return l, nil
}

// Batches is the number of batches per epoch.
func (l *Loader) Batches() int { return l.nb }

// Images is the number of images per epoch.
func (l *Loader) Images() int {
	if l.o.DropLast {
		return l.nb * l.o.BatchSize
	}
	return l.s.N
}

// Order returns epoch e's image order.
func (l *Loader) Order(e int) []int {
	order := make([]int, l.s.N)
	for i := range order {
		order[i] = i
	}
	if l.o.Shuffle {
		rng := rand.New(rand.NewPCG(uint64(l.o.Seed), mix(uint64(e), 0)))
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	}
	return order
}

// mix derives a stream id from the epoch and the batch (splitmix64 finaliser).
func mix(e, b uint64) uint64 {
	z := e*0x9e3779b97f4a7c15 + b + 0x632be59bd9b4e019
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// Iterator walks one epoch's batches.
type Iterator struct {
	l       *Loader
	order   []int
	free    chan *buffer
	jobs    chan *buffer
	pending chan *buffer
	quit    chan struct{}
	wg      sync.WaitGroup
	held    *buffer
	closed  bool
}

// Epoch starts epoch e (0-based), skipping its first skip batches, and closes
// the loader's previous iterator if still open: one iterator at a time.
func (l *Loader) Epoch(e, skip int) *Iterator {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.active != nil {
		l.active.close()
	}
	n := len(l.bufs)
	it := &Iterator{
		l:       l,
		order:   l.Order(e),
		free:    make(chan *buffer, n),
		jobs:    make(chan *buffer, n),
		pending: make(chan *buffer, n),
		quit:    make(chan struct{}),
	}
	for _, b := range l.bufs {
		select {
		case <-b.done:
		default:
		}
		it.free <- b
	}
	l.active = it
	it.wg.Add(1 + l.o.Workers)
	go it.dispatch(max(skip, 0))
	for range l.o.Workers {
		go it.work(uint64(e))
	}
	return it
}

// dispatch hands out buffers in batch order; the consumer receives them in
// the same order from pending.
func (it *Iterator) dispatch(skip int) {
	defer it.wg.Done()
	defer close(it.jobs)
	defer close(it.pending)
	for b := skip; b < it.l.nb; b++ {
		var buf *buffer
		select {
		case buf = <-it.free:
		case <-it.quit:
			return
		}
		buf.b = b
		it.pending <- buf // capacity = number of buffers: never blocks
		it.jobs <- buf
	}
}

func (it *Iterator) work(e uint64) {
	defer it.wg.Done()
	for buf := range it.jobs {
		select {
		case <-it.quit:
		default:
			it.l.fill(buf, it.order, e)
		}
		buf.done <- struct{}{}
	}
}

// fill prepares batch buf.b of an epoch with the given order.
func (l *Loader) fill(buf *buffer, order []int, e uint64) {
	s, bs := l.s, l.o.BatchSize
	lo := buf.b * bs
	n := min(bs, s.N-lo)
	bt := &buf.batch
	bt.N, bt.Index = n, buf.b
	bt.X, bt.Y, bt.Labels = bt.X[:n*l.chw], bt.Y[:n], bt.Labels[:n]
	buf.pcg.Seed(uint64(l.o.Seed), mix(e, uint64(buf.b)+1))
	pad, flip := l.o.Augment.Pad, l.o.Augment.HFlip
	for i := range n {
		idx := order[lo+i]
		bt.Labels[i] = s.Labels[idx]
		bt.Y[i] = float32(s.Labels[idx])
		dy, dx, mirror := draw(&buf.pcg, pad, flip)
		l.transform(bt.X[i*l.chw:(i+1)*l.chw], s.Image(idx), dy, dx, mirror)
	}
}

// draw is one image's augmentation from the batch's generator: the crop
// offsets (dy, dx) in [-pad, pad], then the flip.
func draw(pcg *rand.PCG, pad int, flip bool) (dy, dx int, mirror bool) {
	if pad > 0 {
		dy = int(pcg.Uint64()%uint64(2*pad+1)) - pad
		dx = int(pcg.Uint64()%uint64(2*pad+1)) - pad
	}
	return dy, dx, flip && pcg.Uint64()&1 == 1
}

// Tables returns epoch e's draws as tables, for a backend that makes the
// batches itself (tensor.DataSet): order (N), the image at each position
// (Order(e)), and crops (N,3), each position's (dy+Pad, dx+Pad, flip),
// drawn by the same generators, in the same sequence, as the batches of
// Epoch(e, 0). With DropLast the positions of the left-out batch are
// drawn too (no batch uses them).
func (l *Loader) Tables(e int) (order, crops []int32) {
	ord := l.Order(e)
	order, crops = make([]int32, len(ord)), make([]int32, 3*len(ord))
	pad, flip := l.o.Augment.Pad, l.o.Augment.HFlip
	var pcg rand.PCG
	for q, i := range ord {
		if q%l.o.BatchSize == 0 {
			pcg.Seed(uint64(l.o.Seed), mix(uint64(e), uint64(q/l.o.BatchSize)+1))
		}
		dy, dx, mirror := draw(&pcg, pad, flip)
		order[q] = int32(i)
		crops[3*q], crops[3*q+1] = int32(dy+pad), int32(dx+pad)
		if mirror {
			crops[3*q+2] = 1
		}
	}
	return order, crops
}

// Split is the split the loader reads.
func (l *Loader) Split() *Split { return l.s }

// Options are the loader's options, defaults filled in (Mean and Std set).
func (l *Loader) Options() LoaderOptions { return l.o }

// transform writes dst (C,H,W) = normalise(crop/flip(src (C,H,W))): output
// pixel (y, x) is source pixel (y+dy, x+dx) of the zero-padded image, read
// at column W-1-x first when mirror.
func (l *Loader) transform(dst []float32, src []uint8, dy, dx int, mirror bool) {
	h, w := l.s.H, l.s.W
	for c := range l.s.C {
		lut := &l.lut[c]
		zero := lut[0]
		plane := src[c*h*w : (c+1)*h*w]
		out := dst[c*h*w : (c+1)*h*w]
		for y := range h {
			sy := y + dy
			row := out[y*w : (y+1)*w]
			if sy < 0 || sy >= h {
				for x := range row {
					row[x] = zero
				}
				continue
			}
			srow := plane[sy*w : (sy+1)*w]
			if dx == 0 && !mirror {
				for x, p := range srow {
					row[x] = lut[p]
				}
				continue
			}
			for x := range row {
				sx := x + dx
				if mirror {
					sx = w - 1 - x + dx
				}
				if sx < 0 || sx >= w {
					row[x] = zero
				} else {
					row[x] = lut[srow[sx]]
				}
			}
		}
	}
}

// Next returns the next batch, or false at the end of the epoch. A batch
// stays valid until the following call of Next or Close.
func (it *Iterator) Next() (*Batch, bool) {
	if it.closed {
		return nil, false
	}
	if it.held != nil {
		it.free <- it.held
		it.held = nil
	}
	buf, ok := <-it.pending
	if !ok {
		return nil, false
	}
	<-buf.done
	it.held = buf
	return &buf.batch, true
}

// Close stops the background goroutines and waits for them.
func (it *Iterator) Close() {
	it.l.mu.Lock()
	defer it.l.mu.Unlock()
	it.close()
}

func (it *Iterator) close() {
	if it.closed {
		return
	}
	it.closed = true
	close(it.quit)
	it.wg.Wait()
	if it.l.active == it {
		it.l.active = nil
	}
}
