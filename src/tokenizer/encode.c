/* Encoding: special tokens -> NFC -> pre-tokenization -> byte-pair merging of each piece.
 * (SentencePiece vocabularies are encoded by spm.c instead.)
 *
 * Byte-pair merging (tk_bpe) repeatedly joins the adjacent pair with the lowest rank, the leftmost
 * one among equal ranks, until no adjacent pair is in the pair map. This is tiktoken's
 * byte_pair_merge when the pair map holds every split of every token (rank = the merged token's
 * rank), and Hugging Face's BPE word merge when it holds the listed merges (rank = list position):
 * both pick the minimum (rank, position) among the current pairs at every step.
 *
 * Short pieces (almost all) use tiktoken's own scheme, an array of parts rescanned after each
 * merge: O(n^2) but with tiny n it beats anything cleverer. Long pieces (a megabyte of one letter
 * is a single pre-token) use a linked list and a binary heap of candidate pairs keyed by
 * (rank, position of the left part), with stale entries dropped when popped: O(n log n).
 *
 * A piece that is itself a token is emitted directly when that is what merging would give
 * (whole_piece: always under tiktoken semantics, which does this; under Hugging Face semantics
 * only for tokens that tk_finish found merging reaches — computed once per token at load, so the
 * shortcut costs nothing per encode and is exact).
 *
 * Speed: the lookup tables are larger than the CPU caches (o200k: 8 MB token map, 16 MB pair
 * map), so the work is arranged to touch them rarely: Bloom filters in front of both (most
 * Korean pieces are not tokens, and most pairs looked up while merging do not exist), a dense
 * table for the first round of pairs (two bytes), a cache of merged pieces, and prefetching of
 * the two pairs that each merge creates. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "hyperlm/thread.h"
#include "text/unicode.h"
#include "tokenizer/pretok.h"
#include "tokenizer/tokenizer_impl.h"

#define SMALL_PIECE 96

static inline hlm_status ids_push(hlm_ids *out, uint32_t id)
{
    if (out->len == out->cap && hlm_ids_reserve(out, 1)) return HLM_ERR_NOMEM;
    out->data[out->len++] = id;
    return HLM_OK;
}

/* Pair memo: the pairs that merging looks up repeat far more than the pieces do (the bytes of
 * one Hangul syllable form the same pairs in every word that has it), and the pair map is too
 * large for the CPU caches. A direct-mapped memo of 64K recent answers (1 MB, fits L2) turns
 * most of those DRAM reads into L2 hits. Owned by one encode call or one worker thread. */
#define MEMO_BITS 16
typedef struct pair_memo_entry {
    uint64_t key;   /* left << 32 | right; UINT64_MAX: empty */
    uint32_t rank;  /* UINT32_MAX: no such pair */
    uint32_t merged;
} pair_memo_entry;

static inline uint32_t pair_rank_raw(const hlm_tokenizer *t, uint32_t a, uint32_t b, uint32_t *merged)
{
    if (!tk_pair_maybe(t, a, b)) return UINT32_MAX;
    const tk_pair *p = tk_pair_find(t, a, b);
    if (!p) return UINT32_MAX;
    *merged = p->merged;
    return p->rank;
}

static inline uint32_t pair_rank(const hlm_tokenizer *t, pair_memo_entry *memo, uint32_t a, uint32_t b,
                                 uint32_t max_rank, uint32_t *merged)
{
    uint32_t rank;
    if (memo) {
        uint64_t key = (uint64_t)a << 32 | b;
        pair_memo_entry *e = &memo[(key * 0x9E3779B97F4A7C15ull) >> (64 - MEMO_BITS)];
        if (e->key != key) {
            e->key = key;
            e->merged = 0;
            e->rank = pair_rank_raw(t, a, b, &e->merged);
        }
        rank = e->rank;
        *merged = e->merged;
    } else {
        rank = pair_rank_raw(t, a, b, merged);
    }
    return rank < max_rank ? rank : UINT32_MAX;
}

