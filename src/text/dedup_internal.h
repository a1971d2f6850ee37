/* Small pieces shared by dedup_exact.c, dedup_lines.c and minhash.c: per-code-point case folding,
 * UTF-8 encoding and little-endian stores. */
#ifndef HLM_TEXT_DEDUP_INTERNAL_H
#define HLM_TEXT_DEDUP_INTERNAL_H

#include <stdint.h>
#include <string.h>
#include <utf8proc.h>

#include "text/unicode.h"


/* Simple (one code point to one) lowercase mapping. Only Lu/Lt letters (UPPERISH without
 * LOWERISH in the class table) can change, so Hangul, Han and Kana never reach utf8proc. The
 * result of a one-to-one mapping is at most 3/2 the bytes of its input (2-byte U+023A -> 3-byte
 * U+2C65 is the worst case), which bounds the buffers below. */
static inline uint32_t hlm_dedup_fold(uint32_t cp, uint8_t cls)
{
    if ((cls & (HLM_CC_UPPERISH | HLM_CC_LOWERISH)) != HLM_CC_UPPERISH) return cp;
    return (uint32_t)utf8proc_tolower((utf8proc_int32_t)cp);
}

static inline void hlm_dedup_le64(uint8_t *o, uint64_t v)
{
    for (int i = 0; i < 8; i++) o[i] = (uint8_t)(v >> (8 * i));
}

static inline void hlm_dedup_le32(uint8_t *o, uint32_t v)
{
    for (int i = 0; i < 4; i++) o[i] = (uint8_t)(v >> (8 * i));
}

static inline uint64_t hlm_dedup_rd64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

static inline uint32_t hlm_dedup_rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

#endif
