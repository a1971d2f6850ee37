/* Quality filters: C4 line and document rules, Gopher repetition rules, Gopher quality rules.
 *
 * The peer is datatrove 0.10.1 (C4QualityFilter, GopherRepetitionFilter, GopherQualityFilter).
 * Its pipelines run repetition, then quality, then C4, and only C4 changes the text, at the end;
 * so every rule here is measured on the ORIGINAL text, as there, and the C4 line rules only decide
 * the text handed back. The reason reported is the first broken rule in the order of
 * hlm_filter_reason (C4 first), which may name another rule than datatrove's order would, but a
 * document is dropped here exactly when one of the three datatrove filters would drop it.
 *
 * Units are Python's: lengths are code points (len(str)), "whitespace" is str.isspace(), lines
 * are str.splitlines() (C4, quality) or re.split("\n+") (repetition), as each filter uses them.
 *
 * Word splitting (datatrove's split_into_words) is where we differ on purpose:
 *  - "en": datatrove uses spaCy's English tokenizer. We split on whitespace and then peel
 *    prefixes, suffixes and infixes with spaCy's main rules (one punctuation mark per token,
 *    "..." runs as one, 's / n't / 'm 're 've 'll 'd split off, "." split after a lowercase
 *    letter or digit or two capitals but kept on abbreviations such as "Mr." "e.g." "U.S.",
 *    hyphens / commas / ":<>=/" split between letters, no infix split inside URLs; letters
 *    without case, Hangul, kana, CJK, count as lowercase and uppercase as in spaCy, so "합니다."
 *    is 합니다 .; "°" split off). Tokens that spaCy handles by special cases we do not list
 *    (emoticons such as "):", "and/or", "cannot" -> can not) may come out differently; that
 *    moves a ratio by a token, which matters only on a threshold's edge.
 *  - "ko": datatrove uses Kiwi (a morphological analyser), whose tokens are morphemes
 *    ("영화였다." -> 영화 였 였 다 .). We cut where Kiwi cuts (split_ko_chunk): numbers, URLs,
 *    letter runs and punctuation runs are tokens as there, and a run of Hangul syllables is cut
 *    into the morphemes ko_seg.c estimates from a lexicon of Kiwi's own cuts. Every rule uses
 *    these words, as datatrove does (FineWeb-2's stop words are morphemes: 의 다 이 는 ...).
 *    With whole Hangul runs as words, 4% of Korean documentation pages got another decision
 *    than datatrove's. tools/filters_vs_datatrove.py measures the agreement
 *    (docs/data-pipeline.md).
 *  - other languages: the "en" rules without the English contractions and abbreviations.
 *
 * Invariants: the scratch's arrays only grow; a call uses them from index 0 and leaves nothing
 * that the next call reads, except the bad-word index (keyed by the list's address). Hash tables
 * are verified (memcmp, or word ids that were), so a hash collision costs time, never a wrong
 * answer; the counters by hash that prune lookups (mark_windows, word_ids) only err towards
 * looking up. Speed: n-grams of words are counted over word ids (one exact table of the words),
 * hashes are computed only where a repeat is possible (an n-gram of 16 bytes or more whose
 * first or last 16 bytes occur once occurs once), upper bounds skip rules that cannot break,
 * and byte scans go 8 bytes at a time. */
#include <math.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#include <xxhash.h>

#include "text/filters.h"
#include "text/ko_seg.h"
#include "text/unicode.h"

/* ---- character sets ---- */

/* datatrove's PUNCTUATION_SET (utils/text.py: PUNCTUATION + C0/C1 controls + TERMINAL_PUNCTUATION),
 * code points above ASCII, sorted. Its ASCII part is every ASCII punctuation mark and every
 * control except \t and \n. (U+FF11, a fullwidth digit one, is in datatrove's string.) */
static const uint32_t punct_nonascii[] = {
    0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8A, 0x8B, 0x8C, 0x8D, 0x8E, 0x8F,
    0x90, 0x91, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9E, 0x9F,
    0xAB, 0xB4, 0xBB, 0x589, 0x61D, 0x61E, 0x61F, 0x6D4, 0x700, 0x701, 0x702, 0x7F9, 0x837, 0x839,
    0x83D, 0x83E, 0x964, 0x965, 0x104A, 0x104B, 0x1362, 0x1367, 0x1368, 0x166E, 0x1735, 0x1736,
    0x17D4, 0x17D5, 0x17D6, 0x17D9, 0x17DA, 0x1803, 0x1809, 0x1944, 0x1945, 0x1AA8, 0x1AA9, 0x1AAA,
    0x1AAB, 0x1B5A, 0x1B5B, 0x1B5E, 0x1B5F, 0x1B7D, 0x1B7E, 0x1C3B, 0x1C3C, 0x1C7E, 0x1C7F, 0x2013,
    0x2014, 0x2019, 0x201C, 0x201D, 0x201E, 0x2026, 0x203C, 0x203D, 0x2047, 0x2048, 0x2049, 0x2236,
    0x2501, 0x25BA, 0x2E2E, 0x2E3C, 0x2E53, 0x2E54, 0x3001, 0x3002, 0x3008, 0x3009, 0x300A, 0x300B,
    0x300C, 0x300D, 0x3010, 0x3011, 0xA4FF, 0xA60E, 0xA60F, 0xA6F3, 0xA6F7, 0xA876, 0xA877, 0xA8CE,
    0xA8CF, 0xA92F, 0xA9C8, 0xA9C9, 0xAA5D, 0xAA5E, 0xAA5F, 0xAAF0, 0xAAF1, 0xABEB, 0xFE52, 0xFE56,
    0xFE57, 0xFF01, 0xFF05, 0xFF08, 0xFF09, 0xFF0C, 0xFF0E, 0xFF11, 0xFF1A, 0xFF1B, 0xFF1F, 0xFF5E,
    0xFF61, 0x10A56, 0x10A57, 0x10F55, 0x10F56, 0x10F57, 0x10F58, 0x10F59, 0x10F86, 0x10F87,
    0x10F88, 0x10F89, 0x11047, 0x11048, 0x110BE, 0x110BF, 0x110C0, 0x110C1, 0x11141, 0x11142,
    0x11143, 0x111C5, 0x111C6, 0x111CD, 0x111DE, 0x111DF, 0x11238, 0x11239, 0x1123B, 0x1123C,
    0x112A9, 0x1144B, 0x1144C, 0x115C2, 0x115C3, 0x115C9, 0x115CA, 0x115CB, 0x115CC, 0x115CD,
    0x115CE, 0x115CF, 0x115D0, 0x115D1, 0x115D2, 0x115D3, 0x115D4, 0x115D5, 0x115D6, 0x115D7,
    0x11641, 0x11642, 0x1173C, 0x1173D, 0x1173E, 0x11944, 0x11946, 0x11A42, 0x11A43, 0x11A9B,
    0x11A9C, 0x11C41, 0x11C42, 0x11EF7, 0x11EF8, 0x11F43, 0x11F44, 0x16A6E, 0x16A6F, 0x16AF5,
    0x16B37, 0x16B38, 0x16B44, 0x16E98, 0x1BC9F, 0x1DA88,
};

/* Sentence-final marks for counting C4 sentences (spaCy's sentencizer, which datatrove's
 * split_into_sentences runs for "en"): ".", "!", "?" and the other terminal marks above, i.e.
 * punct_nonascii minus quotes, brackets, commas, dashes, controls and the like. */
static int is_terminal_nonascii(uint32_t cp)
{
    switch (cp) {
    case 0x85: case 0xAB: case 0xB4: case 0xBB: case 0x2013: case 0x2014: case 0x2019: case 0x201C:
    case 0x201D: case 0x201E: case 0x2026: case 0x2236: case 0x2501: case 0x25BA: case 0x3001:
    case 0x3008: case 0x3009: case 0x300A: case 0x300B: case 0x300C: case 0x300D: case 0x3010:
    case 0x3011: case 0xFF05: case 0xFF08: case 0xFF09: case 0xFF0C: case 0xFF11: case 0xFF1A:
    case 0xFF1B: case 0xFF5E:
        return 0;
    default:
        return cp >= 0xA0;
    }
}

static int in_sorted(const uint32_t *a, size_t n, uint32_t cp)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (a[mid] == cp) return 1;
        if (a[mid] < cp) lo = mid + 1;
        else hi = mid;
    }
    return 0;
}

/* The whole PUNCTUATION_SET below U+10000 as a bitmap, ASCII included (built by tables_init,
 * which run_rules has run): one lookup on the hot path. */
static uint64_t g_punct_bmp[0x10000 / 64];

static inline int ascii_punct(uint32_t cp)
{
    return (cp < 0x20 && cp != '\t' && cp != '\n') || cp == 0x7F ||
           (cp > 0x20 && !(hlm_ascii_class[cp] & (HLM_CC_LETTER | HLM_CC_NUMBER)));
}

static inline int is_punct(uint32_t cp)
{
    if (cp < 0x10000) return (g_punct_bmp[cp >> 6] >> (cp & 63)) & 1;
    return in_sorted(punct_nonascii, sizeof punct_nonascii / sizeof punct_nonascii[0], cp);
}

/* Python's str.isspace(): Unicode White_Space plus U+001C..U+001F. */
static inline int py_space(const hlm_class_table *t, uint32_t cp)
{
    static const uint8_t sp[128] = {['\t'] = 1, ['\n'] = 1, [0x0B] = 1, [0x0C] = 1, ['\r'] = 1,
                                    [0x1C] = 1, [0x1D] = 1, [0x1E] = 1, [0x1F] = 1, [' '] = 1};
    if (cp < 0x80) return sp[cp];
    if (cp == HLM_CP_INVALID || (cp >= 0xAC00 && cp <= 0xD7A3)) return 0;
    return (hlm_class_lookup(t, cp) & HLM_CC_SPACE) != 0;
}

static inline uint8_t cp_class(const hlm_class_table *t, uint32_t cp)
{
    if (cp < 0x80) return hlm_ascii_class[cp];
    if (cp == HLM_CP_INVALID) return 0;
    return hlm_class_lookup(t, cp);
}

/* Code points in s[0..n): one per byte that does not continue a sequence (the text is UTF-8;
 * a stray continuation byte is then under-counted, which only matters for invalid input). */
static size_t count_cps(const uint8_t *s, size_t n)
{
    size_t cont = 0, i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t x;
        memcpy(&x, s + i, 8);
        cont += (size_t)__builtin_popcountll(x & ~(x << 1) & 0x8080808080808080ull);
    }
    for (; i < n; i++) cont += (s[i] & 0xC0) == 0x80;
    return n - cont;
}

/* Eight bytes at a time (SWAR): the high bit of each byte of x that equals c / is below c (c <= 0x80). */
#define ONES 0x0101010101010101ull
#define HIGHS 0x8080808080808080ull
static inline uint64_t swar_eq(uint64_t x, uint8_t c)
{
    uint64_t v = x ^ (c * ONES);
    return ~(((v & ~HIGHS) + ~HIGHS) | v) & HIGHS;
}
static inline uint64_t swar_lt(uint64_t x, uint8_t c) { return ~(((x & ~HIGHS) + (0x80 - c) * ONES) | x) & HIGHS; }
/* For eight ASCII bytes (all below 0x80): the high bit of each that is a letter (b | 0x20 in
 * 'a'..'z': adding 0x1F reaches 0x80, adding 0x05 does not) / a digit (likewise 0x50, 0x46). */
