/* Text normalization (normalize.h): one pass that repairs UTF-8 and cleans controls, whitespace
 * and line structure, then NFC only where a character could change under it.
 *
 * Invariants:
 *  - The cleaning pass runs before NFC, not after it: removing a character (a control, U+200B)
 *    can bring a base and a combining mark together ("e\x01\u0301"), and only an NFC applied
 *    after the removal makes the result idempotent. The other order gives the same text
 *    everywhere else: NFC maps no character to or from a control, a removed format character
 *    or a line break, and its only whitespace mappings (U+2000 -> U+2002, U+2001 -> U+2003)
 *    stay whitespace, which the cleaning pass has already turned into single U+0020 anyway.
 *    So NFC of the cleaned text is again clean, and the whole is idempotent.
 *  - Every line break (\n, \r\n, \r, U+0085, U+2028, U+2029) is written as "\n".
 *  - Output grows beyond the input only where an invalid sequence (1..3 bytes) becomes U+FFFD
 *    (3 bytes); everything else writes at most what it reads (pending spaces and line breaks
 *    stand for input bytes already consumed). The buffer is reserved for that up front and
 *    grown only at replacements.
 *  - Fast path: printable ASCII, single spaces between words and precomposed Hangul syllables
 *    are copied in runs without a class-table lookup. */
#include "text/normalize.h"

#include <stdlib.h>
#include <string.h>
#if defined(__AVX2__)
#include <immintrin.h>
#elif defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "text/unicode.h"

/* What a unit does to the output. */
enum { U_CONTENT = 0, U_SPACE, U_BREAK, U_REMOVE };

#define R U_REMOVE
/* ASCII: 0x21..0x7E content, space and tab horizontal space, \n and \r line breaks, the rest
 * (C0 controls including \v and \f, DEL) removed. */
static const uint8_t g_ascii_kind[128] = {
    R, R, R, R, R, R, R, R, R, U_SPACE, U_BREAK, R, R, U_BREAK, R, R,
    R, R, R, R, R, R, R, R, R, R,       R,       R, R, R,       R, R,
    [' '] = U_SPACE, [0x7F] = R,
};
#undef R

/* The kind of a valid non-ASCII code point. */
static inline int nonascii_kind(uint32_t cp)
{
    if (cp < 0xA0) return cp == 0x85 ? U_BREAK : U_REMOVE; /* C1 controls; NEL is a line break */
    if (cp == 0xA0 || cp == 0x1680 || cp == 0x202F || cp == 0x205F || cp == 0x3000) return U_SPACE;
    if (cp == 0xAD || cp == 0xFEFF) return U_REMOVE;
    if (cp >= 0x2000 && cp <= 0x2029) {
        if (cp <= 0x200A) return U_SPACE;
        if (cp == 0x200B) return U_REMOVE;
        if (cp >= 0x2028) return U_BREAK;
    }
    return U_CONTENT;
}

/* Length of the maximal subpart (Unicode 15 §3.9, "U+FFFD Substitution of Maximal Subparts")
 * at s, where s does not start a well-formed sequence: the longest prefix of some well-formed
 * sequence, or 1 if even the first byte starts none. */
static size_t maximal_subpart(const uint8_t *s, size_t len)
{
    uint8_t b0 = s[0];
    if (b0 < 0xC2 || b0 > 0xF4 || len < 2) return 1;
    uint8_t lo = 0x80, hi = 0xBF;
    if (b0 == 0xE0) lo = 0xA0;
    else if (b0 == 0xED) hi = 0x9F;
    else if (b0 == 0xF0) lo = 0x90;
    else if (b0 == 0xF4) hi = 0x8F;
    if (s[1] < lo || s[1] > hi) return 1;
    if (b0 < 0xE0) return 1; /* unreachable: a 2-byte lead with a good trail is well-formed */
    if (b0 < 0xF0 || len < 3 || (s[2] & 0xC0) != 0x80) return 2;
    return 3; /* a 4-byte sequence missing its last byte */
}

