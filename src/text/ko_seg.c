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
 * The lexicon is a trie over syllables (see build); the Viterbi finds the segments of up to
 * four syllables by their syllables in a perfect hash table instead of walking the trie, with no
 * branch that depends on the text (see STEP and sub_find): 28% less time a run than a walk.
 * Agreement with Kiwi is measured in tests/text/test_filters.c (held-out reviews) and, on the
 * filters' decisions, in bench/data_pipeline.sh. */
#include "text/ko_seg.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
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
static atomic_int g_built; /* build has run: a load per run instead of a call to pthread_once */

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

/* The Viterbi below keeps, for each prefix of the run, the best cut's cost and its last segment
 * in one 64-bit word, a step: cost << 16 | (255 - segment length) << 8 | kids << 7 | pattern.
 * A candidate is the step of a segment plus (the cost before it) << 16, and the best candidate
 * is the smallest word: the cost decides, and between equal costs the longer last segment, as
 * a scan from the left keeps the first found. No branch: which candidate wins is as good as
 * random, and a mispredicted branch costs more than the compares. kids says that longer
 * segments start with this one (it never decides: a cut has one candidate per segment). */
#define STEP(cost, len, kids, pat) ((uint64_t)(cost) << 16 | (uint64_t)(255 - (len)) << 8 | (uint64_t)(kids) << 7 | (pat))
#define STEP_LEN(s) (255 - (uint32_t)((s) >> 8 & 0xFF))
#define STEP_PAT(s) ((uint32_t)(s) & 0x7F)
#define STEP_KIDS(s) ((uint32_t)(s) >> 7 & 1)
#define STEP_NONE_COST (1ull << 40) /* a prefix that is no segment: a cost no cut reaches (see PIECE) */
_Static_assert(KO_SEG_PATTERNS <= 128, "a pattern fits 7 bits");

/* The segments and prefixes of 1 to SUB_MAX syllables, found by their syllables rather than by a
 * walk of the trie: a walk's steps depend on each other and its length on the text, so its
 * branches are mispredicted about once a syllable; these lookups are independent and have no
 * branches. One syllable: g_lex.one, by syllable (a syllable that is no segment has the unknown
 * cost). Two to SUB_MAX: g_lex.sub, by a perfect hash of the key (the count of syllables in the
 * low 3 bits, then the syllables, 14 bits each; exact, so a lookup is one compare): a key's
 * group picks a displacement (g_lex.disp) that moves the group's keys to slots no other key has
 * ("hash, displace and compress", Belazzougui, Botelho and Dietzfelbinger 2009, without the
 * compression). A prefix that is no segment has STEP_NONE_COST, and its kids bit. The tables
 * are one object, so that the lookups need one base register. */
enum { SUB_MAX = 4, SUB_SLOT_BITS = 16, SUB_GROUP_BITS = 14 };
typedef struct {
    uint64_t key, step;
} sub_slot;
static struct {
    _Alignas(64) sub_slot sub[1u << SUB_SLOT_BITS];
    uint64_t one[KO_SYLLABLES];
    uint16_t disp[1u << SUB_GROUP_BITS];
    uint64_t mult; /* the hash's multiplier (odd) */
} g_lex;
static int g_sub_ok; /* the table could be built (always, for the compiled-in lexicon) */

/* The key of syllables prev + syl, len of them. */
static inline uint64_t sub_key(uint32_t syl, uint64_t prev, unsigned len)
{
    return (prev & ~7ull) | (uint64_t)syl << (3 + 14 * (len - 1)) | len;
}
/* The key's hash: its group is the top bits, its slot before displacement the middle ones. */
static inline uint64_t sub_hash(uint64_t key, uint64_t mult) { return key * mult; }
static inline uint32_t sub_group(uint64_t h) { return (uint32_t)(h >> (64 - SUB_GROUP_BITS)); }
static inline uint32_t sub_slot_of(uint64_t h, uint32_t disp) { return (uint16_t)((uint32_t)(h >> 24) ^ disp); }
_Static_assert(SUB_SLOT_BITS == 16, "sub_slot_of keeps 16 bits");
/* c0 plus the step of key; UINT64_MAX if key is not in the table. */
static inline uint64_t sub_candidate(uint64_t key, uint64_t mult, uint64_t c0)
{
    uint64_t h = sub_hash(key, mult);
    const sub_slot *e = &g_lex.sub[sub_slot_of(h, g_lex.disp[sub_group(h)])];
    return (c0 + e->step) | (0 - (uint64_t)(e->key != key));
}

