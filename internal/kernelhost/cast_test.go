//go:build cgo

package kernelhost

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/cnnctl/cnnctl/internal/tensor"
	"github.com/cnnctl/cnnctl/internal/tensor/tensortest"
)

// TestBF16RoundBits: the GPU's rounding gives tensor.ToBF16's bits on the
// specials (NaN, ±Inf, ±0, subnormals, ties) and on random patterns,
// NaNs included.
func TestBF16RoundBits(t *testing.T) {
	for _, s := range tensortest.CastSpecials {
		if got := BF16RoundBits(s.F32); got != s.BF16 {
			t.Errorf("bf16_round_bits(%#08x) = %#04x, want %#04x (%s)", s.F32, got, s.BF16, s.Why)
		}
	}
	r := rand.New(rand.NewPCG(5, 6))
	for i := 0; i < 1<<20; i++ {
		u := r.Uint32()
		if i%3 == 1 {
			u = u&0xffff0000 | 0x8000
		}
		if got, want := BF16RoundBits(u), tensor.ToBF16(math.Float32frombits(u)); got != want {
			t.Fatalf("bf16_round_bits(%#08x) = %#04x, tensor.ToBF16 %#04x", u, got, want)
		}
	}
}
