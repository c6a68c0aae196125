package gpu

import "testing"

func TestSplitK(t *testing.T) {
	for _, tc := range []struct {
		tiles, kd, sms, want int
	}{
		{1, 128 * 32 * 32, 132, 64}, // conv1 filter grad: few tiles, long reduction
		{64, 128 * 32 * 32, 132, 5},
		{1000, 1 << 20, 132, 1}, // enough tiles already
		{1, 100, 132, 1},        // short reduction: no split
		{2, 16 * 8 * 4, 132, 4}, // at least 8 steps of 16 per split
	} {
		if got := splitK(tc.tiles, tc.kd, tc.sms); got != tc.want {
			t.Errorf("splitK(%d tiles, kd %d, %d SMs) = %d, want %d", tc.tiles, tc.kd, tc.sms, got, tc.want)
		}
	}
}