static inline uint64_t ascii_letters8(uint64_t x)
{
    uint64_t t = x | 0x2020202020202020ull;
    return (t + 0x1F1F1F1F1F1F1F1Full) & ~(t + 0x0505050505050505ull) & HIGHS;
}
static inline uint64_t ascii_digits8(uint64_t x)
{
    return (x + 0x5050505050505050ull) & ~(x + 0x4646464646464646ull) & HIGHS;
}
#if defined(__SSE2__)
/* Sixteen bytes at a time: a bit per byte of p[0..16) equal to c / at most c (unsigned). */
static inline __m128i load128(const uint8_t *p) { return _mm_loadu_si128((const __m128i *)(const void *)p); }
static inline __m128i eq16(__m128i v, uint8_t c) { return _mm_cmpeq_epi8(v, _mm_set1_epi8((char)c)); }
static inline __m128i le16(__m128i v, uint8_t c) { return _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8((char)c)), v); }
static inline unsigned mask16(__m128i m) { return (unsigned)_mm_movemask_epi8(m); }
#endif
static inline uint64_t load64(const uint8_t *p)
{
    uint64_t x;
    memcpy(&x, p, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    x = __builtin_bswap64(x); /* p[0] in the low byte, for the callers' ctz */
#endif
    return x;
}

/* Length of a whitespace character ending at s[n-1] (0 if none), for rstrip. */
static size_t trailing_space_len(const hlm_class_table *t, const uint8_t *s, size_t n)
{
    if (n == 0) return 0;
    if (s[n - 1] < 0x80) return py_space(t, s[n - 1]) ? 1 : 0;
    size_t k = 1;
    while (k < n && k < 4 && (s[n - k] & 0xC0) == 0x80) k++;
    uint32_t cp;
    if (hlm_utf8_decode_inline(s + n - k, k, &cp) != k) return 0;
    return py_space(t, cp) ? k : 0;
}

static void py_strip(const hlm_class_table *t, const uint8_t *s, size_t *a, size_t *b)
{
    while (*a < *b) {
        uint32_t cp;
        size_t k = hlm_utf8_decode_inline(s + *a, *b - *a, &cp);
        if (!py_space(t, cp)) break;
        *a += k;
    }
    for (size_t k; *b > *a && (k = trailing_space_len(t, s + *a, *b - *a)) > 0;) *b -= k;
}

/* str.splitlines(): the end of the line starting at pos (exclusive) and the start of the next. */
static void next_line(const uint8_t *s, size_t n, size_t pos, size_t *end, size_t *next)
{
    static const uint8_t maybe[256] = {['\n'] = 1, [0x0B] = 1, [0x0C] = 1, ['\r'] = 1, [0x1C] = 1,
                                       [0x1D] = 1, [0x1E] = 1, [0xC2] = 1, [0xE2] = 1};
    for (size_t i = pos; i < n; i++) {
#if defined(__SSE2__)
        if (i + 16 <= n) { /* the same, sixteen bytes at a time */
            __m128i v = load128(s + i);
            unsigned m = mask16(_mm_or_si128(_mm_or_si128(le16(v, 0x1E), eq16(v, 0xC2)), eq16(v, 0xE2)));
            if (!m) {
                i += 15;
                continue;
            }
            i += (size_t)__builtin_ctz(m);
        } else
#endif
        if (i + 8 <= n) { /* jump to the next byte below 0x1F or equal to 0xC2 or 0xE2 */
            uint64_t x = load64(s + i), m = swar_lt(x, 0x1F) | swar_eq(x, 0xC2) | swar_eq(x, 0xE2);
            if (!m) {
                i += 7;
                continue;
            }
            i += (size_t)__builtin_ctzll(m) >> 3;
        }
        uint8_t c = s[i];
        if (!maybe[c]) continue;
        if (c == '\r') {
            *end = i;
            *next = i + 1 < n && s[i + 1] == '\n' ? i + 2 : i + 1;
            return;
        }
        if (c == 0xC2) {
            if (i + 1 < n && s[i + 1] == 0x85) {
                *end = i;
                *next = i + 2;
                return;
            }
            continue;
        }
        if (c == 0xE2) {
            if (i + 2 < n && s[i + 1] == 0x80 && (s[i + 2] == 0xA8 || s[i + 2] == 0xA9)) {
                *end = i;
                *next = i + 3;
                return;
            }
            continue;
        }
        *end = i;
        *next = i + 1;
        return;
    }
    *end = *next = n;
}

/* ---- parameters ---- */

static const char *const stop_words_en[] = {"the", "be", "to", "of", "and", "that", "have", "with", NULL};

/* Korean: FineWeb-2's list for kor_Hang (configs/kor_Hang.yml), morphemes as Kiwi splits them:
 * particles (의 이 는 에 을 은 를 에서 가 으로 로), endings (다 고), stems and forms of 하다 /
 * 있다 / 되다 / 이다 (한 하 했 있 인 되) and the date nouns 년 월. The Korean words are Kiwi's
 * tokens as ko_seg.c estimates them ("영화는" is 영화 는), so a stop word is matched whole, as
 * datatrove matches it. */
static const char *const stop_words_ko[] = {"의", "다", "이", "는", "에", "을", "한", "년", "하", "은", "를",
                                            "했", "고", "에서", "가", "있", "으로", "인", "월", "로", "되", NULL};

void hlm_filter_params_default(hlm_filter_params *p, const char *lang)
{
    /* datatrove's defaults = Gopher (Rae et al. 2021, table A1) and C4 (Raffel et al. 2020). */
    *p = (hlm_filter_params){
        .gopher_quality = 1, .gopher_repetition = 1, .c4 = 1,
        .min_doc_words = 50, .max_doc_words = 100000,
        .min_avg_word_length = 3, .max_avg_word_length = 10,
        .max_symbol_word_ratio = 0.1,
        .max_bullet_lines_ratio = 0.9, .max_ellipsis_lines_ratio = 0.3,
        .max_non_alpha_words_ratio = 0.8,
        .min_stop_words = 2,
        .dup_line_frac = 0.3, .dup_para_frac = 0.3, .dup_line_char_frac = 0.2, .dup_para_char_frac = 0.2,
        .top_2gram_frac = 0.2, .top_3gram_frac = 0.18, .top_4gram_frac = 0.16,
        .dup_5gram_frac = 0.15, .dup_6gram_frac = 0.14, .dup_7gram_frac = 0.13,
        .dup_8gram_frac = 0.12, .dup_9gram_frac = 0.11, .dup_10gram_frac = 0.10,
        .c4_remove_no_terminal_punct_lines = 1, .c4_remove_javascript_lines = 1,
        .c4_remove_policy_lines = 1, .c4_remove_citations = 1, .c4_filter_lorem_ipsum = 1,
        .c4_filter_curly_brace = 1, .c4_filter_bad_words = 0,
        .c4_min_words_per_line = 3, .c4_max_word_length = 1000, .c4_min_sentences = 5,
        .stop_words = NULL, .bad_words = NULL,
    };
    if (lang && strcmp(lang, "en") == 0) return;
    if (lang && strcmp(lang, "ko") == 0) {
        /* FineWeb-2, configs/kor_Hang.yml and its fineweb-2-pipeline.py: it turns off the
         * paragraph rules and the duplicate-line character share (0 there) and runs no C4. */
        p->c4 = 0;
        p->dup_line_frac = 0.374;
        p->dup_para_frac = p->dup_line_char_frac = p->dup_para_char_frac = -1;
        p->top_2gram_frac = 0.282, p->top_3gram_frac = 0.228, p->top_4gram_frac = 0.185;
        p->dup_5gram_frac = 0.201, p->dup_6gram_frac = 0.184, p->dup_7gram_frac = 0.168;
        p->dup_8gram_frac = 0.154, p->dup_9gram_frac = 0.14, p->dup_10gram_frac = 0.127;
        p->min_avg_word_length = 1, p->max_avg_word_length = 6;
        p->max_non_alpha_words_ratio = 0.791;
        return;
    }
    p->min_stop_words = -1; /* no stop words for other languages */
}

enum { F_INT, F_DBL };
static const struct {
    const char *name;
    size_t off;
    int type;
} param_fields[] = {
#define I(f) {#f, offsetof(hlm_filter_params, f), F_INT}
#define D(f) {#f, offsetof(hlm_filter_params, f), F_DBL}
    I(gopher_quality), I(gopher_repetition), I(c4),
    D(min_doc_words), D(max_doc_words), D(min_avg_word_length), D(max_avg_word_length),
    D(max_symbol_word_ratio), D(max_bullet_lines_ratio), D(max_ellipsis_lines_ratio),
    D(max_non_alpha_words_ratio), D(min_stop_words),
    D(dup_line_frac), D(dup_para_frac), D(dup_line_char_frac), D(dup_para_char_frac),
    D(top_2gram_frac), D(top_3gram_frac), D(top_4gram_frac),
    D(dup_5gram_frac), D(dup_6gram_frac), D(dup_7gram_frac), D(dup_8gram_frac), D(dup_9gram_frac),
    D(dup_10gram_frac),
    I(c4_remove_no_terminal_punct_lines), I(c4_remove_javascript_lines), I(c4_remove_policy_lines),
    I(c4_remove_citations), I(c4_filter_lorem_ipsum), I(c4_filter_curly_brace), I(c4_filter_bad_words),
    D(c4_min_words_per_line), D(c4_max_word_length), D(c4_min_sentences),
#undef I
#undef D
};
#define N_PARAMS (sizeof param_fields / sizeof param_fields[0])

const char *const *hlm_filter_param_names(void)
{
    static const char *names[N_PARAMS + 1];
    static int done; /* idempotent: racing threads write the same values */
    if (!done) {
        for (size_t i = 0; i < N_PARAMS; i++) names[i] = param_fields[i].name;
        names[N_PARAMS] = NULL;
        __atomic_store_n(&done, 1, __ATOMIC_RELEASE);
    }
    return names;
}

static int find_param(const char *name)
{
    for (size_t i = 0; name && i < N_PARAMS; i++)
        if (strcmp(param_fields[i].name, name) == 0) return (int)i;
    return -1;
}

hlm_status hlm_filter_param_set(hlm_filter_params *p, const char *name, double value, hlm_error *err)
{
    int i = find_param(name);
    if (i < 0) return hlm_errorf(err, HLM_ERR_INVALID, "filter parameter '%s': unknown name", name ? name : "(null)");
    if (isnan(value)) return hlm_errorf(err, HLM_ERR_INVALID, "filter parameter '%s': expected a number, got NaN", name);
    char *f = (char *)p + param_fields[i].off;
    if (param_fields[i].type == F_INT) {
        if (value != 0 && value != 1)
            return hlm_errorf(err, HLM_ERR_INVALID, "filter parameter '%s': expected 0 or 1, got %g", name, value);
        *(int *)f = (int)value;
    } else {
        *(double *)f = value;
    }
    return HLM_OK;
}

double hlm_filter_param_get(const hlm_filter_params *p, const char *name)
{
    int i = find_param(name);
    if (i < 0) return NAN;
    const char *f = (const char *)p + param_fields[i].off;
    return param_fields[i].type == F_INT ? (double)*(const int *)f : *(const double *)f;
}

const char *hlm_filter_reason_name(hlm_filter_reason r)
{
    static const char *const names[HLM_FILTER_REASON_COUNT] = {
        [HLM_FILTER_KEEP] = "keep",
        [HLM_FILTER_C4_LOREM_IPSUM] = "c4_lorem_ipsum",
        [HLM_FILTER_C4_CURLY_BRACE] = "c4_curly_brace",
        [HLM_FILTER_C4_TOO_FEW_SENTENCES] = "c4_too_few_sentences",
        [HLM_FILTER_C4_BAD_WORDS] = "c4_bad_words",
        [HLM_FILTER_DUP_LINE_FRAC] = "gopher_dup_line_frac",
        [HLM_FILTER_DUP_PARA_FRAC] = "gopher_dup_para_frac",
        [HLM_FILTER_DUP_LINE_CHAR_FRAC] = "gopher_dup_line_char_frac",
        [HLM_FILTER_DUP_PARA_CHAR_FRAC] = "gopher_dup_para_char_frac",
        [HLM_FILTER_TOP_2GRAM] = "gopher_top_2gram",
        [HLM_FILTER_TOP_3GRAM] = "gopher_top_3gram",
        [HLM_FILTER_TOP_4GRAM] = "gopher_top_4gram",
        [HLM_FILTER_DUP_5GRAM] = "gopher_dup_5gram",
        [HLM_FILTER_DUP_6GRAM] = "gopher_dup_6gram",
        [HLM_FILTER_DUP_7GRAM] = "gopher_dup_7gram",
        [HLM_FILTER_DUP_8GRAM] = "gopher_dup_8gram",
        [HLM_FILTER_DUP_9GRAM] = "gopher_dup_9gram",
        [HLM_FILTER_DUP_10GRAM] = "gopher_dup_10gram",
        [HLM_FILTER_TOO_FEW_WORDS] = "gopher_too_few_words",
        [HLM_FILTER_TOO_MANY_WORDS] = "gopher_too_many_words",
        [HLM_FILTER_MEAN_WORD_LEN_LOW] = "gopher_mean_word_len_low",
        [HLM_FILTER_MEAN_WORD_LEN_HIGH] = "gopher_mean_word_len_high",
        [HLM_FILTER_SYMBOL_WORD_RATIO] = "gopher_symbol_word_ratio",
        [HLM_FILTER_BULLET_LINES] = "gopher_bullet_lines",
        [HLM_FILTER_ELLIPSIS_LINES] = "gopher_ellipsis_lines",
        [HLM_FILTER_NON_ALPHA_WORDS] = "gopher_non_alpha_words",
        [HLM_FILTER_STOP_WORDS] = "gopher_stop_words",
    };
    return (unsigned)r < HLM_FILTER_REASON_COUNT ? names[r] : "unknown";
}

/* ---- scratch ---- */

enum { W_SYMBOL = 1, W_ALPHA = 2 };

typedef struct word {
    uint32_t start, len; /* bytes in the text */
    uint32_t cps;
    uint32_t flags;
} word;

typedef struct span {
    uint32_t start, len;
} span;

typedef struct slot {
    uint64_t h;
    uint32_t idx; /* element index + 1; 0 = empty */
    uint32_t count;
} slot;

/* Korean: Kiwi-like token counts (split_ko_chunk) */
typedef struct ko_counts {
    size_t hangul;      /* tokens of the Hangul runs (ko_seg.c) */
    size_t alpha_runs, digit_runs, other;
    size_t extra_bytes; /* bytes of the words beyond the text's: tokens of a contraction share bytes */
} ko_counts;

struct hlm_filter_scratch {
    word *w, *lw;              /* document words; words of one C4 line */
    size_t w_n, w_cap, lw_n, lw_cap;
    uint32_t *ccp, *coff;      /* code points and byte offsets of one whitespace chunk (+1) */
    size_t c_cap;
    uint8_t *cat;              /* the words, concatenated, and WIN bytes of padding */
    size_t cat_cap;
    uint32_t *cat_off, *cps_pre; /* per word boundary (w_n + 1): offset in cat, code points before */
    size_t b_cap;
    slot *tab;          /* hash table: all zero but the slots listed in used[] */
    size_t tab_cap;
    uint32_t *used;
    size_t used_n, used_cap;
    span *sp;
    size_t sp_cap;
    uint8_t *seen; /* stop words found */
    size_t seen_cap;
    uint8_t *cand;      /* per position: the n-gram there may repeat */
    uint32_t *slot_of;  /* per position: its slot in tab */
    uint32_t *wid;      /* per word: the index of its first occurrence */
    uint64_t *wh;       /* per word: its hash */
    uint32_t *list;     /* positions to look up */
    size_t cand_cap;
    uint8_t *win_rep;   /* per word boundary: its windows of the concatenation repeat (mark_windows) */
    uint8_t *wcnt;      /* saturating counters (mark_windows), all zero between uses */
    size_t wcnt_cap;
    uint16_t *wcnt16;   /* word counters by hash (word_ids), all zero between uses */
    size_t wcnt16_cap;
    size_t win_rep_cap;
    size_t *stop_len;   /* lengths of the stop words */
    size_t stop_len_cap;
    hlm_buf out, lower, line;
    /* Korean: Kiwi-like token counts of the document (split_ko_chunk) */
    ko_counts ko;
    hlm_ko_seg_buf seg;        /* the Korean segmenter's working memory */
    int words_ready; /* w[] and ko hold the words of the whole document */
    /* the document's lines (str.splitlines()) and those of them that start with a bullet or end
     * with an ellipsis, for quality(), counted by c4_lines when it has read every line */
    size_t n_lines, n_bullets, n_ellipses;
    int lines_ready;
    /* bad-word index: words bucketed by their first two bytes */
    const char *const *bw_list;
    uint32_t *bw_start, *bw_idx, *bw_len;
    size_t bw_n;
};

#define BW_BUCKETS 4096u

hlm_status hlm_filter_scratch_new(hlm_filter_scratch **out, hlm_error *err)
{
    *out = calloc(1, sizeof **out);
    if (!*out) return hlm_errorf(err, HLM_ERR_NOMEM, "filter scratch: out of memory");
    return HLM_OK;
}

void hlm_filter_scratch_free(hlm_filter_scratch *s)
{
    if (!s) return;
    free(s->w), free(s->lw), free(s->ccp), free(s->coff), free(s->cat), free(s->cat_off);
    free(s->cps_pre), free(s->tab), free(s->used), free(s->sp), free(s->seen), free(s->cand), free(s->slot_of), free(s->wid), free(s->wh), free(s->list), free(s->stop_len), free(s->win_rep), free(s->wcnt), free(s->wcnt16);
    hlm_buf_free(&s->out), hlm_buf_free(&s->lower), hlm_buf_free(&s->line);
    free(s->bw_start), free(s->bw_idx), free(s->bw_len);
    hlm_ko_seg_buf_free(&s->seg);
    free(s);
}

static hlm_status grow(void *pp, size_t *cap, size_t need, size_t elem, hlm_error *err)
{
    if (need <= *cap) return HLM_OK;
    size_t c = *cap ? *cap : 64;
    while (c < need) c *= 2;
    void *q = realloc(*(void **)pp, c * elem);
    if (!q) return hlm_errorf(err, HLM_ERR_NOMEM, "filter scratch: out of memory (%zu elements)", c);
    *(void **)pp = q;
    *cap = c;
    return HLM_OK;
}

/* ---- word splitting ---- */

typedef enum { SPLIT_EN, SPLIT_BASE, SPLIT_KO } split_mode;

typedef struct wlist {
    word **w;
    size_t *n, *cap;
} wlist;

/* Appends the word of code points c[a..b) (byte offsets off[a]..off[b]). */
static hlm_status emit(wlist *l, const hlm_class_table *t, const uint32_t *c, const uint32_t *off, size_t a, size_t b,
                       hlm_error *err)
{
    if (b <= a) return HLM_OK;
    if (*l->n == *l->cap) {
        hlm_status st = grow(l->w, l->cap, *l->n + 1, sizeof(word), err);
        if (st) return st;
    }
    word *w = &(*l->w)[(*l->n)++];
    w->start = off[a];
    w->len = off[b] - off[a];
    uint32_t sym = 1, alpha = 0;
    for (size_t i = a; i < b; i++) {
        uint32_t cp = c[i];
        if (cp >= 0xAC00 && cp <= 0xD7A3) {
            sym = 0, alpha = 1;
            continue;
        }
        if (sym && (cp == HLM_CP_INVALID || !is_punct(cp))) sym = 0;
        if (!alpha && (cp_class(t, cp) & HLM_CC_LETTER)) alpha = 1;
    }
    w->cps = (uint32_t)(b - a);
    w->flags = (sym ? W_SYMBOL : 0) | (alpha ? W_ALPHA : 0);
    return HLM_OK;
}

static inline int ascii_lower(uint32_t c) { return c >= 'A' && c <= 'Z' ? (int)c + 32 : (int)c; }
/* spaCy's ALPHA_UPPER and ALPHA_LOWER both hold the scripts without case (Hangul, kana, CJK,
 * Hebrew, Indic, ...): letters of category Lo (and Lm), which carry both UPPERISH and LOWERISH
 * (every letter carries one of them), are both here too, so that a "." after "합니다" or "漢字"
 * is split off as after a lowercase letter. */
static inline int is_upper(const hlm_class_table *t, uint32_t c)
{
    if (c < 0x80) return c >= 'A' && c <= 'Z';
    return (cp_class(t, c) & (HLM_CC_LETTER | HLM_CC_UPPERISH)) == (HLM_CC_LETTER | HLM_CC_UPPERISH);
}
static inline int is_lower(const hlm_class_table *t, uint32_t c)
{
    if (c < 0x80) return c >= 'a' && c <= 'z';
    return (cp_class(t, c) & (HLM_CC_LETTER | HLM_CC_LOWERISH)) == (HLM_CC_LETTER | HLM_CC_LOWERISH);
}
static inline int is_alpha(const hlm_class_table *t, uint32_t c) { return (cp_class(t, c) & HLM_CC_LETTER) != 0; }
static inline int is_digit(uint32_t c) { return c >= '0' && c <= '9'; }
static inline int is_quote(uint32_t c)
{
    return c == '"' || c == '\'' || c == '`' || c == 0x2018 || c == 0x2019 || c == 0x201C || c == 0x201D ||
           c == 0xAB || c == 0xBB || c == 0x201E || c == 0x201A || c == 0x2039 || c == 0x203A;
}

/* spaCy prefixes: punctuation, quotes, brackets, currency, "—" "–" "§" "%" "=" "+" (not before a
 * digit); not "-", "/", "@", "~", "." (a run of dots is an ellipsis token of its own). */
static int en_prefix_char(uint32_t c, uint32_t next)
{
    if (c < 0x80) {
        if (c == '-' || c == '/' || c == '@' || c == '~' || c == '.' || c == '^' || c == '|' || c == '\\') return 0;
        if (c == '+') return !is_digit(next);
        return c > 0x20 && c != 0x7F && !(hlm_ascii_class[c] & (HLM_CC_LETTER | HLM_CC_NUMBER));
    }
    return is_punct(c) || (c >= 0x20A0 && c <= 0x20CF) || c == 0xA3 || c == 0xA5 || c == 0xA7 || c == 0xB7 ||
           c == 0xB0; /* "°", split off on either side ("90°" -> 90 °) */
}

static int en_suffix_char(uint32_t c)
{
    if (c < 0x80) {
        if (c == '-' || c == '/' || c == '@' || c == '~' || c == '.' || c == '^' || c == '|' || c == '\\' ||
            c == '+' || c == '=' || c == '$' || c == '#' || c == '&' || c == '<')
            return 0;
        return c > 0x20 && c != 0x7F && !(hlm_ascii_class[c] & (HLM_CC_LETTER | HLM_CC_NUMBER));
    }
    return is_punct(c) || c == 0xB7 || c == 0xB0;
}

/* Words ending in "." that spaCy's English exceptions keep whole, sorted, so that a word is
 * compared only with those of its first letter (en_abbrev_first, built by tables_init). */
static const char *const en_abbrevs[] = {
    "adm", "apr", "ariz", "ark", "aug", "ave", "bros",
    "cal", "calif", "capt", "co", "col", "colo", "conn", "corp", "dec", "dist", "dr", "feb", "fla",
    "ga", "gen", "gov", "ill", "inc", "ind", "jan", "jr", "jul", "jun", "kan", "ky", "la", "lt", "ltd",
    "mar", "mass", "md", "messrs", "mich", "minn", "miss", "mo", "mr", "mrs", "ms", "mt",
    "neb", "nev", "nov", "oct", "okla", "ore", "pa", "prof", "rep", "rev",
    "sen", "sep", "sept", "sgt", "sr", "st", "tenn", "va", "vs", "wash", "wis",
};
#define N_ABBREVS (sizeof en_abbrevs / sizeof en_abbrevs[0])
static uint8_t en_abbrev_first[27]; /* en_abbrevs[first[x - 'a'] .. first[x - 'a' + 1]) start with x */

static void en_abbrev_index(void)
{
    size_t k = 0;
    for (int c = 0; c < 26; c++) {
        en_abbrev_first[c] = (uint8_t)k;
        while (k < N_ABBREVS && en_abbrevs[k][0] == 'a' + c) k++;
    }
    en_abbrev_first[26] = (uint8_t)k;
}

static int en_abbrev(const uint32_t *c, size_t n)
{
    if (n < 2) return 0;
    size_t m = n - 1; /* without the final '.' */
    if (m == 1 && c[0] < 0x80 && (hlm_ascii_class[c[0]] & HLM_CC_LETTER)) return 1; /* "a." "Z." */
    int inner_dot = 0, letters_dots = 1;
    for (size_t i = 0; i < m; i++) {
        if (c[i] == '.') inner_dot = 1;
        else if (!(c[i] < 0x80 && (hlm_ascii_class[c[i]] & HLM_CC_LETTER))) letters_dots = 0;
    }
    if (inner_dot && letters_dots && c[0] != '.') return 1; /* "e.g." "U.S." "a.m." */
    if (m > 6) return 0;
    int c0 = c[0] < 0x80 ? ascii_lower(c[0]) : -1;
    if (c0 < 'a' || c0 > 'z') return 0;
    for (size_t k = en_abbrev_first[c0 - 'a']; k < en_abbrev_first[c0 - 'a' + 1]; k++) {
        const char *a = en_abbrevs[k];
        size_t i = 0;
        while (i < m && a[i] && c[i] < 0x80 && ascii_lower(c[i]) == a[i]) i++;
        if (i == m && a[m] == '\0') return 1;
    }
    return 0;
}

/* Length of an English contraction suffix at the end of c[0..n) ('s n't 'm 're 've 'll 'd), or 0. */
static size_t en_contraction(const hlm_class_table *t, const uint32_t *c, size_t n)
{
    if (n >= 3) {
        uint32_t a = c[n - 2], b = c[n - 1];
        if ((a == '\'' || a == 0x2019) && (b == 's' || b == 'S')) return 2;
    }
    if (n >= 4 && ascii_lower(c[n - 3]) == 'n' && (c[n - 2] == '\'' || c[n - 2] == 0x2019) &&
        ascii_lower(c[n - 1]) == 't' && is_alpha(t, c[n - 4]))
        return 3;
    for (size_t k = 2; k <= 3; k++) {
        if (n < k + 1) break;
        uint32_t q = c[n - k];
        if (q != '\'' && q != 0x2019) continue;
        int l1 = ascii_lower(c[n - k + 1]), l2 = k == 3 ? ascii_lower(c[n - 1]) : 0;
        int ok = k == 2 ? (l1 == 'm' || l1 == 'd') : ((l1 == 'r' && l2 == 'e') || (l1 == 'v' && l2 == 'e') ||
                                                       (l1 == 'l' && l2 == 'l'));
        if (!ok) continue;
        for (size_t i = 0; i < n - k; i++)
            if (!is_alpha(t, c[i])) return 0;
        return k;
    }
    return 0;
}

static int is_ellipsis_at(const uint32_t *c, size_t i, size_t n)
{
    return c[i] == 0x2026 || (c[i] == '.' && i + 1 < n && c[i + 1] == '.');
}

/* Splits the chunk c[a..b) (code points; off[] their byte offsets, off[b] the end) spaCy-like. */
static hlm_status split_en(wlist *l, const hlm_class_table *t, const uint32_t *c,
                           const uint32_t *off, size_t a, size_t b, int english, hlm_error *err)
{
    hlm_status st;
    /* suffix pieces are collected from the end, emitted after the middle */
    size_t sufs[64], sufe[64], n_suf = 0;
    int changed = 1;
    /* a chunk of dots or dashes only ("--", "....") stays one token */
    {
        size_t i = a;
        while (i < b && (c[i] == '-' || c[i] == '.')) i++;
        if (i == b && b - a > 1) return emit(l, t, c, off, a, b, err);
    }
    while (changed && a < b) {
        changed = 0;
        /* prefixes */
        while (a < b) {
            if (is_ellipsis_at(c, a, b)) {
                size_t e = a + 1;
                if (c[a] == '.')
                    while (e < b && c[e] == '.') e++;
                if ((st = emit(l, t, c, off, a, e, err))) return st;
                a = e;
                changed = 1;
                continue;
            }
            if (en_prefix_char(c[a], a + 1 < b ? c[a + 1] : 0)) {
                if ((st = emit(l, t, c, off, a, a + 1, err))) return st;
                a++;
                changed = 1;
                continue;
            }
            break;
        }
        /* suffixes */
        while (a < b && n_suf < 62) {
            size_t n = b - a;
            uint32_t last = c[b - 1];
            size_t k = 0;
            if (last == 0x2026) k = 1;
            else if (last == '.' && n >= 2 && c[b - 2] == '.') {
                k = 2;
                while (k < n && c[b - 1 - k] == '.') k++;
            } else if (en_suffix_char(last)) {
                k = 1;
                if (english && (last == 's' || last == 'S')) k = 0;
            } else if (english && (k = en_contraction(t, c + a, n)) > 0) {
            } else if (last == '.' && n >= 2) {
                uint32_t p = c[b - 2];
                int split = is_lower(t, p) || is_digit(p) || is_quote(p) || is_punct(p) ||
                            (n >= 3 && is_upper(t, p) && is_upper(t, c[b - 3]));
                if (split && english && en_abbrev(c + a, n)) split = 0;
                if (split) k = 1;
            } else if (!english && last == '.' && n >= 2) {
                k = 1;
            }
            if (k == 0 || k >= n) break;
            sufs[n_suf] = b - k, sufe[n_suf++] = b;
            b -= k;
            changed = 1;
        }
    }
    /* infixes, not inside URLs */
    int url = 0;
    for (size_t i = a; i + 2 < b; i++)
        if (c[i] == ':' && c[i + 1] == '/' && c[i + 2] == '/') url = 1;
    if (b - a > 4 && ascii_lower(c[a]) == 'w' && ascii_lower(c[a + 1]) == 'w' && ascii_lower(c[a + 2]) == 'w' &&
        c[a + 3] == '.')
        url = 1;
    size_t piece = a;
    for (size_t i = a + 1; !url && i + 1 < b; i++) {
        uint32_t p = c[i - 1], x = c[i], nx = c[i + 1];
        size_t k = 0;
        if (is_ellipsis_at(c, i, b) && is_alpha(t, p)) {
            k = 1;
            if (x == '.')
                while (i + k < b && c[i + k] == '.') k++;
            if (i + k >= b) k = 0;
        } else if ((x == '-' || x == 0x2013 || x == 0x2014 || x == '~') && (is_alpha(t, p) || is_digit(p))) {
            k = 1;
            while (i + k < b && c[i + k] == x && k < 3) k++;
            if (i + k >= b || !is_alpha(t, c[i + k])) k = 0;
            if (!k && x == '-' && is_digit(p) && i + 1 < b && is_digit(nx)) k = 1;
        } else if ((x == '+' || x == '*' || x == '^') && is_digit(p) && (is_digit(nx) || nx == '-')) {
            k = 1;
        } else if (x == ',' && is_alpha(t, p) && is_alpha(t, nx)) {
            k = 1;
        } else if ((x == ':' || x == '<' || x == '>' || x == '=' || x == '/') && (is_alpha(t, p) || is_digit(p)) &&
                   is_alpha(t, nx)) {
            k = 1;
        } else if (x == '.' && (is_lower(t, p) || is_quote(p)) && (is_upper(t, nx) || is_quote(nx))) {
            k = 1;
        }
        if (k) {
            if ((st = emit(l, t, c, off, piece, i, err))) return st;
            if ((st = emit(l, t, c, off, i, i + k, err))) return st;
            piece = i + k;
            i += k - 1;
        }
    }
    if ((st = emit(l, t, c, off, piece, b, err))) return st;
    while (n_suf--)
        if ((st = emit(l, t, c, off, sufs[n_suf], sufe[n_suf], err))) return st;
    return HLM_OK;
}

/* Korean: how Kiwi would cut a chunk, for the ratio rules (see quality()). Kiwi's tokens are
 * runs of one class: a number ("1,000" "9.5"), Latin letters, jamo ("ㅋㅋㅋ" "ㅠㅠ"), a run of
 * sentence marks (". ! ?": ".." "!?!"), of separators (", : ; /": ";;"), of "~ -", of other
 * symbols ("^^" "♥♥"), and one token per bracket, quote, "…" run or emoji; runs of Hangul
 * syllables are cut into morphemes (ko_push_run). */
enum { K_NONE, K_HANGUL, K_JAMO, K_LETTER, K_DIGIT, K_SF, K_SP, K_SO, K_SE, K_SW, K_SINGLE };

static int kiwi_class(const hlm_class_table *t, uint32_t cp)
{
    if (cp >= 0xAC00 && cp <= 0xD7A3) return K_HANGUL;
    if (cp < 0x80) {
        if (hlm_ascii_class[cp] & HLM_CC_LETTER) return K_LETTER;
        if (cp >= '0' && cp <= '9') return K_DIGIT;
        switch (cp) {
        case '.': case '!': case '?': return K_SF;
        case ',': case ':': case ';': case '/': return K_SP;
        case '~': case '-': return K_SO;
        case '(': case ')': case '[': case ']': case '{': case '}': case '<': case '>': case '"': case '\'':
        case '`': return K_SINGLE;
        default: return K_SW;
        }
    }
    if ((cp >= 0x3131 && cp <= 0x318E) || (cp >= 0x1100 && cp <= 0x11FF)) return K_JAMO;
    if (cp == 0x2026) return K_SE;
    if ((cp >= 0x2018 && cp <= 0x201F) || (cp >= 0x3008 && cp <= 0x3011) || cp == 0xAB || cp == 0xBB ||
        cp >= 0x1F000 || cp == HLM_CP_INVALID)
        return K_SINGLE;
    uint8_t c = cp_class(t, cp);
    if (c & HLM_CC_LETTER) return K_LETTER;
    if (c & HLM_CC_NUMBER) return K_DIGIT;
    return K_SW;
}

/* kiwi_class of each ASCII character, K_NONE for whitespace (built by tables_init). */
static uint8_t g_kiwi_ascii[128];


static pthread_once_t g_tables_once = PTHREAD_ONCE_INIT;

/* The lookup tables of the rules, built once: the punctuation bitmap, the Kiwi classes of ASCII. */
static void tables_init(void)
{
    en_abbrev_index();
    for (uint32_t cp = 0; cp < 0x80; cp++)
        g_kiwi_ascii[cp] = (uint8_t)(py_space(NULL, cp) ? K_NONE : kiwi_class(NULL, cp));
    for (uint32_t cp = 0; cp < 0x80; cp++)
        if (ascii_punct(cp)) g_punct_bmp[cp >> 6] |= 1ull << (cp & 63);
    for (size_t k = 0; k < sizeof punct_nonascii / sizeof punct_nonascii[0]; k++)
        if (punct_nonascii[k] < 0x10000) g_punct_bmp[punct_nonascii[k] >> 6] |= 1ull << (punct_nonascii[k] & 63);
}

/* Are the 6 bytes in the low end of x (p[0] lowest, see load64) two Hangul syllables? */
static inline int is_hangul6(uint64_t x)
{
    uint64_t r = __builtin_bswap64(x); /* p[0] in the top byte: each syllable a big-endian number */
    uint32_t v1 = (uint32_t)(r >> 40), v2 = (uint32_t)(r >> 16) & 0xFFFFFF;
    return ((x & 0xC0C000C0C000ull) == 0x808000808000ull) & (v1 - HANGUL_UTF8_FIRST <= HANGUL_UTF8_LAST - HANGUL_UTF8_FIRST) &
           (v2 - HANGUL_UTF8_FIRST <= HANGUL_UTF8_LAST - HANGUL_UTF8_FIRST);
}

/* Appends the word text[a..b) of cps code points. */
static inline hlm_status push_word(wlist *l, size_t a, size_t b, size_t cps, uint32_t flags, hlm_error *err)
{
    if (*l->n == *l->cap) {
        hlm_status st = grow(l->w, l->cap, *l->n + 1, sizeof(word), err);
        if (st) return st;
    }
    (*l->w)[(*l->n)++] = (word){(uint32_t)a, (uint32_t)(b - a), (uint32_t)cps, flags};
    return HLM_OK;
}

/* The run of Hangul syllables text[a..b): the tokens Kiwi is estimated to cut it into
 * (ko_seg.c), each a word, counted into s->ko. */
static hlm_status ko_push_run(hlm_filter_scratch *s, wlist *l, const uint8_t *text, size_t a, size_t b, hlm_error *err)
{
    hlm_status st = hlm_ko_segment_run(&s->seg, text + a, b - a, err);
    if (st) return st;
    size_t n = s->seg.tok_n, bytes = 0;
    if (*l->n + n > *l->cap && (st = grow(l->w, l->cap, *l->n + n, sizeof(word), err))) return st;
    word *w = *l->w + *l->n;
    for (size_t k = 0; k < n; k++) {
        hlm_ko_token t = s->seg.tok[k];
        w[k] = (word){(uint32_t)(a + t.start), t.end - t.start, (t.end - t.start) / 3, W_ALPHA};
        bytes += t.end - t.start;
    }
    *l->n += n;
    s->ko.hangul += n;
    s->ko.extra_bytes += bytes > b - a ? bytes - (b - a) : 0;
    return HLM_OK;
}

/* The end of the number starting at s[i] (ASCII digits), as Kiwi reads numbers: digit groups
 * joined by "." "/" ":" "-" are one token ("9.5" "1/1/99" "3.1.2" "2020-01-01" "12:30"), a ","
 * joins three digits ("1,000", but "0,1" is three tokens), and a "." right after a number that
 * does not follow a letter ends it ("1." "16.1." "1934.", list numbers and sentence ends; but
 * "amd64." is amd 64 .). */
static size_t ko_number_end(const uint8_t *s, size_t i, size_t b, int after_letter)
{
    while (i < b && is_digit(s[i])) i++;
    for (;;) {
        if (i + 1 < b && (s[i] == '.' || s[i] == '/' || s[i] == ':' || s[i] == '-') && is_digit(s[i + 1])) {
            i++;
            while (i < b && is_digit(s[i])) i++;
        } else if (i + 3 < b && s[i] == ',' && is_digit(s[i + 1]) && is_digit(s[i + 2]) && is_digit(s[i + 3]) &&
                   (i + 4 >= b || !is_digit(s[i + 4]))) {
            i += 4;
        } else {
            break;
        }
    }
    if (!after_letter && i < b && s[i] == '.' && (i + 1 >= b || s[i + 1] != '.')) i++;
    return i;
}

/* The end of a URL whose scheme (ASCII letters) ends at s[j] ("https" in "https://host.tld/x"):
 * the chunk's end but for trailing ". , ; : ! ?", if "://" follows and a "." comes after it;
 * else 0. Kiwi keeps such a URL as one token. */
static size_t ko_url_end(const hlm_class_table *t, const uint8_t *s, size_t j, size_t b)
{
    if (!(j + 3 < b && memcmp(s + j, "://", 3) == 0)) return 0;
    size_t e = j + 3;
    while (e < b) {
        uint32_t c;
        size_t n = hlm_utf8_decode_inline(s + e, b - e, &c);
        if (py_space(t, c)) break;
        e += n;
    }
    while (e > j + 3 && memchr(".,;:!?", s[e - 1], 6)) e--;
    return memchr(s + j + 3, '.', e - (j + 3)) ? e : 0;
}

/* The end of the hashtag starting at s[i] == '#': up to whitespace, another "#", ".", "," or
 * a bracket, as Kiwi cuts "#VALUE!" "#iNumber" "#DIV/0!" (one token each); i + 1 if none. */
static size_t ko_hashtag_end(const hlm_class_table *t, const uint8_t *s, size_t i, size_t b)
{
    size_t j = i + 1;
    while (j < b) {
        if (s[j] < 0x80) {
            if (py_space(t, s[j]) || memchr("#.,()[]{}<>", s[j], 11)) break;
            j++;
            continue;
        }
        uint32_t c;
        size_t n = hlm_utf8_decode_inline(s + j, b - j, &c);
        if (py_space(t, c)) break;
        j += n;
    }
    return j;
}

/* Is the rest of the line after s[i] blank? */
static int rest_of_line_blank(const hlm_class_table *t, const uint8_t *s, size_t i, size_t b)
{
    while (i < b && s[i] != '\n') {
        uint32_t cp;
        size_t k = hlm_utf8_decode_inline(s + i, b - i, &cp);
        if (!py_space(t, cp)) return 0;
        i += k;
    }
    return 1;
}

/* The word of letters text[a..*pj) (cps code points, the last seg of them since the start), as
 * Kiwi keeps it: with "." and more ASCII letters ("file.txt" "e.g.") and a final "." inside
 * ("Debian."); a word ending in "." is two tokens when its last part has 6 letters or more, or 4
 * or more unless it ends the line ("Debian." -> Deb ian.; "Linux." at the end of a line stays
 * whole). Appends it to l, counts it into s->ko and moves *pj past it. */
static hlm_status ko_letters(hlm_filter_scratch *s, wlist *l, const hlm_class_table *t, const uint8_t *text,
                             size_t a, size_t *pj, size_t b0, size_t cps, size_t seg, hlm_error *err)
{
    hlm_status st;
    size_t j = *pj;
    while (j + 1 < b0 && text[j] == '.' && text[j + 1] < 0x80 && (hlm_ascii_class[text[j + 1]] & HLM_CC_LETTER)) {
        j++, cps++, seg = 0;
        while (j < b0 && text[j] < 0x80 && (hlm_ascii_class[text[j]] & HLM_CC_LETTER)) j++, cps++, seg++;
    }
    int dot = j < b0 && text[j] == '.' && (j + 1 >= b0 || text[j + 1] != '.');
    if (dot) j++, cps++;
    /* two tokens: the last three letters (ASCII) and the "." one of them */
    int two = dot && seg >= 4 && j - a >= 5 && text[j - 2] < 0x80 && text[j - 3] < 0x80 && text[j - 4] < 0x80;
    if (two && seg < 6) {
        uint32_t c = 0;
        if (j < b0) hlm_utf8_decode_inline(text + j, b0 - j, &c);
        if (j >= b0 || (py_space(t, c) && rest_of_line_blank(t, text, j, b0))) two = 0;
    }
    *pj = j;
    if (two) {
        if ((st = push_word(l, a, j - 4, cps - 4, W_ALPHA, err)) || (st = push_word(l, j - 4, j, 4, W_ALPHA, err)))
            return st;
        s->ko.alpha_runs += 2;
        return HLM_OK;
    }
    if ((st = push_word(l, a, j, cps, W_ALPHA, err))) return st;
    s->ko.alpha_runs++;
    return HLM_OK;
}

/* One whitespace-free chunk starting at *pi (first code point cp, k bytes), cut where Kiwi cuts
 * it: the words stand in for Kiwi's tokens in the word-length and n-gram rules, and their counts
 * (s->ko) for Kiwi's in the word-count and ratio rules:
 *  - a run of Hangul syllables: the morphemes ko_seg.c cuts it into (ko_push_run);
 *  - a number (ko_number_end), a URL (ko_url_end), a hashtag (ko_hashtag_end), a word of
 *    letters (ko_letters);
 *  - otherwise a run of one class of kiwi_class ("..", "^^", "ㅋㅋ"), a bracket or quote alone.
 * "영화였다!! ㅋㅋ 1,000원" is 영화 였 였 다 !! ㅋㅋ 1,000 원, as Kiwi cuts it. */
static hlm_status split_ko_chunk(hlm_filter_scratch *s, wlist *l, const hlm_class_table *t, const uint8_t *text,
                                 size_t *pi, size_t b0, uint32_t cp, size_t k, hlm_error *err)
{
    hlm_status st;
    size_t i = *pi;
    int prev = K_NONE; /* the class of the code point before i in this chunk */
    for (;;) {
        size_t a = i;
        if (cp >= 0xAC00 && cp <= 0xD7A3) {
            /* the hot case: a run of Hangul syllables (3 bytes each, lead EA..ED) */
            i += 3;
            while (i + 8 <= b0 && is_hangul6(load64(text + i))) i += 6;
            while (i + 3 <= b0 && is_hangul3(text + i)) i += 3;
            if ((st = ko_push_run(s, l, text, a, i, err))) return st;
            prev = K_HANGUL;
        } else if (cp < 0x80 && is_digit(cp)) {
            i = ko_number_end(text, i, b0, prev == K_LETTER);
            if ((st = push_word(l, a, i, i - a, 0, err))) return st;
            s->ko.other++, s->ko.digit_runs++;
            prev = K_DIGIT;
        } else if (cp == '#' && ko_hashtag_end(t, text, a, b0) > a + 1) {
            /* a hashtag: one token, a word if anything but punctuation is in it */
            i = ko_hashtag_end(t, text, a, b0);
            int letter = 0, word = 0;
            for (size_t q = a + 1, n; q < i; q += n) {
                uint32_t c;
                n = hlm_utf8_decode_inline(text + q, i - q, &c);
                int kc = kiwi_class(t, c);
                letter |= kc == K_HANGUL || kc == K_JAMO || kc == K_LETTER;
                word |= c == HLM_CP_INVALID || !is_punct(c);
            }
            uint32_t flags = (letter ? W_ALPHA : 0) | (word ? 0 : W_SYMBOL);
            if ((st = push_word(l, a, i, count_cps(text + a, i - a), flags, err))) return st;
            if (letter) s->ko.alpha_runs++;
            else s->ko.other++, s->ko.digit_runs += (size_t)word;
            prev = K_SW;
        } else {
            int kc = kiwi_class(t, cp);
            if (kc == K_LETTER) {
                /* letters; "://" after ASCII letters starts a URL */
                size_t j = i, cps = 0, seg = 0;
                while (j < b0) {
                    if (text[j] < 0x80) { /* ASCII: no decoding */
                        if (!(hlm_ascii_class[text[j]] & HLM_CC_LETTER)) break;
                        j++, cps++, seg++;
                        continue;
                    }
                    uint32_t c;
                    size_t n = hlm_utf8_decode_inline(text + j, b0 - j, &c);
                    if (kiwi_class(t, c) != K_LETTER) break;
                    j += n, cps++, seg++;
                }
                size_t url = text[a] < 0x80 ? ko_url_end(t, text, j, b0) : 0;
                if (url) {
                    if ((st = push_word(l, a, url, count_cps(text + a, url - a), W_ALPHA, err))) return st;
                    s->ko.alpha_runs++;
                    j = url;
                } else {
                    if ((st = ko_letters(s, l, t, text, a, &j, b0, cps, seg, err))) return st;
                }
                i = j;
            } else {
                /* a run of one class, ASCII or not ("^^♥^^" is ^^ ♥ ^^ in Kiwi); a bracket, quote or
                 * emoji alone */
                int sym = cp != HLM_CP_INVALID && is_punct(cp);
                size_t cps = 1;
                i += k;
                if (cp < 0x80) /* no decoding (a space's class is K_NONE in g_kiwi_ascii) */
                    while (kc != K_SINGLE && i < b0 && text[i] < 0x80 && g_kiwi_ascii[text[i]] == kc)
                        sym &= is_punct(text[i]), i++, cps++;
                while (kc != K_SINGLE && cp >= 0x80 && i < b0 && text[i] >= 0x80) {
                    uint32_t c;
                    size_t n = hlm_utf8_decode_inline(text + i, b0 - i, &c);
                    if (py_space(t, c) || kiwi_class(t, c) != kc) break;
                    sym &= c != HLM_CP_INVALID && is_punct(c);
                    i += n, cps++;
                }
                if ((st = push_word(l, a, i, cps, (sym ? W_SYMBOL : 0) | (kc == K_JAMO ? W_ALPHA : 0), err))) return st;
                if (kc == K_JAMO) s->ko.alpha_runs++;
                else s->ko.other++;
                if (kc == K_DIGIT) s->ko.digit_runs++;
            }
            prev = kc;
        }
        if (i >= b0 || text[i] == ' ') break;
        k = hlm_utf8_decode_inline(text + i, b0 - i, &cp);
        if (py_space(t, cp)) break;
    }
    *pi = i;
    return HLM_OK;
}

/* The commonest shape of an ASCII chunk with punctuation, split here without split_en: opening
 * brackets or quotes, then letters and digits, then closing punctuation (, ; : ! ? ) ] "), as
 * "(see" "word," "it)." would not be ("." has rules of its own). split_en cuts these into one
 * word per prefix and suffix character around the middle; so does this. HLM_ERR_RANGE if the
 * chunk text[a..b) has another shape. */
static hlm_status split_ascii_simple(wlist *l, const uint8_t *text, size_t a, size_t b, hlm_error *err)
{
    static const uint8_t kind[128] = {['('] = 1, ['['] = 1, ['"'] = 3, [','] = 2, [';'] = 2, [':'] = 2,
                                      ['!'] = 2, ['?'] = 2, [')'] = 2, [']'] = 2};
    size_t p = a, e = b;
    while (p < e && (kind[text[p]] & 1)) p++;
    while (e > p && (kind[text[e - 1]] & 2)) e--;
    if (p == e) return HLM_ERR_RANGE;
    int letter = 0;
    for (size_t k = p; k < e; k++) {
        uint8_t cls = hlm_ascii_class[text[k]];
        if (!(cls & (HLM_CC_LETTER | HLM_CC_NUMBER))) return HLM_ERR_RANGE;
        letter |= (cls & HLM_CC_LETTER) != 0;
    }
    size_t n = (p - a) + 1 + (b - e);
    if (*l->n + n > *l->cap) {
        hlm_status st = grow(l->w, l->cap, *l->n + n, sizeof(word), err);
        if (st) return st;
    }
    word *w = *l->w;
    for (size_t k = a; k < p; k++) w[(*l->n)++] = (word){(uint32_t)k, 1, 1, W_SYMBOL};
    w[(*l->n)++] = (word){(uint32_t)p, (uint32_t)(e - p), (uint32_t)(e - p), letter ? W_ALPHA : 0};
    for (size_t k = e; k < b; k++) w[(*l->n)++] = (word){(uint32_t)k, 1, 1, W_SYMBOL};
    return HLM_OK;
}

/* Two more common shapes of an ASCII chunk that split_en would be called for, split here as it
 * splits them: one punctuation character (one word), and letters and digits ending in "." (a
 * word, and the "." as a word of its own after a lowercase letter, a digit or two capitals,
 * unless "en" keeps it as an abbreviation). HLM_ERR_RANGE if text[a..b) has another shape. */
static hlm_status split_ascii_dot(hlm_filter_scratch *s, wlist *l, const uint8_t *text, size_t a, size_t b,
                                  int english, hlm_error *err)
{
    size_t n = b - a;
    hlm_status st;
    if (*l->n + 2 > *l->cap && (st = grow(l->w, l->cap, *l->n + 2, sizeof(word), err))) return st;
    word *w = *l->w;
    if (n == 1) {
        uint32_t f = (is_punct(text[a]) ? W_SYMBOL : 0) | ((hlm_ascii_class[text[a]] & HLM_CC_LETTER) ? W_ALPHA : 0);
        w[(*l->n)++] = (word){(uint32_t)a, 1, 1, f};
        return HLM_OK;
    }
    if (text[b - 1] != '.') return HLM_ERR_RANGE;
    int letter = 0;
    for (size_t k = a; k < b - 1; k++) {
        uint8_t cls = hlm_ascii_class[text[k]];
        if (!(cls & (HLM_CC_LETTER | HLM_CC_NUMBER))) return HLM_ERR_RANGE;
        letter |= (cls & HLM_CC_LETTER) != 0;
    }
    uint8_t p = text[b - 2];
    int split = (p >= 'a' && p <= 'z') || is_digit(p) ||
                (n >= 3 && p >= 'A' && p <= 'Z' && text[b - 3] >= 'A' && text[b - 3] <= 'Z');
    if (split && english) {
        if (n > s->c_cap) {
            size_t c2 = s->c_cap;
            if ((st = grow(&s->ccp, &c2, n, sizeof(uint32_t), err))) return st;
            c2 = s->c_cap;
            if ((st = grow(&s->coff, &c2, n, sizeof(uint32_t), err))) return st;
            s->c_cap = c2;
        }
        for (size_t k = 0; k < n; k++) s->ccp[k] = text[a + k];
        split = !en_abbrev(s->ccp, n);
    }
    uint32_t flags = letter ? W_ALPHA : 0;
    if (!split) {
        w[(*l->n)++] = (word){(uint32_t)a, (uint32_t)n, (uint32_t)n, flags};
        return HLM_OK;
    }
    w[(*l->n)++] = (word){(uint32_t)a, (uint32_t)(n - 1), (uint32_t)(n - 1), flags};
    w[(*l->n)++] = (word){(uint32_t)(b - 1), 1, 1, W_SYMBOL};
    return HLM_OK;
}

#if defined(__SSE2__)
/* For the 64 bytes at p (66 readable): bit k of sp says p[k] is ASCII whitespace (str.split's:
 * \t..\r, 0x1C..0x1F, space), of hangul that it is a byte of a Hangul syllable (U+AC00..U+D7A3:
 * EA B0 80 .. ED 9E A3) that starts in the block, of letters an ASCII letter, of digits an ASCII
 * digit. */
typedef struct block_masks {
    uint64_t sp, hangul, letters, digits;
} block_masks;

static inline block_masks block_masks_at(const uint8_t *p)
{
    uint64_t S = 0, L = 0, A = 0, D = 0;
    for (int h = 0; h < 64; h += 16) {
        __m128i v0 = load128(p + h), v1 = load128(p + h + 1), v2 = load128(p + h + 2);
        __m128i ws = _mm_or_si128(le16(_mm_sub_epi8(v0, _mm_set1_epi8(0x09)), 0x0D - 0x09),
                                  le16(_mm_sub_epi8(v0, _mm_set1_epi8(0x1C)), 0x20 - 0x1C));
        __m128i lead = hangul_lead16(v0, v1, v2);
        S |= (uint64_t)mask16(ws) << h;
        L |= (uint64_t)mask16(lead) << h;
        A |= (uint64_t)mask16(le16(_mm_sub_epi8(_mm_or_si128(v0, _mm_set1_epi8(0x20)), _mm_set1_epi8('a')), 'z' - 'a')) << h;
        D |= (uint64_t)mask16(le16(_mm_sub_epi8(v0, _mm_set1_epi8('0')), '9' - '0')) << h;
    }
    return (block_masks){S, L | L << 1 | L << 2, A, D};
}
#endif

static hlm_status split_words(hlm_filter_scratch *s, wlist *l, split_mode mode, const hlm_class_table *t,
                              const uint8_t *text, size_t a0, size_t b0, hlm_error *err);

#if defined(__SSE2__)
/* One step of the word splitters over the 64 bytes at text + i (66 readable): the chunks between
 * ASCII whitespace that lie inside the block. The common ones, without a branch per byte: ASCII
 * letters and digits only (one word; in Korean text a Latin word or a number is also one token,
 * as split_ko_chunk counts it, and a mix of letters and digits is left to it), Hangul syllables
 * only (one word; in Korean text one run of syllables, cut into morphemes as split_ko_chunk
 * does). Any other chunk goes to the byte-by-byte path: an English one on its
 * bytes alone (it splits the same wherever it is), a Korean one by split_ko_chunk with the text
 * to its end (a word ending in "." is cut by whether its line ends there). A chunk that reaches
 * the end of the block is left for the next step. *adv = how far the step got (64: the whole
 * block). */
static inline hlm_status block_step(hlm_filter_scratch *s, wlist *l, split_mode mode, const hlm_class_table *t,
                                    const uint8_t *text, size_t i, size_t b0, size_t *adv, hlm_error *err)
{
    hlm_status st;
    block_masks bm = block_masks_at(text + i);
    size_t p = 0;
    for (;;) {
        uint64_t rest = ~bm.sp & (p < 64 ? ~0ull << p : 0);
        if (!rest) {
            p = 64;
            break;
        }
        size_t a = (size_t)__builtin_ctzll(rest);
        uint64_t after = bm.sp & (~0ull << a);
        if (!after) {
            p = a;
            break;
        }
        size_t e = (size_t)__builtin_ctzll(after);
        uint64_t m = ((1ull << e) - 1) & (~0ull << a);
        int letters = (bm.letters & m) == m, digits = (bm.digits & m) == m;
        int plain = mode == SPLIT_KO ? letters || digits : ((bm.letters | bm.digits) & m) == m;
        if (mode == SPLIT_KO && !plain && (bm.hangul & m) == m) {
            if ((st = ko_push_run(s, l, text, i + a, i + e, err))) return st;
        } else if (plain || (bm.hangul & m) == m) {
            if (*l->n == *l->cap && (st = grow(l->w, l->cap, *l->n + 1, sizeof(word), err))) return st;
            uint32_t len = (uint32_t)(e - a), alpha = !plain || (bm.letters & m) ? W_ALPHA : 0;
            (*l->w)[(*l->n)++] = (word){(uint32_t)(i + a), len, plain ? len : len / 3, alpha};
            if (mode == SPLIT_KO) {
                s->ko.alpha_runs += (size_t)letters;
                s->ko.other += (size_t)digits;
                s->ko.digit_runs += (size_t)digits;
            }
        } else if (mode == SPLIT_KO) {
            /* with the text to its end: a Korean chunk's cut can look at the rest of its line
             * (the bytes up to e may hold more than one chunk, split at non-ASCII whitespace) */
            for (size_t q = i + a; q < i + e;) {
                uint32_t cp;
                size_t k = hlm_utf8_decode_inline(text + q, b0 - q, &cp);
                if (py_space(t, cp)) q += k;
                else if ((st = split_ko_chunk(s, l, t, text, &q, b0, cp, k, err))) return st;
            }
        } else if ((st = split_words(s, l, mode, t, text, i + a, i + e, err))) {
            return st;
        }
        p = e;
    }
    *adv = p;
    return HLM_OK;
}
#endif

/* One step of the word splitters' loops at *pi: a 64-byte block step, or the whitespace there
 * skipped (returns 0 with *pi moved on; *st set on an error), or else the start of a chunk
 * (returns 1, its first code point in *cp, of *k bytes). Inlined into each loop, so that the
 * English one is compiled without the Korean code. */
static inline int chunk_start(hlm_filter_scratch *s, wlist *l, split_mode mode, const hlm_class_table *t,
                              const uint8_t *text, size_t *pi, size_t b0, uint32_t *cp, size_t *k, hlm_status *st,
                              hlm_error *err)
{
    size_t i = *pi;
    *st = HLM_OK;
#if defined(__SSE2__)
    if (i + 66 <= b0) {
        size_t p;
        if ((*st = block_step(s, l, mode, t, text, i, b0, &p, err))) return 0;
        *pi = i += p;
        if (p == 64) return 0;
    }
#else
    (void)s, (void)l, (void)mode, (void)err;
#endif
    if (text[i] == ' ') { /* the commonest separator, without decoding; runs 8 at a time */
        i++;
        while (i + 8 <= b0 && load64(text + i) == 0x2020202020202020ull) i += 8;
        *pi = i;
        return 0;
    }
    *k = hlm_utf8_decode_inline(text + i, b0 - i, cp);
    if (py_space(t, *cp)) {
        *pi = i + *k;
        return 0;
    }
    return 1;
}

/* Splits text[a0..b0) into Korean words appended to l (split_ko_chunk), counting their
 * Kiwi-like tokens into s->ko. A loop of its own, so that the English one in split_words is
 * compiled without the Korean code. */
static hlm_status split_words_ko(hlm_filter_scratch *s, wlist *l, const hlm_class_table *t, const uint8_t *text,
                                 size_t a0, size_t b0, hlm_error *err)
{
    hlm_status st;
    size_t i = a0, k;
    uint32_t cp;
    while (i < b0) {
        if (!chunk_start(s, l, SPLIT_KO, t, text, &i, b0, &cp, &k, &st, err)) {
            if (st) return st;
            continue;
        }
        if ((st = split_ko_chunk(s, l, t, text, &i, b0, cp, k, err))) return st;
    }
    return HLM_OK;
}

/* Splits text[a0..b0) into words appended to l. */
static hlm_status split_words(hlm_filter_scratch *s, wlist *l, split_mode mode, const hlm_class_table *t,
                              const uint8_t *text, size_t a0, size_t b0, hlm_error *err)
{
    if (mode == SPLIT_KO) return split_words_ko(s, l, t, text, a0, b0, err);
    hlm_status st;
    size_t i = a0, k;
    uint32_t cp;
    while (i < b0) {
        if (!chunk_start(s, l, mode, t, text, &i, b0, &cp, &k, &st, err)) {
            if (st) return st;
            continue;
        }
        if (cp < 0x80) {
            /* the common case, an ASCII chunk: ASCII letters and digits only make one word (no
             * prefix, suffix or infix applies); otherwise its bytes are its code points */
            size_t j = i;
            int all = 1, any_letter = 0;
            for (;;) {
                if (j + 8 <= b0) { /* eight bytes at a time over ASCII letters and digits */
                    uint64_t x = load64(text + j);
                    if (!(x & HIGHS)) {
                        uint64_t let = ascii_letters8(x), an = let | ascii_digits8(x);
                        if (an == HIGHS) {
                            any_letter |= let != 0;
                            j += 8;
                            continue;
                        }
                        size_t k = (size_t)__builtin_ctzll(~an & HIGHS) >> 3; /* the first other byte */
                        any_letter |= (let & ((1ull << (8 * k)) - 1)) != 0;
                        j += k;
                    }
                }
                if (j >= b0 || text[j] >= 0x80) break;
                uint8_t c = text[j], cls = hlm_ascii_class[c];
                if (py_space(t, c)) break;
                all &= (cls & (HLM_CC_LETTER | HLM_CC_NUMBER)) != 0;
                any_letter |= (cls & HLM_CC_LETTER) != 0;
                j++;
            }
            if (j == b0 || text[j] < 0x80) {
                if (all) {
                    if (*l->n == *l->cap && (st = grow(l->w, l->cap, *l->n + 1, sizeof(word), err))) return st;
                    (*l->w)[(*l->n)++] =
                        (word){(uint32_t)i, (uint32_t)(j - i), (uint32_t)(j - i), any_letter ? W_ALPHA : 0};
                } else if ((st = split_ascii_simple(l, text, i, j, err)) != HLM_ERR_RANGE ||
                           (st = split_ascii_dot(s, l, text, i, j, mode == SPLIT_EN, err)) != HLM_ERR_RANGE) {
                    if (st) return st;
                } else {
                    size_t n = j - i;
                    if (n + 1 > s->c_cap) {
                        size_t c2 = s->c_cap;
                        if ((st = grow(&s->ccp, &c2, n + 1, sizeof(uint32_t), err))) return st;
                        c2 = s->c_cap;
                        if ((st = grow(&s->coff, &c2, n + 1, sizeof(uint32_t), err))) return st;
                        s->c_cap = c2;
                    }
                    for (size_t q = 0; q < n; q++) s->ccp[q] = text[i + q], s->coff[q] = (uint32_t)(i + q);
                    s->ccp[n] = 0, s->coff[n] = (uint32_t)j; /* the end (text[j] may be past the text) */
                    if ((st = split_en(l, t, s->ccp, s->coff, 0, n, mode == SPLIT_EN, err))) return st;
                }
                i = j;
                continue;
            }
            /* a non-ASCII character follows: the general path below */
        }
        /* collect the chunk's code points, then split it */
        size_t n = 0;
        uint8_t all = HLM_CC_LETTER | HLM_CC_NUMBER, any = 0; /* classes of ASCII letters and digits */
        for (;;) {
            uint8_t cls = cp < 0x80 ? hlm_ascii_class[cp] & (HLM_CC_LETTER | HLM_CC_NUMBER) : 0;
            if (!cls) all = 0;
            any |= cls;
            if (n + 2 > s->c_cap) {
                size_t c2 = s->c_cap;
                if ((st = grow(&s->ccp, &c2, n + 2, sizeof(uint32_t), err))) return st;
                c2 = s->c_cap;
                if ((st = grow(&s->coff, &c2, n + 2, sizeof(uint32_t), err))) return st;
                s->c_cap = c2;
            }
            s->ccp[n] = cp;
            s->coff[n++] = (uint32_t)i;
            i += k;
            if (i >= b0) break;
            if (text[i] < 0x80) { /* ASCII: no decoding */
                cp = text[i], k = 1;
                if (py_space(t, cp)) break;
                continue;
            }
            k = hlm_utf8_decode_inline(text + i, b0 - i, &cp);
            if (py_space(t, cp)) break;
        }
        s->coff[n] = (uint32_t)i;
        if (all) {
            /* ASCII letters and digits only: no prefix, suffix or infix applies, one word */
            if (*l->n == *l->cap && (st = grow(l->w, l->cap, *l->n + 1, sizeof(word), err))) return st;
            (*l->w)[(*l->n)++] =
                (word){s->coff[0], (uint32_t)(i - s->coff[0]), (uint32_t)n, (any & HLM_CC_LETTER) ? W_ALPHA : 0};
            continue;
        }
        if ((st = split_en(l, t, s->ccp, s->coff, 0, n, mode == SPLIT_EN, err))) return st;
    }
    return HLM_OK;
}

/* ---- Gopher repetition ---- */

/* Readies the table for n insertions: a power of two of at least 2n slots, all empty. Only the
 * slots filled since the last reset are cleared (a memset of the whole table per n-gram size
 * cost more than the lookups on short documents). */
static hlm_status table_reset(hlm_filter_scratch *s, size_t n, size_t *mask, hlm_error *err)
{
    size_t cap = 16;
    while (cap < 2 * n) cap *= 2;
    for (size_t k = 0; k < s->used_n; k++) s->tab[s->used[k]] = (slot){0, 0, 0};
    s->used_n = 0;
    /* one more slot, never filled: an empty one to point at (count 0) */
    size_t old = s->tab_cap;
    hlm_status st = grow(&s->tab, &s->tab_cap, cap + 1, sizeof(slot), err);
    if (st) return st;
    if (s->tab_cap > old) memset(s->tab + old, 0, (s->tab_cap - old) * sizeof(slot));
    if ((st = grow(&s->used, &s->used_cap, n + 1, sizeof(uint32_t), err))) return st;
    *mask = cap - 1;
    return HLM_OK;
}

static inline void table_put(hlm_filter_scratch *s, size_t j, slot v)
{
    s->tab[j] = v;
    s->used[s->used_n++] = (uint32_t)j;
}

/* Counters for n items: at least 16 per item, a power of two (2^bits); zero on return. */
static hlm_status counters(hlm_filter_scratch *s, size_t n, size_t *cap_out, unsigned *bits_out, hlm_error *err)
{
    size_t cap = 64;
    unsigned bits = 6;
    while (cap < 16 * n) cap *= 2, bits++;
    size_t old = s->wcnt_cap;
    hlm_status st = grow(&s->wcnt, &s->wcnt_cap, cap, 1, err);
    if (st) return st;
    if (s->wcnt_cap > old) memset(s->wcnt + old, 0, s->wcnt_cap - old);
    *cap_out = cap;
    if (bits_out) *bits_out = bits;
    return HLM_OK;
}

static inline uint64_t mix64(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h;
}

/* datatrove's find_duplicates over s->sp[0..n): elements equal to an earlier one, and their
 * code points. */
static hlm_status find_duplicates(hlm_filter_scratch *s, const uint8_t *text, size_t n, size_t *dups,
                                  size_t *dup_cps, hlm_error *err)
{
    size_t mask;
    hlm_status st = table_reset(s, n, &mask, err);
    if (st) return st;
    *dups = *dup_cps = 0;
    for (size_t i = 0; i < n; i++) {
        const span *e = &s->sp[i];
        uint64_t h = XXH3_64bits(text + e->start, e->len);
        for (size_t j = h & mask;; j = (j + 1) & mask) {
            slot *sl = &s->tab[j];
            if (!sl->idx) {
                table_put(s, j, (slot){h, (uint32_t)i + 1, 1});
                break;
            }
            const span *o = &s->sp[sl->idx - 1];
            if (sl->h == h && o->len == e->len && memcmp(text + o->start, text + e->start, e->len) == 0) {
                (*dups)++;
                *dup_cps += count_cps(text + e->start, e->len);
                break;
            }
        }
    }
    return HLM_OK;
}

static hlm_status push_span(hlm_filter_scratch *s, size_t *n, size_t a, size_t b, hlm_error *err)
{
    hlm_status st = grow(&s->sp, &s->sp_cap, *n + 1, sizeof(span), err);
    if (st) return st;
    s->sp[(*n)++] = (span){(uint32_t)a, (uint32_t)(b - a)};
    return HLM_OK;
}

#define WIN 16 /* bytes of the window that marks n-grams able to repeat */

/* Builds the concatenation of the words (with WIN bytes of zero padding, so that 16-byte loads
 * from any word start stay inside it), the offset of each word in it and the code points before
 * each word. */
static hlm_status build_cat(hlm_filter_scratch *s, const uint8_t *text, size_t text_len, hlm_error *err)
{
    size_t n = s->w_n;
    /* the words' bytes are the text's at most, but for the bytes that Korean tokens share */
    hlm_status st = grow(&s->cat, &s->cat_cap, text_len + s->ko.extra_bytes + WIN, 1, err);
    if (st) return st;
    if (n + 1 > s->b_cap) {
        size_t c = s->b_cap;
        if ((st = grow(&s->cat_off, &c, n + 1, sizeof(uint32_t), err))) return st;
        c = s->b_cap;
        if ((st = grow(&s->cps_pre, &c, n + 1, sizeof(uint32_t), err))) return st;
        s->b_cap = c;
    }
    size_t off = 0, cps = 0;
    for (size_t i = 0; i < n; i++) {
        s->cat_off[i] = (uint32_t)off;
        s->cps_pre[i] = (uint32_t)cps;
        const word *w = &s->w[i];
        if (w->len <= 16 && w->start + 16 <= text_len) memcpy(s->cat + off, text + w->start, 16); /* cat has WIN spare */
        else memcpy(s->cat + off, text + w->start, w->len);
        off += s->w[i].len;
        cps += s->w[i].cps;
    }
    memset(s->cat + off, 0, WIN);
    s->cat_off[n] = (uint32_t)off;
    s->cps_pre[n] = (uint32_t)cps;
    return HLM_OK;
}

/* Hash of p[0..len); reads up to 16 bytes past the end when len <= 16 (the padding of cat). */
static inline uint64_t short_hash(const uint8_t *p, size_t len)
{
    if (len > 16) {
        if (len > 32) return XXH3_64bits(p, len);
        /* 17..32 bytes: the first 16 and the last 16 (overlapping) */
        uint64_t a, b, c, d;
        memcpy(&a, p, 8), memcpy(&b, p + 8, 8), memcpy(&c, p + len - 16, 8), memcpy(&d, p + len - 8, 8);
        return mix64((a ^ len) * 0x9E3779B97F4A7C15ull ^ mix64(b + 0xC2B2AE3D27D4EB4Full) ^
                     mix64(c * 0x165667B19E3779F9ull) ^ (d * 0x27D4EB2F165667C5ull));
    }
    uint64_t a, b;
    memcpy(&a, p, 8);
    memcpy(&b, p + 8, 8);
    if (len < 8) a &= (1ull << (8 * len)) - 1, b = 0;
    else if (len < 16) b &= (1ull << (8 * (len - 8))) - 1;
    return mix64((a ^ len) * 0x9E3779B97F4A7C15ull ^ mix64(b + 0xC2B2AE3D27D4EB4Full));
}

/* Hash of the concatenation of words [i, i+n). */
static inline uint64_t range_hash(const hlm_filter_scratch *s, size_t i, size_t n)
{
    return short_hash(s->cat + s->cat_off[i], s->cat_off[i + n] - s->cat_off[i]);
}

static inline int range_eq_concat(const hlm_filter_scratch *s, size_t i, size_t j, size_t n)
{
    size_t li = s->cat_off[i + n] - s->cat_off[i], lj = s->cat_off[j + n] - s->cat_off[j];
    return li == lj && memcmp(s->cat + s->cat_off[i], s->cat + s->cat_off[j], li) == 0;
}

/* The counter of the WIN bytes at p, of 2^bits: multiply-shift hashing of the two halves (the
 * top bits of a product depend on all bits of the input), with the multipliers k1, k2 telling
 * apart the kinds of window. It only indexes saturating counters, so a weak hash costs
 * pruning, never a result. */
static inline uint32_t window_slot(const uint8_t *p, uint64_t k1, uint64_t k2, unsigned bits)
{
    uint64_t a, b;
    memcpy(&a, p, 8);
    memcpy(&b, p + 8, 8);
    return (uint32_t)(((a * k1) ^ (b * k2)) >> (64 - bits));
}

/* For the duplicate n-gram rules: win_rep[i] & WIN_START = whether the WIN bytes of the
 * concatenation from word i on may occur at another word start too, and win_rep[k] & WIN_END =
 * whether the WIN bytes ending at word boundary k may end at another boundary too. Two equal
 * n-grams of WIN bytes or more at different positions have equal first WIN bytes (at two word
 * starts) and equal last WIN bytes (at two word ends), so an n-gram at least WIN bytes long
 * whose start window or end window does not repeat occurs once: the scan need not remember it,
 * and it is never found. This spares the table for most positions of ordinary text. The windows
 * are counted in a direct-mapped array of saturating counters (16 per window) indexed by their
 * hash, the end windows hashed apart from the start windows: a collision only says yes more
 * often. A boundary with fewer than WIN bytes before it gets WIN_END (n-grams ending there are
 * short, and short n-grams are always looked at). */
enum { WIN_START = 1, WIN_END = 2 };
static hlm_status mark_windows(hlm_filter_scratch *s, hlm_error *err)
{
    size_t n = s->w_n, total = s->cat_off[n], cap;
    unsigned bits;
    hlm_status st = counters(s, 2 * n, &cap, &bits, err);
    if (st) return st;
    uint8_t *cnt = s->wcnt, *rep = s->win_rep;
    uint32_t *idx = s->slot_of, *eidx = s->list; /* both free here */
    size_t m = n; /* positions with a full window: 0..m (only the last few lack one) */
    while (m > 0 && total - s->cat_off[m - 1] < WIN) m--;
    size_t e = 1; /* boundaries with a full window before them: e..n */
    while (e <= n && s->cat_off[e] < WIN) e++;
    for (size_t i = 0; i < m; i++) {
        uint32_t j = window_slot(s->cat + s->cat_off[i], 0x9E3779B97F4A7C15ull, 0xC2B2AE3D27D4EB4Full, bits);
        idx[i] = j;
        cnt[j] += cnt[j] < 2;
    }
    for (size_t k = e; k <= n; k++) {
        uint32_t j = window_slot(s->cat + s->cat_off[k] - WIN, 0x165667B19E3779F9ull, 0xD6E8FEB86659FD93ull, bits);
        eidx[k] = j;
        cnt[j] += cnt[j] < 2;
    }
    for (size_t i = 0; i < m; i++) rep[i] = cnt[idx[i]] > 1 ? WIN_START : 0;
    for (size_t i = m; i <= n; i++) rep[i] = 0;
    for (size_t k = 0; k < e && k <= n; k++) rep[k] |= WIN_END;
    for (size_t k = e; k <= n; k++) rep[k] |= cnt[eidx[k]] > 1 ? WIN_END : 0;
    for (size_t i = 0; i < m; i++) cnt[idx[i]] = 0;
    for (size_t k = e; k <= n; k++) cnt[eidx[k]] = 0;
    return HLM_OK;
}

/* need[n] for n = 2..4: whether the top n-gram rule can break, from the largest count of a word
 * times its code points (max_chars) and the largest count of a word (max_count) or bounds on
 * them. An n-gram occurs at most as often as each of its words, so the top one's characters
 * (count x (its words' code points + n - 1)) are at most n max_chars + (n - 1) max_count. */
static void top_ngram_needs(const double top[3], size_t text_cps, size_t max_chars, size_t max_count, int need[5])
{
    for (size_t n = 2; n <= 4; n++)
        need[n] = top[n - 2] >= 0 && (double)(n * max_chars + (n - 1) * max_count) / (double)text_cps > top[n - 2];
}

/* A second, sharper bound for the top n-gram rules, from the word hashes wh[] alone: an n-gram
 * occurs at most as often as the word pair it starts with (and as each pair in it), so with the
 * pairs counted in saturating counters by hash (16 per pair; a collision only raises a count),
 * the n-gram at i has at most min(pair counts at i .. i+n-2) occurrences, each of its code
 * points plus n - 1 spaces. The most frequent n-gram's characters are at most the largest such
 * product over i. Clears need[n] where that cannot break the rule. Ordinary text repeats words
 * but few pairs, so this usually spares the exact word table and the n-gram counts. */
static hlm_status pair_bounds(hlm_filter_scratch *s, const double top[3], size_t text_cps, int need[5], hlm_error *err)
{
    size_t n = s->w_n, cap;
    if (n < 2) return HLM_OK;
    unsigned bits;
    hlm_status st = counters(s, n, &cap, &bits, err);
    if (st) return st;
    uint8_t *cnt = s->wcnt;
    uint32_t *idx = s->slot_of; /* free here */
    const uint64_t *wh = s->wh;
    for (size_t i = 0; i + 1 < n; i++) {
        uint32_t j = (uint32_t)(mix64(wh[i] * 0x9E3779B97F4A7C15ull + wh[i + 1]) >> (64 - bits));
        idx[i] = j;
        cnt[j] += cnt[j] < UINT8_MAX;
    }
    size_t best[5] = {0};
    const uint32_t *pre = s->cps_pre;
    const size_t none = SIZE_MAX / 2 / (text_cps + 1); /* a saturated counter: no bound */
    for (size_t i = 0; i + 1 < n; i++) {
        size_t m = SIZE_MAX;
        for (size_t k = 2; k <= 4 && i + k <= n; k++) { /* the k-gram at i: its k - 1 pairs */
            size_t c = cnt[idx[i + k - 2]];
            c = c == UINT8_MAX ? none : c;
            m = c < m ? c : m;
            size_t v = m * (pre[i + k] - pre[i] + k - 1);
            best[k] = v > best[k] ? v : best[k];
        }
    }
    for (size_t i = 0; i + 1 < n; i++) cnt[idx[i]] = 0;
    for (size_t k = 2; k <= 4; k++)
        if (need[k] && top[k - 2] >= 0 && (double)best[k] / (double)text_cps <= top[k - 2]) need[k] = 0;
    return HLM_OK;
}

/* Word ids: wid[i] = the index of the first word equal to word i (same bytes), and cand[i] =
 * whether word i occurs more than once; need[] from top_ngram_needs. The word hashes are first
 * counted in counters (8 per word); their counts bound the words' counts, and where those
 * bounds already cannot break a rule, nothing more is done (need[] all 0, wid and cand unset).
 * Otherwise a word alone in its counter has no equal and skips the table, and need[] comes from
 * the exact counts. */
static hlm_status word_ids(hlm_filter_scratch *s, const double top[3], size_t text_cps, int need[5], hlm_error *err)
{
    size_t n = s->w_n, cap = 64, mask, n_maybe = 0;
    unsigned bits = 6;
    while (cap < 8 * n) cap *= 2, bits++;
    size_t old = s->wcnt16_cap;
    hlm_status st = grow(&s->wcnt16, &s->wcnt16_cap, cap, sizeof(uint16_t), err);
    if (st) return st;
    if (s->wcnt16_cap > old) memset(s->wcnt16 + old, 0, (s->wcnt16_cap - old) * sizeof(uint16_t));
    uint16_t *cnt = s->wcnt16;
    uint8_t *cand = s->cand;
    uint32_t *wid = s->wid, *slot_of = s->slot_of;
    uint64_t *wh = s->wh;
    for (size_t i = 0; i < n; i++) {
        uint64_t h = wh[i] = range_hash(s, i, 1);
        uint16_t *c = &cnt[h >> (64 - bits)];
        *c += *c < UINT16_MAX;
    }
    /* A word's counter counts it and any word that shares the counter: a bound on its count
     * (unless full). Where the bounds cannot break a rule, the exact counts are not needed. */
    size_t ub_chars = 1, ub_count = 1;
    for (size_t i = 0; i < n; i++) {
        size_t c = cnt[wh[i] >> (64 - bits)];
        if (c == UINT16_MAX) c = SIZE_MAX / 64 / ((size_t)s->w[i].cps + 1); /* no bound: as good as infinite */
        if (c * s->w[i].cps > ub_chars) ub_chars = c * s->w[i].cps;
        if (c > ub_count) ub_count = c;
    }
    top_ngram_needs(top, text_cps, ub_chars, ub_count, need);
    if ((need[2] || need[3] || need[4]) && (st = pair_bounds(s, top, text_cps, need, err))) return st;
    if (!need[2] && !need[3] && !need[4]) {
        for (size_t i = 0; i < n; i++) cnt[wh[i] >> (64 - bits)] = 0;
        return HLM_OK;
    }
    uint32_t *list = s->list;
    for (size_t i = 0; i < n; i++) {
        int maybe = cnt[wh[i] >> (64 - bits)] > 1;
        list[n_maybe] = (uint32_t)i;
        n_maybe += maybe;
        wid[i] = (uint32_t)i;
    }
    for (size_t i = 0; i < n; i++) cnt[wh[i] >> (64 - bits)] = 0;
    if ((st = table_reset(s, n_maybe, &mask, err))) return st;
    for (size_t i = 0; i < n; i++) slot_of[i] = (uint32_t)(mask + 1); /* the empty slot */
    for (size_t q = 0; q < n_maybe; q++) {
        size_t i = list[q];
        uint64_t h = wh[i];
        for (size_t j = h & mask;; j = (j + 1) & mask) {
            slot *sl = &s->tab[j];
            if (!sl->idx) {
                table_put(s, j, (slot){h, (uint32_t)i + 1, 1});
                slot_of[i] = (uint32_t)j;
                break;
            }
            if (sl->h == h && range_eq_concat(s, sl->idx - 1, i, 1)) {
                sl->count++;
                wid[i] = sl->idx - 1;
                slot_of[i] = (uint32_t)j;
                break;
            }
        }
    }
    size_t mc = 1, mn = 1;
    for (size_t i = 0; i < n; i++) {
        size_t c = s->tab[slot_of[i]].count;
        cand[i] = c > 1;
        c += c == 0; /* a word with no equal is not in the table */
        if (c * s->w[i].cps > mc) mc = c * s->w[i].cps;
        if (c > mn) mn = c;
    }
    top_ngram_needs(top, text_cps, mc, mn, need);
    return HLM_OK;
}

/* datatrove's find_top_duplicate over " ".join(n-gram): the most frequent n-gram (the first
 * seen among equals) times its length. Words hold no whitespace, so equal joins are equal word
 * tuples, i.e. equal tuples of word ids. An n-gram can repeat only where the (n-1)-grams at i
 * and i+1 both repeat: on entry cand[i] says the (n-1)-gram at i may repeat, so only positions
 * with cand[i] && cand[i+1] are counted; on return cand[i] says whether the n-gram at i
 * repeats. Every other n-gram occurs once, and if nothing repeats the top is the first one.
 * With run == 0 only the candidates are narrowed (a rule that is off). */
static hlm_status top_ngram_chars(hlm_filter_scratch *s, size_t n, int run, size_t *out, hlm_error *err)
{
    size_t count = s->w_n - n + 1, mask, n_cand = 0;
    uint8_t *cand = s->cand;
    const uint32_t *wid = s->wid;
    uint32_t *slot_of = s->slot_of;
    uint32_t *list = s->list;
    for (size_t i = 0; i < count; i++) {
        int c = cand[i] & cand[i + 1];
        cand[i] = (uint8_t)c;
        list[n_cand] = (uint32_t)i;
        n_cand += (size_t)c;
    }
    if (!run) return HLM_OK;
    uint32_t best_count = 1, best_first = 0;
    if (n_cand) {
        hlm_status st = table_reset(s, n_cand, &mask, err);
        if (st) return st;
        for (size_t q = 0; q < n_cand; q++) {
            size_t i = list[q];
            uint64_t hl = 0;
            for (size_t k = 0; k < n; k++) hl = (hl + wid[i + k]) * 0x9E3779B97F4A7C15ull;
            hl = mix64(hl);
            for (size_t j = hl & mask;; j = (j + 1) & mask) {
                slot *sl = &s->tab[j];
                if (!sl->idx) {
                    table_put(s, j, (slot){hl, (uint32_t)i + 1, 1});
                    slot_of[i] = (uint32_t)j;
                    break;
                }
                size_t o = sl->idx - 1, k = 0;
                if (sl->h != hl) continue;
                while (k < n && wid[o + k] == wid[i + k]) k++;
                if (k < n) continue;
                sl->count++;
                slot_of[i] = (uint32_t)j;
                if (sl->count > best_count || (sl->count == best_count && o < best_first))
                    best_count = sl->count, best_first = (uint32_t)o;
                break;
            }
        }
        for (size_t q = 0; q < n_cand; q++) cand[list[q]] = s->tab[slot_of[list[q]]].count > 1;
    }
    size_t len = s->cps_pre[best_first + n] - s->cps_pre[best_first] + (n - 1);
    *out = len * best_count;
    return HLM_OK;
}

/* datatrove's find_all_duplicate: scanning left to right, an n-gram ("".join) seen before adds
 * its length and the scan jumps past it; an unseen one is remembered and the scan moves by one.
 * Only the positions pos[q] whose n-gram may repeat (bit n - 5 of cmask[q], see mark_windows;
 * n_may of them) are looked at. */
static hlm_status dup_ngram_chars(hlm_filter_scratch *s, size_t n, const uint32_t *pos, const uint8_t *cmask,
                                  size_t npos, size_t n_may, size_t *out, hlm_error *err)
{
    *out = 0;
    if (s->w_n < n || n_may == 0) return HLM_OK;
    size_t mask;
    hlm_status st = table_reset(s, n_may, &mask, err);
    if (st) return st;
    /* the n-grams elsewhere occur once, so the scan steps over them by one, as if they were seen */
    size_t idx = 0, rep = 0;
    unsigned bit = 1u << (n - 5);
    for (size_t q = 0; q < npos; q++) {
        size_t i = pos[q];
        if (!(cmask[q] & bit) || i < idx) continue; /* i < idx: inside an n-gram found before */
        uint64_t hm = range_hash(s, i, n);
        int found = 0;
        size_t j = hm & mask;
        for (;; j = (j + 1) & mask) {
            slot *sl = &s->tab[j];
            if (!sl->idx) break;
            if (sl->h == hm && range_eq_concat(s, sl->idx - 1, i, n)) {
                found = 1;
                break;
            }
        }
        if (found) {
            rep += s->cps_pre[i + n] - s->cps_pre[i];
            idx = i + n;
        } else {
            table_put(s, j, (slot){hm, (uint32_t)i + 1, 1});
            idx = i + 1;
        }
    }
    *out = rep;
    return HLM_OK;
}

#define FAIL(r, v)                                                                                 \
    do {                                                                                           \
        res->reason = (r);                                                                         \
        res->value = (v);                                                                          \
        return HLM_OK;                                                                             \
    } while (0)

static hlm_status repetition_lines(const hlm_filter_params *p, hlm_filter_scratch *s, const hlm_class_table *t,
                                   const uint8_t *text, size_t len, size_t text_cps, hlm_filter_result *res,
                                   hlm_error *err)
{
    hlm_status st;
    size_t line_dups = 0, line_cps = 0, n_lines = 0, para_dups = 0, para_cps = 0, n_paras = 0;
    int want_lines = p->dup_line_frac >= 0 || p->dup_line_char_frac >= 0;
    int want_paras = p->dup_para_frac >= 0 || p->dup_para_char_frac >= 0;
    if (want_lines) {
        /* re.split("\n+", text): a text ending in newlines ends with an empty line */
        for (size_t a = 0;;) {
            const uint8_t *nl = len > a ? memchr(text + a, '\n', len - a) : NULL;
            if (!nl) {
                if ((st = push_span(s, &n_lines, a, len, err))) return st;
                break;
            }
            size_t i = (size_t)(nl - text);
            if ((st = push_span(s, &n_lines, a, i, err))) return st;
            while (i < len && text[i] == '\n') i++;
            a = i;
        }
        if ((st = find_duplicates(s, text, n_lines, &line_dups, &line_cps, err))) return st;
    }
    if (p->dup_line_frac >= 0 && (double)line_dups / (double)n_lines > p->dup_line_frac)
        FAIL(HLM_FILTER_DUP_LINE_FRAC, (double)line_dups / (double)n_lines);
    if (want_paras) {
        /* re.split(r"\n{2,}", text.strip()) */
        size_t a = 0, b = len;
        py_strip(t, text, &a, &b);
        size_t start = a;
        for (size_t i = a; i < b; i++) {
            const uint8_t *nl = memchr(text + i, '\n', b - i);
            if (!nl) break;
            i = (size_t)(nl - text);
            if (i + 1 >= b || text[i + 1] != '\n') continue;
            if ((st = push_span(s, &n_paras, start, i, err))) return st;
            while (i < b && text[i] == '\n') i++;
            start = i;
            i--;
        }
        if ((st = push_span(s, &n_paras, start, b, err))) return st;
        if ((st = find_duplicates(s, text, n_paras, &para_dups, &para_cps, err))) return st;
    }
    if (p->dup_para_frac >= 0 && (double)para_dups / (double)n_paras > p->dup_para_frac)
        FAIL(HLM_FILTER_DUP_PARA_FRAC, (double)para_dups / (double)n_paras);
    if (p->dup_line_char_frac >= 0 && (double)line_cps / (double)text_cps > p->dup_line_char_frac)
        FAIL(HLM_FILTER_DUP_LINE_CHAR_FRAC, (double)line_cps / (double)text_cps);
    if (p->dup_para_char_frac >= 0 && (double)para_cps / (double)text_cps > p->dup_para_char_frac)
        FAIL(HLM_FILTER_DUP_PARA_CHAR_FRAC, (double)para_cps / (double)text_cps);
    return HLM_OK;
}

static hlm_status repetition_ngrams(const hlm_filter_params *p, hlm_filter_scratch *s, size_t text_cps,
                                    hlm_filter_result *res, hlm_error *err)
{
    hlm_status st;
    const double top[3] = {p->top_2gram_frac, p->top_3gram_frac, p->top_4gram_frac};
    size_t cc = s->cand_cap;
    if ((st = grow(&s->cand, &cc, s->w_n + 1, 1, err))) return st;
    cc = s->cand_cap;
    if ((st = grow(&s->slot_of, &cc, s->w_n + 1, sizeof(uint32_t), err))) return st;
    cc = s->cand_cap;
    if ((st = grow(&s->wid, &cc, s->w_n + 1, sizeof(uint32_t), err))) return st;
    cc = s->cand_cap;
    if ((st = grow(&s->wh, &cc, s->w_n + 1, sizeof(uint64_t), err))) return st;
    cc = s->cand_cap;
    if ((st = grow(&s->list, &cc, s->w_n + 1, sizeof(uint32_t), err))) return st;
    s->cand_cap = cc;
    if (top[0] >= 0 || top[1] >= 0 || top[2] >= 0) {
        /* Where the bound of top_ngram_needs cannot break the rule, the n-grams are not
         * counted: so it is in most documents. */
        int need[5] = {0};
        if ((st = word_ids(s, top, text_cps, need, err))) return st;
        for (size_t n = 2; n <= 4; n++) {
            if (s->w_n < n || !(need[n] || (n < 4 && need[n + 1]) || (n < 3 && need[n + 2]))) break;
            size_t c = 0;
            if ((st = top_ngram_chars(s, n, need[n], &c, err))) return st;
            if (!need[n]) continue;
            double r = (double)c / (double)text_cps;
            if (r > top[n - 2]) FAIL((hlm_filter_reason)(HLM_FILTER_TOP_2GRAM + (n - 2)), r);
        }
    }
    const double dup[6] = {p->dup_5gram_frac, p->dup_6gram_frac, p->dup_7gram_frac,
                           p->dup_8gram_frac, p->dup_9gram_frac, p->dup_10gram_frac};
    if (s->w_n < 5 || (dup[0] < 0 && dup[1] < 0 && dup[2] < 0 && dup[3] < 0 && dup[4] < 0 && dup[5] < 0))
        return HLM_OK;
    if ((st = grow(&s->win_rep, &s->win_rep_cap, s->w_n + 1, 1, err))) return st;
    if ((st = mark_windows(s, err))) return st;
    /* The n-grams that may repeat: under WIN bytes, or with a repeated start window and a
     * repeated end window. pos[q] lists the positions with one of them, ascending, and bit
     * n - 5 of cmask[q] says which sizes n; n_may[n] counts them. A position whose start
     * window is unique and whose 5-gram is WIN bytes long has none (n > 5 only adds bytes).
     * The duplicates counted are n-grams at such positions, and they do not overlap: their
     * characters are at most those of the words that the candidate n-grams cover (bound[n]).
     * Where that cannot break the rule, nothing is hashed. */
    size_t need = 0, bound[11] = {0}, end[11] = {0}, n_may[11] = {0};
    uint32_t *pos = s->slot_of; /* free after mark_windows */
    uint8_t *cmask = s->cand;   /* free after the top n-grams */
    for (size_t i = 0; i + 5 <= s->w_n; i++) {
        uint32_t c0 = s->cat_off[i];
        int start_rep = s->win_rep[i] & WIN_START;
        if (!start_rep && s->cat_off[i + 5] - c0 >= WIN) continue;
        unsigned m = 0;
        for (size_t n = 5; n <= 10 && i + n <= s->w_n; n++) {
            if (s->cat_off[i + n] - c0 >= WIN && !(start_rep && (s->win_rep[i + n] & WIN_END))) continue;
            m |= 1u << (n - 5);
            n_may[n]++;
            bound[n] += s->cps_pre[i + n] - s->cps_pre[i > end[n] ? i : end[n]];
            end[n] = i + n;
        }
        if (m) pos[need] = (uint32_t)i, cmask[need++] = (uint8_t)m;
    }
    for (size_t n = 5; n <= 10; n++) {
        if (dup[n - 5] < 0) continue;
        if ((double)bound[n] / (double)text_cps <= dup[n - 5]) continue;
        size_t c;
        if ((st = dup_ngram_chars(s, n, pos, cmask, need, n_may[n], &c, err))) return st;
        double r = (double)c / (double)text_cps;
        if (r > dup[n - 5]) FAIL((hlm_filter_reason)(HLM_FILTER_DUP_5GRAM + (n - 5)), r);
    }
    return HLM_OK;
}

/* ---- Gopher quality ---- */

/* Does the stripped line text[a..b) start with a bullet ("-" or "•") / end with an ellipsis
 * ("..." or "…")? */
static inline int line_is_bullet(const uint8_t *text, size_t a, size_t b)
{
    return a < b && (text[a] == '-' || (b - a >= 3 && memcmp(text + a, "\xE2\x80\xA2", 3) == 0));
}
static inline int line_is_ellipsis(const uint8_t *text, size_t a, size_t b)
{
    return b - a >= 3 && (memcmp(text + b - 3, "...", 3) == 0 || memcmp(text + b - 3, "\xE2\x80\xA6", 3) == 0);
}

static hlm_status quality(const hlm_filter_params *p, hlm_filter_scratch *s, const hlm_class_table *t,
                          const char *const *stop, int ko, const uint8_t *text, size_t len,
                          hlm_filter_result *res, hlm_error *err)
{
    size_t n_words = s->w_n, n_ns = 0, ns_cps = 0, n_alpha = 0;
    for (size_t i = 0; i < n_words; i++) { /* without branches: symbols come at random */
        const word *w = &s->w[i];
        size_t ns = !(w->flags & W_SYMBOL);
        n_ns += ns;
        ns_cps += w->cps & (0 - ns);
        n_alpha += (w->flags & W_ALPHA) != 0;
    }
    /* The ratio rules' word counts. Korean: Kiwi's tokens as split_ko_chunk counts them, the
     * alphabetic ones the Hangul morphemes and the runs of jamo or letters; the word-count rule
     * counts those and the numbers. */
    double ratio_words = (double)n_words, ratio_alpha = (double)n_alpha, count_words = (double)n_ns;
    if (ko) {
        ratio_alpha = (double)s->ko.hangul + (double)s->ko.alpha_runs;
        ratio_words = ratio_alpha + (double)s->ko.other;
        count_words = ratio_alpha + (double)s->ko.digit_runs;
    }
    if (p->min_doc_words >= 0 && count_words < p->min_doc_words) FAIL(HLM_FILTER_TOO_FEW_WORDS, count_words);
    if (p->max_doc_words >= 0 && count_words > p->max_doc_words) FAIL(HLM_FILTER_TOO_MANY_WORDS, count_words);
    /* numpy's mean of nothing is NaN, which fails no comparison */
    double mean = n_ns ? (double)ns_cps / (double)n_ns : NAN;
    if (p->min_avg_word_length >= 0 && mean < p->min_avg_word_length) FAIL(HLM_FILTER_MEAN_WORD_LEN_LOW, mean);
    if (p->max_avg_word_length >= 0 && mean > p->max_avg_word_length) FAIL(HLM_FILTER_MEAN_WORD_LEN_HIGH, mean);
    if (p->max_symbol_word_ratio >= 0 && n_words) {
        /* text.count("#"), then text.count("...") + text.count("…"), each over the word count */
        static const uint8_t interesting[256] = {['#'] = 1, ['.'] = 1, [0xE2] = 1};
        size_t hashes = 0, ell = 0;
        for (size_t i = 0; i < len; i++) {
#if defined(__SSE2__)
            if (i + 16 <= len) { /* the same, sixteen bytes at a time */
                __m128i v = load128(text + i);
                unsigned m = mask16(_mm_or_si128(_mm_or_si128(eq16(v, '#'), eq16(v, '.')), eq16(v, 0xE2)));
                if (!m) {
                    i += 15;
                    continue;
                }
                i += (size_t)__builtin_ctz(m);
            } else
#endif
            if (i + 8 <= len) { /* jump to the next '#', '.' or 0xE2 */
                uint64_t x = load64(text + i), m = swar_eq(x, '#') | swar_eq(x, '.') | swar_eq(x, 0xE2);
                if (!m) {
                    i += 7;
                    continue;
                }
                i += (size_t)__builtin_ctzll(m) >> 3;
            }
            if (!interesting[text[i]]) continue;
            if (text[i] == '#') {
                hashes++;
            } else if (text[i] == '.') {
                size_t j = i;
                while (j < len && text[j] == '.') j++;
                ell += (j - i) / 3;
                i = j - 1;
            } else if (i + 2 < len && text[i + 1] == 0x80 && text[i + 2] == 0xA6) {
                ell++;
            }
        }
        double r = (double)hashes / ratio_words;
        if (r > p->max_symbol_word_ratio) FAIL(HLM_FILTER_SYMBOL_WORD_RATIO, r);
        r = (double)ell / ratio_words;
        if (r > p->max_symbol_word_ratio) FAIL(HLM_FILTER_SYMBOL_WORD_RATIO, r);
    }
    if ((p->max_bullet_lines_ratio >= 0 || p->max_ellipsis_lines_ratio >= 0) && len > 0) {
        size_t lines = 0, bullets = 0, ellipses = 0;
        if (s->lines_ready) {
            lines = s->n_lines, bullets = s->n_bullets, ellipses = s->n_ellipses;
        } else {
            for (size_t pos = 0, end, next; pos < len; pos = next) {
                next_line(text, len, pos, &end, &next);
                lines++;
                size_t a = pos, b = end;
                py_strip(t, text, &a, &b);
                bullets += line_is_bullet(text, a, b);
                ellipses += line_is_ellipsis(text, a, b);
            }
        }
        double r = lines ? (double)bullets / (double)lines : 0;
        if (p->max_bullet_lines_ratio >= 0 && r > p->max_bullet_lines_ratio) FAIL(HLM_FILTER_BULLET_LINES, r);
        r = lines ? (double)ellipses / (double)lines : 0;
        if (p->max_ellipsis_lines_ratio >= 0 && r > p->max_ellipsis_lines_ratio) FAIL(HLM_FILTER_ELLIPSIS_LINES, r);
    }
    if (p->max_non_alpha_words_ratio >= 0 && n_words) {
        double r = ratio_alpha / ratio_words;
        if (r < p->max_non_alpha_words_ratio) FAIL(HLM_FILTER_NON_ALPHA_WORDS, r);
    }
    if (p->min_stop_words >= 0) {
        /* distinct stop words among the words */
        size_t n_stop = 0, min_len = SIZE_MAX, max_len = 0;
        while (stop[n_stop]) n_stop++;
        hlm_status st = grow(&s->seen, &s->seen_cap, n_stop + 1, 1, err);
        if (st) return st;
        if ((st = grow(&s->stop_len, &s->stop_len_cap, n_stop + 1, sizeof(size_t), err))) return st;
        for (size_t k = 0; k < n_stop; k++) {
            size_t l = s->stop_len[k] = strlen(stop[k]);
            if (l < min_len) min_len = l;
            if (l > max_len) max_len = l;
        }
        memset(s->seen, 0, n_stop + 1);
        size_t found = 0;
        for (size_t i = 0; i < n_words && (double)found < p->min_stop_words; i++) {
            const word *w = &s->w[i];
            if (w->len < min_len || w->len > max_len) continue;
            for (size_t k = 0; k < n_stop; k++) {
                size_t l = s->stop_len[k];
                if (l != w->len) continue;
                const uint8_t *end = text + w->start + w->len; /* the last bytes first: they differ most */
                if (l && ((uint8_t)stop[k][l - 1] != end[-1] || memcmp(stop[k], end - l, l) != 0)) continue;
                if (!s->seen[k]) found++;
                s->seen[k] = 1;
                break;
            }
        }
        if ((double)found < p->min_stop_words) FAIL(HLM_FILTER_STOP_WORDS, (double)found);
    }
    return HLM_OK;
}

/* ---- C4 ---- */

/* Does s[0..n).lower() hold pat (lowercase ASCII, m bytes) at i? The only non-ASCII characters whose
 * lowercase is an ASCII letter are U+212A KELVIN SIGN ("k") and U+0130 (which lowers to "i" plus
 * a combining dot, so it never matches an ASCII pattern); the first is handled here. */
static int lower_match_at(const uint8_t *s, size_t n, size_t i, const char *pat, size_t m)
{
    if (i + m > n || ascii_lower(s[i]) != pat[0]) return 0;
    size_t a = i + 1, k = 1;
    while (k < m && a < n) {
        if (pat[k] == 'k' && a + 3 <= n && s[a] == 0xE2 && s[a + 1] == 0x84 && s[a + 2] == 0xAA) {
            a += 3, k++;
            continue;
        }
        if (ascii_lower(s[a]) != pat[k]) break;
        a++, k++;
    }
    return k == m;
}

/* The C4 line substrings (str.lower() contains them) in one pass: which of "lorem ipsum"
 * (C4_LOREM), "javascript" (C4_JS) and the policy phrases (C4_POLICY) s[0..n) contains, of those
 * in want. Each pattern is looked for only where its anchor is, a letter that is rare in text
 * (j k m y) at a known offset; the letters before an anchor are never "k", so a match there is
 * ASCII and starts exactly offset bytes before it (U+212A KELVIN SIGN, whose lowercase is "k",
 * is itself an anchor). */
enum { C4_LOREM = 1, C4_JS = 2, C4_POLICY = 4 };
static unsigned c4_line_flags(const uint8_t *s, size_t n, unsigned want)
{
    static const struct {
        const char *pat;
        size_t len, anchor_off; /* the offset of its first j, k, m or y */
        unsigned flag;
    } pats[8] = {{"lorem ipsum", 11, 4, C4_LOREM},      {"javascript", 10, 0, C4_JS},
                 {"terms of use", 12, 3, C4_POLICY},    {"privacy policy", 14, 6, C4_POLICY},
                 {"cookie policy", 13, 3, C4_POLICY},   {"uses cookies", 12, 8, C4_POLICY},
                 {"use of cookies", 14, 10, C4_POLICY}, {"use cookies", 11, 7, C4_POLICY}};
    /* by anchor byte, the patterns whose first j, k, m or y it is (bit k = pats[k]) */
    static const uint8_t anchor[256] = {['m'] = 0x05, ['M'] = 0x05, ['j'] = 0x02, ['J'] = 0x02, ['y'] = 0x08,
                                        ['Y'] = 0x08, ['k'] = 0xF0, ['K'] = 0xF0, [0xE2] = 0xF0};
    unsigned found = 0;
    for (size_t i = 0; i < n && found != want; i++) {
#if defined(__SSE2__)
        if (i + 16 <= n) { /* the same, sixteen bytes at a time */
            __m128i raw = load128(s + i), x = _mm_or_si128(raw, _mm_set1_epi8(0x20));
            __m128i hit = _mm_or_si128(_mm_or_si128(eq16(x, 'j'), eq16(x, 'k')), _mm_or_si128(eq16(x, 'm'), eq16(x, 'y')));
            unsigned m = mask16(_mm_or_si128(hit, eq16(raw, 0xE2)));
            if (!m) {
                i += 15;
                continue;
            }
            i += (size_t)__builtin_ctz(m);
        } else
#endif
        if (i + 8 <= n) { /* jump to the next anchor: j k m y in any case, or 0xE2 */
            uint64_t raw = load64(s + i), x = raw | 0x2020202020202020ull;
            uint64_t m = swar_eq(x, 'j') | swar_eq(x, 'k') | swar_eq(x, 'm') | swar_eq(x, 'y') | swar_eq(raw, 0xE2);
            if (!m) {
                i += 7;
                continue;
            }
            i += (size_t)__builtin_ctzll(m) >> 3;
        }
        unsigned cand = anchor[s[i]];
        if (s[i] == 0xE2 && !(i + 2 < n && s[i + 1] == 0x84 && s[i + 2] == 0xAA)) cand = 0;
        while (cand) {
            int k = __builtin_ctz(cand);
            cand &= cand - 1;
            size_t off = pats[k].anchor_off;
            if ((pats[k].flag & want & ~found) && i >= off && lower_match_at(s, n, i - off, pats[k].pat, pats[k].len))
                found |= pats[k].flag;
        }
    }
    return found;
}

/* Python's \d (Unicode decimal digits), approximated by \p{N} above ASCII. */
static size_t digit_len(const hlm_class_table *t, const uint8_t *s, size_t n)
{
    if (s[0] < 0x80) return is_digit(s[0]);
    uint32_t cp;
    size_t k = hlm_utf8_decode_inline(s, n, &cp);
    return (cp_class(t, cp) & HLM_CC_NUMBER) ? k : 0;
}

/* CITATION_REGEX.sub("", line): \[\d*] | \[edit] | \[citation needed], left to right. */
static hlm_status remove_citations(const hlm_class_table *t, const uint8_t *s, size_t n, hlm_buf *out, hlm_error *err)
{
    out->len = 0;
    hlm_status st = hlm_buf_reserve(out, n + 1);
    if (st) return st;
    for (size_t i = 0; i < n;) {
        if (s[i] == '[') {
            size_t j = i + 1, k;
            while (j < n && (k = digit_len(t, s + j, n - j)) > 0) j += k;
            if (j < n && s[j] == ']') {
                i = j + 1;
                continue;
            }
            if (n - i >= 6 && memcmp(s + i, "[edit]", 6) == 0) {
                i += 6;
                continue;
            }
            if (n - i >= 17 && memcmp(s + i, "[citation needed]", 17) == 0) {
                i += 17;
                continue;
            }
        }
        out->data[out->len++] = s[i++];
    }
    return HLM_OK;
}

static int is_terminal(uint32_t cp) { return cp == '.' || cp == '!' || cp == '?' || (cp >= 0x80 && is_terminal_nonascii(cp) && is_punct(cp)); }

/* Sentences in one line, as datatrove counts them with split_into_sentences: spaCy's
 * sentencizer starts a sentence at the first non-punctuation token after a token that is one
 * sentence-final mark ("en"; "..." is one token and ends nothing). For other languages a token
 * made only of sentence-final marks ends a sentence (Kiwi, for Korean, also ends sentences at
 * final verb endings without punctuation; we do not). */
static int is_terminal_word(const uint8_t *base, const word *w, split_mode mode)
{
    if (mode == SPLIT_EN && w->cps != 1) return 0;
    const uint8_t *p = base + w->start;
    if (p[0] < 0x80 && p[0] != '.' && p[0] != '!' && p[0] != '?') return 0; /* the common case */
    size_t k = 0;
    for (size_t a = 0; a < w->len; a += k) {
        uint32_t cp;
        k = hlm_utf8_decode_inline(p + a, w->len - a, &cp);
        if (!is_terminal(cp)) return 0;
    }
    return 1;
}

/* Sentences in one line, as datatrove counts them with split_into_sentences: spaCy's
 * sentencizer starts a sentence at the first non-punctuation token after a token that is one
 * sentence-final mark ("en"; "..." is one token and ends nothing). For other languages a token
 * made only of sentence-final marks ends a sentence (Kiwi, for Korean, also ends sentences at
 * final verb endings without punctuation; we do not). The line's words are w[0..n), their
 * offsets into base. */
static size_t count_sentences(const uint8_t *base, const word *w, size_t n, split_mode mode)
{
    size_t count = 1;
    int seen = 0;
    for (size_t i = 0; i < n; i++) {
        int term = is_terminal_word(base, &w[i], mode);
        if (seen && !(w[i].flags & W_SYMBOL) && !term) {
            count++;
            seen = 0;
        } else if (term) {
            seen = 1;
        }
    }
    return count;
}

/* The words of the whole document in s->w, split once (C4 counts sentences with them, the
 * Gopher rules use them all), with the Korean token counts in s->ko. */
static hlm_status document_words(hlm_filter_scratch *s, split_mode mode, const hlm_class_table *t,
                                 const uint8_t *text, size_t len, hlm_error *err)
{
    if (s->words_ready) return HLM_OK;
    s->w_n = 0;
    memset(&s->ko, 0, sizeof s->ko);
    wlist l = {&s->w, &s->w_n, &s->w_cap};
    hlm_status st = split_words(s, &l, mode, t, text, 0, len, err);
    if (st) return st;
    s->words_ready = 1;
    return HLM_OK;
}

/* Sentences in a line that citation removal changed: its own split (the document's Korean
 * token counts are left as they were). */
static hlm_status count_sentences_split(hlm_filter_scratch *s, split_mode mode, const hlm_class_table *t,
                                        const uint8_t *line, size_t n, size_t *out, hlm_error *err)
{
    s->lw_n = 0;
    wlist l = {&s->lw, &s->lw_n, &s->lw_cap};
    ko_counts ko = s->ko;
    hlm_status st = split_words(s, &l, mode, t, line, 0, n, err);
    s->ko = ko;
    if (st) return st;
    *out = count_sentences(line, s->lw, s->lw_n, mode);
    return HLM_OK;
}

static hlm_status c4_lines(const hlm_filter_params *p, hlm_filter_scratch *s, split_mode mode,
                           const hlm_class_table *t, const uint8_t *text, size_t len, hlm_filter_result *res,
                           hlm_error *err)
{
    hlm_status st;
    size_t sentences = 0, wi = 0, lines = 0, bullets = 0, ellipses = 0;
    s->out.len = 0;
    int first = 1;
    for (size_t pos = 0, end, next; pos < len; pos = next) {
        next_line(text, len, pos, &end, &next);
        size_t a = pos, b = end;
        py_strip(t, text, &a, &b);
        lines++;
        bullets += line_is_bullet(text, a, b);
        ellipses += line_is_ellipsis(text, a, b);
        /* line.split(): word count and the longest word, as far as the rules need them: a line
         * of no more bytes than the longest word allowed has no word too long, and past the
         * fewest words a line needs the count does not matter */
        size_t words = 0, wcps = 0, longest = 0;
        double min_words = p->c4_min_words_per_line;
        size_t enough = min_words < 0 ? 0 : min_words < 1e15 ? (size_t)min_words : SIZE_MAX - 1;
        int need_longest = p->c4_max_word_length >= 0 && (double)(b - a) > p->c4_max_word_length;
        size_t i = a;
#if defined(__SSE2__)
        if (!need_longest) { /* sixteen ASCII bytes at a time: the word starts, from the whitespace */
            unsigned prev_space = 1;
            while (words <= enough && i + 16 <= b) {
                __m128i v = load128(text + i);
                if (mask16(v)) break; /* a byte above ASCII (maybe a space): the loop below */
                unsigned ws = mask16(_mm_or_si128(le16(_mm_sub_epi8(v, _mm_set1_epi8(0x09)), 0x0D - 0x09),
                                                  le16(_mm_sub_epi8(v, _mm_set1_epi8(0x1C)), 0x20 - 0x1C)));
                words += (size_t)__builtin_popcount(~ws & ((ws << 1) | prev_space) & 0xFFFF);
                prev_space = ws >> 15 & 1;
                i += 16;
            }
            wcps = !prev_space; /* inside a word: its next character starts none */
        }
#endif
        while (i < b && (need_longest || words <= enough)) {
            uint32_t cp;
            i += hlm_utf8_decode_inline(text + i, b - i, &cp);
            if (py_space(t, cp)) {
                wcps = 0;
                continue;
            }
            if (wcps++ == 0) words++;
            if (wcps > longest) longest = wcps;
        }
        int keep = 1;
        if (p->c4_max_word_length >= 0 && (double)longest > p->c4_max_word_length) keep = 0;
        const uint8_t *ln = text + a;
        size_t n = b - a;
        if (keep && p->c4_remove_citations && memchr(ln, '[', n)) {
            if ((st = remove_citations(t, ln, n, &s->line, err))) return st;
            ln = s->line.data, n = s->line.len;
        }
        if (keep && p->c4_remove_no_terminal_punct_lines) {
            uint8_t c = n ? ln[n - 1] : 0;
            if (!(c == '.' || c == '?' || c == '!' || c == '"' || c == '\'') || (n >= 3 && memcmp(ln + n - 3, "...", 3) == 0))
                keep = 0;
        }
        if (keep && p->c4_min_words_per_line >= 0 && (double)words < p->c4_min_words_per_line) keep = 0;
        unsigned want = (p->c4_filter_lorem_ipsum ? C4_LOREM : 0) | (p->c4_remove_javascript_lines ? C4_JS : 0) |
                        (p->c4_remove_policy_lines ? C4_POLICY : 0);
        unsigned flags = keep && want ? c4_line_flags(ln, n, want) : 0;
        if (keep && (flags & C4_LOREM)) FAIL(HLM_FILTER_C4_LOREM_IPSUM, 0);
        if (keep && (flags & C4_JS)) keep = 0;
        if (keep && p->c4_filter_curly_brace && memchr(ln, '{', n)) FAIL(HLM_FILTER_C4_CURLY_BRACE, 0);
        if (keep && (flags & C4_POLICY)) keep = 0;
        if (!keep) {
            res->lines_removed += b > a;
            continue;
        }
        if (p->c4_min_sentences >= 0) {
            size_t k;
            if (ln == text + a) { /* the line as it is: its words are the document's */
                if ((st = document_words(s, mode, t, text, len, err))) return st;
                while (wi < s->w_n && s->w[wi].start < a) wi++;
                size_t wj = wi;
                while (wj < s->w_n && s->w[wj].start < b) wj++;
                k = count_sentences(text, s->w + wi, wj - wi, mode);
                wi = wj;
            } else if ((st = count_sentences_split(s, mode, t, ln, n, &k, err))) {
                return st;
            }
            sentences += k;
        }
        if (!first && (st = hlm_buf_append(&s->out, "\n", 1))) return st;
        if ((st = hlm_buf_append(&s->out, ln, n))) return st;
        first = 0;
    }
    s->n_lines = lines, s->n_bullets = bullets, s->n_ellipses = ellipses;
    s->lines_ready = 1;
    if (p->c4_min_sentences >= 0 && (double)sentences < p->c4_min_sentences)
        FAIL(HLM_FILTER_C4_TOO_FEW_SENTENCES, (double)sentences);
    return HLM_OK;
}

/* ---- C4 bad words ---- */

static inline unsigned bw_bucket(const uint8_t *w, size_t n)
{
    unsigned k = w[0] * 31u + (n > 1 ? w[1] : 0u);
    return k & (BW_BUCKETS - 1);
}

static hlm_status bad_words_index(hlm_filter_scratch *s, const char *const *list, hlm_error *err)
{
    if (s->bw_list == list) return HLM_OK;
    size_t n = 0;
    while (list[n]) n++;
    free(s->bw_start), free(s->bw_idx), free(s->bw_len);
    s->bw_start = calloc(BW_BUCKETS + 1, sizeof(uint32_t));
    s->bw_idx = malloc((n + 1) * sizeof(uint32_t));
    s->bw_len = malloc((n + 1) * sizeof(uint32_t));
    s->bw_list = NULL;
    if (!s->bw_start || !s->bw_idx || !s->bw_len) return hlm_errorf(err, HLM_ERR_NOMEM, "bad words: out of memory");
    for (size_t i = 0; i < n; i++) {
        s->bw_len[i] = (uint32_t)strlen(list[i]);
        if (s->bw_len[i]) s->bw_start[bw_bucket((const uint8_t *)list[i], s->bw_len[i]) + 1]++;
    }
    for (unsigned b = 0; b < BW_BUCKETS; b++) s->bw_start[b + 1] += s->bw_start[b];
    uint32_t *fill = calloc(BW_BUCKETS, sizeof(uint32_t));
    if (!fill) return hlm_errorf(err, HLM_ERR_NOMEM, "bad words: out of memory");
    for (size_t i = 0; i < n; i++) {
        if (!s->bw_len[i]) continue;
        unsigned b = bw_bucket((const uint8_t *)list[i], s->bw_len[i]);
        s->bw_idx[s->bw_start[b] + fill[b]++] = (uint32_t)i;
    }
    free(fill);
    s->bw_n = n;
    s->bw_list = list;
    return HLM_OK;
}

/* Python's \w: letters, numbers, "_". */
static int is_word_char(const hlm_class_table *t, uint32_t cp)
{
    return cp == '_' || (cp_class(t, cp) & (HLM_CC_LETTER | HLM_CC_NUMBER));
}

/* Last code point before position i (i > 0). */
static uint32_t cp_before(const uint8_t *s, size_t i)
{
    size_t k = 1;
    while (k < i && k < 4 && (s[i - k] & 0xC0) == 0x80) k++;
    uint32_t cp;
    hlm_utf8_decode_inline(s + i - k, k, &cp);
    return cp;
}

/* C4BadWordsFilter's regex (?:\W|^)(w1|w2|...)(?:\W|$) on text.lower(). */
static hlm_status has_bad_word(hlm_filter_scratch *s, const hlm_class_table *t, const char *const *list,
                               const uint8_t *text, size_t len, int *found, hlm_error *err)
{
    hlm_status st = bad_words_index(s, list, err);
    if (st) return st;
    hlm_buf *lo = &s->lower;
    lo->len = 0;
    if ((st = hlm_buf_reserve(lo, len + 8))) return st;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t k = hlm_utf8_decode_inline(text + i, len - i, &cp);
        if (cp < 0x80) {
            lo->data[lo->len++] = (uint8_t)ascii_lower(cp);
        } else if (cp == HLM_CP_INVALID) {
            lo->data[lo->len++] = text[i];
        } else {
            utf8proc_int32_t l = utf8proc_tolower((utf8proc_int32_t)cp);
            if ((st = hlm_buf_reserve(lo, 4))) return st;
            lo->len += (size_t)utf8proc_encode_char(l, lo->data + lo->len);
        }
        i += k;
    }
    const uint8_t *x = lo->data;
    size_t n = lo->len;
    *found = 0;
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && is_word_char(t, cp_before(x, i))) continue;
        if ((x[i] & 0xC0) == 0x80) continue;
        unsigned b = bw_bucket(x + i, n - i);
        for (uint32_t j = s->bw_start[b]; j < s->bw_start[b + 1]; j++) {
            uint32_t w = s->bw_idx[j], wl = s->bw_len[w];
            if (wl > n - i || memcmp(x + i, list[w], wl) != 0) continue;
            if (i + wl < n) {
                uint32_t cp;
                hlm_utf8_decode_inline(x + i + wl, n - i - wl, &cp);
                if (is_word_char(t, cp)) continue;
            }
            *found = 1;
            return HLM_OK;
        }
        /* a one-byte word is bucketed with second byte 0 */
        if (n - i > 1) {
            b = bw_bucket(x + i, 1);
            for (uint32_t j = s->bw_start[b]; j < s->bw_start[b + 1]; j++) {
                uint32_t w = s->bw_idx[j];
                if (s->bw_len[w] != 1 || list[w][0] != (char)x[i]) continue;
                uint32_t cp;
                hlm_utf8_decode_inline(x + i + 1, n - i - 1, &cp);
                if (is_word_char(t, cp)) continue;
                *found = 1;
                return HLM_OK;
            }
        }
    }
    return HLM_OK;
}

