/* BPE merge learning (Sennrich et al. 2016, "Neural Machine Translation of Rare Words with Subword
 * Units", section 3.2) with incremental pair counts: a merge touches only the words that contain
 * its pair, and a max-heap with lazy deletion picks the next pair.
 *
 * Invariants between two merges:
 *  - count[p] is exactly the count that bpe_train_internal.h defines, for the current words.
 *  - pid[i] of a word is the id of its pair (s[i], s[i+1]), so a merge finds its occurrences and
 *    the pairs it destroys without any look-up.
 *  - A merge creates adjacencies only next to its new symbol c, so every pair whose count grows is
 *    (x, c) or (c, y), created by this very merge; two arrays indexed by x and y find them, and
 *    no global pair table is needed. The count of an existing pair can only fall. Hence one heap
 *    entry per live pair, pushed when the merge that creates it ends, always holds a count >= the
 *    current one; an entry popped with a stale count is pushed again with the current count, and
 *    the first entry popped with a fresh count is the true maximum.
 *  - For the same reason the word list of a pair (the words containing it, in increasing order,
 *    without repeats, perhaps with words that lost it since) is written once, when the merge that
 *    creates the pair ends, as one contiguous run of a shared arena: no per-pair allocation.
 *  - A pair whose count is below the threshold when it is created can never reach it: it keeps a
 *    count (its neighbours' updates reach it through pid) but gets neither a list nor a heap
 *    entry.
 *
 * Cost per merge: one pass over the words that contain the pair (prefetched: each is one random
 * read) and O(1) per occurrence. Memory: the words (4 bytes per symbol + 12 per word), one pair
 * id per symbol, 28 bytes per pair, 24 per heap entry, and the lists (4 bytes per entry, about
 * one entry per symbol at the start). */
#include <stdlib.h>
#include <string.h>

#include "hyperlm/log.h"
#include "hyperlm/progress.h"
#include "tokenizer/bpe_train_internal.h"

#define NONE UINT32_MAX
/* Words ahead in a list whose symbols and pair ids are prefetched. */
#define PREFETCH_AHEAD 8

typedef struct {
    uint64_t count, key; /* key: left << 32 | right, the tie-break */
    uint32_t pair;
} heap_entry;

typedef struct {
    uint32_t *words; /* hlm_bpe_words.data: a word id is the offset of its header */
    uint32_t *pid;   /* same offsets: pid[w + 3 + i] is the pair (s[i], s[i+1]) of word w */
    uint64_t thr;

    /* pairs, by id (ids are given in creation order) */
    uint64_t *key, *count;
    size_t *list_off;
    uint32_t *list_len;
    size_t n_pairs, cap_pairs;
    size_t first_new;    /* first pair id created by the current merge */
    uint32_t *last_word; /* per pair created by the current merge: the last word noted for it */
    size_t cap_last;

    /* during a merge creating c: new_left[x] = id of (x, c), new_right[y] = id of (c, y) */
    uint32_t *new_left, *new_right;

    /* word lists of all pairs */
    uint32_t *arena;
    size_t arena_len, arena_cap;
    size_t dead; /* entries of dropped lists */

    /* (pair, word) for each pair that a word gains during the current merge */
    uint32_t *inc_pair, *inc_word;
    size_t n_inc, cap_inc_pair, cap_inc_word;
    uint32_t *fill; /* per new pair, for the counting sort of inc into lists */
    size_t cap_fill;

    heap_entry *heap;
    size_t heap_len, heap_cap;

    int nomem;
} learner;

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap) return 1;
    size_t c = *cap ? *cap : 1024;
    while (c < need) c *= 2;
    void *q = realloc(*p, c * elem);
    if (!q) return 0;
    *p = q;
    *cap = c;
    return 1;
}

