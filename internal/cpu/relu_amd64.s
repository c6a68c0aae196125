//go:build amd64 && !purego

#include "textflag.h"

// func reluAVX2(x, y *float32, n int)
//
// y = x where x > 0 or x is NaN, else +0, for n elements (a multiple of 32,
// at least 32): the mask of CMPPS "not less or equal" (true for NaN) ANDed
// with x, as the reference's loop decides.
TEXT ·reluAVX2(SB), NOSPLIT, $0-24
	MOVQ x+0(FP), SI
	MOVQ y+8(FP), DI
	MOVQ n+16(FP), CX
	SHRQ $5, CX
	VXORPS Y15, Y15, Y15
loop:
	VMOVUPS 0(SI), Y0
	VMOVUPS 32(SI), Y1
	VMOVUPS 64(SI), Y2
	VMOVUPS 96(SI), Y3
	VCMPPS $6, Y15, Y0, Y4
	VCMPPS $6, Y15, Y1, Y5
	VCMPPS $6, Y15, Y2, Y6
	VCMPPS $6, Y15, Y3, Y7
	VANDPS Y0, Y4, Y4
	VANDPS Y1, Y5, Y5
	VANDPS Y2, Y6, Y6
	VANDPS Y3, Y7, Y7
	VMOVUPS Y4, 0(DI)
	VMOVUPS Y5, 32(DI)
	VMOVUPS Y6, 64(DI)
	VMOVUPS Y7, 96(DI)
	ADDQ $128, SI
	ADDQ $128, DI
	DECQ CX
	JNZ loop
	VZEROUPPER
	RET

// func reluBackwardAVX2(y, dy, dx *float32, n int)
//
// dx = dy where y > 0 or y is NaN, else +0, for n elements (a multiple of
// 32, at least 32): CMPPS "0 not greater or equal y", true for NaN, as the
// memory operand must be the second.
TEXT ·reluBackwardAVX2(SB), NOSPLIT, $0-32
	MOVQ y+0(FP), SI
	MOVQ dy+8(FP), DX
	MOVQ dx+16(FP), DI
	MOVQ n+24(FP), CX
	SHRQ $5, CX
	VXORPS Y15, Y15, Y15
bloop:
	VCMPPS $9, 0(SI), Y15, Y4
	VCMPPS $9, 32(SI), Y15, Y5
	VCMPPS $9, 64(SI), Y15, Y6
	VCMPPS $9, 96(SI), Y15, Y7
	VANDPS 0(DX), Y4, Y4
	VANDPS 32(DX), Y5, Y5
	VANDPS 64(DX), Y6, Y6
	VANDPS 96(DX), Y7, Y7
	VMOVUPS Y4, 0(DI)
	VMOVUPS Y5, 32(DI)
	VMOVUPS Y6, 64(DI)
	VMOVUPS Y7, 96(DI)
	ADDQ $128, SI
	ADDQ $128, DX
	ADDQ $128, DI
	DECQ CX
	JNZ bloop
	VZEROUPPER
	RET
