/* MinHash signatures (Broder 1997) and LSH banding (Leskovec, Rajaraman & Ullman, Mining of
 * Massive Datasets, ch. 3.4) for near-duplicate documents.
 *
 * Simplified text (the shingles' input), close to datatrove's simplify_text:
 *  - letters lowercased (one code point to one), marks kept;
 *  - a run of number characters (\p{N}), where a single '.' or ',' between two of them continues
 *    the run, becomes one '0';
 *  - everything else (whitespace, punctuation, symbols, ill-formed bytes) separates words: runs of
 *    separators become one space, none at either end.
 *  Unlike datatrove, diacritics are not removed (that needs a decomposition per character).
 * Shingles:
 *  - spaced text: every word_ngram consecutive words, joined by one space;
 *  - unspaced text (lang ko/ja/zh/th, or with lang NULL a majority of letters in Hangul, Han,
 *    Kana or Thai): the simplified text with its spaces removed, every char_ngram consecutive
 *    code points. Spaces go because Korean spacing varies freely between writers ("재밌다 정말"
 *    vs "재밌다정말"): with them, a respaced copy loses most of its shingles (see
 *    tools/gen_dedup_fixtures.py for the measurement).
 *  - fewer words/code points than one shingle: the whole simplified text is the one shingle.
 * Signature: x = XXH3-64(shingle, seed) >> 3 (61 bits); for i < bands*rows,
 *  sig[i] = min over shingles of (a_i x + b_i) mod (2^61 - 1), a_i in [1, p), b_i in [0, p) drawn
 *  from SplitMix64(seed) by rejection. Band hash j = XXH3-64 (seed) of rows j*rows.. as
 *  little-endian u64s. The modular product is exact (no wrap-around as in datatrove's numpy
 *  uint64 product), so the family is the classic 2-universal one.
 *
 * The AVX-512 kernel splits a and x into 32-bit halves (vpmuludq gives 32x32->64 products) and
 * folds with 2^61 == 1 (mod p): a x = ah xh 2^64 + (ah xl + al xh) 2^32 + al xl, with
 * 2^64 == 8 and mid 2^32 == (mid >> 29) + (mid mod 2^29) 2^32. It returns the canonical residue,
 * exactly as the scalar __int128 version does, so results do not depend on the CPU. */
#include <xxhash.h>

#include <stdlib.h>
#include <string.h>
#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include "core/rng.h"
#include "text/dedup.h"
#include "text/dedup_internal.h"
#include "text/ko_seg.h"

#define MERSENNE61 ((1ull << 61) - 1)
enum { XBLOCK = 256 };

struct hlm_minhash {
    hlm_minhash_params p;
    int k, kpad; /* bands * rows, rounded up to 8 */
    uint64_t *a, *a_hi, *b;
};

const char *const hlm_ko_shingles_names[3] = {"characters", "words", "morphemes"};

void hlm_minhash_params_default(hlm_minhash_params *p)
{
    p->bands = 14;
    p->rows = 8;
    p->word_ngram = 5;
    p->char_ngram = 5;
    p->korean_shingles = HLM_KO_SHINGLES_CHARACTERS;
    p->seed = 1;
}

void hlm_minhash_free(hlm_minhash *m)
{
    if (!m) return;
    free(m->a);
    free(m->a_hi);
    free(m->b);
    free(m);
}

static uint64_t draw_below_p(uint64_t *s, uint64_t min)
{
    for (;;) {
        uint64_t v = hlm_splitmix64(s) >> 3;
        if (v >= min && v < MERSENNE61) return v;
    }
}