static uint32_t add_pair(learner *L, uint64_t key)
{
    if (L->n_pairs >= NONE - 1) return NONE;
    if (L->n_pairs == L->cap_pairs) {
        size_t c = L->cap_pairs ? L->cap_pairs + L->cap_pairs / 2 : 4096;
        uint64_t *k = realloc(L->key, c * sizeof *k);
        if (k) L->key = k;
        uint64_t *n = realloc(L->count, c * sizeof *n);
        if (n) L->count = n;
        size_t *o = realloc(L->list_off, c * sizeof *o);
        if (o) L->list_off = o;
        uint32_t *l = realloc(L->list_len, c * sizeof *l);
        if (l) L->list_len = l;
        if (!k || !n || !o || !l) return NONE;
        L->cap_pairs = c;
    }
    if (!grow((void **)&L->last_word, &L->cap_last, L->n_pairs - L->first_new + 1, sizeof *L->last_word))
        return NONE;
    uint32_t id = (uint32_t)L->n_pairs++;
    L->key[id] = key;
    L->count[id] = 0;
    L->list_off[id] = 0;
    L->list_len[id] = 0;
    L->last_word[id - L->first_new] = NONE;
    return id;
}

/* Word w (frequency f) gains one adjacency of the pair found or created at *slot. Returns its
 * id, NONE when out of memory. */
static inline uint32_t gain(learner *L, uint32_t *slot, uint64_t key, uint64_t f, uint32_t w)
{
    uint32_t id = *slot;
    if (id == NONE && (id = *slot = add_pair(L, key)) == NONE) goto nomem;
    L->count[id] += f;
    if (L->last_word[id - L->first_new] == w) return id;
    L->last_word[id - L->first_new] = w;
    if (L->n_inc == L->cap_inc_pair || L->n_inc == L->cap_inc_word) {
        if (!grow((void **)&L->inc_pair, &L->cap_inc_pair, L->n_inc + 1, sizeof(uint32_t))) goto nomem;
        if (!grow((void **)&L->inc_word, &L->cap_inc_word, L->n_inc + 1, sizeof(uint32_t))) goto nomem;
    }
    L->inc_pair[L->n_inc] = id;
    L->inc_word[L->n_inc++] = w;
    return id;
nomem:
    L->nomem = 1;
    return NONE;
}

static inline int heap_before(const heap_entry *a, const heap_entry *b)
{
    return a->count > b->count || (a->count == b->count && a->key < b->key);
}

static int heap_push(learner *L, heap_entry e)
{
    if (!grow((void **)&L->heap, &L->heap_cap, L->heap_len + 1, sizeof e)) return 0;
    size_t i = L->heap_len++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!heap_before(&e, &L->heap[parent])) break;
        L->heap[i] = L->heap[parent];
        i = parent;
    }
    L->heap[i] = e;
    return 1;
}

static heap_entry heap_pop(learner *L)
{
    heap_entry top = L->heap[0], last = L->heap[--L->heap_len];
    size_t n = L->heap_len, i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && heap_before(&L->heap[c + 1], &L->heap[c])) c++;
        if (!heap_before(&L->heap[c], &last)) break;
        L->heap[i] = L->heap[c];
        i = c;
    }
    if (n) L->heap[i] = last;
    return top;
}

/* Moves the live lists to the front of the arena. Runs lie in the arena in pair-id order, so
 * moving them down in that order never overwrites a run not yet moved. (Lists also hold stale
 * words, which lost their pair to a later merge; most entries are stale after the first merges,
 * but dropping them costs a random read of every word listed, more than the merges would spend
 * skipping them: measured 30% slower on 60 MB of Korean for 6% less memory.) */
static void compact_arena(learner *L)
{
    size_t pos = 0;
    for (size_t p = 0; p < L->n_pairs; p++) {
        if (!L->list_len[p]) continue;
        memmove(L->arena + pos, L->arena + L->list_off[p], L->list_len[p] * sizeof *L->arena);
        L->list_off[p] = pos;
        pos += L->list_len[p];
    }
    L->arena_len = pos;
    L->dead = 0;
}

/* Room for `extra` more list entries. Lists of merged pairs and of pairs that fell below the
 * threshold are dead: once they are a quarter of the arena they are reclaimed rather than grown
 * (each compaction moves the live entries; the arena grows by half between two of them). */
