/* Korean morphemes as Kiwi cuts them, from a lexicon of Kiwi's own cuts.
 *
 * datatrove (and FineWeb-2, whose Korean thresholds we use) splits Korean text into words with
 * Kiwi, a morphological analyser: "설치합니다" is 설치 하 ㅂ니다, and each token is the text it
 * spans, so the words are 설치 합 합니다. The Gopher rules count and compare these units (word
 * count, mean word length, stop words such as 의 는 을, and the n-gram shares); with whole runs of
 * syllables in their place, 4% of Korean documentation pages got another decision.
 *
 * tools/gen_ko_seg_model.py runs Kiwi over Korean text (reviews and user-interface strings) and
 * keeps every segment of a Hangul run that it saw at least twice: a token, or tokens whose spans
 * overlap (a contraction), with its count and its tokens' spans. A run is cut into the segments
 * whose product of unigram probabilities (count / total) is highest, by Viterbi over the
 * syllables; a syllable that is no segment stands alone, at the probability of a count of 1/2.
 * The lexicon is a trie over syllables (see build).
 * Agreement with Kiwi is measured in tests/text/test_filters.c (held-out reviews) and, on the
 * filters' decisions, in bench/data_pipeline.sh. */
#include "text/ko_seg.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "text/ko_seg_model.inc"

enum { KO_SYLLABLES = 0xD7A4 - 0xAC00 };
_Static_assert(KO_SEG_MAX_LEN < 256, "segment lengths fit a byte");
_Static_assert(KO_SEG_NODES < (1u << 17), "a node id and a syllable make a 32-bit key");

/* The trie: a node is the slot of an open-addressed table where its key, (parent, last
 * syllable), hashed; node ids are slot + 1, 0 the root. A slot is one 64-bit word: the key, and
 * of the segment ending at the node its cost (-log(count / total), in 1/1024 of a nat) and
 * pattern, and whether the node has children; so a step of a walk reads one word, and a walk
 * stops at a node without children with no probe that finds nothing. The root's children are
 * found by syllable directly (g_root). */
enum { HASH_BITS = 17, COST_SCALE = 1024 };
#define SLOT_KEY(v) ((uint32_t)(v))
#define SLOT_COST(v) ((uint32_t)((v) >> 32) & 0xFFFF) /* NO_SEGMENT: none ends here */
#define SLOT_PAT(v) ((uint32_t)((v) >> 48) & 0xFF)
#define SLOT_KIDS(v) ((v) >> 56 & 1)
enum { NO_SEGMENT = 0xFFFF };
_Static_assert(2 * KO_SEG_NODES < (1u << HASH_BITS) + (1u << HASH_BITS) / 2, "the trie's table stays under 3/4 full");
_Static_assert(KO_SEG_PATTERNS <= 256, "a pattern fits a byte");
static uint64_t g_tab[1u << HASH_BITS];
static uint32_t g_root[KO_SYLLABLES];    /* the node of each one-syllable prefix, 0 if none */
static uint8_t g_pat_n[KO_SEG_PATTERNS]; /* tokens of each pattern */
static uint8_t g_pat_span[KO_SEG_PATTERNS][KO_SEG_MAX_TOKENS][2];
static uint32_t g_unknown;               /* the cost of a syllable that is no segment */
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static inline uint32_t node_key(uint32_t parent, uint32_t syl) { return (parent << 14 | syl) + 1; }
static inline uint32_t key_slot(uint32_t key) { return (key * 0x9E3779B1u) >> (32 - HASH_BITS); }

/* The child of node parent by syllable syl, 0 if none. */
static inline uint32_t child(uint32_t parent, uint32_t syl)
{
    if (parent == 0) return g_root[syl];
    uint32_t key = node_key(parent, syl);
    for (uint32_t j = key_slot(key);; j = (j + 1) & ((1u << HASH_BITS) - 1)) {
        uint32_t k = SLOT_KEY(g_tab[j]);
        if (k == key) return j + 1;
        if (k == 0) return 0;
    }
}

/* Decodes the syllable at p (3 bytes of U+AC00..U+D7A3) to its index. */
static inline uint32_t syllable(const uint8_t *p)
{
    return ((((uint32_t)p[0] & 0x0F) << 12) | (((uint32_t)p[1] & 0x3F) << 6) | ((uint32_t)p[2] & 0x3F)) - 0xAC00;
}