hlm_status hlm_minhash_new(hlm_minhash **out, const hlm_minhash_params *p, hlm_error *err)
{
    *out = NULL;
    if (p->bands < 1 || p->bands > 512)
        return hlm_errorf(err, HLM_ERR_INVALID, "minhash: bands %d: expected 1..512", p->bands);
    if (p->rows < 1 || p->rows > 64)
        return hlm_errorf(err, HLM_ERR_INVALID, "minhash: rows %d: expected 1..64", p->rows);
    if (p->word_ngram < 1 || p->word_ngram > 64)
        return hlm_errorf(err, HLM_ERR_INVALID, "minhash: word_ngram %d: expected 1..64", p->word_ngram);
    if (p->char_ngram < 1 || p->char_ngram > 64)
        return hlm_errorf(err, HLM_ERR_INVALID, "minhash: char_ngram %d: expected 1..64", p->char_ngram);
    hlm_minhash *m = calloc(1, sizeof *m);
    if (!m) return hlm_errorf(err, HLM_ERR_NOMEM, "minhash: out of memory");
    m->p = *p;
    m->k = p->bands * p->rows;
    m->kpad = (m->k + 7) & ~7;
    size_t bytes = (size_t)m->kpad * sizeof(uint64_t);
    m->a = aligned_alloc(64, bytes);
    m->a_hi = aligned_alloc(64, bytes);
    m->b = aligned_alloc(64, bytes);
    if (!m->a || !m->a_hi || !m->b) {
        hlm_minhash_free(m);
        return hlm_errorf(err, HLM_ERR_NOMEM, "minhash: out of memory");
    }
    uint64_t s = p->seed;
    for (int i = 0; i < m->kpad; i++) {
        /* Padding lanes get real parameters too; their minimums are computed and ignored. */
        m->a[i] = draw_below_p(&s, 1);
        m->b[i] = draw_below_p(&s, 0);
        m->a_hi[i] = m->a[i] >> 32;
    }
    *out = m;
    return HLM_OK;
}

/* ---- simplification ---- */

static int is_unspaced_letter(uint32_t cp, uint8_t cls)
{
    if (cls & HLM_CC_HANGUL) return 1;
    return (cp >= 0x0E00 && cp <= 0x0E7F) ||                                    /* Thai */
           (cp >= 0x3040 && cp <= 0x30FF) || (cp >= 0x31F0 && cp <= 0x31FF) || /* Kana */
           (cp >= 0xFF66 && cp <= 0xFF9D) ||                                    /* halfwidth Kana */
           (cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0x4E00 && cp <= 0x9FFF) || /* Han */
           (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x20000 && cp <= 0x3134F);
}

typedef struct simple_text {
    size_t len;
    size_t letters, unspaced_letters, hangul_letters;
} simple_text;

/* Class of the unit at s[0..n): 0 for an ill-formed byte; sets *cp and *k (its length). */
static inline uint8_t unit_class(const uint8_t *s, size_t n, uint32_t *cp, size_t *k, const hlm_class_table **t)
{
    if (s[0] < 0x80) {
        *cp = s[0];
        *k = 1;
        return hlm_ascii_class[s[0]];
    }
    *k = hlm_utf8_decode_inline(s, n, cp);
    if (*cp == HLM_CP_INVALID) return 0;
    if (!*t) *t = hlm_class_table_get();
    return hlm_class_lookup(*t, *cp);
}

