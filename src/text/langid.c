/* Language identification (langid.h): script counts, then a character n-gram Naive Bayes model
 * for the scripts that several languages share.
 *
 * Invariants:
 *  - Letters (\p{L} and \p{M}) are counted by script; a letter outside every listed range counts
 *    as "other" (in the shares' denominator, never a language). For the decision, a Hangul
 *    syllable, an ideograph or a kana counts three times (about the information of three
 *    alphabet letters; also its UTF-8 length), so Korean with English terms stays Korean.
 *    Han and kana decide together (one "CJK" weight): Japanese mixes both.
 *  - The n-gram features are exactly those of tools/gen_langid_model.py: words are maximal runs
 *    of the group's letters (a combining mark outside every script joins the word before it),
 *    lowercased with utf8proc's simple mapping (except U+0130, which Python's lower() expands
 *    and the generator leaves alone), padded with one space each side; every 1..4 code point
 *    substring except the lone space is hashed (FNV-1a 64, multiply-shift to 32 bits) and
 *    looked up in the group's table. Hashes not in the table are skipped: they score the same
 *    for every language.
 *  - The tables are constant after a pthread_once initialization (a 16-bit prefix index over
 *    the sorted hashes and the decoded scores); calls allocate nothing and share nothing else. */
#include "text/langid.h"

#include <math.h>
#include <pthread.h>
#include <string.h>
#include <utf8proc.h>

#include "text/ko_seg.h"
#include "text/unicode.h"

#include "text/langid_model.inc"

enum script {
    S_NONE, S_OTHER, S_LATIN, S_CYRILLIC, S_GREEK, S_ARMENIAN, S_HEBREW, S_ARABIC, S_DEVANAGARI,
    S_BENGALI, S_GURMUKHI, S_GUJARATI, S_ORIYA, S_TAMIL, S_TELUGU, S_KANNADA, S_MALAYALAM,
    S_SINHALA, S_THAI, S_LAO, S_TIBETAN, S_MYANMAR, S_GEORGIAN, S_HANGUL, S_ETHIOPIC, S_KHMER,
    S_KANA, S_HAN, S_COUNT
};

/* The language a script names by itself; NULL for the shared scripts and "other". */
static const char *const g_script_lang[S_COUNT] = {
    [S_GREEK] = "el", [S_ARMENIAN] = "hy", [S_HEBREW] = "he", [S_ARABIC] = "ar",
    [S_DEVANAGARI] = "hi", [S_BENGALI] = "bn", [S_GURMUKHI] = "pa", [S_GUJARATI] = "gu",
    [S_ORIYA] = "or", [S_TAMIL] = "ta", [S_TELUGU] = "te", [S_KANNADA] = "kn",
    [S_MALAYALAM] = "ml", [S_SINHALA] = "si", [S_THAI] = "th", [S_LAO] = "lo", [S_TIBETAN] = "bo",
    [S_MYANMAR] = "my", [S_GEORGIAN] = "ka", [S_HANGUL] = "ko", [S_ETHIOPIC] = "am",
    [S_KHMER] = "km", [S_KANA] = "ja", [S_HAN] = "zh",
};

typedef struct {
    uint32_t lo, hi;
    uint8_t script;
} script_range;

