package cpu

import "testing"

func TestShortcutPadByHand(t *testing.T) {
	be := New()
	// x (1,1,3,3) = 1..9 to K = 3 channels at stride 2: OH = ceil(3/2) = 2,
	// the one channel at offset (3-1)/2 = 1.
	x := from(be, []float32{1, 2, 3, 4, 5, 6, 7, 8, 9}, 1, 1, 3, 3)
	y := poisoned(be, 1, 3, 2, 2)
	be.ShortcutPadForward(x, y, 2)
	expect(t, "y", values(be, y), []float64{0, 0, 0, 0, 1, 3, 7, 9, 0, 0, 0, 0}, 0)

	dx := poisoned(be, 1, 1, 3, 3)
	be.ShortcutPadBackward(from(be, []float32{9, 9, 9, 9, 1, 2, 3, 4, 9, 9, 9, 9}, 1, 3, 2, 2), dx, 2)
	expect(t, "dx", values(be, dx), []float64{1, 0, 2, 0, 0, 0, 3, 0, 4}, 0)
	noErr(t, be)
}