/* Writes the simplified form of s to o (room for len * 3 / 2 + 8 bytes). */
static simple_text simplify(const uint8_t *s, size_t len, uint8_t *o)
{
    const hlm_class_table *t = NULL;
    simple_text r = {0, 0, 0, 0};
    size_t w = 0, i = 0;
    int pending = 0, in_number = 0;
    while (i < len) {
        uint32_t cp;
        size_t k;
        uint8_t cls = unit_class(s + i, len - i, &cp, &k, &t);
        if (cls & HLM_CC_NUMBER) {
            if (!in_number) {
                if (pending) o[w++] = ' ', pending = 0;
                o[w++] = '0';
                in_number = 1;
            }
        } else if (cls & (HLM_CC_LETTER | HLM_CC_MARK)) {
            if (pending) o[w++] = ' ', pending = 0;
            in_number = 0;
            if (cp < 0x80) {
                o[w++] = (uint8_t)(cp - 'A' < 26u ? cp + 32 : cp);
            } else {
                w += hlm_utf8_encode_inline(hlm_dedup_fold(cp, cls), o + w);
            }
            if (cls & HLM_CC_LETTER) {
                r.letters++;
                if (cp >= 0x80 && is_unspaced_letter(cp, cls)) r.unspaced_letters++;
                if (cls & HLM_CC_HANGUL) r.hangul_letters++;
            }
        } else {
            if (in_number && (cp == '.' || cp == ',') && i + 1 < len) {
                uint32_t cp2;
                size_t k2;
                if (unit_class(s + i + 1, len - i - 1, &cp2, &k2, &t) & HLM_CC_NUMBER) {
                    i += 1;
                    continue; /* "1,000" and "3.14" are one number */
                }
            }
            in_number = 0;
            pending = w > 0;
        }
        i += k;
    }
    r.len = w;
    return r;
}

/* Is lang the two-letter code (any case), alone or with a region ("ko", "ko-KR", "ko_KR")? */
static int lang_is(const char *lang, const char code[3])
{
    return (lang[0] | 0x20) == code[0] && (lang[1] | 0x20) == code[1] &&
           (lang[2] == 0 || lang[2] == '-' || lang[2] == '_');
}

static int lang_is_unspaced(const char *lang)
{
    static const char codes[][3] = {"ko", "ja", "zh", "th"};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
        if (lang_is(lang, codes[i])) return 1;
    return 0;
}

/* ---- the minimum over shingles ---- */

static inline uint64_t mod_mersenne61(unsigned __int128 t)
{
    uint64_t r = ((uint64_t)t & MERSENNE61) + (uint64_t)(t >> 61);
    r = (r & MERSENNE61) + (r >> 61);
    return r >= MERSENNE61 ? r - MERSENNE61 : r;
}

/* mins[i] = min(mins[i], min over j of (a_i x_j + b_i) mod p), for all kpad lanes; x_j < 2^61. */
static void min_update(const hlm_minhash *m, const uint64_t *x, size_t n, uint64_t *mins)
{
#if defined(__AVX512F__)
    const __m512i P = _mm512_set1_epi64((long long)MERSENNE61);
    const __m512i M29 = _mm512_set1_epi64((1ll << 29) - 1);
    uint64_t xh[XBLOCK];
    for (size_t j = 0; j < n; j++) xh[j] = x[j] >> 32;
    for (int g = 0; g < m->kpad; g += 8) {
        const __m512i al = _mm512_load_si512((const void *)(m->a + g));
        const __m512i ah = _mm512_load_si512((const void *)(m->a_hi + g));
        const __m512i b = _mm512_load_si512((const void *)(m->b + g));
        __m512i mn = _mm512_loadu_si512((const void *)(mins + g));
        for (size_t j = 0; j < n; j++) {
            const __m512i xl = _mm512_set1_epi64((long long)x[j]); /* vpmuludq reads the low half */
            const __m512i xhi = _mm512_set1_epi64((long long)xh[j]);
            __m512i ll = _mm512_mul_epu32(al, xl);
            __m512i hh = _mm512_mul_epu32(ah, xhi);
            __m512i mid = _mm512_add_epi64(_mm512_mul_epu32(ah, xl), _mm512_mul_epu32(al, xhi)); /* < 2^62 */
            __m512i s = _mm512_add_epi64(_mm512_slli_epi64(hh, 3), _mm512_srli_epi64(mid, 29));
            s = _mm512_add_epi64(s, _mm512_slli_epi64(_mm512_and_si512(mid, M29), 32));
            s = _mm512_add_epi64(s, _mm512_and_si512(ll, P));
            s = _mm512_add_epi64(s, _mm512_add_epi64(_mm512_srli_epi64(ll, 61), b)); /* < 2^63 */
            s = _mm512_add_epi64(_mm512_and_si512(s, P), _mm512_srli_epi64(s, 61));  /* <= p + 3 */
            s = _mm512_min_epu64(s, _mm512_sub_epi64(s, P));
            mn = _mm512_min_epu64(mn, s);
        }
        _mm512_storeu_si512((void *)(mins + g), mn);
    }
#else
    for (int i = 0; i < m->kpad; i++) {
        uint64_t a = m->a[i], b = m->b[i], mn = mins[i];
        for (size_t j = 0; j < n; j++) {
            uint64_t v = mod_mersenne61((unsigned __int128)a * x[j] + b);
            mn = v < mn ? v : mn;
        }
        mins[i] = mn;
    }
#endif
}

