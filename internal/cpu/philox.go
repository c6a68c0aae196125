package cpu

// Philox4x32-10 is the counter-based generator of Salmon et al., "Parallel
// Random Numbers: As Easy as 1, 2, 3" (SC11), as in Random123 and cuRAND:
// a pure function of a 128-bit counter and a 64-bit key, so every element
// of a tensor draws its own number independently, on any device.
//
// The recipe every backend follows for element i of a tensor, given the
// op's seed and counter (both uint64):
//
//	ctr = (uint32(i), uint32(i>>32), uint32(counter), uint32(counter>>32))
//	key = (uint32(seed), uint32(seed>>32))
//	out = philox4x32_10(ctr, key)
//	u   = float32(out[0]>>8) * 2^-24        // exact, in [0, 1)
//
// One round, with 64-bit products split into hi and lo 32-bit halves:
//
//	hi0:lo0 = M0 * ctr[0];  hi1:lo1 = M1 * ctr[2]
//	ctr = (hi1 ^ ctr[1] ^ key[0], lo1, hi0 ^ ctr[3] ^ key[1], lo0)
//
// Ten rounds, the key bumped by (W0, W1) (mod 2^32) before every round but
// the first. Only out[0] is used; the other three words are discarded.
const (
	philoxM0 = 0xD2511F53
	philoxM1 = 0xCD9E8D57
	philoxW0 = 0x9E3779B9
	philoxW1 = 0xBB67AE85
)

// philox4x32 runs Philox4x32-10 on one counter and key.
func philox4x32(ctr [4]uint32, key [2]uint32) [4]uint32 {
	for round := range 10 {
		if round > 0 {
			key[0] += philoxW0
			key[1] += philoxW1
		}
		p0 := uint64(philoxM0) * uint64(ctr[0])
		p1 := uint64(philoxM1) * uint64(ctr[2])
		ctr = [4]uint32{
			uint32(p1>>32) ^ ctr[1] ^ key[0],
			uint32(p1),
			uint32(p0>>32) ^ ctr[3] ^ key[1],
			uint32(p0),
		}
	}
	return ctr
}

// philoxUniform is the uniform number in [0, 1) that element i draws for
// (seed, counter), following the recipe above.
func philoxUniform(seed, counter, i uint64) float32 {
	out := philox4x32(
		[4]uint32{uint32(i), uint32(i >> 32), uint32(counter), uint32(counter >> 32)},
		[2]uint32{uint32(seed), uint32(seed >> 32)},
	)
	return float32(out[0]>>8) * (1.0 / (1 << 24))
}