typedef struct part {
    uint32_t id;
    uint32_t rank;   /* rank of joining this part with the next one; UINT32_MAX: no merge */
    uint32_t merged; /* the token they make */
} part;

static hlm_status bpe_small(const hlm_tokenizer *t, pair_memo_entry *memo, const uint8_t *s, size_t n,
                            uint32_t max_rank, hlm_ids *out)
{
    part p[SMALL_PIECE];
    for (size_t i = 0; i + 1 < n; i++) {
        const struct tk_byte_pair *bp = &t->byte_pairs[s[i] << 8 | s[i + 1]];
        p[i].id = t->byte_id[s[i]];
        p[i].rank = bp->rank < max_rank ? bp->rank : UINT32_MAX;
        p[i].merged = bp->merged;
    }
    p[n - 1].id = t->byte_id[s[n - 1]];
    p[n - 1].rank = UINT32_MAX;
    size_t m = n;
    for (;;) {
        /* leftmost lowest rank; branch-free, the comparisons are unpredictable */
        uint64_t best = UINT64_MAX;
        for (size_t i = 0; i + 1 < m; i++) {
            uint64_t k = (uint64_t)p[i].rank << 32 | i;
            best = k < best ? k : best;
        }
        if (best >> 32 == UINT32_MAX) break;
        size_t at = (size_t)(uint32_t)best;
        p[at].id = p[at].merged;
        /* the two new pairs are independent reads of the (large) pair map: start both now */
        if (!memo) {
            if (at + 2 < m && tk_pair_maybe(t, p[at].id, p[at + 2].id))
                __builtin_prefetch(&t->pairs[tk_pair_slot(t, p[at].id, p[at + 2].id)]);
            if (at > 0 && tk_pair_maybe(t, p[at - 1].id, p[at].id))
                __builtin_prefetch(&t->pairs[tk_pair_slot(t, p[at - 1].id, p[at].id)]);
        }
        for (size_t i = at + 1; i + 1 < m; i++) p[i] = p[i + 1];
        m--;
        p[at].rank = at + 1 < m ? pair_rank(t, memo, p[at].id, p[at + 1].id, max_rank, &p[at].merged) : UINT32_MAX;
        if (at > 0) p[at - 1].rank = pair_rank(t, memo, p[at - 1].id, p[at].id, max_rank, &p[at - 1].merged);
    }
    if (out->len + m > out->cap && hlm_ids_reserve(out, m)) return HLM_ERR_NOMEM;
    for (size_t i = 0; i < m; i++) out->data[out->len++] = p[i].id;
    return HLM_OK;
}

/* Min-heap of (rank << 32 | left part's index); the index is the part's first byte, so smaller
 * keys are lower ranks, then further left. */
typedef struct heap {
    uint64_t *a;
    size_t n, cap;
} heap;

static int heap_push(heap *h, uint64_t key)
{
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 256;
        uint64_t *p = realloc(h->a, cap * sizeof *p);
        if (!p) return -1;
        h->a = p;
        h->cap = cap;
    }
    size_t i = h->n++;
    while (i > 0) {
        size_t up = (i - 1) / 2;
        if (h->a[up] <= key) break;
        h->a[i] = h->a[up];
        i = up;
    }
    h->a[i] = key;
    return 0;
}

static uint64_t heap_pop(heap *h)
{
    uint64_t top = h->a[0], last = h->a[--h->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n) break;
        if (c + 1 < h->n && h->a[c + 1] < h->a[c]) c++;
        if (h->a[c] >= last) break;
        h->a[i] = h->a[c];
        i = c;
    }
    if (h->n) h->a[i] = last;
    return top;
}

