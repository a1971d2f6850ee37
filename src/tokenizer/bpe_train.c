/* Byte-level BPE training: count the distinct pre-tokens of a stream of documents, then learn the
 * merges on those counts (bpe_train_merges.c) and build the tokenizer.
 *
 * Counting. Each call to hlm_bpe_trainer_feed cuts its documents into tasks of consecutive
 * documents and runs them with hlm_parallel_for. The calling thread (worker 0) counts straight
 * into the trainer's table; the other workers count into tables of their own, added into it when
 * the batch ends. A table maps the bytes of a piece (XXH3 hash, open addressing) to its count,
 * so memory follows the number of distinct pieces, never the corpus size. Pieces of one byte are
 * not stored: they hold no pair and cannot change a merge.
 *
 * What is counted, per document: the text is first cut at the special tokens (the longest one
 * where several start at the same place), which are not counted; each part between them is NFC
 * normalized (when opts.normalize and the part is not already stable) and split by the
 * pre-tokenizer pattern. This is the order the encoder follows (encode.c), so a document that
 * contains "<|endoftext|>" neither teaches merges across it nor merges of its characters.
 *
 * Determinism. The table's order depends on the threads, but the merges are a function of the
 * multiset of (piece, count) only (see bpe_train_internal.h), so any thread count gives the same
 * tokenizer. */
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "hyperlm/log.h"
#include "hyperlm/progress.h"
#include "hyperlm/thread.h"
#include "hyperlm/tokenizer.h"
#include "text/unicode.h"
#include "tokenizer/bpe_train_internal.h"
#include "tokenizer/bytelevel.h"
#include "tokenizer/pretok.h"
#include "tokenizer/tokenizer_internal.h"

/* Largest vocabulary a tokenizer can hold (ids are 24-bit in tokenizer.c). */
#define MAX_VOCAB (1u << 24)
/* Documents are grouped into tasks of about this many bytes. */
#define TASK_BYTES ((size_t)256 << 10)

/* A slot is 16 bytes: the count, and where the piece's bytes are (40 bits: up to 1 TB of
 * distinct pieces) with 24 more bits of its hash, so that a probe rarely compares bytes. The
 * bytes are stored after a 4-byte length. */
typedef struct {
    uint64_t count; /* 0: free slot */
    uint64_t ref;   /* offset in bytes | hash >> 40 << 40 */
} piece_slot;

#define REF_OFF_BITS 40
#define REF_OFF_MASK ((1ull << REF_OFF_BITS) - 1)

typedef struct {
    piece_slot *slots;
    size_t n_slots, n; /* n_slots is a power of two; n <= 0.7 n_slots */
    hlm_buf bytes;     /* [u32 length][piece] for each piece */
    int nomem;
} piece_table;

typedef struct {
    piece_table *table;  /* worker 0: the trainer's own table */
    hlm_buf nfc;         /* normalized text of the current part */
    size_t *special_next; /* per special: next occurrence in the current document */
    uint64_t n_pieces;
    int nomem;
} worker;

struct hlm_bpe_trainer {
    hlm_bpe_train_opts opts;
    char **specials;
    size_t *special_len;
    int n_threads;
    piece_table table;
    piece_table *worker_tables; /* workers 1..n_threads-1 */
    worker *workers;
    uint64_t n_docs, n_bytes, n_pieces, n_distinct;
    size_t n_merges;
    double learn_s;
    int finished;
};

/* ---- the piece table ---- */

static inline const uint8_t *piece_at(const piece_table *t, uint64_t ref, size_t *len)
{
    const uint8_t *p = t->bytes.data + (ref & REF_OFF_MASK);
    uint32_t n;
    memcpy(&n, p, sizeof n);
    *len = n;
    return p + sizeof n;
}

static int table_resize(piece_table *t, size_t n_slots)
{
    piece_slot *s = calloc(n_slots, sizeof *s);
    if (!s) return 0;
    for (size_t i = 0; i < t->n_slots; i++) {
        if (!t->slots[i].count) continue;
        size_t len;
        const uint8_t *p = piece_at(t, t->slots[i].ref, &len);
        size_t j = XXH3_64bits(p, len) & (n_slots - 1);
        while (s[j].count) j = (j + 1) & (n_slots - 1);
        s[j] = t->slots[i];
    }
    free(t->slots);
    t->slots = s;
    t->n_slots = n_slots;
    return 1;
}

