package gemm

// genericFamily is the portable pure-Go micro-kernel, used on CPUs without
// AVX2+FMA and forced with SetKernel("generic").
var genericFamily = &family{
	name: "generic",
	kernels: []*kernel{
		{name: "generic4x4", mr: 4, nr: 4, speed: 1, mc: 128, kc: 256, nc: 2048, fn: kernel4x4Generic},
	},
	indirect: []*indirectKernel{{name: "generic-i4x4", mr: 4, nr: 4, speed: 1, fn: indirect4x4Generic}},
	dot:      []*dotKernel{{name: "generic-d4x4", mr: 4, nv: 4, lanes: 1, fn: dot4x4Generic}},
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

// indirect4x4Generic is the indirectKernel for a 4×4 tile.
func indirect4x4Generic(k int, a, b []float32, offs []int, c []float32, ldc int) {
	var acc [4][4]float32
	a = a[:4*k]
	for p, off := range offs[:k] {
		av := a[4*p : 4*p+4 : 4*p+4]
		bv := b[off : off+4 : off+4]
		for i := range 4 {
			ai := av[i]
			acc[i][0] += ai * bv[0]
			acc[i][1] += ai * bv[1]
			acc[i][2] += ai * bv[2]
			acc[i][3] += ai * bv[3]
		}
	}
	for i := range 4 {
		copy(c[i*ldc:i*ldc+4], acc[i][:])
	}
}

// dot4x4Generic is the dotKernel for 4 rows of dy and 4 offsets, one lane.
func dot4x4Generic(steps int, dy []float32, lddy int, b []float32, offs []int, acc []float32) {
	var s [4][4]float32
	d0 := dy[:steps]
	d1 := dy[lddy : lddy+steps]
	d2 := dy[2*lddy : 2*lddy+steps]
	d3 := dy[3*lddy : 3*lddy+steps]
	for q, off := range offs[:4] {
		x := b[off : off+steps]
		var s0, s1, s2, s3 float32
		for j, v := range x {
			s0 += d0[j] * v
			s1 += d1[j] * v
			s2 += d2[j] * v
			s3 += d3[j] * v
		}
		s[0][q], s[1][q], s[2][q], s[3][q] = s0, s1, s2, s3
	}
	for i := range 4 {
		for q := range 4 {
			acc[i*4+q] += s[i][q]
		}
	}
}
