/* Unicode layer: strict UTF-8 decoding, a flattened character-class table, fast NFC.
 *
 * Invariants:
 *  - A unit is either a well-formed UTF-8 sequence (Unicode table 3-7) or one byte that is not
 *    part of one, with cp HLM_CP_INVALID and no class bits. Splitting an ill-formed sequence
 *    into single bytes is what Python's errors="surrogateescape" does, so byte strings map to
 *    the same units here and in Python.
 *  - The class table is built once from utf8proc (pthread_once) and never written again.
 *  - NFC: the boundary before a character without HLM_CC_NFC_CHECK is safe, i.e.
 *    NFC(x + y) == NFC(x) + NFC(y) when y starts with such a character. Such a character has
 *    ccc 0 (nothing after it reorders before it), is not the second part of any canonical
 *    decomposition (nothing before it composes with it), is its own NFC, and does not decompose
 *    into something starting with a flagged character. So only the spans that contain flagged
 *    characters, from the unflagged character before them to the next unflagged one, go through
 *    utf8proc; the rest is copied. An invalid byte is a boundary too: it is copied unchanged and
 *    never given to utf8proc (it cannot combine: like a lone surrogate in Python, it is a
 *    starter that composes with nothing).
 *  - Spans also keep utf8proc 2.8 away from its one known NFC bug: after an LV syllable it
 *    "composes" U+11A7 (TBase, not a trailing consonant) into nothing, deleting it. U+11A7 is
 *    unflagged, so it always starts a span or sits between spans, never after an LV inside one;
 *    the result is the Unicode (and Python) one: U+11A7 kept. */
#include "text/unicode.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#define CP_COUNT 0x110000u
#define BLOCK (1u << HLM_CLASS_SHIFT)
#define N_BLOCKS (CP_COUNT >> HLM_CLASS_SHIFT)
/* Planes 4..13 hold no character in any version of Unicode (the roadmap leaves them empty):
 * every code point there is unassigned, like U+40000, and has no decomposition. The table
 * build skips them (it otherwise spent most of its time there). */
#define EMPTY_LO 0x40000u
#define EMPTY_HI 0xE0000u

enum { A_SP = HLM_CC_SPACE, A_NUM = HLM_CC_NUMBER,
       A_UP = HLM_CC_LETTER | HLM_CC_UPPERISH, A_LO = HLM_CC_LETTER | HLM_CC_LOWERISH };

const uint8_t hlm_ascii_class[128] = {
    ['\t'] = A_SP, ['\n'] = A_SP, ['\v'] = A_SP, ['\f'] = A_SP, ['\r'] = A_SP, [' '] = A_SP,
    ['0'] = A_NUM, ['1'] = A_NUM, ['2'] = A_NUM, ['3'] = A_NUM, ['4'] = A_NUM,
    ['5'] = A_NUM, ['6'] = A_NUM, ['7'] = A_NUM, ['8'] = A_NUM, ['9'] = A_NUM,
    ['A'] = A_UP, ['B'] = A_UP, ['C'] = A_UP, ['D'] = A_UP, ['E'] = A_UP, ['F'] = A_UP,
    ['G'] = A_UP, ['H'] = A_UP, ['I'] = A_UP, ['J'] = A_UP, ['K'] = A_UP, ['L'] = A_UP,
    ['M'] = A_UP, ['N'] = A_UP, ['O'] = A_UP, ['P'] = A_UP, ['Q'] = A_UP, ['R'] = A_UP,
    ['S'] = A_UP, ['T'] = A_UP, ['U'] = A_UP, ['V'] = A_UP, ['W'] = A_UP, ['X'] = A_UP,
    ['Y'] = A_UP, ['Z'] = A_UP,
    ['a'] = A_LO, ['b'] = A_LO, ['c'] = A_LO, ['d'] = A_LO, ['e'] = A_LO, ['f'] = A_LO,
    ['g'] = A_LO, ['h'] = A_LO, ['i'] = A_LO, ['j'] = A_LO, ['k'] = A_LO, ['l'] = A_LO,
    ['m'] = A_LO, ['n'] = A_LO, ['o'] = A_LO, ['p'] = A_LO, ['q'] = A_LO, ['r'] = A_LO,
    ['s'] = A_LO, ['t'] = A_LO, ['u'] = A_LO, ['v'] = A_LO, ['w'] = A_LO, ['x'] = A_LO,
    ['y'] = A_LO, ['z'] = A_LO,
};