static hlm_status bpe_large(const hlm_tokenizer *t, const uint8_t *s, size_t n, uint32_t max_rank, hlm_ids *out)
{
    if (n > UINT32_MAX - 1) return HLM_ERR_NOMEM; /* indices are 32-bit; no piece gets near this */
    uint32_t *id = malloc(n * sizeof *id);
    uint32_t *next = malloc(n * sizeof *next);
    uint32_t *prev = malloc(n * sizeof *prev);
    heap h = {0};
    hlm_status st = HLM_ERR_NOMEM;
    if (!id || !next || !prev) goto done;
    for (size_t i = 0; i < n; i++) {
        id[i] = t->byte_id[s[i]];
        next[i] = i + 1 < n ? (uint32_t)(i + 1) : UINT32_MAX;
        prev[i] = i ? (uint32_t)(i - 1) : UINT32_MAX;
    }
    uint32_t merged = 0;
    for (size_t i = 0; i + 1 < n; i++) {
        uint32_t r = t->byte_pairs[s[i] << 8 | s[i + 1]].rank;
        if (r < max_rank && heap_push(&h, (uint64_t)r << 32 | i)) goto done;
    }
    while (h.n) {
        uint64_t key = heap_pop(&h);
        uint32_t rank = (uint32_t)(key >> 32), l = (uint32_t)key;
        if (id[l] == TK_NONE || next[l] == UINT32_MAX) continue; /* merged away / now last */
        uint32_t r = next[l];
        if (pair_rank(t, NULL, id[l], id[r], max_rank, &merged) != rank) continue; /* stale */
        id[l] = merged;
        id[r] = TK_NONE;
        next[l] = next[r];
        if (next[r] != UINT32_MAX) prev[next[r]] = l;
        uint32_t nr;
        if (next[l] != UINT32_MAX && (nr = pair_rank(t, NULL, id[l], id[next[l]], max_rank, &merged)) != UINT32_MAX &&
            heap_push(&h, (uint64_t)nr << 32 | l))
            goto done;
        if (prev[l] != UINT32_MAX && (nr = pair_rank(t, NULL, id[prev[l]], id[l], max_rank, &merged)) != UINT32_MAX &&
            heap_push(&h, (uint64_t)nr << 32 | prev[l]))
            goto done;
    }
    for (uint32_t i = 0; i != UINT32_MAX; i = next[i])
        if (ids_push(out, id[i])) goto done;
    st = HLM_OK;
done:
    free(id);
    free(next);
    free(prev);
    free(h.a);
    return st;
}

static hlm_status bpe_memo(const hlm_tokenizer *t, pair_memo_entry *memo, const uint8_t *s, size_t len,
                           uint32_t max_rank, hlm_ids *out)
{
    if (len == 0) return HLM_OK;
    if (len == 1) return ids_push(out, t->byte_id[s[0]]);
    return len <= SMALL_PIECE ? bpe_small(t, memo, s, len, max_rank, out) : bpe_large(t, s, len, max_rank, out);
}

hlm_status tk_bpe(const hlm_tokenizer *t, const uint8_t *s, size_t len, uint32_t max_rank, hlm_ids *out)
{
    return bpe_memo(t, NULL, s, len, max_rank, out);
}

/* Piece cache: pieces that are not one token repeat a lot (a Korean word with its particles, a
 * code identifier), and merging one costs ~20 random reads of the pair map. A cache keyed by the
 * hash that the token lookup already computed, holding the bytes (so a hit is exact, never a hash
 * match alone) and the ids, makes a repeat cost one or two compares. Entries are one cache line;
 * sets of two, the newest first. One cache per call (long inputs) or per worker thread (batches):
 * nothing is shared, so the tokenizer stays read-only. */
#define CACHE_BYTES 30
#define CACHE_IDS 6
#define CACHE_SETS 16384 /* x 2 ways x 64 bytes = 2 MB */

typedef struct cache_entry {
    uint64_t hash;
    uint8_t len, n_ids; /* len 0: empty (cached pieces have two or more bytes) */
    uint8_t bytes[CACHE_BYTES];
    uint32_t ids[CACHE_IDS];
} cache_entry;

typedef struct piece_cache {
    cache_entry *slots; /* CACHE_SETS * 2 entries, or NULL: no cache */
    pair_memo_entry *memo; /* 1 << MEMO_BITS entries, or NULL */
} piece_cache;

