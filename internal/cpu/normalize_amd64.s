//go:build amd64 && !purego

#include "textflag.h"

// func normalizeAVX2(x, y *float32, n int, mean, scale, beta float32, relu int)
//
// y = (x-mean)*scale + beta for n elements (a multiple of 8, at least 8),
// then, when relu != 0, y = y where y > 0 or y is NaN, else +0: three
// separately rounded operations per element (no FMA), so the bits of the
// Go loop in normalize, and reluAVX2's mask.
TEXT ·normalizeAVX2(SB), NOSPLIT, $0-48
	MOVQ x+0(FP), SI
	MOVQ y+8(FP), DI
	MOVQ n+16(FP), CX
	VBROADCASTSS mean+24(FP), Y12
	VBROADCASTSS scale+28(FP), Y13
	VBROADCASTSS beta+32(FP), Y14
	MOVQ relu+40(FP), DX
	VXORPS Y15, Y15, Y15
	MOVQ CX, BX
	SHRQ $5, BX
	ANDQ $31, CX
	TESTQ BX, BX
	JZ tail
loop:
	VMOVUPS 0(SI), Y0
	VMOVUPS 32(SI), Y1
	VMOVUPS 64(SI), Y2
	VMOVUPS 96(SI), Y3
	VSUBPS Y12, Y0, Y0
	VSUBPS Y12, Y1, Y1
	VSUBPS Y12, Y2, Y2
	VSUBPS Y12, Y3, Y3
	VMULPS Y13, Y0, Y0
	VMULPS Y13, Y1, Y1
	VMULPS Y13, Y2, Y2
	VMULPS Y13, Y3, Y3
	VADDPS Y14, Y0, Y0
	VADDPS Y14, Y1, Y1
	VADDPS Y14, Y2, Y2
	VADDPS Y14, Y3, Y3
	TESTQ DX, DX
	JZ store4
	VCMPPS $6, Y15, Y0, Y4
	VCMPPS $6, Y15, Y1, Y5
	VCMPPS $6, Y15, Y2, Y6
	VCMPPS $6, Y15, Y3, Y7
	VANDPS Y0, Y4, Y0
	VANDPS Y1, Y5, Y1
	VANDPS Y2, Y6, Y2
	VANDPS Y3, Y7, Y3
