package cpu

import "testing"

// Known answers of Philox4x32-10 from Random123's tests/kat_vectors (the
// same vectors TensorFlow's Philox tests use).
func TestPhilox4x32KnownAnswers(t *testing.T) {
	tests := []struct {
		ctr  [4]uint32
		key  [2]uint32
		want [4]uint32
	}{
		{[4]uint32{0, 0, 0, 0}, [2]uint32{0, 0},
			[4]uint32{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
		{[4]uint32{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, [2]uint32{0xffffffff, 0xffffffff},
			[4]uint32{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
		{[4]uint32{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, [2]uint32{0xa4093822, 0x299f31d0},
			[4]uint32{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
	}
	for _, tt := range tests {
		if got := philox4x32(tt.ctr, tt.key); got != tt.want {
			t.Errorf("philox4x32(%#x, %#x) = %#x, want %#x", tt.ctr, tt.key, got, tt.want)
		}
	}
}

func TestPhiloxUniformRecipe(t *testing.T) {
	// Element i = 5 + 7<<32, counter 3 + 9<<32, seed 11 + 13<<32: the words
	// are split low half first, as philox.go documents.
	out := philox4x32([4]uint32{5, 7, 3, 9}, [2]uint32{11, 13})
	want := float32(out[0]>>8) / (1 << 24)
	if got := philoxUniform(11+13<<32, 3+9<<32, 5+7<<32); got != want {
		t.Errorf("philoxUniform = %v, want %v", got, want)
	}
	// ctr = key = 0 gives out[0] = 0x6627e8d5, so u = 0x6627e8 / 2^24.
	if got, want := philoxUniform(0, 0, 0), float32(0x6627e8)/(1<<24); got != want {
		t.Errorf("philoxUniform(0, 0, 0) = %v, want %v", got, want)
	}
}