typedef struct shingle_block {
    uint64_t x[XBLOCK];
    size_t n;
} shingle_block;

static inline void add_shingle(const hlm_minhash *m, shingle_block *blk, const uint8_t *s, size_t n, uint64_t *mins)
{
    blk->x[blk->n++] = XXH3_64bits_withSeed(s, n, m->p.seed) >> 3;
    if (blk->n == XBLOCK) {
        min_update(m, blk->x, blk->n, mins);
        blk->n = 0;
    }
}

static inline size_t utf8_len(uint8_t lead) { return lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4; }

/* The signature (kpad lanes) of the simplified text t[0..n). */
static void signature_of(const hlm_minhash *m, uint8_t *t, size_t n, int unspaced, uint64_t *mins)
{
    shingle_block blk;
    blk.n = 0;
    for (int i = 0; i < m->kpad; i++) mins[i] = UINT64_MAX;
    const uint8_t *end;
    if (unspaced) {
        size_t w = 0;
        for (size_t i = 0; i < n; i++)
            if (t[i] != ' ') t[w++] = t[i];
        n = w;
        end = t + n;
        /* The window is [head, tail): char_ngram code points (the simplified text is valid UTF-8). */
        const uint8_t *head = t, *tail = t;
        int got = 0;
        while (got < m->p.char_ngram && tail < end) tail += utf8_len(*tail), got++;
        for (;;) {
            add_shingle(m, &blk, head, (size_t)(tail - head), mins);
            if (tail >= end) break;
            head += utf8_len(*head);
            tail += utf8_len(*tail);
        }
    } else {
        end = t + n;
        const uint8_t *head = t, *tail = t;
        for (int got = 0; got < m->p.word_ngram && tail < end; got++) {
            if (got) tail++; /* the space */
            const uint8_t *sp = memchr(tail, ' ', (size_t)(end - tail));
            tail = sp ? sp : end;
        }
        for (;;) {
            add_shingle(m, &blk, head, (size_t)(tail - head), mins);
            if (tail >= end) break;
            head = (const uint8_t *)memchr(head, ' ', (size_t)(end - head)) + 1; /* tail is a space */
            const uint8_t *sp = memchr(tail + 1, ' ', (size_t)(end - tail - 1));
            tail = sp ? sp : end;
        }
    }
    if (blk.n) min_update(m, blk.x, blk.n, mins);
}

/* ---- Korean as words or morphemes (korean_shingles) ----
 * The simplified text's space-separated words are cut into runs of one kind (Hangul syllables,
 * Latin letters, the digit 0 that numbers became, jamo, other letters), as Kiwi cuts text it
 * cannot analyse. With HLM_KO_SHINGLES_WORDS a run of syllables is one token: so datatrove's
 * Korean tokens come out, since its simplify_text decomposes the syllables to jamo (NFD) before
 * Kiwi sees them. With HLM_KO_SHINGLES_MORPHEMES a run of syllables is cut into the morphemes
 * ko_seg.c estimates (a contraction gives its text twice, as Kiwi's tokens do), which do not
 * change when a copy is spaced differently. A shingle is word_ngram tokens joined by one space;
 * fewer tokens than that make one shingle of them all. */

