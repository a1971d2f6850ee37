/* Korean morphemes as Kiwi cuts them: the units that datatrove's Korean filters (FineWeb-2's)
 * count and compare, without running Kiwi. See ko_seg.c. */
#ifndef HLM_TEXT_KO_SEG_H
#define HLM_TEXT_KO_SEG_H

#include <stddef.h>
#include <stdint.h>

#include "hyperlm/error.h"

/* Is s[0..3) a Hangul syllable (U+AC00..U+D7A3: EA B0 80 .. ED 9E A3)? With continuation bytes
 * in the last two, the code point grows with the three bytes read as one big-endian number, so
 * the range is a range of that number: no decoding. */
#define HANGUL_UTF8_FIRST 0xEAB080u
#define HANGUL_UTF8_LAST 0xED9EA3u
static inline int is_hangul3(const uint8_t *s)
{
    uint32_t v = (uint32_t)s[0] << 16 | (uint32_t)s[1] << 8 | s[2];
    return ((v & 0xC0C0) == 0x8080) & (v - HANGUL_UTF8_FIRST <= HANGUL_UTF8_LAST - HANGUL_UTF8_FIRST);
}

#if defined(__SSE2__)
#include <emmintrin.h>
/* The same for sixteen positions at once: byte k of the result is 0xFF where p[k..k+3) is a
 * Hangul syllable, given v0, v1, v2 = the 16 bytes at p, p + 1, p + 2. */
static inline __m128i hangul_lead16(__m128i v0, __m128i v1, __m128i v2)
{
    const __m128i top = _mm_set1_epi8((char)0xC0), cont = _mm_set1_epi8((char)0x80);
#define HLM_LE16(v, c) _mm_cmpeq_epi8(_mm_min_epu8((v), _mm_set1_epi8((char)(c))), (v)) /* v <= c, unsigned */
    __m128i c1 = _mm_cmpeq_epi8(_mm_and_si128(v1, top), cont), c2 = _mm_cmpeq_epi8(_mm_and_si128(v2, top), cont);
    __m128i lead = _mm_and_si128(HLM_LE16(_mm_sub_epi8(v0, _mm_set1_epi8((char)0xEA)), 3), _mm_and_si128(c1, c2));
    /* EA needs a second byte from B0; ED a second byte below 9E, or 9E and a third up to A3 */
    __m128i ea_bad = _mm_andnot_si128(HLM_LE16(_mm_sub_epi8(v1, _mm_set1_epi8((char)0xB0)), 0x0F),
                                      _mm_cmpeq_epi8(v0, _mm_set1_epi8((char)0xEA)));
    __m128i ed_ok = _mm_or_si128(HLM_LE16(_mm_sub_epi8(v1, _mm_set1_epi8((char)0x80)), 0x1D),
                                 _mm_and_si128(_mm_cmpeq_epi8(v1, _mm_set1_epi8((char)0x9E)),
                                               HLM_LE16(_mm_sub_epi8(v2, _mm_set1_epi8((char)0x80)), 0x23)));
    __m128i ed_bad = _mm_andnot_si128(ed_ok, _mm_cmpeq_epi8(v0, _mm_set1_epi8((char)0xED)));
#undef HLM_LE16
    return _mm_andnot_si128(_mm_or_si128(ea_bad, ed_bad), lead);
}
#endif

/* One token: bytes [start, end) of the run. Tokens may share bytes: Kiwi gives a contraction
 * ("였" = 이 + 었) as two tokens of the same span. */
typedef struct hlm_ko_token {
    uint32_t start, end;
} hlm_ko_token;

/* Working memory of the segmenter (one per thread); zero-initialise, free with
 * hlm_ko_seg_buf_free. tok holds the tokens of the last call. */
typedef struct hlm_ko_seg_buf {
    uint64_t *best;  /* the best cut of the run's first j syllables (ko_seg.c) */
    uint16_t *syl;   /* the run's syllables (code point - U+AC00) */
    size_t cap;
    hlm_ko_token *tok_buf; /* room for the tokens of a run (KO_SEG_MAX_TOKENS a syllable) */
    size_t tok_cap;
    const hlm_ko_token *tok; /* the tokens of the last run, in tok_buf */
    size_t tok_n;
} hlm_ko_seg_buf;

/* A run of more syllables than this is cut in pieces of this many (from its start), each on its
 * own: a million syllables without a space is no Korean text, and the bound keeps costs and
 * offsets in range. */
#define HLM_KO_SEG_PIECE (1u << 20)

/* Cuts run[0..len), Hangul syllables only (U+AC00..U+D7A3, 3 bytes each), into the tokens Kiwi
 * is estimated to give, in buf->tok[0..buf->tok_n). HLM_ERR_INVALID if run is empty or holds
 * anything else; HLM_ERR_RANGE past 4 GiB. */
hlm_status hlm_ko_segment(hlm_ko_seg_buf *buf, const uint8_t *run, size_t len, hlm_error *err);

/* The same without checking run: the caller knows it is Hangul syllables, at least one. */
hlm_status hlm_ko_segment_run(hlm_ko_seg_buf *buf, const uint8_t *run, size_t len, hlm_error *err);

void hlm_ko_seg_buf_free(hlm_ko_seg_buf *buf);

#endif