/* Sorted, disjoint. Latin and Cyrillic are exactly the generator's script_of(). */
static const script_range g_ranges[] = {
    {0x00C0, 0x00D6, S_LATIN},      {0x00D8, 0x00F6, S_LATIN},      {0x00F8, 0x024F, S_LATIN},
    {0x0370, 0x03FF, S_GREEK},      {0x0400, 0x052F, S_CYRILLIC},   {0x0530, 0x058F, S_ARMENIAN},
    {0x0590, 0x05FF, S_HEBREW},     {0x0600, 0x06FF, S_ARABIC},     {0x0750, 0x077F, S_ARABIC},
    {0x08A0, 0x08FF, S_ARABIC},     {0x0900, 0x097F, S_DEVANAGARI}, {0x0980, 0x09FF, S_BENGALI},
    {0x0A00, 0x0A7F, S_GURMUKHI},   {0x0A80, 0x0AFF, S_GUJARATI},   {0x0B00, 0x0B7F, S_ORIYA},
    {0x0B80, 0x0BFF, S_TAMIL},      {0x0C00, 0x0C7F, S_TELUGU},     {0x0C80, 0x0CFF, S_KANNADA},
    {0x0D00, 0x0D7F, S_MALAYALAM},  {0x0D80, 0x0DFF, S_SINHALA},    {0x0E00, 0x0E7F, S_THAI},
    {0x0E80, 0x0EFF, S_LAO},        {0x0F00, 0x0FFF, S_TIBETAN},    {0x1000, 0x109F, S_MYANMAR},
    {0x10A0, 0x10FF, S_GEORGIAN},   {0x1100, 0x11FF, S_HANGUL},     {0x1200, 0x139F, S_ETHIOPIC},
    {0x1780, 0x17FF, S_KHMER},      {0x1C80, 0x1C8F, S_CYRILLIC},   {0x1C90, 0x1CBF, S_GEORGIAN},
    {0x1E00, 0x1EFF, S_LATIN},      {0x1F00, 0x1FFF, S_GREEK},      {0x2C60, 0x2C7F, S_LATIN},
    {0x2D00, 0x2D2F, S_GEORGIAN},   {0x2DE0, 0x2DFF, S_CYRILLIC},   {0x2E80, 0x2FDF, S_HAN},
    {0x3005, 0x3007, S_HAN},        {0x3021, 0x3029, S_HAN},        {0x3038, 0x303B, S_HAN},
    {0x3041, 0x30FF, S_KANA},       {0x3130, 0x318F, S_HANGUL},     {0x31A0, 0x31BF, S_HAN},
    {0x31F0, 0x31FF, S_KANA},       {0x3400, 0x4DBF, S_HAN},        {0x4E00, 0x9FFF, S_HAN},
    {0xA640, 0xA69F, S_CYRILLIC},   {0xA720, 0xA7FF, S_LATIN},      {0xA8E0, 0xA8FF, S_DEVANAGARI},
    {0xA960, 0xA97F, S_HANGUL},     {0xAB30, 0xAB6F, S_LATIN},      {0xAC00, 0xD7FF, S_HANGUL},
    {0xF900, 0xFAFF, S_HAN},        {0xFB1D, 0xFB4F, S_HEBREW},     {0xFB50, 0xFDFF, S_ARABIC},
    {0xFE70, 0xFEFF, S_ARABIC},     {0xFF21, 0xFF3A, S_LATIN},      {0xFF41, 0xFF5A, S_LATIN},
    {0xFF66, 0xFF9F, S_KANA},       {0xFFA0, 0xFFDC, S_HANGUL},     {0x1B000, 0x1B16F, S_KANA},
    {0x20000, 0x323AF, S_HAN},
};

/* Script of a non-ASCII code point by range (S_NONE outside every range). */
static int script_of(uint32_t cp)
{
    size_t lo = 0, hi = sizeof g_ranges / sizeof g_ranges[0];
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cp < g_ranges[mid].lo) hi = mid;
        else if (cp > g_ranges[mid].hi) lo = mid + 1;
        else return g_ranges[mid].script;
    }
    return S_NONE;
}

/* ---- the n-gram model ---- */

/* Lookups are branchless: a hash's 16-bit prefix indexes the sorted keys; the first two keys
 * from there are compared (keys of the next prefixes never match), and the matching row, or
 * the all-zero row after the last entry, is added. Only prefixes with more than two keys (about
 * 0.4 % of them at 20,000 keys) take a loop. Branches that depend on the hash mispredict half
 * the time, and they would cost more than everything else together. */
enum { LANES = 16, INDEX_BITS = 16 };

typedef struct {
    const char *const *langs;
    int n_langs;
    uint32_t n_keys;
    uint32_t *keys;           /* [n_keys + 2]: sorted hashes, then two 0 (never a hash) */
    uint16_t *index;          /* [1 << INDEX_BITS + 1]: first key with each prefix */
    uint8_t (*scores)[LANES]; /* [n_keys + 1]: quantized -log P per language; the last row 0 */
} ngram_model;