/* Adds count to the piece p[0..len) whose XXH3 hash is h. */
static void table_add(piece_table *t, const uint8_t *p, size_t len, uint64_t h, uint64_t count)
{
    if ((t->n + 1) * 10 > t->n_slots * 7 && !table_resize(t, t->n_slots ? t->n_slots * 2 : 1u << 14)) {
        t->nomem = 1;
        return;
    }
    size_t mask = t->n_slots - 1;
    uint64_t tag = h >> REF_OFF_BITS << REF_OFF_BITS;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        piece_slot *s = &t->slots[i];
        if (!s->count) {
            uint32_t n = (uint32_t)len;
            uint64_t off = t->bytes.len;
            if (len > UINT32_MAX || off + 4 + len > REF_OFF_MASK || hlm_buf_append(&t->bytes, &n, sizeof n) ||
                hlm_buf_append(&t->bytes, p, len)) {
                t->nomem = 1;
                return;
            }
            s->count = count;
            s->ref = off | tag;
            t->n++;
            return;
        }
        if ((s->ref & ~REF_OFF_MASK) == tag) {
            size_t n;
            const uint8_t *q = piece_at(t, s->ref, &n);
            if (n == len && memcmp(q, p, len) == 0) {
                s->count += count;
                return;
            }
        }
    }
}

static void table_merge_into(piece_table *dst, const piece_table *src)
{
    for (size_t i = 0; i < src->n_slots && !dst->nomem; i++) {
        const piece_slot *s = &src->slots[i];
        if (!s->count) continue;
        size_t len;
        const uint8_t *p = piece_at(src, s->ref, &len);
        table_add(dst, p, len, XXH3_64bits(p, len), s->count);
    }
}

static void table_clear(piece_table *t)
{
    if (t->slots) memset(t->slots, 0, t->n_slots * sizeof *t->slots);
    t->n = 0;
    t->bytes.len = 0;
}

static void table_free(piece_table *t)
{
    free(t->slots);
    hlm_buf_free(&t->bytes);
    memset(t, 0, sizeof *t);
}

/* ---- counting ---- */

static void count_part(const hlm_bpe_trainer *tr, worker *w, const uint8_t *s, size_t len)
{
    if (!len) return;
    if (tr->opts.normalize && !hlm_nfc_is_stable(s, len)) {
        w->nfc.len = 0;
        if (hlm_nfc_append(s, len, &w->nfc, NULL)) {
            w->nomem = 1;
            return;
        }
        s = w->nfc.data;
        len = w->nfc.len;
    }
    /* Pieces go to the table in groups whose slots are prefetched first: with a large table
     * nearly every look-up is a cache miss, and this lets them overlap. */
    enum { GROUP = 32 };
    struct {
        size_t pos, len;
        uint64_t hash;
    } group[GROUP];
    hlm_pattern pat = tr->opts.pattern;
    piece_table *t = w->table;
    size_t n = 0;
    for (size_t pos = 0;;) {
        if (n == GROUP || (pos >= len && n)) {
            for (size_t i = 0; i < n; i++) table_add(t, s + group[i].pos, group[i].len, group[i].hash, 1);
            n = 0;
        }
        if (pos >= len) break;
        size_t end = hlm_pretok_next(pat, s, len, pos);
        w->n_pieces++;
        if (end - pos >= 2) {
            uint64_t h = XXH3_64bits(s + pos, end - pos);
            if (t->n_slots) __builtin_prefetch(&t->slots[h & (t->n_slots - 1)]);
            group[n].pos = pos;
            group[n].len = end - pos;
            group[n++].hash = h;
        }
        pos = end;
    }
}