store4:
	VMOVUPS Y0, 0(DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	VMOVUPS Y3, 96(DI)
	ADDQ $128, SI
	ADDQ $128, DI
	DECQ BX
	JNZ loop
tail:
	SHRQ $3, CX
	JZ done
tailloop:
	VMOVUPS 0(SI), Y0
	VSUBPS Y12, Y0, Y0
	VMULPS Y13, Y0, Y0
	VADDPS Y14, Y0, Y0
	TESTQ DX, DX
	JZ store1
	VCMPPS $6, Y15, Y0, Y4
	VANDPS Y0, Y4, Y0
store1:
	VMOVUPS Y0, 0(DI)
	ADDQ $32, SI
	ADDQ $32, DI
	DECQ CX
	JNZ tailloop
done:
	VZEROUPPER
	RET

// func epilogueAVX2(x, y *float32, n int, c *[4]float32, flags int)
//
// For n elements (a multiple of 8, at least 8), with c = {bias, mean,
// scale, beta}: v = x; v = v + bias (flags&1); v = (v-mean)*scale + beta
// (flags&2); v = v where v > 0 or v is NaN, else +0 (flags&4); y = v.
// Each operation rounded on its own (no FMA): the bits of the Go loop in
// convEpilogue.apply.
TEXT ·epilogueAVX2(SB), NOSPLIT, $0-40
	MOVQ x+0(FP), SI
	MOVQ y+8(FP), DI
	MOVQ n+16(FP), CX
	MOVQ c+24(FP), AX
	MOVQ flags+32(FP), DX
	VBROADCASTSS 0(AX), Y11
	VBROADCASTSS 4(AX), Y12
	VBROADCASTSS 8(AX), Y13
	VBROADCASTSS 12(AX), Y14
	VXORPS Y15, Y15, Y15
	SHRQ $3, CX
eloop:
	VMOVUPS 0(SI), Y0
	TESTQ $1, DX
	JZ enobias
	VADDPS Y11, Y0, Y0
enobias:
	TESTQ $2, DX
	JZ enonorm
	VSUBPS Y12, Y0, Y0
	VMULPS Y13, Y0, Y0
	VADDPS Y14, Y0, Y0
enonorm:
	TESTQ $4, DX
	JZ enorelu
	VCMPPS $6, Y15, Y0, Y4
	VANDPS Y0, Y4, Y0
enorelu:
	VMOVUPS Y0, 0(DI)
	ADDQ $32, SI
	ADDQ $32, DI
	DECQ CX
	JNZ eloop
	VZEROUPPER
	RET

// func deinterleaveAVX2(x, even, odd *float32, n int)
//
// even[i] = x[2i], odd[i] = x[2i+1] for i < n (a multiple of 8, at least
// 8): a stride-2 convolution's input split into its column phases.
TEXT ·deinterleaveAVX2(SB), NOSPLIT, $0-32
	MOVQ x+0(FP), SI
	MOVQ even+8(FP), DI
	MOVQ odd+16(FP), DX
	MOVQ n+24(FP), CX
	SHRQ $3, CX
dloop:
	VMOVUPS 0(SI), Y0
	VMOVUPS 32(SI), Y1
	VSHUFPS $0x88, Y1, Y0, Y2
	VSHUFPS $0xDD, Y1, Y0, Y3
	VPERMPD $0xD8, Y2, Y2
	VPERMPD $0xD8, Y3, Y3
	VMOVUPS Y2, 0(DI)
	VMOVUPS Y3, 0(DX)
	ADDQ $64, SI
	ADDQ $32, DI
	ADDQ $32, DX
	DECQ CX
	JNZ dloop
	VZEROUPPER
	RET

// func interleaveAVX2(even, odd, x *float32, n int)
//
// x[2i] = even[i], x[2i+1] = odd[i] for i < n (a multiple of 8, at least
// 8): deinterleaveAVX2 the other way, a stride-2 backward data's column
// phases put back together.
TEXT ·interleaveAVX2(SB), NOSPLIT, $0-32
	MOVQ even+0(FP), SI
	MOVQ odd+8(FP), DX
	MOVQ x+16(FP), DI
	MOVQ n+24(FP), CX
	SHRQ $3, CX
iloop:
	VMOVUPS 0(SI), Y0
	VMOVUPS 0(DX), Y1
	VUNPCKLPS Y1, Y0, Y2
	VUNPCKHPS Y1, Y0, Y3
	VPERM2F128 $0x20, Y3, Y2, Y4
	VPERM2F128 $0x31, Y3, Y2, Y5
	VMOVUPS Y4, 0(DI)
	VMOVUPS Y5, 32(DI)
	ADDQ $32, SI
	ADDQ $32, DX
	ADDQ $64, DI
	DECQ CX
	JNZ iloop
	VZEROUPPER
	RET

// func addAVX2(a, b, y *float32, n int, relu int)
//
// y = a + b for n elements (a multiple of 8, at least 8), then, when
// relu != 0, y = y where y > 0 or y is NaN, else +0 (reluAVX2's mask): the
// bits of addRange's and reluForward's Go loops. y may be a or b.
TEXT ·addAVX2(SB), NOSPLIT, $0-40
	MOVQ a+0(FP), SI
	MOVQ b+8(FP), BX
	MOVQ y+16(FP), DI
	MOVQ n+24(FP), CX
	MOVQ relu+32(FP), DX
	VXORPS Y15, Y15, Y15
	SHRQ $3, CX
aloop:
	VMOVUPS 0(SI), Y0
	VADDPS 0(BX), Y0, Y0
	TESTQ DX, DX
	JZ astore
	VCMPPS $6, Y15, Y0, Y4
	VANDPS Y0, Y4, Y0
astore:
	VMOVUPS Y0, 0(DI)
	ADDQ $32, SI
	ADDQ $32, BX
	ADDQ $32, DI
	DECQ CX
	JNZ aloop
	VZEROUPPER
	RET

// func copyRowsAVX2(src, dst *float32, rows, w, lds, ldd int)
//
// dst[r*ldd+i] = src[r*lds+i] for r < rows (at least 1), i < w (at least
// 1): eight floats at a time, then one at a time. Leading dimensions in
// elements. Rows must not overlap.
TEXT ·copyRowsAVX2(SB), NOSPLIT, $0-48
	MOVQ src+0(FP), SI
	MOVQ dst+8(FP), DI
	MOVQ rows+16(FP), BX
	MOVQ w+24(FP), DX
	MOVQ lds+32(FP), R8
	MOVQ ldd+40(FP), R9
	SHLQ $2, R8
	SHLQ $2, R9
crow:
	MOVQ SI, R10
	MOVQ DI, R11
	MOVQ DX, CX
c8:
	CMPQ CX, $8
	JLT c1
	VMOVUPS 0(R10), Y0
	VMOVUPS Y0, 0(R11)
	ADDQ $32, R10
	ADDQ $32, R11
	SUBQ $8, CX
	JMP c8
c1:
	TESTQ CX, CX
	JZ cnext
	MOVSS 0(R10), X0
	MOVSS X0, 0(R11)
	ADDQ $4, R10
	ADDQ $4, R11
	DECQ CX
	JMP c1
cnext:
	ADDQ R8, SI
	ADDQ R9, DI
	DECQ BX
	JNZ crow
	VZEROUPPER
	RET