_Static_assert(LATIN_NLANGS <= LANES && CYRILLIC_NLANGS <= LANES, "a group has at most 16 languages");
_Static_assert(LATIN_NGRAMS < 65535 && CYRILLIC_NGRAMS < 65535, "16-bit index");

static uint32_t g_latin_keys[LATIN_NGRAMS + 2], g_cyrillic_keys[CYRILLIC_NGRAMS + 2];
static uint16_t g_latin_index[(1u << INDEX_BITS) + 1], g_cyrillic_index[(1u << INDEX_BITS) + 1];
static uint8_t g_latin_scores[LATIN_NGRAMS + 1][LANES], g_cyrillic_scores[CYRILLIC_NGRAMS + 1][LANES];
static ngram_model g_latin = {latin_langs, LATIN_NLANGS, LATIN_NGRAMS, g_latin_keys, g_latin_index,
                              g_latin_scores};
static ngram_model g_cyrillic = {cyrillic_langs, CYRILLIC_NLANGS, CYRILLIC_NGRAMS, g_cyrillic_keys,
                                 g_cyrillic_index, g_cyrillic_scores};
static const char *g_all_langs[LATIN_NLANGS + CYRILLIC_NLANGS + S_COUNT + 1];
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void model_init(ngram_model *m, const uint32_t *keys, const char *scores)
{
    memcpy(m->keys, keys, m->n_keys * sizeof *keys);
    uint32_t k = 0;
    for (uint32_t p = 0; p <= (1u << INDEX_BITS); p++) {
        while (k < m->n_keys && (m->keys[k] >> (32 - INDEX_BITS)) < p) k++;
        m->index[p] = (uint16_t)k;
    }
    for (uint32_t e = 0; e < m->n_keys; e++)
        for (int l = 0; l < m->n_langs; l++) {
            int c = (uint8_t)scores[(size_t)e * (size_t)m->n_langs + (size_t)l];
            m->scores[e][l] = (uint8_t)(c - 0x23 - (c > 0x5C)); /* the generator skips '\\' */
        }
}

static void init(void)
{
    model_init(&g_latin, latin_keys, latin_scores);
    model_init(&g_cyrillic, cyrillic_keys, cyrillic_scores);
    size_t n = 0;
    for (int l = 0; l < LATIN_NLANGS; l++) g_all_langs[n++] = latin_langs[l];
    for (int l = 0; l < CYRILLIC_NLANGS; l++) g_all_langs[n++] = cyrillic_langs[l];
    for (int s = 0; s < S_COUNT; s++)
        if (g_script_lang[s]) g_all_langs[n++] = g_script_lang[s];
    g_all_langs[n] = NULL;
}

const char *const *hlm_langid_languages(void)
{
    pthread_once(&g_once, init);
    return g_all_langs;
}

#define FNV_OFFSET 0xCBF29CE484222325ull
#define FNV_PRIME 0x100000001B3ull
/* Code points fed between flushes, where the decision is checked: 4 features of at most 90
 * each must fit 16 bits (180 would); every 32 stops a clear page sooner (on the demo pages
 * langid runs 1.24x faster than checking every 180, with the same languages and scores). */
#define FLUSH_EVERY 32
_Static_assert(FLUSH_EVERY * 4 * 91 <= 65535, "the 16-bit accumulator holds a flush's scores");
#define DECIDED 37.0

/* GCC/clang vector extensions: one row of scores and its 16-bit accumulator (one AVX2 add). */
typedef uint8_t u8x16 __attribute__((vector_size(16)));
typedef uint16_t u16x16 __attribute__((vector_size(32)));

typedef struct {
    const ngram_model *m;
    uint64_t st[4];      /* FNV states of the n-grams (1..4) ending at the last code point */
    int have;            /* code points of the current padded word seen, capped at 4 */
    int pending;         /* code points fed since the last flush */
    int decided;         /* the leader is out of reach (see feed) */
    u16x16 acc;          /* summed quantized -log P since the last flush */
    double total[LANES];
} ngram_state;