/* at most this many tokens a syllable (ko_seg.c: a pattern's tokens are up to four) */
enum { KO_TOKENS_PER_SYLLABLE = 4 };

typedef struct ko_span {
    uint32_t a, b;
} ko_span;

enum run_kind { RUN_HANGUL, RUN_ZERO, RUN_LATIN, RUN_JAMO, RUN_OTHER };

/* The kind of the character at t[i] (t[0..end) is valid UTF-8). */
static enum run_kind run_kind(const uint8_t *t, size_t i, size_t end)
{
    if (i + 3 <= end && is_hangul3(t + i)) return RUN_HANGUL;
    if (t[i] == '0') return RUN_ZERO;
    if (t[i] < 0x80) return RUN_LATIN;
    uint32_t cp;
    hlm_utf8_decode_inline(t + i, end - i, &cp);
    if ((cp >= 0x3131 && cp <= 0x318E) || (cp >= 0x1100 && cp <= 0x11FF)) return RUN_JAMO;
    if (cp <= 0x024F) return RUN_LATIN; /* with diacritics */
    return RUN_OTHER;
}

/* The tokens of t[0..n) (simplified: one space between words) into *out (grown as needed). */
static hlm_status ko_tokens(const uint8_t *t, size_t n, int morphemes, hlm_ko_seg_buf *seg, ko_span **out,
                            size_t *cap, size_t *count, hlm_error *err)
{
    size_t k = 0;
    for (size_t i = 0; i < n;) {
        if (t[i] == ' ') {
            i++;
            continue;
        }
        enum run_kind kind = run_kind(t, i, n);
        size_t j = i;
        if (kind == RUN_HANGUL) {
            while (j + 3 <= n && is_hangul3(t + j)) j += 3;
        } else {
            while (j < n && t[j] != ' ' && run_kind(t, j, n) == kind) j += utf8_len(t[j]);
        }
        size_t add = kind == RUN_HANGUL && morphemes ? (j - i) / 3 * KO_TOKENS_PER_SYLLABLE : 1;
        if (k + add > *cap) {
            size_t c = *cap ? *cap : 256;
            while (c < k + add) c *= 2;
            ko_span *q = realloc(*out, c * sizeof *q);
            if (!q) return hlm_errorf(err, HLM_ERR_NOMEM, "minhash: out of memory (%zu tokens)", c);
            *out = q, *cap = c;
        }
        if (kind == RUN_HANGUL && morphemes) {
            hlm_status st = hlm_ko_segment_run(seg, t + i, j - i, err);
            if (st) return st;
            for (size_t q = 0; q < seg->tok_n; q++)
                (*out)[k++] = (ko_span){(uint32_t)(i + seg->tok[q].start), (uint32_t)(i + seg->tok[q].end)};
        } else {
            (*out)[k++] = (ko_span){(uint32_t)i, (uint32_t)j};
        }
        i = j;
    }
    *count = k;
    return HLM_OK;
}

/* The signature (kpad lanes) of the simplified Korean text t[0..n) over n-grams of its words or
 * morphemes. */
