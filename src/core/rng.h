/* SplitMix64 (Steele, Lea & Flood 2014): the seeded generator behind weight initialization,
 * sampling and the loader's permutation keys. Small, fast, and every seed gives a full-quality
 * stream, which is all these uses need. */
#ifndef HYPERLM_CORE_RNG_H
#define HYPERLM_CORE_RNG_H

#include <stdint.h>

#define HLM_GOLDEN64 0x9E3779B97F4A7C15ull

/* The SplitMix64 finalizer: a bijective 64-bit mix. */
static inline uint64_t hlm_mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Next value of the stream whose state is *s. */
static inline uint64_t hlm_splitmix64(uint64_t *s) { return hlm_mix64(*s += HLM_GOLDEN64); }

#endif