/* 1 if the unit at s[i] is content that a single space before it can simply precede: then that
 * space is part of the copied run (the common case between words). */
static inline int content_at(const uint8_t *s, size_t len, size_t i)
{
    if (i >= len) return 0;
    if (s[i] < 0x80) return s[i] > 0x20 && s[i] < 0x7F;
    uint32_t cp;
    hlm_utf8_decode_inline(s + i, len - i, &cp);
    return cp != HLM_CP_INVALID && nonascii_kind(cp) == U_CONTENT;
}

/* 1 if s[i..i+3) (i + 3 <= len) is a precomposed Hangul syllable (U+AC00..U+D7A3, lead bytes
 * EA..ED): content that needs neither a class lookup nor NFC. */
static inline int hangul_at(const uint8_t *s, size_t i)
{
    if ((uint8_t)(s[i] - 0xEA) > 3 || (s[i + 1] & 0xC0) != 0x80 || (s[i + 2] & 0xC0) != 0x80) return 0;
    uint32_t cp = ((uint32_t)(s[i] & 0x0F) << 12) | ((uint32_t)(s[i + 1] & 0x3F) << 6) | (s[i + 2] & 0x3Fu);
    return cp - 0xAC00u <= 0xD7A3u - 0xAC00u;
}

/* The end of the run of plain content starting at i: printable ASCII, Hangul syllables, and
 * single spaces that content follows (the common case between words). */
#if defined(__AVX2__)
/* 1 where x is in lo..hi (unsigned bytes), per byte. */
static inline __m256i in_range32(__m256i x, uint8_t lo, uint8_t hi)
{
    __m256i d = _mm256_sub_epi8(x, _mm256_set1_epi8((char)lo));
    return _mm256_cmpeq_epi8(_mm256_min_epu8(d, _mm256_set1_epi8((char)(hi - lo))), d);
}

/* How many bytes from s (34 readable) are plain content as content_run takes it, thirty-two at a
 * time: printable ASCII, whole Hangul syllables (EA B0 80 .. ED 9E A3: a lead EA..ED and two
 * continuation bytes, EA only from B0, ED only up to 9E A3) and single spaces before either.
 * Stops at a syllable boundary: a syllable that starts in the last two bytes is left for the
 * next block. */
static inline size_t content_block32(const uint8_t *s)
{
    __m256i v0 = _mm256_loadu_si256((const __m256i *)(const void *)s);
    __m256i v1 = _mm256_loadu_si256((const __m256i *)(const void *)(s + 1));
    __m256i v2 = _mm256_loadu_si256((const __m256i *)(const void *)(s + 2));
    __m256i top = _mm256_set1_epi8((char)0xC0), cont = _mm256_set1_epi8((char)0x80);
    __m256i c1 = _mm256_cmpeq_epi8(_mm256_and_si256(v1, top), cont);
    __m256i c2 = _mm256_cmpeq_epi8(_mm256_and_si256(v2, top), cont);
    __m256i ea = _mm256_cmpeq_epi8(v0, _mm256_set1_epi8((char)0xEA));
    __m256i ed = _mm256_cmpeq_epi8(v0, _mm256_set1_epi8((char)0xED));
    /* EA needs a second byte from B0; ED a second byte below 9E, or 9E and a third up to A3 */
    __m256i ea_bad = _mm256_andnot_si256(in_range32(v1, 0xB0, 0xBF), ea);
    __m256i ed_ok = _mm256_or_si256(in_range32(v1, 0x80, 0x9D),
                                    _mm256_and_si256(_mm256_cmpeq_epi8(v1, _mm256_set1_epi8((char)0x9E)),
                                                     in_range32(v2, 0x80, 0xA3)));
    __m256i ed_bad = _mm256_andnot_si256(ed_ok, ed);
    __m256i lead = _mm256_and_si256(in_range32(v0, 0xEA, 0xED), _mm256_and_si256(c1, c2));
    lead = _mm256_andnot_si256(_mm256_or_si256(ea_bad, ed_bad), lead);
    uint32_t L = (uint32_t)_mm256_movemask_epi8(lead);
    uint32_t A = (uint32_t)_mm256_movemask_epi8(in_range32(v0, 0x21, 0x7E));
    uint32_t S = (uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(v0, _mm256_set1_epi8(' ')));
    uint32_t H = L | L << 1 | L << 2;
    uint32_t ok = A | H | (S & ((A | L) >> 1));
    if (ok == 0xFFFFFFFFu) {
        uint32_t tail = L >> 30; /* a syllable starting at 30 or 31 runs past the block */
        return tail ? (tail & 1 ? 30 : 31) : 32;
    }
    return (size_t)__builtin_ctz(~ok);
}
#endif