/* Cuts a document at its special tokens and counts the parts between them. */
static void count_document(const hlm_bpe_trainer *tr, worker *w, const uint8_t *s, size_t len)
{
    size_t n_sp = tr->opts.n_specials;
    if (!n_sp) {
        count_part(tr, w, s, len);
        return;
    }
    size_t pos = 0;
    int first = 1;
    while (pos < len) {
        size_t best = len, best_len = 0;
        for (size_t k = 0; k < n_sp; k++) {
            size_t kl = tr->special_len[k];
            if (first || w->special_next[k] < pos) {
                const uint8_t *p = memmem(s + pos, len - pos, tr->specials[k], kl);
                w->special_next[k] = p ? (size_t)(p - s) : len;
            }
            size_t at = w->special_next[k];
            if (at < best || (at == best && at < len && kl > best_len)) {
                best = at;
                best_len = kl;
            }
        }
        first = 0;
        count_part(tr, w, s + pos, best - pos);
        pos = best + best_len;
    }
}

typedef struct {
    hlm_bpe_trainer *tr;
    const char *const *texts;
    const size_t *lens;
    const size_t *task_first; /* task i = documents task_first[i] .. task_first[i+1] */
} feed_job;

static void feed_task(void *ctx, size_t task, int thread)
{
    feed_job *job = ctx;
    worker *w = &job->tr->workers[thread];
    for (size_t d = job->task_first[task]; d < job->task_first[task + 1]; d++)
        count_document(job->tr, w, (const uint8_t *)job->texts[d], job->lens[d]);
}

/* ---- the public API ---- */

void hlm_bpe_train_opts_default(hlm_bpe_train_opts *o)
{
    memset(o, 0, sizeof *o);
    o->vocab_size = 32000;
    o->pattern = HLM_PATTERN_O200K;
    o->normalize = 1;
    o->n_threads = 0;
    o->min_frequency = 2;
}

void hlm_bpe_trainer_free(hlm_bpe_trainer *t)
{
    if (!t) return;
    for (size_t i = 0; i < t->opts.n_specials; i++) free(t->specials ? t->specials[i] : NULL);
    free(t->specials);
    free(t->special_len);
    table_free(&t->table);
    for (int i = 1; t->worker_tables && i < t->n_threads; i++) table_free(&t->worker_tables[i]);
    free(t->worker_tables);
    for (int i = 0; t->workers && i < t->n_threads; i++) {
        hlm_buf_free(&t->workers[i].nfc);
        free(t->workers[i].special_next);
    }
    free(t->workers);
    free(t);
}

hlm_status hlm_bpe_trainer_new(const hlm_bpe_train_opts *opts, hlm_bpe_trainer **out, hlm_error *err)
{
    *out = NULL;
    if ((unsigned)opts->pattern >= HLM_PATTERN_COUNT)
        return hlm_errorf(err, HLM_ERR_INVALID, "bpe train: pattern %d is not gpt2, cl100k or o200k",
                          (int)opts->pattern);
    for (size_t i = 0; i < opts->n_specials; i++) {
        if (!opts->specials[i] || !opts->specials[i][0])
            return hlm_errorf(err, HLM_ERR_INVALID, "bpe train: special token %zu is empty", i + 1);
        for (size_t j = 0; j < i; j++)
            if (!strcmp(opts->specials[i], opts->specials[j]))
                return hlm_errorf(err, HLM_ERR_INVALID, "bpe train: special token '%s' is given twice",
                                  opts->specials[i]);
    }
    uint64_t min_vocab = 256 + (uint64_t)opts->n_specials + 1;
    if (opts->vocab_size < min_vocab)
        return hlm_errorf(err, HLM_ERR_INVALID,
                          "bpe train: vocab size %u is too small: the minimum is %llu (256 bytes + %zu special "
                          "tokens + at least 1 merge)",
                          opts->vocab_size, (unsigned long long)min_vocab, opts->n_specials);
    if (opts->vocab_size > MAX_VOCAB)
        return hlm_errorf(err, HLM_ERR_INVALID, "bpe train: vocab size %u is too large: the maximum is %u",
                          opts->vocab_size, MAX_VOCAB);
    hlm_bpe_trainer *t = calloc(1, sizeof *t);
    if (!t) return hlm_errorf(err, HLM_ERR_NOMEM, "bpe train: out of memory");
    t->opts = *opts;
    t->n_threads = opts->n_threads > 0 ? opts->n_threads : hlm_default_threads();
    t->specials = calloc(opts->n_specials + 1, sizeof *t->specials);
    t->special_len = calloc(opts->n_specials + 1, sizeof *t->special_len);
    t->workers = calloc((size_t)t->n_threads, sizeof *t->workers);
    t->worker_tables = calloc((size_t)t->n_threads, sizeof *t->worker_tables);
    int ok = t->specials && t->special_len && t->workers && t->worker_tables;
    for (size_t i = 0; ok && i < opts->n_specials; i++) {
        ok = (t->specials[i] = strdup(opts->specials[i])) != NULL;
        if (ok) t->special_len[i] = strlen(opts->specials[i]);
    }
    for (int i = 0; ok && i < t->n_threads; i++) {
        t->workers[i].table = i ? &t->worker_tables[i] : &t->table;
        ok = (t->workers[i].special_next = calloc(opts->n_specials + 1, sizeof(size_t))) != NULL;
    }
    t->opts.specials = (const char *const *)t->specials;
    if (!ok) {
        hlm_bpe_trainer_free(t);
        return hlm_errorf(err, HLM_ERR_NOMEM, "bpe train: out of memory");
    }
    *out = t;
    return HLM_OK;
}