/* Builds the trie from the generated lexicon (trusted: it is compiled in). */
static void build(void)
{
    for (uint32_t j = 0; j < (1u << HASH_BITS); j++) g_tab[j] = (uint64_t)NO_SEGMENT << 32;
    uint32_t nodes = 0;
    for (const char *p = ko_seg_lexicon; *p;) {
        uint32_t node = 0;
        for (; *p != ' '; p += 3) {
            uint32_t syl = syllable((const uint8_t *)p), next = child(node, syl);
            if (!next) {
                if (++nodes > KO_SEG_NODES) return; /* cannot happen: the generator counted them */
                uint32_t key = node_key(node, syl), j = key_slot(key);
                while (SLOT_KEY(g_tab[j])) j = (j + 1) & ((1u << HASH_BITS) - 1);
                g_tab[j] |= key;
                next = j + 1;
                if (node == 0) g_root[syl] = next;
                else g_tab[node - 1] |= 1ull << 56;
            }
            node = next;
        }
        char *end;
        unsigned long count = strtoul(p + 1, &end, 10), pat = strtoul(end + 1, &end, 10);
        double c = -log((double)count / (double)KO_SEG_TOTAL) * COST_SCALE;
        uint64_t v = g_tab[node - 1] & ~(0xFFFFFFull << 32);
        g_tab[node - 1] = v | (uint64_t)lround(c < NO_SEGMENT - 1 ? c : NO_SEGMENT - 1) << 32 | (uint64_t)(pat & 0xFF) << 48;
        p = end + 1; /* past the newline */
    }
    g_unknown = (uint32_t)lround(-log(0.5 / (double)KO_SEG_TOTAL) * COST_SCALE);
    for (size_t k = 1; k < KO_SEG_PATTERNS; k++) { /* "0-1.0-3" */
        const char *q = ko_seg_patterns[k];
        uint8_t m = 0;
        while (*q && m < KO_SEG_MAX_TOKENS) {
            char *end;
            g_pat_span[k][m][0] = (uint8_t)strtoul(q, &end, 10);
            g_pat_span[k][m][1] = (uint8_t)strtoul(end + 1, &end, 10);
            m++;
            q = *end ? end + 1 : end;
        }
        g_pat_n[k] = m;
    }
}

static hlm_status grow(void *pp, size_t *cap, size_t need, size_t elem, hlm_error *err)
{
    size_t c = *cap ? *cap : 64;
    while (c < need) c *= 2;
    void *q = realloc(*(void **)pp, c * elem);
    if (!q) return hlm_errorf(err, HLM_ERR_NOMEM, "Korean segmenter: out of memory (%zu elements)", c);
    *(void **)pp = q;
    *cap = c;
    return HLM_OK;
}

/* The memo: the cuts of runs of up to MEMO_SYL syllables, direct-mapped by a hash of the run.
 * Runs repeat (particles, endings, common words: 78% of the runs of documentation pages are found,
 * 46% of those of reviews),
 * and a hit costs a hash and a compare where a cut costs a walk of the trie from every syllable.
 * Half a cache line an entry, 256 KiB in all. */
enum { MEMO_SYL = 4, MEMO_TOK = 8, MEMO_BITS = 13 };
struct hlm_ko_memo {
    uint64_t k0;       /* the run's bytes, zero-padded: 0..7 */
    uint32_t k1;       /* 8..11 */
    uint8_t len;       /* its syllables; 0: empty entry */
    uint8_t n_tok;
    uint8_t tok[MEMO_TOK][2]; /* the tokens' spans in syllables */
};
_Static_assert(sizeof(struct hlm_ko_memo) == 32, "a memo entry is half a cache line");

static inline uint32_t memo_slot(uint64_t k0, uint32_t k1)
{
    uint64_t h = (k0 ^ ((uint64_t)k1 << 29)) * 0x9E3779B97F4A7C15ull;
    return (uint32_t)((h ^ (h >> 31)) * 0x94D049BB133111EBull >> (64 - MEMO_BITS));
}

static hlm_status cut(hlm_ko_seg_buf *b, const uint8_t *run, size_t len, hlm_error *err);

hlm_status hlm_ko_segment_run(hlm_ko_seg_buf *b, const uint8_t *run, size_t len, size_t avail, hlm_error *err)
{
    pthread_once(&g_once, build);
    size_t n = len / 3;
    if (n > MEMO_SYL) return cut(b, run, len, err);
    if (!b->memo && !(b->memo = calloc((size_t)1 << MEMO_BITS, sizeof *b->memo)))
        return hlm_errorf(err, HLM_ERR_NOMEM, "Korean segmenter: out of memory (memo)");
    uint64_t k0 = 0;
    uint32_t k1 = 0;
    if (avail >= 12) { /* whole words, masked: no stall on a store of a few bytes */
        memcpy(&k0, run, 8);
        memcpy(&k1, run + 8, 4);
        if (len < 8) k0 &= (1ull << (8 * len)) - 1, k1 = 0;
        else if (len < 12) k1 &= (1u << (8 * (len - 8))) - 1;
    } else {
        uint8_t k[12] = {0};
        memcpy(k, run, len);
        memcpy(&k0, k, 8);
        memcpy(&k1, k + 8, 4);
    }
    struct hlm_ko_memo *m = &b->memo[memo_slot(k0, k1)];
    if (m->len == n && m->k0 == k0 && m->k1 == k1) {
        if (m->n_tok > b->tok_cap) {
            hlm_status st = grow(&b->tok, &b->tok_cap, m->n_tok, sizeof *b->tok, err);
            if (st) return st;
        }
        for (size_t i = 0; i < m->n_tok; i++) b->tok[i] = (hlm_ko_token){3u * m->tok[i][0], 3u * m->tok[i][1]};
        b->tok_n = m->n_tok;
        return HLM_OK;
    }
    hlm_status st = cut(b, run, len, err);
    if (st || b->tok_n > MEMO_TOK) return st;
    m->k0 = k0, m->k1 = k1;
    m->len = (uint8_t)n;
    m->n_tok = (uint8_t)b->tok_n;
    for (size_t i = 0; i < b->tok_n; i++) m->tok[i][0] = (uint8_t)(b->tok[i].start / 3), m->tok[i][1] = (uint8_t)(b->tok[i].end / 3);
    return HLM_OK;
}