static int arena_reserve(learner *L, size_t extra)
{
    size_t need = L->arena_len + extra;
    if (need <= L->arena_cap) return 1;
    if (L->dead * 4 >= L->arena_len) {
        compact_arena(L);
        need = L->arena_len + extra;
        if (need <= L->arena_cap) return 1;
    }
    size_t cap = L->arena_cap + L->arena_cap / 2;
    if (cap < need) cap = need;
    uint32_t *a = realloc(L->arena, cap * sizeof *a);
    if (!a) return 0;
    L->arena = a;
    L->arena_cap = cap;
    return 1;
}

/* Turns the (pair, word) notes of the pairs created since id `first` into their lists (a
 * counting sort that keeps word order) and pushes the pairs that reach the threshold. */
static int publish_new_pairs(learner *L, size_t first)
{
    size_t m = L->n_pairs - first;
    if (!grow((void **)&L->fill, &L->cap_fill, m + 1, sizeof *L->fill)) return 0;
    memset(L->fill, 0, m * sizeof *L->fill);
    size_t total = 0;
    for (size_t i = 0; i < L->n_inc; i++) {
        uint32_t p = L->inc_pair[i];
        if (L->count[p] >= L->thr) {
            L->fill[p - first]++;
            total++;
        }
    }
    if (!arena_reserve(L, total)) return 0;
    size_t pos = L->arena_len;
    for (size_t j = 0; j < m; j++) {
        L->list_off[first + j] = pos;
        pos += L->fill[j];
    }
    for (size_t i = 0; i < L->n_inc; i++) {
        uint32_t p = L->inc_pair[i];
        if (L->count[p] >= L->thr) L->arena[L->list_off[p] + L->list_len[p]++] = L->inc_word[i];
    }
    L->arena_len = pos;
    L->n_inc = 0;
    for (size_t p = first; p < L->n_pairs; p++) {
        if (L->count[p] < L->thr) continue;
        heap_entry e = {L->count[p], L->key[p], (uint32_t)p};
        if (!heap_push(L, e)) return 0;
    }
    return 1;
}

/* Rewrites word w with pair ab = (a, b) -> c in place, left to right. For each occurrence the
 * adjacencies it destroys are (prev, a), (a, b) and (b, next), and the ones it creates are
 * (prev', c) and (c, next'), where prev' is the symbol already written (perhaps a c from the
 * occurrence just before) and next' the symbol written after it. When two occurrences touch,
 * (b, a) is lost once (as the right side of the first) and (c, c) gained once (as the left side
 * of the second). Reads at r, r+1 and r+2 see old values: writes go to wr <= r. */
static void merge_word(learner *L, uint32_t w, uint32_t ab, uint32_t c)
{
    uint32_t *hdr = L->words + w, *s = hdr + 3, *p = L->pid + w + 3;
    size_t n = hdr[0], r = 0, wr;
    uint64_t f = hdr[1] | (uint64_t)hdr[2] << 32;
    int prev_is_c = 0;
    /* Skip the prefix without an occurrence: nothing changes there. */
    while (r + 1 < n && p[r] != ab) r++;
    if (r + 1 >= n) return; /* stale list entry: w lost the pair to an earlier merge */
    wr = r;
    while (r < n) {
        if (r + 1 < n && p[r] == ab) {
            if (r > 0 && !prev_is_c) L->count[p[r - 1]] -= f;
            L->count[ab] -= f;
            if (r + 2 < n) L->count[p[r + 1]] -= f;
            if (wr > 0) {
                uint32_t x = s[wr - 1];
                if ((p[wr - 1] = gain(L, &L->new_left[x], (uint64_t)x << 32 | c, f, w)) == NONE) return;
            }
            s[wr++] = c;
            prev_is_c = 1;
            r += 2;
        } else {
            uint32_t y = s[r];
            if (prev_is_c && (p[wr - 1] = gain(L, &L->new_right[y], (uint64_t)c << 32 | y, f, w)) == NONE) return;
            s[wr] = y;
            p[wr++] = p[r++]; /* (y, next): replaced by a gain if next starts an occurrence */
            prev_is_c = 0;
        }
    }
    hdr[0] = (uint32_t)wr;
}