/* stage2 is sized for the worst case (every block distinct) so that building can never run out;
 * only the ~230 distinct blocks are ever written, so the rest costs no memory. */
static uint16_t g_stage1[N_BLOCKS];
static uint8_t g_stage2[N_BLOCKS * BLOCK];
static const hlm_class_table g_table = {g_stage1, g_stage2};
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
/* Code points flagged for NFC beyond ccc != 0 and jamo; used only while building. */
static uint8_t g_nfc_extra[CP_COUNT / 8];

static int bit_get(const uint8_t *b, uint32_t i) { return (b[i >> 3] >> (i & 7)) & 1; }
static void bit_set(uint8_t *b, uint32_t i) { b[i >> 3] |= (uint8_t)(1u << (i & 7)); }

/* Unicode's White_Space property (PropList.txt); what Rust's regex means by \s. Not U+001C..1F
 * (Python's str.isspace) and not U+180E (PCRE2's \s, from Unicode 4.0's Zs). */
static int is_white_space(uint32_t cp)
{
    return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
           (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F ||
           cp == 0x205F || cp == 0x3000;
}

/* Conjoining jamo that take part in algorithmic Hangul composition (L, V and T). */
static int is_composing_jamo(uint32_t cp)
{
    return (cp >= 0x1100 && cp <= 0x1112) || (cp >= 0x1161 && cp <= 0x1175) ||
           (cp >= 0x11A8 && cp <= 0x11C2);
}

static int is_hangul(uint32_t cp)
{
    return (cp >= 0xAC00 && cp <= 0xD7A3) || (cp >= 0x1100 && cp <= 0x11FF) ||
           (cp >= 0x3130 && cp <= 0x318F) || (cp >= 0xA960 && cp <= 0xA97F) ||
           (cp >= 0xD7B0 && cp <= 0xD7FF);
}

/* Full canonical decomposition of cp into d (returns its length, 0 if cp has none). Hangul
 * syllables are skipped: they are their own NFC and decompose into jamo that are flagged. */
static int canonical_decomposition(uint32_t cp, utf8proc_int32_t d[8])
{
    const utf8proc_property_t *p = utf8proc_get_property((utf8proc_int32_t)cp);
    if (p->decomp_seqindex == UINT16_MAX || p->decomp_type != 0) return 0;
    utf8proc_ssize_t n = utf8proc_decompose_char((utf8proc_int32_t)cp, d, 8, UTF8PROC_DECOMPOSE, NULL);
    return n > 0 && n <= 8 ? (int)n : 0;
}

static void find_nfc_extra(void)
{
    /* Code points with a canonical decomposition (about 2,100 in Unicode 15), kept for the second
     * pass; if a future Unicode has more than fit, the second pass scans everything again. */
    static uint32_t decomposable[8192];
    size_t n_dec = 0;
    int overflow = 0;
    utf8proc_int32_t d[8];
    /* Composition seconds: anything after the first position of a canonical decomposition, which
     * covers the second half of every primary composite (vowel signs with ccc 0 included). Also
     * anything whose NFC is not itself: singletons, exclusions, non-starter decompositions. */
    for (uint32_t cp = 0; cp < CP_COUNT; cp++) {
        if (cp == EMPTY_LO) cp = EMPTY_HI;
        int n = canonical_decomposition(cp, d);
        if (!n) continue;
        if (n_dec < sizeof decomposable / sizeof decomposable[0]) decomposable[n_dec++] = cp;
        else overflow = 1;
        for (int k = 1; k < n; k++) bit_set(g_nfc_extra, (uint32_t)d[k]);
        utf8proc_ssize_t m = utf8proc_normalize_utf32(d, n, UTF8PROC_STABLE | UTF8PROC_COMPOSE);
        if (m != 1 || (uint32_t)d[0] != cp) bit_set(g_nfc_extra, cp);
    }
    /* A character whose decomposition starts with something that can combine backwards. */
    for (uint32_t i = 0, cp; overflow ? (cp = i) < CP_COUNT : i < n_dec; i++) {
        if (!overflow) cp = decomposable[i];
        int n = canonical_decomposition(cp, d);
        if (!n) continue;
        uint32_t first = (uint32_t)d[0];
        if (bit_get(g_nfc_extra, first) || utf8proc_get_property(d[0])->combining_class != 0 ||
            is_composing_jamo(first))
            bit_set(g_nfc_extra, cp);
    }
}

static uint8_t class_from_utf8proc(uint32_t cp)
{
    if (cp >= 0xD800 && cp <= 0xDFFF) return 0; /* never decoded */
    const utf8proc_property_t *p = utf8proc_get_property((utf8proc_int32_t)cp);
    uint8_t c = 0;
    switch (p->category) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LT: c = HLM_CC_LETTER | HLM_CC_UPPERISH; break;
    case UTF8PROC_CATEGORY_LL: c = HLM_CC_LETTER | HLM_CC_LOWERISH; break;
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO: c = HLM_CC_LETTER | HLM_CC_UPPERISH | HLM_CC_LOWERISH; break;
    case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_MC:
    case UTF8PROC_CATEGORY_ME: c = HLM_CC_MARK | HLM_CC_UPPERISH | HLM_CC_LOWERISH; break;
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_NO: c = HLM_CC_NUMBER; break;
    default: break;
    }
    if (is_white_space(cp)) c |= HLM_CC_SPACE;
    if (is_hangul(cp)) c |= HLM_CC_HANGUL;
    if (p->combining_class != 0 || is_composing_jamo(cp) || bit_get(g_nfc_extra, cp))
        c |= HLM_CC_NFC_CHECK;
    return c;
}

