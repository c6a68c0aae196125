//go:build amd64 && !purego

#include "textflag.h"

// The batch norm's per-run loops (batchnorm_fast.go). The sums keep 32
// lanes in four accumulators, d = x-s (or dy and dy·(x-mean)) added to
// lane i mod 32 of the blocks of 32, then lane i mod 8 of accumulator 0
// for the blocks of 8 after them; the accumulators are then added as
// (a0+a1)+(a2+a3), the halves of the result, then lanes (0+2)+(1+3).
// sumLanes (batchnorm_fast.go) is the same order in Go. Every product
// and sum is rounded on its own (no FMA), as Go computes it.

// HSUM reduces Y acc (lanes 0..7) to its low float: h_i = l_i + l_(i+4),
// then (h0+h2) + (h1+h3). Clobbers Y tmp.
#define HSUM(acc, accx, tmpx) \
	VEXTRACTF128 $1, acc, tmpx; \
	VADDPS tmpx, accx, accx; \
	VMOVHLPS accx, accx, tmpx; \
	VADDPS tmpx, accx, accx; \
	VMOVSHDUP accx, tmpx; \
	VADDSS tmpx, accx, accx

// func sumShiftedAVX2(x *float32, n int, s float32, out *[2]float32)
//
// out = {Σ(x-s), Σ(x-s)²} over n elements (a multiple of 8, at least 8).
TEXT ·sumShiftedAVX2(SB), NOSPLIT, $0-32
	MOVQ x+0(FP), SI
	MOVQ n+8(FP), CX
	VBROADCASTSS s+16(FP), Y15
	MOVQ out+24(FP), DI
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	CMPQ CX, $32
	JLT ss8
ss32:
	VMOVUPS 0(SI), Y8
	VMOVUPS 32(SI), Y9
	VMOVUPS 64(SI), Y10
	VMOVUPS 96(SI), Y11
	VSUBPS Y15, Y8, Y8
	VSUBPS Y15, Y9, Y9
	VSUBPS Y15, Y10, Y10
	VSUBPS Y15, Y11, Y11
	VADDPS Y8, Y0, Y0
	VADDPS Y9, Y1, Y1
	VADDPS Y10, Y2, Y2
	VADDPS Y11, Y3, Y3
	VMULPS Y8, Y8, Y8
	VMULPS Y9, Y9, Y9
	VMULPS Y10, Y10, Y10
	VMULPS Y11, Y11, Y11
	VADDPS Y8, Y4, Y4
	VADDPS Y9, Y5, Y5
	VADDPS Y10, Y6, Y6
	VADDPS Y11, Y7, Y7
	ADDQ $128, SI
	SUBQ $32, CX
	CMPQ CX, $32
	JGE ss32
ss8:
	TESTQ CX, CX
	JZ ssdone
	VMOVUPS 0(SI), Y8
	VSUBPS Y15, Y8, Y8
	VADDPS Y8, Y0, Y0
	VMULPS Y8, Y8, Y8
	VADDPS Y8, Y4, Y4
	ADDQ $32, SI
	SUBQ $8, CX
	JMP ss8
ssdone:
	VADDPS Y1, Y0, Y0
	VADDPS Y3, Y2, Y2
	VADDPS Y2, Y0, Y0
	VADDPS Y5, Y4, Y4
	VADDPS Y7, Y6, Y6
	VADDPS Y6, Y4, Y4
	HSUM(Y0, X0, X8)
	HSUM(Y4, X4, X9)
	VMOVSS X0, 0(DI)
	VMOVSS X4, 4(DI)
	VZEROUPPER
	RET

// func sumDotAVX2(x, dy *float32, n int, mean float32, out *[2]float32)
//
// out = {Σdy, Σdy·(x-mean)} over n elements (a multiple of 8, at least 8).
TEXT ·sumDotAVX2(SB), NOSPLIT, $0-40
	MOVQ x+0(FP), SI
	MOVQ dy+8(FP), DX
	MOVQ n+16(FP), CX
	VBROADCASTSS mean+24(FP), Y15
	MOVQ out+32(FP), DI
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	CMPQ CX, $32
	JLT sd8