/* The row of the n-gram whose FNV state is h (the zero row if it is not in the table). */
static inline uint32_t lookup(const ngram_model *m, uint64_t h)
{
    uint32_t v = (uint32_t)((h * 0x9E3779B97F4A7C15ull) >> 32);
    v |= v == 0; /* the generator's "never 0" */
    uint32_t p = v >> (32 - INDEX_BITS), e = m->index[p];
    uint32_t row = m->n_keys;
    row = m->keys[e + 1] == v ? e + 1 : row;
    row = m->keys[e] == v ? e : row;
    if (__builtin_expect(m->index[p + 1] - e > 2, 0))
        for (uint32_t k = e + 2; k < m->index[p + 1]; k++) row = m->keys[k] == v ? k : row;
    return row;
}

static inline void add_row(ngram_state *ns, uint32_t row)
{
    u8x16 sc;
    memcpy(&sc, ns->m->scores[row], sizeof sc);
    ns->acc += __builtin_convertvector(sc, u16x16);
}

/* Feeds one code point of a padded word (' ' for the boundaries). */
static inline void feed(ngram_state *ns, uint32_t cp)
{
    const ngram_model *m = ns->m;
    ns->st[3] = (ns->st[2] ^ cp) * FNV_PRIME;
    ns->st[2] = (ns->st[1] ^ cp) * FNV_PRIME;
    ns->st[1] = (ns->st[0] ^ cp) * FNV_PRIME;
    ns->st[0] = (FNV_OFFSET ^ cp) * FNV_PRIME;
    if (ns->have < 4) ns->have++;
    uint32_t zero = m->n_keys;
    /* n-grams of lengths 1..have end here; the lone boundary is not a feature */
    add_row(ns, cp != ' ' ? lookup(m, ns->st[0]) : zero);
    add_row(ns, ns->have > 1 ? lookup(m, ns->st[1]) : zero);
    add_row(ns, ns->have > 2 ? lookup(m, ns->st[2]) : zero);
    add_row(ns, ns->have > 3 ? lookup(m, ns->st[3]) : zero);
    if (++ns->pending == FLUSH_EVERY) {
        for (int l = 0; l < LANES; l++) ns->total[l] += ns->acc[l];
        ns->acc = (u16x16){0};
        ns->pending = 0;
        /* Stop once the runner-up's tempered posterior is below e^-DECIDED (1e-16): a float score
         * of the winner is then 1.0 times the script share, as reading on would almost always
         * leave it. */
        double best = INFINITY, second = INFINITY;
        for (int l = 0; l < m->n_langs; l++) {
            double v = ns->total[l];
            if (v < best) second = best, best = v;
            else if (v < second) second = v;
        }
        if ((second - best) * (double)LANGID_Q_STEP / 4.0 > DECIDED) ns->decided = 1;
    }
}

static inline uint32_t lower(uint32_t cp)
{
    if (cp < 0x80) return cp - 'A' < 26u ? cp + 32 : cp;
    if (cp == 0x130) return cp;
    return (uint32_t)utf8proc_tolower((utf8proc_int32_t)cp);
}

/* Runs the model over the words of the group's script in s[0..n); fills p[] with the
 * posterior per language and returns the winner's index. */
