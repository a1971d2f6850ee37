/* Normalization: the first thing done to every document's text.
 *
 * In order: invalid UTF-8 sequences become U+FFFD (each maximal invalid subpart, as the Unicode
 * standard's "best practice" in chapter 3 describes); NFC; "\r\n" and "\r" become "\n"; control
 * characters (C0 other than \t and \n, DEL, C1) and the invisible format characters U+200B
 * (zero width space), U+FEFF (BOM) and U+00AD (soft hyphen) are removed; every run of horizontal
 * whitespace (Unicode White_Space other than line breaks) becomes one U+0020; spaces at the start
 * and end of each line are removed; runs of three or more line breaks become two (one blank
 * line); leading and trailing blank lines are removed. U+2028/U+2029/U+0085 count as line breaks.
 * ZWJ/ZWNJ (U+200C/U+200D) stay: they matter in emoji and in several scripts.
 *
 * Details of the implementation (normalize.c): every line break is written as "\n"; U+0085 is
 * a line break, not a removed C1 control; \v and \f are removed as controls; NFC is applied
 * after the removals (a removed character can stand between a base and its combining mark,
 * "e\x01\u0301" -> "\u00e9"), which is what makes the result idempotent; a U+FFFD is content
 * like any other character.
 *
 * Thread-safe. */
#ifndef HLM_TEXT_NORMALIZE_H
#define HLM_TEXT_NORMALIZE_H

#include <stddef.h>
#include <stdint.h>

#include "hyperlm/buf.h"
#include "hyperlm/error.h"

typedef struct hlm_normalize_info {
    size_t invalid_sequences; /* how many U+FFFD were inserted for invalid input */
    size_t invalid_bytes;     /* input bytes they replaced */
    size_t controls_removed;  /* controls and removed format characters (U+200B, U+FEFF, U+00AD) */
    int changed;              /* out differs from the input */
} hlm_normalize_info;

/* Writes the normalized form of s[0..len) to out (cleared first). Idempotent: normalizing the
 * output again gives the same bytes. info may be NULL. */
hlm_status hlm_text_normalize(const uint8_t *s, size_t len, hlm_buf *out, hlm_normalize_info *info,
                              hlm_error *err);

#endif
