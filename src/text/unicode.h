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
/* 1 if hlm_nfc_append would return s unchanged (fast check, no allocation). */
int hlm_nfc_is_stable(const uint8_t *s, size_t len);

#endif