static hlm_status signature_ko(const hlm_minhash *m, const uint8_t *t, size_t n, uint64_t *mins, hlm_error *err)
{
    hlm_ko_seg_buf seg = {0};
    ko_span *tok = NULL;
    size_t cap = 0, n_tok = 0;
    hlm_buf join = {0};
    shingle_block blk;
    blk.n = 0;
    for (int i = 0; i < m->kpad; i++) mins[i] = UINT64_MAX;
    int morphemes = m->p.korean_shingles == HLM_KO_SHINGLES_MORPHEMES;
    if (n > UINT32_MAX) return hlm_errorf(err, HLM_ERR_RANGE, "minhash: a text of %zu bytes: too long for words", n);
    hlm_status st = n ? ko_tokens(t, n, morphemes, &seg, &tok, &cap, &n_tok, err) : HLM_OK;
    size_t g = (size_t)m->p.word_ngram;
    /* fewer tokens than one shingle: all of them are the one shingle (none: the empty text) */
    for (size_t k = 0; !st && (k + g <= n_tok || (k == 0 && n_tok < g)); k++) {
        size_t e = k + g < n_tok ? k + g : n_tok;
        join.len = 0;
        for (size_t q = k; q < e && !st; q++) {
            if (q > k) st = hlm_buf_append(&join, " ", 1);
            if (!st) st = hlm_buf_append(&join, t + tok[q].a, tok[q].b - tok[q].a);
        }
        if (st) st = hlm_errorf(err, HLM_ERR_NOMEM, "minhash: out of memory");
        else add_shingle(m, &blk, join.data ? join.data : t, join.len, mins);
    }
    if (!st && blk.n) min_update(m, blk.x, blk.n, mins);
    hlm_ko_seg_buf_free(&seg);
    free(tok);
    hlm_buf_free(&join);
    return st;
}

/* Computes the signature into scratch; returns a pointer to its kpad lanes. */
static hlm_status signature_scratch(const hlm_minhash *m, const uint8_t *text, size_t len, const char *lang,
                                    hlm_buf *scratch, uint64_t **sig, hlm_error *err)
{
    if (len > SIZE_MAX / 4) return hlm_errorf(err, HLM_ERR_INVALID, "minhash: text of %zu bytes: too long", len);
    size_t sig_bytes = (size_t)m->kpad * sizeof(uint64_t) + 64;
    size_t need = sig_bytes + len / 2 * 3 + 16;
    if (scratch->cap < need) {
        scratch->len = 0;
        hlm_status st = hlm_buf_reserve(scratch, need);
        if (st) return hlm_errorf(err, st, "minhash: cannot allocate %zu bytes of scratch", need);
    }
    uintptr_t base = (uintptr_t)scratch->data;
    uint64_t *mins = (uint64_t *)(void *)(scratch->data + ((64 - (base & 63)) & 63));
    uint8_t *t = scratch->data + sig_bytes;
    simple_text st = len ? simplify(text, len, t) : (simple_text){0, 0, 0, 0};
    int unspaced = lang && lang[0] ? lang_is_unspaced(lang) : 2 * st.unspaced_letters > st.letters;
    int korean = lang && lang[0] ? lang_is(lang, "ko") : 2 * st.hangul_letters > st.letters;
    if (m->p.korean_shingles != HLM_KO_SHINGLES_CHARACTERS && korean) {
        hlm_status e = signature_ko(m, t, st.len, mins, err);
        if (e) return e;
    } else {
        signature_of(m, t, st.len, unspaced, mins);
    }
    *sig = mins;
    return HLM_OK;
}

hlm_status hlm_minhash_signature(const hlm_minhash *m, const uint8_t *text, size_t len, const char *lang,
                                 uint64_t *sig, hlm_buf *scratch, hlm_error *err)
{
    uint64_t *mins;
    hlm_status st = signature_scratch(m, text, len, lang, scratch, &mins, err);
    if (st) return st;
    memcpy(sig, mins, (size_t)m->k * sizeof *sig);
    return HLM_OK;
}

hlm_status hlm_minhash_bands(const hlm_minhash *m, const uint8_t *text, size_t len, const char *lang,
                             uint64_t *band_hashes, hlm_buf *scratch, hlm_error *err)
{
    uint64_t *mins;
    hlm_status st = signature_scratch(m, text, len, lang, scratch, &mins, err);
    if (st) return st;
    uint8_t rowbytes[64 * 8];
    for (int j = 0; j < m->p.bands; j++) {
        for (int r = 0; r < m->p.rows; r++) hlm_dedup_le64(rowbytes + 8 * r, mins[j * m->p.rows + r]);
        band_hashes[j] = XXH3_64bits_withSeed(rowbytes, (size_t)m->p.rows * 8, m->p.seed);
    }
    return HLM_OK;
}