static void learner_free(learner *L)
{
    free(L->pid);
    free(L->key);
    free(L->count);
    free(L->list_off);
    free(L->list_len);
    free(L->last_word);
    free(L->new_left);
    free(L->new_right);
    free(L->arena);
    free(L->inc_pair);
    free(L->inc_word);
    free(L->fill);
    free(L->heap);
}

uint32_t *hlm_bpe_words_push(hlm_bpe_words *w, size_t n, uint64_t freq)
{
    if (n > NONE - 3 || w->len + 3 + n >= NONE) return NULL;
    if (!grow((void **)&w->data, &w->cap, w->len + 3 + n, sizeof *w->data)) return NULL;
    uint32_t *hdr = w->data + w->len;
    hdr[0] = (uint32_t)n;
    hdr[1] = (uint32_t)freq;
    hdr[2] = (uint32_t)(freq >> 32);
    w->len += 3 + n;
    w->n_words++;
    return hdr + 3;
}

void hlm_bpe_words_free(hlm_bpe_words *w)
{
    free(w->data);
    memset(w, 0, sizeof *w);
}

/* Counts the pairs of the words as they are given (all symbols bytes) and builds their lists:
 * one pass to count and size the lists, one to fill them, so the arena is allocated exactly. */
static hlm_status count_initial_pairs(learner *L, const hlm_bpe_words *words, hlm_error *err)
{
    uint32_t *byte_pair = malloc(256 * 256 * sizeof *byte_pair);
    if (!byte_pair) return hlm_errorf(err, HLM_ERR_NOMEM, "bpe train: out of memory");
    for (size_t i = 0; i < 256 * 256; i++) byte_pair[i] = NONE;
    L->first_new = 0;
    for (size_t w = 0; w < words->len; w += 3 + (size_t)words->data[w]) {
        const uint32_t *hdr = words->data + w, *s = hdr + 3;
        uint32_t *p = L->pid + w + 3;
        uint64_t f = hdr[1] | (uint64_t)hdr[2] << 32;
        for (size_t i = 0; i < hdr[0]; i++) {
            if (s[i] > 255) {
                free(byte_pair);
                return hlm_errorf(err, HLM_ERR_INVALID, "bpe train: word at %zu: symbol %u is not a byte", w, s[i]);
            }
            p[i] = NONE;
            if (i + 1 == hdr[0] || s[i + 1] > 255) continue;
            uint32_t *slot = &byte_pair[s[i] << 8 | s[i + 1]], id = *slot;
            if (id == NONE && (id = *slot = add_pair(L, (uint64_t)s[i] << 32 | s[i + 1])) == NONE) {
                free(byte_pair);
                return hlm_errorf(err, HLM_ERR_NOMEM, "bpe train: out of memory");
            }
            p[i] = id;
            L->count[id] += f;
            if (L->last_word[id] != w) {
                L->last_word[id] = (uint32_t)w;
                L->list_len[id]++;
            }
        }
    }
    free(byte_pair);
    size_t total = 0;
    for (size_t id = 0; id < L->n_pairs; id++) {
        if (L->count[id] < L->thr) L->list_len[id] = 0;
        L->list_off[id] = total;
        total += L->list_len[id];
        L->list_len[id] = 0;
        L->last_word[id] = NONE;
    }
    L->arena_cap = total + total / 4 + 1024;
    if (!(L->arena = malloc(L->arena_cap * sizeof *L->arena)))
        return hlm_errorf(err, HLM_ERR_NOMEM, "bpe train: out of memory");
    for (size_t w = 0; w < words->len; w += 3 + (size_t)words->data[w]) {
        const uint32_t *p = L->pid + w + 3;
        for (size_t i = 0; i + 1 < words->data[w]; i++) {
            uint32_t id = p[i];
            if (id == NONE || L->count[id] < L->thr || L->last_word[id] == w) continue;
            L->last_word[id] = (uint32_t)w;
            L->arena[L->list_off[id] + L->list_len[id]++] = (uint32_t)w;
        }
    }
    L->arena_len = total;
    for (size_t id = 0; id < L->n_pairs; id++) {
        if (L->count[id] < L->thr) continue;
        heap_entry e = {L->count[id], L->key[id], (uint32_t)id};
        if (!heap_push(L, e)) return hlm_errorf(err, HLM_ERR_NOMEM, "bpe train: out of memory");
    }
    return HLM_OK;
}

