package gpu

// Launch geometry shared by the CUDA files, free of cgo so that it is tested
// in every build.

// ceilDiv is ⌈a/b⌉ for a >= 0, b > 0.
func ceilDiv(a, b int) int { return (a + b - 1) / b }

// gemmTile, gemmStep are kernels/common.cuh's GEMM_BM (= GEMM_BN) and GEMM_BK.
const gemmTile, gemmStep = 64, 16

// splitK says over how many blocks (grid z) to split a GEMM's reduction of
// length kd when only tiles output tiles exist: enough for about two blocks
// per SM, each split keeping at least 8 steps of the reduction, at most 64.
func splitK(tiles, kd, sms int) int {
	want := ceilDiv(2*max(1, sms), max(1, tiles))
	most := max(1, ceilDiv(kd, gemmStep)/8)
	return max(1, min(want, most, 64))
}
