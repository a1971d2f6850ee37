/* Unicode support for the text and tokenizer stages.
 *
 * UTF-8 decoding is strict (no overlongs, no surrogates, nothing above U+10FFFF); a byte that is
 * not part of a well-formed sequence decodes as one unit with cp == HLM_CP_INVALID, length 1.
 * Character classes come from utf8proc's Unicode tables, flattened at first use into a lookup
 * table so the hot loops do one load per code point. */
#ifndef HLM_TEXT_UNICODE_H
#define HLM_TEXT_UNICODE_H

#include <stddef.h>
#include <stdint.h>

#include "hyperlm/buf.h"
#include "hyperlm/error.h"

#define HLM_CP_INVALID 0xFFFFFFFFu

/* Class bits of a code point (an invalid byte has none of them). */
enum {
    HLM_CC_LETTER = 1 << 0,  /* \p{L} */
    HLM_CC_NUMBER = 1 << 1,  /* \p{N} */
    HLM_CC_SPACE = 1 << 2,   /* \s: Unicode White_Space */
    HLM_CC_UPPERISH = 1 << 3, /* o200k: [\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}] */
    HLM_CC_LOWERISH = 1 << 4, /* o200k: [\p{Ll}\p{Lm}\p{Lo}\p{M}] */
    HLM_CC_MARK = 1 << 5,    /* \p{M} */
    HLM_CC_HANGUL = 1 << 6,  /* Hangul syllables and jamo (for statistics) */
    HLM_CC_NFC_CHECK = 1 << 7, /* may change or combine under NFC: normalize the span around it */
};

/* Decodes one unit at s[0..len) (len >= 1): returns its length in bytes (1..4). */
size_t hlm_utf8_decode(const uint8_t *s, size_t len, uint32_t *cp);
/* Class bits of a code point; HLM_CP_INVALID gives 0. */
uint8_t hlm_unicode_class(uint32_t cp);
/* 1 if s is entirely well-formed UTF-8. */
int hlm_utf8_valid(const uint8_t *s, size_t len);

/* Appends the NFC form of s to out. Only the spans around characters flagged HLM_CC_NFC_CHECK
 * are passed to utf8proc; everything else is copied, so NFC text (including all precomposed
 * Hangul) costs one table lookup per character. Invalid bytes are copied unchanged. */
hlm_status hlm_nfc_append(const uint8_t *s, size_t len, hlm_buf *out, hlm_error *err);
/* 1 if hlm_nfc_append would return s unchanged (fast check; allocates only for a span of more
 * than 256 code points around flagged characters, and says 0 if that allocation fails). */
int hlm_nfc_is_stable(const uint8_t *s, size_t len);

/* ---- for hot loops (pre-tokenizer, cleaners): inline decoding and the flattened table ----
 *
 * The class table has two stages: stage1[cp >> HLM_CLASS_SHIFT] names a block of
 * 1 << HLM_CLASS_SHIFT class bytes in stage2; identical blocks are stored once (about 230
 * distinct blocks of 128 for all of Unicode, ~46 KB in all). ASCII never touches it. */
#define HLM_CLASS_SHIFT 7

typedef struct hlm_class_table {
    const uint16_t *stage1;
    const uint8_t *stage2;
} hlm_class_table;

/* Class bits of the 128 ASCII code points (a constant: no initialization needed). */
extern const uint8_t hlm_ascii_class[128];

/* The table for all code points, built from utf8proc on the first call (thread-safe). */
const hlm_class_table *hlm_class_table_get(void);

/* cp must be a valid code point (<= 0x10FFFF). */
static inline uint8_t hlm_class_lookup(const hlm_class_table *t, uint32_t cp)
{
    return t->stage2[((size_t)t->stage1[cp >> HLM_CLASS_SHIFT] << HLM_CLASS_SHIFT) |
                     (cp & ((1u << HLM_CLASS_SHIFT) - 1))];
}

/* Writes the UTF-8 of cp (a valid code point) at o (room for 4 bytes); returns its length. */
static inline size_t hlm_utf8_encode_inline(uint32_t cp, uint8_t *o)
{
    if (cp < 0x80) {
        o[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (uint8_t)(0xC0 | (cp >> 6));
        o[1] = (uint8_t)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (uint8_t)(0xE0 | (cp >> 12));
        o[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (uint8_t)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (uint8_t)(0xF0 | (cp >> 18));
    o[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (uint8_t)(0x80 | (cp & 0x3F));
    return 4;
}

/* Same contract as hlm_utf8_decode, inlined. Well-formed sequences are those of Unicode 15,
 * table 3-7; anything else is an invalid unit of one byte. */
static inline size_t hlm_utf8_decode_inline(const uint8_t *s, size_t len, uint32_t *cp)
{
    uint32_t b0 = s[0];
    if (b0 < 0x80) {
        *cp = b0;
        return 1;
    }
    if (b0 < 0xC2 || b0 > 0xF4) goto invalid;
    if (b0 < 0xE0) {
        if (len < 2 || (s[1] & 0xC0) != 0x80) goto invalid;
        *cp = ((b0 & 0x1F) << 6) | (s[1] & 0x3Fu);
        return 2;
    }
    if (b0 < 0xF0) {
        /* E0: no overlongs (A0..BF); ED: no surrogates (80..9F). */
        uint32_t lo = b0 == 0xE0 ? 0xA0 : 0x80, hi = b0 == 0xED ? 0x9F : 0xBF;
        if (len < 3 || s[1] < lo || s[1] > hi || (s[2] & 0xC0) != 0x80) goto invalid;
        *cp = ((b0 & 0x0F) << 12) | ((s[1] & 0x3Fu) << 6) | (s[2] & 0x3Fu);
        return 3;
    }
    {
        /* F0: no overlongs (90..BF); F4: nothing above U+10FFFF (80..8F). */
        uint32_t lo = b0 == 0xF0 ? 0x90 : 0x80, hi = b0 == 0xF4 ? 0x8F : 0xBF;
        if (len < 4 || s[1] < lo || s[1] > hi || (s[2] & 0xC0) != 0x80 || (s[3] & 0xC0) != 0x80)
            goto invalid;
        *cp = ((b0 & 0x07) << 18) | ((s[1] & 0x3Fu) << 12) | ((s[2] & 0x3Fu) << 6) | (s[3] & 0x3Fu);
        return 4;
    }
invalid:
    *cp = HLM_CP_INVALID;
    return 1;
}

#endif
