// cast.go: the bfloat16 rounding of kernels/cast.cuh (bf16_round_bits),
// which the GPU's Cast runs, compiled for the host.

package kernelhost

/*
#cgo CFLAGS: -I${SRCDIR}/../../kernels -O2 -Wall
#include "cast.cuh"
*/
import "C"

// BF16RoundBits is kernels/cast.cuh's bf16_round_bits: the bfloat16 bits
// nearest the float32 with bits u.
func BF16RoundBits(u uint32) uint16 { return uint16(C.bf16_round_bits(C.uint(u))) }
