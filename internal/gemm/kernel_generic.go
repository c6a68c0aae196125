package gemm

// genericFamily is the portable pure-Go micro-kernel, used on CPUs without
// AVX2+FMA and forced with SetKernel("generic").
var genericFamily = &family{
	name: "generic",
	kernels: []*kernel{
		{name: "generic4x4", mr: 4, nr: 4, speed: 1, mc: 128, kc: 256, nc: 2048, fn: kernel4x4Generic},
	},
}

// kernel4x4Generic is the microKernel for a 4×4 tile, kept in 16 scalar
// accumulators so the compiler holds them in registers.
func kernel4x4Generic(k int, a, b, _ []float32, ldb int, c []float32, ldc int, loadC bool, beta float32) {
	var c00, c01, c02, c03 float32
	var c10, c11, c12, c13 float32
	var c20, c21, c22, c23 float32
	var c30, c31, c32, c33 float32
	a = a[:4*k]
	b = b[:(k-1)*ldb+4]
	for p := 0; p < k; p++ {
		av := a[4*p : 4*p+4 : 4*p+4]
		bv := b[ldb*p : ldb*p+4 : ldb*p+4]
		a0, a1, a2, a3 := av[0], av[1], av[2], av[3]
		b0, b1, b2, b3 := bv[0], bv[1], bv[2], bv[3]
		c00 += a0 * b0
		c01 += a0 * b1
		c02 += a0 * b2
		c03 += a0 * b3
		c10 += a1 * b0
		c11 += a1 * b1
		c12 += a1 * b2
		c13 += a1 * b3
		c20 += a2 * b0
		c21 += a2 * b1
		c22 += a2 * b2
		c23 += a2 * b3
		c30 += a3 * b0
		c31 += a3 * b1
		c32 += a3 * b2
		c33 += a3 * b3
	}
	store4(c[0:4:4], c00, c01, c02, c03, loadC, beta)
	store4(c[ldc:ldc+4:ldc+4], c10, c11, c12, c13, loadC, beta)
	store4(c[2*ldc:2*ldc+4:2*ldc+4], c20, c21, c22, c23, loadC, beta)
	store4(c[3*ldc:3*ldc+4:3*ldc+4], c30, c31, c32, c33, loadC, beta)
}

func store4(row []float32, v0, v1, v2, v3 float32, loadC bool, beta float32) {
	if loadC {
		v0 += beta * row[0]
		v1 += beta * row[1]
		v2 += beta * row[2]
		v3 += beta * row[3]
	}
	row[0], row[1], row[2], row[3] = v0, v1, v2, v3
}