static void cache_init(piece_cache *c)
{
    c->slots = calloc(2 * CACHE_SETS, sizeof *c->slots);
    c->memo = malloc(sizeof *c->memo << MEMO_BITS);
    if (c->memo) memset(c->memo, 0xFF, sizeof *c->memo << MEMO_BITS);
}

static void cache_free(piece_cache *c)
{
    free(c->slots);
    free(c->memo);
}

static inline int cache_hit(const cache_entry *e, uint64_t h, const uint8_t *s, size_t len)
{
    return e->hash == h && e->len == len && tk_bytes_equal(e->bytes, s, len);
}

static inline hlm_status encode_piece(const hlm_tokenizer *t, piece_cache *c, const uint8_t *s, size_t len,
                                      hlm_ids *out)
{
    if (len == 1) return ids_push(out, t->byte_id[s[0]]);
    uint64_t h = tk_hash(s, len);
    uint32_t id = tk_lookup_whole(t, s, len, h);
    if (id != TK_NONE) return ids_push(out, id);
    cache_entry *set = NULL;
    if (c->slots && len <= CACHE_BYTES) {
        set = &c->slots[2 * (h >> 50 & (CACHE_SETS - 1))];
        const cache_entry *e = cache_hit(&set[0], h, s, len) ? &set[0] : cache_hit(&set[1], h, s, len) ? &set[1] : NULL;
        if (e) {
            if (out->len + e->n_ids > out->cap && hlm_ids_reserve(out, e->n_ids)) return HLM_ERR_NOMEM;
            memcpy(out->data + out->len, e->ids, e->n_ids * sizeof *e->ids);
            out->len += e->n_ids;
            return HLM_OK;
        }
    }
    size_t before = out->len;
    if (bpe_memo(t, c->memo, s, len, UINT32_MAX, out)) return HLM_ERR_NOMEM;
    size_t n = out->len - before;
    if (set && n <= CACHE_IDS) {
        set[1] = set[0];
        cache_entry *e = &set[0];
        e->hash = h;
        e->len = (uint8_t)len;
        e->n_ids = (uint8_t)n;
        memcpy(e->bytes, s, len);
        memcpy(e->ids, out->data + before, n * sizeof *e->ids);
    }
    return HLM_OK;
}

static hlm_status encode_pretokenized(const hlm_tokenizer *t, piece_cache *c, const uint8_t *s, size_t len,
                                      hlm_ids *out)
{
    size_t pos = 0;
    while (pos < len) {
        size_t end = hlm_pretok_next(t->pattern, s, len, pos);
        if (encode_piece(t, c, s + pos, end - pos, out)) return HLM_ERR_NOMEM;
        pos = end;
    }
    return HLM_OK;
}

/* Text without special tokens: NFC first if the tokenizer normalizes (Hugging Face applies the
 * normalizer to each stretch between added tokens, then pre-tokenizes). */
static hlm_status encode_ordinary(const hlm_tokenizer *t, piece_cache *c, const uint8_t *s, size_t len,
                                  hlm_ids *out, hlm_error *err)
{
    if (len == 0) return HLM_OK;
    if (t->normalize && !hlm_nfc_is_stable(s, len)) {
        hlm_buf nfc = {0};
        hlm_status st = hlm_nfc_append(s, len, &nfc, err);
        if (!st && encode_pretokenized(t, c, nfc.data, nfc.len, out))
            st = hlm_errorf(err, HLM_ERR_NOMEM, "encode: out of memory");
        hlm_buf_free(&nfc);
        return st;
    }
    if (encode_pretokenized(t, c, s, len, out)) return hlm_errorf(err, HLM_ERR_NOMEM, "encode: out of memory");
    return HLM_OK;
}

const tk_special *tk_special_at(const hlm_tokenizer *t, const uint8_t *s, size_t len)
{
    const tk_special *best = NULL;
    for (size_t i = 0; i < t->n_specials; i++) {
        const tk_special *sp = &t->specials[i];
        if (sp->len <= len && (!best || sp->len > best->len) && !memcmp(sp->text, s, sp->len)) best = sp;
    }
    return best;
}