/* ---- the document ---- */

static hlm_status run_rules(const hlm_filter_params *p, const char *lang, const uint8_t *text, size_t len,
                            hlm_filter_scratch *s, hlm_filter_result *res, int *modified, hlm_error *err)
{
    hlm_status st;
    const hlm_class_table *t = hlm_class_table_get();
    split_mode mode = lang && strcmp(lang, "en") == 0 ? SPLIT_EN
                    : lang && strcmp(lang, "ko") == 0 ? SPLIT_KO
                                                      : SPLIT_BASE;
    s->words_ready = 0;
    s->lines_ready = 0;
    pthread_once(&g_tables_once, tables_init);
    const char *const *stop = p->stop_words;
    if (!stop) stop = mode == SPLIT_EN ? stop_words_en : mode == SPLIT_KO ? stop_words_ko : NULL;
    if (p->gopher_quality && p->min_stop_words >= 0 && !stop)
        return hlm_errorf(err, HLM_ERR_INVALID,
                          "filter: min_stop_words is set but language '%s' has no built-in stop words: "
                          "expected stop_words or min_stop_words < 0", lang ? lang : "(null)");
    if (p->c4 && p->c4_filter_bad_words && !p->bad_words)
        return hlm_errorf(err, HLM_ERR_INVALID, "filter: c4_filter_bad_words is set: expected a bad_words list");

    if (p->c4) {
        if ((st = c4_lines(p, s, mode, t, text, len, res, err)) || res->reason) return st;
        size_t a = 0, b = s->out.len;
        py_strip(t, s->out.data, &a, &b);
        if (a > 0) memmove(s->out.data, s->out.data + a, b - a);
        s->out.len = b - a;
        *modified = s->out.len != len || (len && memcmp(s->out.data, text, len) != 0);
        if (p->c4_filter_bad_words) {
            int found;
            if ((st = has_bad_word(s, t, p->bad_words, s->out.data ? s->out.data : (const uint8_t *)"", s->out.len,
                                   &found, err)))
                return st;
            if (found) FAIL(HLM_FILTER_C4_BAD_WORDS, 0);
        }
    }
    if (!p->gopher_repetition && !p->gopher_quality) return HLM_OK;
    /* datatrove's repetition filter drops an empty text ("empty"), its quality filter finds no
     * words in it; we report the latter. */
    if (len == 0) FAIL(HLM_FILTER_TOO_FEW_WORDS, 0);
    /* The cheap rules first: a document that fails one is spared the repetition rules, whose
     * n-gram counts cost the most. */
    if ((st = document_words(s, mode, t, text, len, err))) return st;
    if (p->gopher_quality) {
        if ((st = quality(p, s, t, stop, mode == SPLIT_KO, text, len, res, err)) || res->reason) return st;
    }
    if (!p->gopher_repetition) return HLM_OK;
    size_t text_cps = count_cps(text, len);
    if ((st = repetition_lines(p, s, t, text, len, text_cps, res, err)) || res->reason) return st;
    if ((st = build_cat(s, text, len, err))) return st;
    return repetition_ngrams(p, s, text_cps, res, err);
}