static uint32_t block_hash(const uint8_t *b)
{
    uint32_t h = 2166136261u;
    for (unsigned i = 0; i < BLOCK; i++) h = (h ^ b[i]) * 16777619u;
    return h;
}

static void build_table(void)
{
    find_nfc_extra();
    enum { HASH_SLOTS = 1u << 14 }; /* > 2 * N_BLOCKS: open addressing never fills */
    static uint16_t slots[HASH_SLOTS]; /* distinct block index + 1; 0 = empty */
    uint32_t n_unique = 0;
    uint8_t blk[BLOCK];
    for (uint32_t b = 0; b < N_BLOCKS; b++) {
        if (b * BLOCK > EMPTY_LO && b * BLOCK < EMPTY_HI) { /* the same as the block at EMPTY_LO */
            g_stage1[b] = g_stage1[EMPTY_LO / BLOCK];
            continue;
        }
        for (uint32_t i = 0; i < BLOCK; i++) blk[i] = class_from_utf8proc(b * BLOCK + i);
        uint32_t h = block_hash(blk) & (HASH_SLOTS - 1);
        for (;;) {
            if (!slots[h]) {
                memcpy(g_stage2 + (size_t)n_unique * BLOCK, blk, BLOCK);
                slots[h] = (uint16_t)(++n_unique);
                g_stage1[b] = (uint16_t)(n_unique - 1);
                break;
            }
            if (!memcmp(g_stage2 + (size_t)(slots[h] - 1) * BLOCK, blk, BLOCK)) {
                g_stage1[b] = (uint16_t)(slots[h] - 1);
                break;
            }
            h = (h + 1) & (HASH_SLOTS - 1);
        }
    }
}

const hlm_class_table *hlm_class_table_get(void)
{
    pthread_once(&g_once, build_table);
    return &g_table;
}

size_t hlm_utf8_decode(const uint8_t *s, size_t len, uint32_t *cp)
{
    return hlm_utf8_decode_inline(s, len, cp);
}

uint8_t hlm_unicode_class(uint32_t cp)
{
    if (cp < 0x80) return hlm_ascii_class[cp];
    if (cp >= CP_COUNT) return 0;
    return hlm_class_lookup(hlm_class_table_get(), cp);
}

int hlm_utf8_valid(const uint8_t *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        uint32_t cp;
        i += hlm_utf8_decode_inline(s + i, len - i, &cp);
        if (cp == HLM_CP_INVALID) return 0;
    }
    return 1;
}

/* ---- NFC ---- */


enum { SPAN_STACK = 256 };

/* NFC of one span of well-formed UTF-8 (what utf8proc_NFC does: decompose, order, compose).
 * out != NULL: appends it. out == NULL: sets *changed if it differs from the span. */