static hlm_status encode_with_cache(const hlm_tokenizer *t, piece_cache *c, const uint8_t *s, size_t len,
                                    int allow_special, hlm_ids *out, hlm_error *err)
{
    if (t->spm) return tk_spm_encode(t, s, len, allow_special, out, err);
    if (!allow_special || !t->n_specials) return encode_ordinary(t, c, s, len, out, err);
    size_t start = 0; /* of the ordinary text not yet encoded */
    for (size_t i = 0; i < len; i++) {
        if (!t->special_first[s[i]]) continue;
        const tk_special *sp = tk_special_at(t, s + i, len - i);
        if (!sp) continue;
        hlm_status st = encode_ordinary(t, c, s + start, i - start, out, err);
        if (st) return st;
        if (ids_push(out, sp->id)) return hlm_errorf(err, HLM_ERR_NOMEM, "encode: out of memory");
        i += sp->len - 1;
        start = i + 1;
    }
    return encode_ordinary(t, c, s + start, len - start, out, err);
}

/* Below this many bytes a cache would cost more to allocate than it saves. */
#define CACHE_MIN_INPUT (64 << 10)

hlm_status hlm_tokenizer_encode(const hlm_tokenizer *t, const void *text, size_t len, int allow_special,
                                hlm_ids *out, hlm_error *err)
{
    piece_cache c = {NULL, NULL};
    if (len >= CACHE_MIN_INPUT && !t->spm) cache_init(&c); /* without memory for it, encode runs uncached */
    hlm_status st = encode_with_cache(t, &c, text, len, allow_special, out, err);
    cache_free(&c);
    return st;
}

typedef struct batch_job {
    const hlm_tokenizer *tok;
    const char *const *texts;
    const size_t *lens;
    int allow_special;
    hlm_ids *outs;
    size_t n, per_task; /* documents, and how many consecutive ones make one task */
    piece_cache *caches; /* one per worker thread */
    atomic_int failed;
    hlm_error first_err;
} batch_job;

static void batch_task(void *ctx, size_t task, int thread)
{
    batch_job *job = ctx;
    piece_cache *c = &job->caches[thread];
    if (!c->slots && !job->tok->spm) cache_init(c);
    size_t end = (task + 1) * job->per_task < job->n ? (task + 1) * job->per_task : job->n;
    for (size_t i = task * job->per_task; i < end; i++) {
        if (atomic_load_explicit(&job->failed, memory_order_relaxed)) return;
        hlm_error e;
        if (encode_with_cache(job->tok, c, (const uint8_t *)job->texts[i], job->lens[i], job->allow_special,
                              &job->outs[i], &e)) {
            int expected = 0;
            if (atomic_compare_exchange_strong(&job->failed, &expected, 1)) job->first_err = e;
            return;
        }
    }
}

hlm_status hlm_tokenizer_encode_batch(const hlm_tokenizer *tok, const char *const *texts, const size_t *lens,
                                      size_t n, int allow_special, int n_threads, hlm_ids *outs, hlm_error *err)
{
    if (n_threads <= 0) n_threads = hlm_default_threads();
    /* Many short documents (lines) would make one task each too fine: group them so that each
     * thread gets ~64 tasks, enough to balance uneven documents. */
    size_t per_task = n / ((size_t)n_threads * 64);
    if (per_task == 0) per_task = 1;
    batch_job job = {tok, texts, lens, allow_special, outs, n, per_task, NULL, 0, {0}};
    job.caches = calloc((size_t)n_threads, sizeof *job.caches);
    if (!job.caches) return hlm_errorf(err, HLM_ERR_NOMEM, "encode: out of memory");
    hlm_status st = hlm_parallel_for((n + per_task - 1) / per_task, n_threads, batch_task, &job, err);
    for (int i = 0; i < n_threads; i++) cache_free(&job.caches[i]);
    free(job.caches);
    if (st) return st;
    if (atomic_load(&job.failed)) {
        if (err) *err = job.first_err;
        return job.first_err.code;
    }
    return HLM_OK;
}