/* The best cut of run[0..len) by Viterbi (see the top of the file). */
static hlm_status cut(hlm_ko_seg_buf *b, const uint8_t *run, size_t len, hlm_error *err)
{
    size_t n = len / 3;
    if (n + 1 > b->cap) {
        size_t c = b->cap;
        hlm_status st;
        if ((st = grow(&b->cost, &c, n + 1, sizeof *b->cost, err))) return st;
        c = b->cap;
        if ((st = grow(&b->node, &c, n + 1, sizeof *b->node, err))) return st;
        c = b->cap;
        if ((st = grow(&b->len, &c, n + 1, sizeof *b->len, err))) return st;
        c = b->cap;
        if ((st = grow(&b->syl, &c, n + 1, sizeof *b->syl, err))) return st;

        b->cap = c;
    }
    /* local copies: the stores through uint8_t *len could alias b itself */
    uint64_t *restrict cost = b->cost;
    uint32_t *restrict back = b->node;
    uint8_t *restrict seg = b->len;
    uint16_t *restrict syl = b->syl;
    for (size_t i = 0; i < n; i++) syl[i] = (uint16_t)syllable(run + 3 * i), cost[i + 1] = UINT64_MAX;
    cost[0] = 0;
    /* forward: from each cut, every segment of the lexicon that starts there; ties keep the
     * first found, the longer last segment */
    for (size_t i = 0; i < n; i++) {
        uint64_t c0 = cost[i];
        uint32_t node = g_root[syl[i]];
        uint64_t v = node ? g_tab[node - 1] : (uint64_t)NO_SEGMENT << 32;
        if (SLOT_COST(v) == NO_SEGMENT) { /* a syllable that is no segment: alone */
            if (c0 + g_unknown < cost[i + 1]) cost[i + 1] = c0 + g_unknown, back[i + 1] = 0, seg[i + 1] = 1;
        }
        for (size_t j = i;;) {
            if (SLOT_COST(v) != NO_SEGMENT) {
                uint64_t c = c0 + SLOT_COST(v);
                if (c < cost[j + 1]) cost[j + 1] = c, back[j + 1] = node, seg[j + 1] = (uint8_t)(j + 1 - i);
            }
            if (!SLOT_KIDS(v) || ++j >= n || j - i >= KO_SEG_MAX_LEN || !(node = child(node, syl[j]))) break;
            v = g_tab[node - 1];
        }
    }
    /* backward: the tokens of the best cut, counted, then written from the back */
    size_t n_tok = 0;
    for (size_t j = n; j > 0; j -= seg[j]) {
        uint32_t node = back[j];
        uint32_t pat = node ? SLOT_PAT(g_tab[node - 1]) : 0;
        n_tok += pat ? g_pat_n[pat] : 1;
    }
    if (n_tok > b->tok_cap) {
        hlm_status st = grow(&b->tok, &b->tok_cap, n_tok, sizeof *b->tok, err);
        if (st) return st;
    }
    size_t t = n_tok;
    for (size_t j = n; j > 0; j -= seg[j]) {
        size_t a = j - seg[j];
        uint32_t node = back[j];
        uint32_t pat = node ? SLOT_PAT(g_tab[node - 1]) : 0;
        if (!pat) {
            b->tok[--t] = (hlm_ko_token){(uint32_t)(3 * a), (uint32_t)(3 * j)};
        } else {
            for (size_t k = g_pat_n[pat]; k-- > 0;)
                b->tok[--t] = (hlm_ko_token){(uint32_t)(3 * (a + g_pat_span[pat][k][0])),
                                             (uint32_t)(3 * (a + g_pat_span[pat][k][1]))};
        }
    }
    b->tok_n = n_tok;
    return HLM_OK;
}

hlm_status hlm_ko_segment(hlm_ko_seg_buf *b, const uint8_t *run, size_t len, hlm_error *err)
{
    if (!b || !run || len == 0 || len % 3)
        return hlm_errorf(err, HLM_ERR_INVALID, "hlm_ko_segment: expected a run of Hangul syllables (3 bytes each)");
    for (size_t i = 0; i < len; i += 3) {
        if (!is_hangul3(run + i))
            return hlm_errorf(err, HLM_ERR_INVALID,
                              "hlm_ko_segment: byte %zu: expected a Hangul syllable (U+AC00..U+D7A3)", i);
    }
    return hlm_ko_segment_run(b, run, len, len, err);
}

void hlm_ko_seg_buf_free(hlm_ko_seg_buf *b)
{
    if (!b) return;
    free(b->cost);
    free(b->node);
    free(b->len);
    free(b->syl);
    free(b->tok);
    free(b->memo);
    *b = (hlm_ko_seg_buf){0};
}