static inline size_t content_run(const uint8_t *s, size_t len, size_t i)
{
    while (i < len) {
#if defined(__AVX2__)
        while (i + 34 <= len) {
            size_t k = content_block32(s + i);
            i += k;
            if (k < 30) break;
        }
        if (i >= len) break;
#endif
#if defined(__SSE2__)
        /* sixteen bytes at a time over printable ASCII and single spaces before it */
        while (i + 16 <= len) {
            __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
            __m128i d = _mm_sub_epi8(v, _mm_set1_epi8(0x21));
            unsigned p = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_min_epu8(d, _mm_set1_epi8(0x5D)), d));
            unsigned sp = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(' ')));
            unsigned ok = p | (sp & (p >> 1));
            if (ok != 0xFFFF) {
                i += (size_t)__builtin_ctz(~ok);
                break;
            }
            i += 16;
        }
        if (i >= len) break;
#endif
        uint8_t b = s[i];
        if ((uint8_t)(b - 0x21) < 0x5E) {
            i++;
        } else if (b >= 0xEA) {
            if (i + 3 > len || !hangul_at(s, i)) break;
            i += 3;
        } else if (b == ' ') {
            if (i + 1 >= len) break;
            uint8_t c = s[i + 1];
            if ((uint8_t)(c - 0x21) < 0x5E) i += 2;
            else if (i + 4 <= len && hangul_at(s, i + 1)) i += 4;
            else if (c >= 0x80 && content_at(s, len, i + 1)) i++;
            else break;
        } else {
            break;
        }
    }
    return i;
}

static const uint8_t g_fffd[3] = {0xEF, 0xBF, 0xBD};