static int ngram_classify(const ngram_model *m, int script, const uint8_t *s, size_t n, double *post)
{
    ngram_state ns;
    memset(&ns, 0, sizeof ns);
    ns.m = m;
    const hlm_class_table *t = hlm_class_table_get();
    int in_word = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t k = hlm_utf8_decode_inline(s + i, n - i, &cp);
        i += k;
        int part = 0;
        if (cp < 0x80) {
            part = script == S_LATIN && (cp | 32) - 'a' < 26u;
        } else if (cp != HLM_CP_INVALID && (hlm_class_lookup(t, cp) & (HLM_CC_LETTER | HLM_CC_MARK))) {
            int sc = script_of(cp);
            part = sc == script || (sc == S_NONE && in_word && (hlm_class_lookup(t, cp) & HLM_CC_MARK));
        }
        if (part) {
            if (!in_word) {
                ns.have = 0;
                feed(&ns, ' ');
                in_word = 1;
            }
            feed(&ns, lower(cp));
            if (ns.decided) break;
        } else if (in_word) {
            feed(&ns, ' ');
            in_word = 0;
        }
    }
    if (in_word) feed(&ns, ' ');
    double ll[LANES], best = -INFINITY, sum = 0;
    int win = 0;
    for (int l = 0; l < m->n_langs; l++) {
        ll[l] = -(ns.total[l] + ns.acc[l]) * (double)LANGID_Q_STEP;
        sum += ll[l];
        if (ll[l] > best) best = ll[l], win = l;
    }
    /* Overlapping n-grams are far from independent (each letter is in up to ten of them), so the
     * Naive Bayes log-likelihoods are tempered by 4 before the softmax; otherwise any text of a
     * few words would get a posterior of 1.0. */
    double z = 0;
    for (int l = 0; l < m->n_langs; l++) z += post[l] = exp((ll[l] - best) / 4.0);
    for (int l = 0; l < m->n_langs; l++) post[l] /= z;
    if (sum == 0) return -1; /* no n-gram of the table: every score is 0 */
    return win;
}

/* ---- the decision ---- */

enum { CJK_WEIGHT = 3, MIN_WEIGHT = 8 };
#define KANA_JA_SHARE 0.05 /* of the CJK letters: Japanese prose has 30-70 % kana */

static void set_lang(hlm_lang_result *out, const char *lang, double score)
{
    size_t n = strlen(lang);
    memcpy(out->lang, lang, n < sizeof out->lang ? n + 1 : sizeof out->lang);
    out->lang[sizeof out->lang - 1] = 0;
    out->score = (float)(score < 0 ? 0 : score > 1 ? 1 : score);
}

void hlm_langid(const uint8_t *s, size_t len, size_t max_bytes, hlm_lang_result *out)
{
    pthread_once(&g_once, init);
    memset(out, 0, sizeof *out);
    size_t n = len;
    if (max_bytes > 0 && len > max_bytes) {
        /* cut before a character that straddles max_bytes (at most 3 continuation bytes back) */
        n = max_bytes;
        for (int back = 0; back < 3 && n > 0 && (s[n] & 0xC0) == 0x80; back++) n--;
        if ((s[n] & 0xC0) == 0x80) n = max_bytes; /* not a character's tail: cut anywhere */
    }
    uint64_t count[S_COUNT] = {0}, ascii_letters = 0, hangul = 0;
    const hlm_class_table *t = NULL;
    for (size_t i = 0; i < n;) {
#if defined(__SSE2__)
        /* sixteen bytes at a time while they hold only ASCII and Hangul syllables: the letters and
         * the syllables' lead bytes counted from masks (continuation bytes count nothing, so a
         * block may start inside a syllable); two bytes past the block are read. At another lead
         * byte the block's bytes before it are counted and that character is decoded below. */
        while (i + 18 <= n) {
            __m128i v0 = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
            __m128i v1 = _mm_loadu_si128((const __m128i *)(const void *)(s + i + 1));
            __m128i v2 = _mm_loadu_si128((const __m128i *)(const void *)(s + i + 2));
            __m128i d = _mm_sub_epi8(_mm_or_si128(v0, _mm_set1_epi8(0x20)), _mm_set1_epi8('a'));
            uint32_t letters = (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_min_epu8(d, _mm_set1_epi8(25)), d));
            uint32_t lead = (uint32_t)_mm_movemask_epi8(hangul_lead16(v0, v1, v2));
            __m128i hi = _mm_set1_epi8((char)0xC0);
            uint32_t other = (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_and_si128(v0, hi), hi)) & ~lead;
            uint32_t keep = other ? (1u << __builtin_ctz(other)) - 1 : 0xFFFF;
            hangul += (uint64_t)__builtin_popcount(lead & keep);
            ascii_letters += (uint64_t)__builtin_popcount(letters & keep);
            if (other) {
                i += (size_t)__builtin_ctz(other);
                break;
            }
            i += 16;
        }
        if (i >= n) break;
