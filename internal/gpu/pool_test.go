package gpu

import (
	"errors"
	"testing"
)

func TestClassSize(t *testing.T) {
	for _, tc := range []struct{ in, want int64 }{
		{1, 256}, {256, 256}, {257, 512}, {1000, 1024}, {1 << 20, 1 << 20},
		{1<<20 + 1, 1<<20 + 1<<17}, // (1 MiB, 2 MiB]: steps of 128 KiB
		{3 << 20, 3 << 20}, {3<<20 + 1, 3<<20 + 1<<18},
	} {
		if got := classSize(tc.in); got != tc.want {
			t.Errorf("classSize(%d) = %d, want %d", tc.in, got, tc.want)
		}
		if got := classSize(tc.in); got < tc.in || float64(got) > 1.125*float64(tc.in)+256 && tc.in > 1<<20 {
			t.Errorf("classSize(%d) = %d wastes too much", tc.in, got)
		}
	}
}

var errOOM = errors.New("out of memory")

// fakeDevice hands out addresses from a fixed capacity.
type fakeDevice struct {
	capacity, used int64
	next           uintptr
	sizes          map[uintptr]int64
	allocs         int
}

func (d *fakeDevice) alloc(n int64) (uintptr, error) {
	if d.used+n > d.capacity {
		return 0, errOOM
	}
	d.allocs++
	d.used += n
	d.next += uintptr(n)
	d.sizes[d.next] = n
	return d.next, nil
}

func (d *fakeDevice) free(p uintptr) error {
	n, ok := d.sizes[p]
	if !ok {
		return errors.New("double free")
	}
	delete(d.sizes, p)
	d.used -= n
	return nil
}

func fakeOOM(err error) bool { return errors.Is(err, errOOM) }

func TestPoolReusesAndTrims(t *testing.T) {
	d := &fakeDevice{capacity: 5120, sizes: map[uintptr]int64{}}
	p := newPool(d.alloc, d.free)

	a, sa, err := p.get(1000, fakeOOM)
	if err != nil || sa != 1024 {
		t.Fatalf("get(1000) = %d, %v; want class 1024", sa, err)
	}
	p.put(a, sa)
	b, _, err := p.get(900, fakeOOM)
	if err != nil || b != a || d.allocs != 1 {
		t.Fatalf("get(900) after put: ptr %x (want %x), %d allocs (want 1), err %v", b, a, d.allocs, err)
	}
	if p.held != 1024 || p.cached != 0 {
		t.Fatalf("held %d cached %d, want 1024 0", p.held, p.cached)
	}

	// Fill the idle lists with a 2 KiB block, then ask for more than fits
	// beside it: the pool must free the idle block and retry.
	c, sc, err := p.get(2048, fakeOOM)
	if err != nil {
		t.Fatal(err)
	}
	p.put(c, sc)
	if _, _, err := p.get(3000, fakeOOM); err != nil {
		t.Fatalf("get(3000) (class 4096) with 2 KiB idle: %v (want trim and retry)", err)
	}
	if p.cached != 0 || len(d.sizes) != 2 {
		t.Fatalf("after trim: cached %d, %d live blocks; want 0, 2", p.cached, len(d.sizes))
	}
	if _, _, err := p.get(4096, fakeOOM); !fakeOOM(err) {
		t.Fatalf("get beyond capacity: err %v, want out of memory", err)
	}
}