hlm_status hlm_text_normalize(const uint8_t *s, size_t len, hlm_buf *out, hlm_normalize_info *info,
                              hlm_error *err)
{
    hlm_normalize_info inf = {0};
    out->len = 0;
    hlm_status st;
    if (len == 0) {
        if (info) *info = inf;
        return hlm_buf_terminate(out) == HLM_OK ? HLM_OK
                                                : hlm_errorf(err, HLM_ERR_NOMEM, "normalize: out of memory");
    }
    if ((st = hlm_buf_reserve(out, len + 8)) != HLM_OK)
        return hlm_errorf(err, st, "normalize: cannot allocate %zu bytes", len + 8);
    uint8_t *o = out->data;
    const hlm_class_table *t = NULL;
    size_t i = 0, run = 0;     /* s[run..i) is content not yet copied */
    int line_content = 0;      /* the current output line has content */
    int started = 0;           /* any content written at all */
    int space = 0;             /* a horizontal space is pending on this line */
    int breaks = 0;            /* line breaks pending (0..2) since the last content */
    int nfc_check = 0;         /* a character that NFC might change was written */
    size_t nfc_from = 0;       /* output offset of the first such character */

#define FLUSH()                                \
    do {                                       \
        memcpy(o, s + run, i - run);           \
        o += i - run;                          \
    } while (0)
/* Before content: the pending line breaks, or else the pending space. */
#define PENDING()                                      \
    do {                                               \
        if (breaks) {                                  \
            *o++ = '\n';                               \
            if (breaks > 1) *o++ = '\n';               \
            breaks = 0;                                \
        } else if (space) {                            \
            *o++ = ' ';                                \
        }                                              \
        space = 0;                                     \
        line_content = started = 1;                    \
    } while (0)

    while (i < len) {
        uint8_t b = s[i];
        int kind;
        size_t n = 1;
        if (b < 0x80) {
            kind = g_ascii_kind[b];
            if (kind == U_CONTENT) {
                if (space | breaks) PENDING();
                else line_content = started = 1;
                i = content_run(s, len, i + 1);
                continue;
            }
            if (kind == U_BREAK && b == '\r' && i + 1 < len && s[i + 1] == '\n') n = 2;
        } else {
            uint32_t cp;
            n = hlm_utf8_decode_inline(s + i, len - i, &cp);
            if (cp - 0xAC00u <= 0xD7A3u - 0xAC00u) {
                kind = U_CONTENT; /* precomposed Hangul: its own NFC, never special */
            } else if (cp == HLM_CP_INVALID) {
                FLUSH();
                n = maximal_subpart(s + i, len - i);
                inf.invalid_sequences++;
                inf.invalid_bytes += n;
                /* room for U+FFFD (3 bytes) plus everything after it */
                out->len = (size_t)(o - out->data);
                if ((st = hlm_buf_reserve(out, 3 + (len - i - n) + 8)) != HLM_OK)
                    return hlm_errorf(err, st, "normalize: cannot allocate %zu bytes", out->len + len);
                o = out->data + out->len;
                if (space | breaks) PENDING();
                else line_content = started = 1;
                memcpy(o, g_fffd, 3);
                o += 3;
                i += n;
                run = i;
                continue;
            } else {
                kind = nonascii_kind(cp);
                if (kind == U_CONTENT && !nfc_check) {
                    if (!t) t = hlm_class_table_get();
                    if (hlm_class_lookup(t, cp) & HLM_CC_NFC_CHECK) {
                        nfc_check = 1;
                        /* where it will land: after the pending run and separator */
                        nfc_from = (size_t)(o - out->data) + (i - run) + (size_t)(breaks ? breaks : space);
                    }
                }
            }
        }
        if (kind == U_CONTENT) {
            if (space | breaks) PENDING();
            else line_content = started = 1;
            i = content_run(s, len, i + n);
            continue;
        }
        FLUSH();
        if (kind == U_SPACE) {
            space |= line_content;
        } else if (kind == U_BREAK) {
            space = line_content = 0;
            if (started && breaks < 2) breaks++;
        } else {
            inf.controls_removed++;
        }
        i += n;
        run = i;
    }
    FLUSH();
#undef FLUSH
#undef PENDING
    out->len = (size_t)(o - out->data);

    if (nfc_check) {
        /* Everything before the first flagged character is unflagged, hence its own NFC, and
         * the boundary before an unflagged character is safe (unicode.c): NFC only has to run
         * from the last ASCII byte before it. */
        size_t from = nfc_from < out->len ? nfc_from : out->len;
        while (from > 0 && out->data[from] >= 0x80) from--;
        if (!hlm_nfc_is_stable(out->data + from, out->len - from)) {
            hlm_buf nfc = {0};
            if ((st = hlm_buf_append(&nfc, out->data, from)) != HLM_OK ||
                (st = hlm_nfc_append(out->data + from, out->len - from, &nfc, err)) != HLM_OK) {
                hlm_buf_free(&nfc);
                return hlm_errorf(err, st, "normalize: out of memory");
            }
            hlm_buf_free(out);
            *out = nfc;
        }
    }
    if ((st = hlm_buf_terminate(out)) != HLM_OK) return hlm_errorf(err, st, "normalize: out of memory");
    inf.changed = out->len != len || (len && memcmp(out->data, s, len) != 0);
    if (info) *info = inf;
    return HLM_OK;
}