static hlm_status nfc_span(const uint8_t *s, size_t n, hlm_buf *out, int *changed, hlm_error *err)
{
    const utf8proc_option_t opt = UTF8PROC_STABLE | UTF8PROC_COMPOSE;
    utf8proc_int32_t stack[SPAN_STACK], *cps = stack;
    utf8proc_ssize_t m = utf8proc_decompose(s, (utf8proc_ssize_t)n, cps, SPAN_STACK, opt);
    if (m > SPAN_STACK) {
        cps = malloc((size_t)m * sizeof *cps);
        if (!cps) return hlm_errorf(err, HLM_ERR_NOMEM, "nfc: cannot allocate %zu code points", (size_t)m);
        m = utf8proc_decompose(s, (utf8proc_ssize_t)n, cps, m, opt);
    }
    hlm_status st = HLM_OK;
    if (m < 0) { /* cannot happen: spans hold only well-formed UTF-8 */
        st = hlm_errorf(err, HLM_ERR_INVALID, "nfc: utf8proc: %s", utf8proc_errmsg(m));
        goto done;
    }
    m = utf8proc_normalize_utf32(cps, m, opt);
    if (out) {
        if ((st = hlm_buf_reserve(out, (size_t)m * 4)) != HLM_OK) {
            hlm_errorf(err, st, "nfc: out of memory");
            goto done;
        }
        for (utf8proc_ssize_t k = 0; k < m; k++)
            out->len += hlm_utf8_encode_inline((uint32_t)cps[k], out->data + out->len);
    } else {
        size_t at = 0;
        uint8_t enc[4];
        for (utf8proc_ssize_t k = 0; k < m && !*changed; k++) {
            size_t w = hlm_utf8_encode_inline((uint32_t)cps[k], enc);
            if (at + w > n || memcmp(s + at, enc, w)) *changed = 1;
            at += w;
        }
        if (at != n) *changed = 1;
    }
done:
    if (cps != stack) free(cps);
    return st;
}

/* Copies s to out (out == NULL: only checks), normalizing the spans around flagged characters.
 * Stops early in check mode once something changed. */
static hlm_status nfc_scan(const uint8_t *s, size_t len, hlm_buf *out, int *changed, hlm_error *err)
{
    const hlm_class_table *t = NULL;
    size_t copied = 0, i = 0;
    /* The last non-ASCII unflagged character, a candidate starter to back up to. */
    size_t prev_start = (size_t)-1, prev_end = (size_t)-1;
    hlm_status st;
    while (i < len) {
        if (s[i] < 0x80) {
            /* ASCII is never flagged: skip 8 bytes at a time while they are all ASCII. */
            while (i + 8 <= len) {
                uint64_t w;
                memcpy(&w, s + i, 8);
                if (w & 0x8080808080808080ull) break;
                i += 8;
            }
            while (i < len && s[i] < 0x80) i++;
            continue;
        }
        uint32_t cp;
        size_t n = hlm_utf8_decode_inline(s + i, len - i, &cp);
        if (cp == HLM_CP_INVALID) {
            i++;
            continue;
        }
        if (!t) t = hlm_class_table_get();
        if (!(hlm_class_lookup(t, cp) & HLM_CC_NFC_CHECK)) {
            prev_start = i;
            prev_end = i + n;
            i += n;
            continue;
        }
        size_t start = i;
        if (i > copied && s[i - 1] < 0x80) start = i - 1;
        else if (prev_end == i) start = prev_start;
        size_t end = i + n;
        while (end < len) {
            size_t k = hlm_utf8_decode_inline(s + end, len - end, &cp);
            if (cp == HLM_CP_INVALID || !(hlm_class_lookup(t, cp) & HLM_CC_NFC_CHECK)) break;
            end += k;
        }
        if (out) {
            if ((st = hlm_buf_append(out, s + copied, start - copied)) != HLM_OK)
                return hlm_errorf(err, st, "nfc: out of memory");
        }
        if ((st = nfc_span(s + start, end - start, out, changed, err)) != HLM_OK) return st;
        if (!out && *changed) return HLM_OK;
        copied = i = end;
    }
    if (out && (st = hlm_buf_append(out, s + copied, len - copied)) != HLM_OK)
        return hlm_errorf(err, st, "nfc: out of memory");
    return HLM_OK;
}

hlm_status hlm_nfc_append(const uint8_t *s, size_t len, hlm_buf *out, hlm_error *err)
{
    if (len == 0) return HLM_OK; /* s may be NULL */
    return nfc_scan(s, len, out, NULL, err);
}

int hlm_nfc_is_stable(const uint8_t *s, size_t len)
{
    int changed = 0;
    /* Only a failed allocation for an enormous span can fail here; call it unstable then, so
     * that the caller normalizes (and gets the real error). */
    if (nfc_scan(s, len, NULL, &changed, NULL) != HLM_OK) return 0;
    return !changed;
}