hlm_status hlm_filter_document(const hlm_filter_params *p, const char *lang, const uint8_t *text, size_t len,
                               hlm_filter_scratch *s, hlm_filter_result *res, const uint8_t **out_text,
                               size_t *out_len, hlm_error *err)
{
    *res = (hlm_filter_result){HLM_FILTER_KEEP, 0, 0};
    *out_text = text;
    *out_len = len;
    if (!p || !s || (!text && len))
        return hlm_errorf(err, HLM_ERR_INVALID, "hlm_filter_document: expected params, scratch and text");
    if (len >= UINT32_MAX / 2)
        return hlm_errorf(err, HLM_ERR_RANGE, "hlm_filter_document: a document of %zu bytes: expected under 2 GiB", len);
    if (!text) text = (const uint8_t *)"";
    int modified = 0;
    hlm_status st = run_rules(p, lang, text, len, s, res, &modified, err);
    if (st) {
        *res = (hlm_filter_result){HLM_FILTER_KEEP, 0, 0};
        return st;
    }
    if (res->reason == HLM_FILTER_KEEP && modified) {
        if ((st = hlm_buf_terminate(&s->out))) return st;
        *out_text = s->out.data;
        *out_len = s->out.len;
    } else if (res->reason != HLM_FILTER_KEEP) {
        res->lines_removed = 0;
    }
    return HLM_OK;
}