/* ---- LSH clusters ----
 * Per document: its number (8 bytes), its band hashes (8 x bands), and after clustering its
 * union-find parent (4) and its place in doc-number order (4): 16 + 8 x bands bytes, 128 for the
 * default 14 bands. Arrays grow by doubling, so up to twice that is reserved while adding;
 * clustering needs at most 16 more per document for the time it runs (a sort of (doc, index)
 * pairs, then a per-band table of 2-4 slots of 4 bytes per document).
 *
 * Union-find links the root with the larger doc number under the other, so every root is the
 * smallest doc number of its tree: the representative needs no second pass. */

struct hlm_lsh {
    int bands;
    size_t n, cap;
    uint64_t *docs;   /* by dense index */
    uint64_t *hashes; /* [dense][band] */
    uint32_t *parent; /* clustered_n entries, each pointing at its root */
    uint32_t *order;  /* clustered_n dense indices sorted by doc number */
    size_t clustered_n, clusters;
};

size_t hlm_lsh_bytes_per_doc(int bands) { return 16 + 8 * (size_t)(bands > 0 ? bands : 0); }

hlm_status hlm_lsh_new(hlm_lsh **out, int bands, hlm_error *err)
{
    *out = NULL;
    if (bands < 1 || bands > 512) return hlm_errorf(err, HLM_ERR_INVALID, "lsh: bands %d: expected 1..512", bands);
    hlm_lsh *l = calloc(1, sizeof *l);
    if (!l) return hlm_errorf(err, HLM_ERR_NOMEM, "lsh: out of memory");
    l->bands = bands;
    *out = l;
    return HLM_OK;
}

void hlm_lsh_free(hlm_lsh *l)
{
    if (!l) return;
    free(l->docs);
    free(l->hashes);
    free(l->parent);
    free(l->order);
    free(l);
}

hlm_status hlm_lsh_add(hlm_lsh *l, uint64_t doc, const uint64_t *band_hashes, hlm_error *err)
{
    if (l->n >= UINT32_MAX - 1)
        return hlm_errorf(err, HLM_ERR_RANGE, "lsh: %zu documents: at most %u fit", l->n, UINT32_MAX - 1);
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 1024;
        uint64_t *docs = realloc(l->docs, cap * sizeof *docs);
        if (!docs) return hlm_errorf(err, HLM_ERR_NOMEM, "lsh: cannot grow to %zu documents", cap);
        l->docs = docs;
        uint64_t *hashes = realloc(l->hashes, cap * (size_t)l->bands * sizeof *hashes);
        if (!hashes) return hlm_errorf(err, HLM_ERR_NOMEM, "lsh: cannot grow to %zu documents", cap);
        l->hashes = hashes;
        l->cap = cap;
    }
    l->docs[l->n] = doc;
    memcpy(l->hashes + l->n * (size_t)l->bands, band_hashes, (size_t)l->bands * sizeof *band_hashes);
    l->n++;
    return HLM_OK;
}

typedef struct doc_index {
    uint64_t doc;
    uint64_t index;
} doc_index;

static int cmp_doc_index(const void *a, const void *b)
{
    uint64_t x = ((const doc_index *)a)->doc, y = ((const doc_index *)b)->doc;
    return (x > y) - (x < y);
}

static uint32_t uf_find(uint32_t *parent, uint32_t x)
{
    while (parent[x] != x) {
        parent[x] = parent[parent[x]]; /* path halving */
        x = parent[x];
    }
    return x;
}

static void uf_union(uint32_t *parent, const uint64_t *docs, uint32_t a, uint32_t b)
{
    a = uf_find(parent, a);
    b = uf_find(parent, b);
    if (a == b) return;
    if (docs[a] < docs[b]) parent[b] = a;
    else parent[a] = b;
}

