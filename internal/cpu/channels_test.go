package cpu

import "testing"

func TestChannelsConcatAndSplit(t *testing.T) {
	be := New()
	// a (2,1,1,2) and b (2,2,1,2) concatenated into dst (2,3,1,2).
	a := from(be, []float32{1, 2, 3, 4}, 2, 1, 1, 2)
	b := from(be, []float32{10, 11, 12, 13, 14, 15, 16, 17}, 2, 2, 1, 2)
	dst := poisoned(be, 2, 3, 1, 2)
	be.CopyChannels(dst, a, 0)
	be.CopyChannels(dst, b, 1)
	expect(t, "dst", values(be, dst), []float64{1, 2, 10, 11, 12, 13, 3, 4, 14, 15, 16, 17}, 0)

	got := poisoned(be, 2, 2, 1, 2)
	be.ExtractChannels(got, dst, 1)
	expect(t, "b again", values(be, got), f64(values(be, b)), 0)
	noErr(t, be)
}