/* Builds g_lex.sub from the n keys (steps step): the groups, largest first, each with the first
 * displacement that puts all its keys in free slots. A displacement moves a group as a whole,
 * so two keys of a group in the same slot cannot be parted: then another seed. 0 if no seed
 * of a few works (a table too full; not so for the compiled-in lexicon). */
static int sub_build(const uint64_t *key, const uint64_t *step, size_t n)
{
    enum { GROUPS = 1u << SUB_GROUP_BITS, SLOTS = 1u << SUB_SLOT_BITS };
    uint32_t *start = malloc((GROUPS + 1) * sizeof *start), *order = malloc(n * sizeof *order),
             *by_size = malloc(GROUPS * sizeof *by_size), *fill = malloc(GROUPS * sizeof *fill);
    uint16_t *base = malloc(n * sizeof *base); /* by place in order: the slot before displacement */
    uint8_t *used = malloc(SLOTS);
    int ok = 0;
    for (uint64_t seed = 0; start && order && by_size && fill && base && used && !ok && seed < 16; seed++) {
        uint64_t mult = g_lex.mult = (0x9E3779B97F4A7C15ull ^ seed * 0xD6E8FEB86659FD93ull) | 1;
        memset(start, 0, (GROUPS + 1) * sizeof *start);
        memset(used, 0, SLOTS);
        memset(g_lex.sub, 0, sizeof g_lex.sub);
        for (size_t k = 0; k < n; k++) start[sub_group(sub_hash(key[k], mult)) + 1]++;
        for (uint32_t g = 0; g < GROUPS; g++) start[g + 1] += start[g];
        memcpy(fill, start, GROUPS * sizeof *fill);
        for (size_t k = 0; k < n; k++) {
            uint64_t h = sub_hash(key[k], mult);
            uint32_t q = fill[sub_group(h)]++;
            order[q] = (uint32_t)k;
            base[q] = (uint16_t)sub_slot_of(h, 0); /* and with displacement d: base ^ d */
        }
        /* the groups by size, largest first (a counting sort) */
        uint32_t count[65] = {0}, first[65], at = 0;
        for (uint32_t g = 0; g < GROUPS; g++) count[start[g + 1] - start[g] < 64 ? start[g + 1] - start[g] : 64]++;
        for (int c = 64; c >= 0; c--) first[c] = at, at += count[c];
        for (uint32_t g = 0; g < GROUPS; g++) by_size[first[start[g + 1] - start[g] < 64 ? start[g + 1] - start[g] : 64]++] = g;
        ok = 1;
        for (uint32_t q = 0; ok && q < GROUPS; q++) {
            uint32_t g = by_size[q], a = start[g], b = start[g + 1], d = 0;
            if (a == b) break; /* the rest are empty */
            for (uint32_t k = a; k < b; k++) /* two keys of the group in one slot: no displacement parts them */
                for (uint32_t o = a; o < k; o++) ok &= base[k] != base[o];
            for (; ok && d < SLOTS; d++) {
                uint32_t k = a;
                while (k < b && !used[base[k] ^ d]) k++;
                if (k == b) break;
            }
            if (!ok || d == SLOTS) {
                ok = 0;
                break;
            }
            g_lex.disp[g] = (uint16_t)d;
            for (uint32_t k = a; k < b; k++) {
                used[base[k] ^ d] = 1;
                g_lex.sub[base[k] ^ d] = (sub_slot){key[order[k]], step[order[k]]};
            }
        }
    }
    free(start), free(order), free(by_size), free(fill), free(base), free(used);
    return ok;
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
    /* the prefixes of up to SUB_MAX syllables, by their syllables (the nodes hold their costs now) */
    for (uint32_t syl = 0; syl < KO_SYLLABLES; syl++) g_lex.one[syl] = STEP(g_unknown, 1, 0, 0);
    uint64_t *keys = malloc(KO_SEG_NODES * sizeof *keys), *steps = malloc(KO_SEG_NODES * sizeof *steps);
    uint8_t *seen = calloc((1u << HASH_BITS) + 1, 1); /* by node id */
    size_t n_keys = 0;
    if (keys && steps && seen) {
        for (const char *p = ko_seg_lexicon; *p; p = strchr(p, '\n') + 1) {
            uint32_t node = 0;
            uint64_t key = 0;
            for (unsigned len = 1; *p != ' ' && len <= SUB_MAX; p += 3, len++) {
                uint32_t syl = syllable((const uint8_t *)p);
                node = child(node, syl);
                uint64_t v = g_tab[node - 1];
                uint32_t cost = SLOT_COST(v);
                key = sub_key(syl, key, len);
                if (len == 1) {
                    g_lex.one[syl] = STEP(cost == NO_SEGMENT ? g_unknown : cost, 1, SLOT_KIDS(v), SLOT_PAT(v));
                } else if (!seen[node]) {
                    seen[node] = 1;
                    keys[n_keys] = key;
                    steps[n_keys++] = STEP(cost == NO_SEGMENT ? STEP_NONE_COST : cost, len, SLOT_KIDS(v), SLOT_PAT(v));
                }
            }
        }
        g_sub_ok = sub_build(keys, steps, n_keys);
    }
    free(keys), free(steps), free(seen);
    atomic_store_explicit(&g_built, 1, memory_order_release);
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

/* The best cut of the n syllables at run (n <= PIECE; b->best and b->syl hold n + SUB_MAX + 1) by
 * Viterbi (see the top of the file); its tokens, shifted by off bytes, are written backwards
 * ending at *t, which is moved to the first. */
static void cut_piece(hlm_ko_seg_buf *b, const uint8_t *run, size_t n, size_t off, hlm_ko_token **pt)
{
    uint64_t *restrict best = b->best; /* the best cut of the first j syllables: its step, at its cost */
    uint16_t *restrict syl = b->syl;
    /* best[j] is written when it is final (j <= n); those read into b4 start as none */
    for (size_t i = 0; i < n; i++) syl[i] = (uint16_t)syllable(run + 3 * i), best[i + SUB_MAX + 1] = UINT64_MAX;
    /* forward: from each cut, every segment of the lexicon that starts there. The best cuts of
     * the next SUB_MAX prefixes are kept in registers (b1..b4; b0 the one that is final): in
     * memory, each candidate would wait for the store of the one before. */
    const uint64_t mult = g_lex.mult;
    uint64_t b0 = 0, b1 = UINT64_MAX, b2 = UINT64_MAX, b3 = UINT64_MAX, b4 = UINT64_MAX, s;
    for (size_t i = 0; i < n; i++) {
        uint64_t c0 = b0 >> 16 << 16, key = sub_key(syl[i], 0, 1);
        best[i] = b0;
        s = c0 + g_lex.one[syl[i]];
        b1 = s < b1 ? s : b1;
        if (n - i >= 2) {
            key = sub_key(syl[i + 1], key, 2);
            s = sub_candidate(key, mult, c0);
            b2 = s < b2 ? s : b2;
            if (n - i >= 3) {
                key = sub_key(syl[i + 2], key, 3);
                s = sub_candidate(key, mult, c0);
                b3 = s < b3 ? s : b3;
                if (n - i >= 4) {
                    key = sub_key(syl[i + 3], key, 4);
                    s = sub_candidate(key, mult, c0);
                    b4 = s < b4 ? s : b4;
                    if (s != UINT64_MAX && STEP_KIDS(s)) { /* rare: longer segments, by a walk of the trie */
                        uint32_t node = 0;
                        for (size_t j = i; j < i + SUB_MAX; j++) node = child(node, syl[j]);
                        for (size_t j = i + SUB_MAX; j < n && j - i < KO_SEG_MAX_LEN && (node = child(node, syl[j])); j++) {
                            uint64_t t = g_tab[node - 1];
                            if (SLOT_COST(t) != NO_SEGMENT) {
                                s = c0 + STEP(SLOT_COST(t), j + 1 - i, 0, SLOT_PAT(t));
                                best[j + 1] = s < best[j + 1] ? s : best[j + 1];
                            }
                            if (!SLOT_KIDS(t)) break;
                        }
                    }
                }
            }
        }
        b0 = b1, b1 = b2, b2 = b3, b3 = b4, b4 = best[i + SUB_MAX + 1];
    }
    best[n] = b0;
    /* backward: the tokens of the best cut, from the back */
    hlm_ko_token *t = *pt;
    for (size_t j = n; j > 0;) {
        size_t a = j - STEP_LEN(best[j]);
        uint32_t p = STEP_PAT(best[j]);
        if (!p) {
            *--t = (hlm_ko_token){(uint32_t)(off + 3 * a), (uint32_t)(off + 3 * j)};
        } else {
            for (size_t k = g_pat_n[p]; k-- > 0;)
                *--t = (hlm_ko_token){(uint32_t)(off + 3 * (a + g_pat_span[p][k][0])),
                                      (uint32_t)(off + 3 * (a + g_pat_span[p][k][1]))};
        }
        j = a;
    }
    *pt = t;
}

/* A run longer than PIECE syllables is cut piece by piece, each on its own (ko_seg.h): the costs
 * of a piece stay far below STEP_NONE_COST (at most PIECE x 2^16 < 2^40). */
enum { PIECE = HLM_KO_SEG_PIECE };
_Static_assert((uint64_t)PIECE * 0xFFFF < STEP_NONE_COST, "a piece's cut costs less than a prefix");

hlm_status hlm_ko_segment_run(hlm_ko_seg_buf *b, const uint8_t *run, size_t len, hlm_error *err)
{
    if (!atomic_load_explicit(&g_built, memory_order_acquire)) pthread_once(&g_once, build);
    if (!g_sub_ok) return hlm_errorf(err, HLM_ERR_NOMEM, "Korean segmenter: the lexicon's table could not be built");
    size_t n = len / 3, piece = n < PIECE ? n : PIECE;
    if (len > UINT32_MAX) return hlm_errorf(err, HLM_ERR_RANGE, "Korean segmenter: a run of %zu bytes: too long", len);
    if (piece + SUB_MAX + 1 > b->cap || n * KO_SEG_MAX_TOKENS > b->tok_cap) {
        size_t c = b->cap;
        hlm_status st;
        if ((st = grow(&b->best, &c, piece + SUB_MAX + 1, sizeof *b->best, err))) return st;
        c = b->cap;
        if ((st = grow(&b->syl, &c, piece + SUB_MAX + 1, sizeof *b->syl, err))) return st;
        b->cap = c;
        if ((st = grow(&b->tok_buf, &b->tok_cap, n * KO_SEG_MAX_TOKENS, sizeof *b->tok_buf, err))) return st;
    }
    hlm_ko_token *end = b->tok_buf + n * KO_SEG_MAX_TOKENS, *t = end;
    for (size_t hi = n; hi > 0;) { /* the pieces from the last, so that the tokens come out in order */
        size_t lo = (hi - 1) / PIECE * PIECE;
        cut_piece(b, run + 3 * lo, hi - lo, 3 * lo, &t);
        hi = lo;
    }
    b->tok = t;
    b->tok_n = (size_t)(end - t);
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
    return hlm_ko_segment_run(b, run, len, err);
}

void hlm_ko_seg_buf_free(hlm_ko_seg_buf *b)
{
    if (!b) return;
    free(b->best);
    free(b->syl);
    free(b->tok_buf);
    *b = (hlm_ko_seg_buf){0};
}