hlm_status hlm_bpe_learn_merges(hlm_bpe_words *words, size_t max_merges, uint64_t min_frequency,
                                int show_progress, uint32_t (*merges)[2], size_t *n_merges, hlm_error *err)
{
    *n_merges = 0;
    if (max_merges > (size_t)(NONE - 1 - 256))
        return hlm_errorf(err, HLM_ERR_RANGE, "bpe train: %zu merges do not fit 32-bit ids", max_merges);
    learner L = {0};
    L.words = words->data;
    L.thr = min_frequency ? min_frequency : 1;
    size_t n_ids = 256 + max_merges;
    L.pid = malloc((words->len + 1) * sizeof *L.pid);
    L.new_left = malloc(n_ids * sizeof *L.new_left);
    L.new_right = malloc(n_ids * sizeof *L.new_right);
    if (!L.pid || !L.new_left || !L.new_right) {
        learner_free(&L);
        return hlm_errorf(err, HLM_ERR_NOMEM, "bpe train: out of memory");
    }
    memset(L.new_left, 0xff, n_ids * sizeof *L.new_left);
    memset(L.new_right, 0xff, n_ids * sizeof *L.new_right);
    hlm_status st = count_initial_pairs(&L, words, err);
    if (st) {
        learner_free(&L);
        return st;
    }

    hlm_progress pg;
    if (show_progress) hlm_progress_start(&pg, "merges", max_merges, "merges");
    size_t nm = 0;
    int ok = 1;
    while (ok && nm < max_merges && L.heap_len) {
        heap_entry e = heap_pop(&L);
        uint64_t now = L.count[e.pair];
        if (now != e.count) {
            if (now >= L.thr) {
                e.count = now;
                ok = heap_push(&L, e);
            } else {
                L.dead += L.list_len[e.pair];
                L.list_len[e.pair] = 0;
            }
            continue;
        }
        uint32_t c = 256 + (uint32_t)nm;
        merges[nm][0] = (uint32_t)(e.key >> 32);
        merges[nm][1] = (uint32_t)e.key;
        nm++;
        size_t first_new = L.first_new = L.n_pairs, n = L.list_len[e.pair];
        const uint32_t *list = L.arena + L.list_off[e.pair]; /* the arena does not move until publish */
        for (size_t i = 0; i < n && !L.nomem; i++) {
            if (i + PREFETCH_AHEAD < n) {
                uint32_t ahead = list[i + PREFETCH_AHEAD];
                __builtin_prefetch(L.words + ahead);
                __builtin_prefetch(L.pid + ahead + 3);
            }
            merge_word(&L, list[i], e.pair, c);
        }
        L.dead += n;
        L.list_len[e.pair] = 0;
        for (size_t p = first_new; p < L.n_pairs; p++) { /* the slots of c's pairs are free again */
            uint32_t left = (uint32_t)(L.key[p] >> 32), right = (uint32_t)L.key[p];
            if (right == c) L.new_left[left] = NONE;
            else L.new_right[right] = NONE;
        }
        ok = !L.nomem && publish_new_pairs(&L, first_new);
        if (show_progress) hlm_progress_update(&pg, nm);
    }
    if (show_progress) hlm_progress_finish(&pg);
    HLM_DEBUG("bpe learn: %zu pairs (capacity %zu), lists %zu of %zu entries, heap capacity %zu, notes %zu",
              L.n_pairs, L.cap_pairs, L.arena_len, L.arena_cap, L.heap_cap, L.cap_inc_pair);
    *n_merges = nm;
    learner_free(&L);
    if (!ok) return hlm_errorf(err, HLM_ERR_NOMEM, "bpe train: out of memory after %zu merges", nm);
    return HLM_OK;
}
