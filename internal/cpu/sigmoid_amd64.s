//go:build amd64 && !purego

#include "textflag.h"

// func sigmoidAVX2(x, y *float32, n int, c *[14][8]float32)
//
// y = 1/(1+e^-x) for n elements (a multiple of 8, at least 8): sigmoidForward's
// exp32 eight lanes at a time. c holds the constants, each broadcast to a
// vector (sigmoidConsts): 0 sign mask, 32 -88, 64 88, 96 log2e, 128 1.5·2^23,
// 160 ln2Hi, 192 ln2Lo, 224..352 the polynomial's 1/720 .. 1/2, 384 1,
// 416 the exponent bias 127 as int32.
TEXT ·sigmoidAVX2(SB), NOSPLIT, $0-32
	MOVQ x+0(FP), SI
	MOVQ y+8(FP), DI
	MOVQ n+16(FP), CX
	MOVQ c+24(FP), DX
	SHRQ $3, CX
	VMOVUPS 32(DX), Y14
	VMOVUPS 64(DX), Y15
loop:
	VMOVUPS (SI), Y0
	VXORPS 0(DX), Y0, Y0 // t = -x
	// Clamp to [-88, 88] with t as the second source, which MAXPS and
	// MINPS return when it is NaN: NaN goes on through.
	VMAXPS Y0, Y14, Y0
	VMINPS Y0, Y15, Y0
	// n = round(t·log2e) by adding and subtracting 1.5·2^23.
	VMOVUPS 128(DX), Y1
	VFMADD231PS 96(DX), Y0, Y1
	VSUBPS 128(DX), Y1, Y1
	// r = t - n·ln2Hi - n·ln2Lo
	VFNMADD231PS 160(DX), Y1, Y0
	VFNMADD231PS 192(DX), Y1, Y0
	// p = 1 + r(1 + r(1/2 + r(1/6 + r(1/24 + r(1/120 + r/720)))))
	VMOVUPS 224(DX), Y2
	VFMADD213PS 256(DX), Y0, Y2
	VFMADD213PS 288(DX), Y0, Y2
	VFMADD213PS 320(DX), Y0, Y2
	VFMADD213PS 352(DX), Y0, Y2
	VFMADD213PS 384(DX), Y0, Y2
	VFMADD213PS 384(DX), Y0, Y2
	// e^t = p·2^n, 2^n built in the exponent bits (n = -127 gives 0).
	VCVTPS2DQ Y1, Y1
	VPADDD 416(DX), Y1, Y1
	VPSLLD $23, Y1, Y1
	VMULPS Y1, Y2, Y2
	// y = 1/(1+e^t)
	VADDPS 384(DX), Y2, Y2
	VMOVUPS 384(DX), Y3
	VDIVPS Y2, Y3, Y3
	VMOVUPS Y3, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	DECQ CX
	JNZ loop
	VZEROUPPER
	RET
