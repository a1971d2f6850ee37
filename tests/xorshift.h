/* The tests' pseudo-random numbers: xorshift64 (Marsaglia 2003), seeded so that every run draws
 * the same values. A test that wants another sequence defines HLM_TEST_SEED before including. */
#ifndef HYPERLM_TESTS_XORSHIFT_H
#define HYPERLM_TESTS_XORSHIFT_H

#include <stdint.h>

#ifndef HLM_TEST_SEED
#define HLM_TEST_SEED 0x9E3779B97F4A7C15ull
#endif

static uint64_t rng_state = HLM_TEST_SEED;

static inline uint32_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 16);
}

/* uniform in [-1, 1): multiples of 2^-23, never subnormal */
static inline float urand(void) { return (float)(rnd() & 0xFFFFFF) / 8388608.0f - 1.0f; }

#endif