#endif
        /* runs of Hangul syllables, checked three bytes at a time without decoding, into a
         * register counter as the ASCII letters are */
        while (i + 3 <= n && is_hangul3(s + i)) hangul++, i += 3;
        if (i >= n) break;
        if (s[i] < 0x80) {
            /* eight ASCII bytes at a time: b | 0x20 is a letter iff it is in 0x61..0x7A, i.e.
             * adding 0x1F sets its high bit and adding 0x05 does not (no carries: b < 0x80) */
            while (i + 8 <= n) {
                uint64_t w;
                memcpy(&w, s + i, 8);
                if (w & 0x8080808080808080ull) break;
                uint64_t t = w | 0x2020202020202020ull;
                uint64_t hit = (t + 0x1F1F1F1F1F1F1F1Full) & ~(t + 0x0505050505050505ull);
                ascii_letters += (uint64_t)__builtin_popcountll(hit & 0x8080808080808080ull);
                i += 8;
            }
            /* a register counter: count[] in memory would chain every byte through a store */
            while (i < n && s[i] < 0x80) {
                ascii_letters += (uint32_t)(s[i] | 32) - 'a' < 26u;
                i++;
            }
            continue;
        }
        uint32_t cp;
        size_t k = hlm_utf8_decode_inline(s + i, n - i, &cp);
        i += k;
        if (cp - 0xAC00u <= 0xD7A3u - 0xAC00u) {
            count[S_HANGUL]++;
            continue;
        }
        if (cp == HLM_CP_INVALID) continue;
        if (!t) t = hlm_class_table_get();
        if (!(hlm_class_lookup(t, cp) & (HLM_CC_LETTER | HLM_CC_MARK))) continue;
        int sc = script_of(cp);
        if (sc == S_NONE) {
            /* combining marks of no script (U+0300..) belong to the letter before them */
            if (hlm_class_lookup(t, cp) & HLM_CC_LETTER) count[S_OTHER]++;
            continue;
        }
        count[sc]++;
    }
    count[S_LATIN] += ascii_letters;
    count[S_HANGUL] += hangul;
    uint64_t letters = 0;
    for (int sc = 0; sc < S_COUNT; sc++) letters += count[sc];
    if (letters) {
        out->hangul_share = (float)((double)count[S_HANGUL] / (double)letters);
        out->latin_share = (float)((double)count[S_LATIN] / (double)letters);
        out->han_share = (float)((double)count[S_HAN] / (double)letters);
        out->kana_share = (float)((double)count[S_KANA] / (double)letters);
    }
    /* decision weights: CJK characters count three times, Han and kana as one bucket */
    uint64_t w[S_COUNT], total = 0;
    for (int sc = 0; sc < S_COUNT; sc++) w[sc] = count[sc];
    w[S_HANGUL] *= CJK_WEIGHT;
    w[S_HAN] = (count[S_HAN] + count[S_KANA]) * CJK_WEIGHT;
    w[S_KANA] = 0;
    int win = S_NONE;
    for (int sc = 0; sc < S_COUNT; sc++) {
        total += w[sc];
        if (w[sc] > w[win]) win = sc;
    }
    if (total < MIN_WEIGHT || win == S_OTHER || win == S_NONE) {
        set_lang(out, "und", 0);
        return;
    }
    double share = (double)w[win] / (double)total;
    if (win == S_HAN) {
        uint64_t cjk = count[S_HAN] + count[S_KANA];
        set_lang(out, (double)count[S_KANA] >= KANA_JA_SHARE * (double)cjk ? "ja" : "zh", share);
        return;
    }
    if (win == S_LATIN || win == S_CYRILLIC) {
        const ngram_model *m = win == S_LATIN ? &g_latin : &g_cyrillic;
        double post[LANES];
        int l = ngram_classify(m, win, s, n, post);
        if (l < 0) {
            set_lang(out, "und", 0);
            return;
        }
        set_lang(out, m->langs[l], post[l] * share);
        return;
    }
    set_lang(out, g_script_lang[win], share);
}