hlm_status hlm_bpe_trainer_feed(hlm_bpe_trainer *t, const char *const *texts, const size_t *lens, size_t n,
                                hlm_error *err)
{
    if (t->finished) return hlm_errorf(err, HLM_ERR_INVALID, "bpe train: feed after finish");
    if (!n) return HLM_OK;
    uint64_t bytes = 0;
    for (size_t i = 0; i < n; i++) bytes += lens[i];
    /* Tasks: at least ~16 per thread so that uneven documents balance, at least TASK_BYTES each. */
    size_t target = bytes / ((size_t)t->n_threads * 16);
    if (target < TASK_BYTES) target = TASK_BYTES;
    size_t *first = malloc((n + 1) * sizeof *first);
    if (!first) return hlm_errorf(err, HLM_ERR_NOMEM, "bpe train: out of memory");
    size_t n_tasks = 0, acc = 0;
    for (size_t i = 0; i < n; i++) {
        if (acc == 0) first[n_tasks++] = i;
        acc += lens[i] + 1;
        if (acc >= target) acc = 0;
    }
    first[n_tasks] = n;
    feed_job job = {t, texts, lens, first};
    hlm_status st = hlm_parallel_for(n_tasks, t->n_threads, feed_task, &job, err);
    free(first);
    int nomem = 0;
    for (int i = 0; i < t->n_threads; i++) {
        worker *w = &t->workers[i];
        t->n_pieces += w->n_pieces;
        w->n_pieces = 0;
        nomem |= w->nomem | w->table->nomem;
        if (i > 0 && w->table->n) {
            table_merge_into(&t->table, w->table);
            table_clear(w->table);
        }
    }
    nomem |= t->table.nomem;
    if (st) return st;
    if (nomem) return hlm_errorf(err, HLM_ERR_NOMEM, "bpe train: out of memory counting pre-tokens");
    t->n_docs += n;
    t->n_bytes += bytes;
    return HLM_OK;
}