hlm_status hlm_lsh_cluster(hlm_lsh *l, hlm_error *err)
{
    size_t n = l->n;
    free(l->parent);
    free(l->order);
    l->parent = NULL;
    l->order = NULL;
    l->clustered_n = l->clusters = 0;
    if (!n) return HLM_OK;
    l->parent = malloc(n * sizeof *l->parent);
    l->order = malloc(n * sizeof *l->order);
    doc_index *pairs = malloc(n * sizeof *pairs);
    if (!l->parent || !l->order || !pairs) {
        free(pairs);
        return hlm_errorf(err, HLM_ERR_NOMEM, "lsh: cannot allocate clustering arrays for %zu documents", n);
    }
    for (size_t i = 0; i < n; i++) pairs[i] = (doc_index){l->docs[i], i};
    qsort(pairs, n, sizeof *pairs, cmp_doc_index);
    for (size_t i = 0; i < n; i++) {
        if (i && pairs[i].doc == pairs[i - 1].doc) {
            uint64_t dup = pairs[i].doc;
            free(pairs);
            return hlm_errorf(err, HLM_ERR_INVALID, "lsh: doc %llu added twice: expected unique doc numbers",
                              (unsigned long long)dup);
        }
        l->order[i] = (uint32_t)pairs[i].index;
    }
    free(pairs);

    size_t slots = 16;
    while (slots < 2 * n) slots *= 2;
    uint32_t *table = malloc(slots * sizeof *table); /* dense index + 1 of a band hash's first doc */
    if (!table) return hlm_errorf(err, HLM_ERR_NOMEM, "lsh: cannot allocate a table of %zu slots", slots);
    for (size_t i = 0; i < n; i++) l->parent[i] = (uint32_t)i;
    const size_t bands = (size_t)l->bands;
    for (size_t band = 0; band < bands; band++) {
        memset(table, 0, slots * sizeof *table);
        for (size_t i = 0; i < n; i++) {
            uint64_t h = l->hashes[i * bands + band];
            size_t s = (size_t)(h ^ (h >> 32)) & (slots - 1);
            while (table[s] && l->hashes[(table[s] - 1) * bands + band] != h) s = (s + 1) & (slots - 1);
            if (table[s]) uf_union(l->parent, l->docs, table[s] - 1, (uint32_t)i);
            else table[s] = (uint32_t)i + 1;
        }
    }
    /* Flatten, then count the roots that have members other than themselves. */
    memset(table, 0, slots * sizeof *table);
    for (size_t i = 0; i < n; i++) {
        uint32_t r = uf_find(l->parent, (uint32_t)i);
        l->parent[i] = r;
        if (r != i && !table[r]) table[r] = 1, l->clusters++;
    }
    free(table);
    l->clustered_n = n;
    return HLM_OK;
}

/* Dense index of doc, or -1 if it was not there at the last clustering. */
static int64_t dense_of(const hlm_lsh *l, uint64_t doc)
{
    size_t lo = 0, hi = l->clustered_n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        uint64_t d = l->docs[l->order[mid]];
        if (d == doc) return l->order[mid];
        if (d < doc) lo = mid + 1;
        else hi = mid;
    }
    return -1;
}

int hlm_lsh_is_duplicate(const hlm_lsh *l, uint64_t doc)
{
    int64_t i = dense_of(l, doc);
    return i >= 0 && l->docs[l->parent[i]] != doc;
}

uint64_t hlm_lsh_representative(const hlm_lsh *l, uint64_t doc)
{
    int64_t i = dense_of(l, doc);
    return i >= 0 ? l->docs[l->parent[i]] : doc;
}

size_t hlm_lsh_docs(const hlm_lsh *l) { return l->n; }

size_t hlm_lsh_clusters(const hlm_lsh *l) { return l->clustered_n ? l->clusters : 0; }