sd32:
	VMOVUPS 0(DX), Y8
	VMOVUPS 32(DX), Y9
	VMOVUPS 64(DX), Y10
	VMOVUPS 96(DX), Y11
	VADDPS Y8, Y0, Y0
	VADDPS Y9, Y1, Y1
	VADDPS Y10, Y2, Y2
	VADDPS Y11, Y3, Y3
	VMOVUPS 0(SI), Y12
	VSUBPS Y15, Y12, Y12
	VMULPS Y12, Y8, Y8
	VADDPS Y8, Y4, Y4
	VMOVUPS 32(SI), Y13
	VSUBPS Y15, Y13, Y13
	VMULPS Y13, Y9, Y9
	VADDPS Y9, Y5, Y5
	VMOVUPS 64(SI), Y12
	VSUBPS Y15, Y12, Y12
	VMULPS Y12, Y10, Y10
	VADDPS Y10, Y6, Y6
	VMOVUPS 96(SI), Y13
	VSUBPS Y15, Y13, Y13
	VMULPS Y13, Y11, Y11
	VADDPS Y11, Y7, Y7
	ADDQ $128, SI
	ADDQ $128, DX
	SUBQ $32, CX
	CMPQ CX, $32
	JGE sd32
sd8:
	TESTQ CX, CX
	JZ sddone
	VMOVUPS 0(DX), Y8
	VADDPS Y8, Y0, Y0
	VMOVUPS 0(SI), Y12
	VSUBPS Y15, Y12, Y12
	VMULPS Y12, Y8, Y8
	VADDPS Y8, Y4, Y4
	ADDQ $32, SI
	ADDQ $32, DX
	SUBQ $8, CX
	JMP sd8
sddone:
	VADDPS Y1, Y0, Y0
	VADDPS Y3, Y2, Y2
	VADDPS Y2, Y0, Y0
	VADDPS Y5, Y4, Y4
	VADDPS Y7, Y6, Y6
	VADDPS Y6, Y4, Y4
	HSUM(Y0, X0, X8)
	HSUM(Y4, X4, X9)
	VMOVSS X0, 0(DI)
	VMOVSS X4, 4(DI)
	VZEROUPPER
	RET

// func bnBackwardAVX2(x, dy, dx *float32, n int, c *[4]float32)
//
// dx = (a·dy + b·(x-mean)) + c for n elements (a multiple of 8, at least
// 8), c = {a, b, c, mean}, each operation rounded on its own: the bits of
// finishBackward's Go loop. dx may be dy.
TEXT ·bnBackwardAVX2(SB), NOSPLIT, $0-40
	MOVQ x+0(FP), SI
	MOVQ dy+8(FP), DX
	MOVQ dx+16(FP), DI
	MOVQ n+24(FP), CX
	MOVQ c+32(FP), AX
	VBROADCASTSS 0(AX), Y12
	VBROADCASTSS 4(AX), Y13
	VBROADCASTSS 8(AX), Y14
	VBROADCASTSS 12(AX), Y15
	CMPQ CX, $16
	JLT bb8
bb16:
	VMOVUPS 0(SI), Y0
	VMOVUPS 32(SI), Y1
	VMOVUPS 0(DX), Y2
	VMOVUPS 32(DX), Y3
	VSUBPS Y15, Y0, Y0
	VSUBPS Y15, Y1, Y1
	VMULPS Y13, Y0, Y0
	VMULPS Y13, Y1, Y1
	VMULPS Y12, Y2, Y2
	VMULPS Y12, Y3, Y3
	VADDPS Y0, Y2, Y2
	VADDPS Y1, Y3, Y3
	VADDPS Y14, Y2, Y2
	VADDPS Y14, Y3, Y3
	VMOVUPS Y2, 0(DI)
	VMOVUPS Y3, 32(DI)
	ADDQ $64, SI
	ADDQ $64, DX
	ADDQ $64, DI
	SUBQ $16, CX
	CMPQ CX, $16
	JGE bb16
bb8:
	TESTQ CX, CX
	JZ bbdone
	VMOVUPS 0(SI), Y0
	VMOVUPS 0(DX), Y2
	VSUBPS Y15, Y0, Y0
	VMULPS Y13, Y0, Y0
	VMULPS Y12, Y2, Y2
	VADDPS Y0, Y2, Y2
	VADDPS Y14, Y2, Y2
	VMOVUPS Y2, 0(DI)
bbdone:
	VZEROUPPER
	RET