hlm_status hlm_bpe_trainer_finish(hlm_bpe_trainer *t, hlm_tokenizer **out, hlm_error *err)
{
    *out = NULL;
    if (t->finished) return hlm_errorf(err, HLM_ERR_INVALID, "bpe train: finish called twice");
    t->finished = 1;
    piece_table *pt = &t->table;
    size_t n_words = pt->n;
    t->n_distinct = n_words;
    HLM_DEBUG("bpe train: %llu documents, %llu bytes, %llu pre-tokens, %zu distinct of 2+ bytes",
             (unsigned long long)t->n_docs, (unsigned long long)t->n_bytes, (unsigned long long)t->n_pieces,
             n_words);
    if (!n_words)
        return hlm_errorf(err, HLM_ERR_INVALID,
                          "bpe train: nothing to learn: the input (%llu documents, %llu bytes) has no pre-token of "
                          "two or more bytes",
                          (unsigned long long)t->n_docs, (unsigned long long)t->n_bytes);
    /* Words as symbol arrays: byte ids are GPT-2 ranks (ids 0..255 of the tokenizer). */
    int rank[256];
    for (int b = 0; b < 256; b++) rank[b] = hlm_bytelevel_rank_of_byte((uint8_t)b);
    size_t max_merges = t->opts.vocab_size - 256 - t->opts.n_specials;
    uint32_t (*merges)[2] = malloc(max_merges * sizeof *merges);
    hlm_bpe_words words = {0};
    /* the table stores [4-byte length][bytes] per piece, a word [3 values][one per byte] */
    size_t n_values = pt->bytes.len - n_words;
    int ok = merges && (words.data = malloc(n_values * sizeof *words.data));
    if (ok) words.cap = n_values;
    for (size_t i = 0; ok && i < pt->n_slots; i++) {
        const piece_slot *s = &pt->slots[i];
        if (!s->count) continue;
        size_t len;
        const uint8_t *p = piece_at(pt, s->ref, &len);
        uint32_t *sym = hlm_bpe_words_push(&words, len, s->count);
        if (!(ok = sym != NULL)) break;
        for (size_t k = 0; k < len; k++) sym[k] = (uint32_t)rank[p[k]];
    }
    table_free(pt); /* the words replace the table: lower peak memory while learning */
    if (!ok) {
        free(merges);
        hlm_bpe_words_free(&words);
        return hlm_errorf(err, HLM_ERR_NOMEM, "bpe train: out of memory (or over 4 G symbols) for %zu distinct pre-tokens",
                          n_words);
    }

    size_t n_merges = 0;
    double t0 = hlm_now_s();
    HLM_DEBUG("bpe train: %zu symbols in %zu words; peak RSS so far %.1f MB", words.len - 3 * n_words, n_words,
              (double)hlm_peak_rss_bytes() / 1e6);
    hlm_status st = hlm_bpe_learn_merges(&words, max_merges, t->opts.min_frequency, 1, merges, &n_merges, err);
    hlm_bpe_words_free(&words);
    t->n_merges = n_merges;
    t->learn_s = hlm_now_s() - t0;
    if (!st && !n_merges)
        st = hlm_errorf(err, HLM_ERR_INVALID,
                        "bpe train: nothing to learn: no pair of bytes is seen %llu times (the minimum frequency) "
                        "in %llu documents, %llu bytes",
                        (unsigned long long)(t->opts.min_frequency ? t->opts.min_frequency : 1),
                        (unsigned long long)t->n_docs,
                        (unsigned long long)t->n_bytes);
    if (!st) {
        HLM_DEBUG("bpe train: learned %zu merges in %.2f s; peak RSS so far %.1f MB", n_merges, t->learn_s,
                  (double)hlm_peak_rss_bytes() / 1e6);
        if (n_merges < max_merges)
            HLM_WARN("bpe train: only %zu of %zu merges reached min frequency %llu: vocab size %zu instead of %u",
                     n_merges, max_merges, (unsigned long long)t->opts.min_frequency,
                     256 + n_merges + t->opts.n_specials, t->opts.vocab_size);
        st = hlm_tokenizer_from_merges(t->opts.pattern, t->opts.normalize, (const uint32_t(*)[2])merges, n_merges,
                                       t->opts.specials, t->opts.n_specials, out, err);
    }
    free(merges);
    return st;
}

void hlm_bpe_trainer_stats(const hlm_bpe_trainer *t, hlm_bpe_train_stats *out)
{
    out->n_docs = t->n_docs;
    out->n_bytes = t->n_bytes;
    out->n_pieces = t->n_pieces;
    out->n_distinct = t->n_distinct;
    out->n_merges = t->n_merges;
    out->learn_s = t->learn_s;
}
