// dropout.cu: inverted dropout with a counter-based RNG, so that the masks
// equal internal/cpu's bit for bit (see internal/cpu/philox.go).
//
// For element i: Philox4x32-10 with counter (lo(i), hi(i), lo(counter),
// hi(counter)) and key (lo(seed), hi(seed)); u = (out[0] >> 8) * 2^-24;
// mask[i] = scale (= 1/(1-p), computed on the host) if u >= p, else 0;
// y[i] = x[i] * mask[i]. x, mask, y have one shape; y may be x. x and y
// are float32 or, in the _bf16 kernels, bf16 (storage.cuh); the mask is
// float32 always (1/(1-p) is no bf16 value in general).
#include "common.cuh"
#include "storage.cuh"

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

// philox4x32_10 is Random123's philox4x32 with 10 rounds, the key bumped
// before every round but the first.
__host__ __device__ inline void philox4x32_10(unsigned ctr[4], unsigned k0, unsigned k1)
{
	for (int round = 0; round < 10; round++) {
		if (round > 0) {
			k0 += PHILOX_W0;
			k1 += PHILOX_W1;
		}
		unsigned long long p0 = (unsigned long long)PHILOX_M0 * ctr[0];
		unsigned long long p1 = (unsigned long long)PHILOX_M1 * ctr[2];
		unsigned c0 = (unsigned)(p1 >> 32) ^ ctr[1] ^ k0;
		unsigned c1 = (unsigned)p1;
		unsigned c2 = (unsigned)(p0 >> 32) ^ ctr[3] ^ k1;
		unsigned c3 = (unsigned)p0;
		ctr[0] = c0;
		ctr[1] = c1;
		ctr[2] = c2;
		ctr[3] = c3;
	}
}

__host__ __device__ inline float philox_uniform(unsigned long long seed, unsigned long long counter,
						unsigned long long i)
{
	unsigned ctr[4] = {(unsigned)i, (unsigned)(i >> 32), (unsigned)counter, (unsigned)(counter >> 32)};
	philox4x32_10(ctr, (unsigned)seed, (unsigned)(seed >> 32));
	return (float)(ctr[0] >> 8) * (1.0f / 16777216.0f);
}

template <typename T>
__device__ __forceinline__ void dropout_t(const T *x, float *mask, T *y, long long n, float p, float scale,
					  unsigned long long seed, unsigned long long counter)
{
	grid_stride(i, n)
	{
		float m = philox_uniform(seed, counter, (unsigned long long)i) >= p ? scale : 0.f;
		mask[i] = m;
		store_rn(y, i, load_f32(x, i) * m);
	}
}

extern "C" __global__ void dropout_forward(const float *x, float *mask, float *y, long long n, float p, float scale,
					   unsigned long long seed, unsigned long long counter)
{
	dropout_t(x, mask, y, n, p, scale, seed, counter);
}

extern "C" __global__ void dropout_forward_bf16(const bf16_t *x, float *mask, bf16_t *y, long long n, float p,
						float scale, unsigned long long seed, unsigned long long counter)
{
	dropout_t(x, mask, y, n, p, scale, seed, counter);
}

// dropout_forward_at is dropout_forward with the counter read on the device:
// counter[0] holds a whole number (exact up to 2^24, the float32 step
// counter of internal/train), so a captured training step draws a new mask
// each time it is replayed.
extern "C" __global__ void dropout_forward_at(const float *x, float *mask, float *y, long long n, float p, float scale,
					      unsigned long long seed, const float *counter)
{
	dropout_t(x, mask, y, n, p, scale, seed, (unsigned long long)counter[0]);
}

extern "C" __global__ void dropout_forward_at_bf16(const bf16_t *x, float *mask, bf16_t *y, long long n, float p,
						   float scale, unsigned long long seed, const float *counter)
{
	dropout_t(x, mask, y, n, p, scale, seed, (unsigned long long)counter[0]);
}
