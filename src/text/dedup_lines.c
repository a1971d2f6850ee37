/* Line-level boilerplate counts (CCNet, Wenzek et al. 2020, section 3.3): how many documents
 * contain each normalized line, and removal of the lines that too many documents share.
 *
 * Line normalization (the key's input): letters lowercased (one code point to one), every number
 * character (\p{N}) replaced by '0', runs of whitespace made one space, and everything that is
 * not a letter, number or mark (\p{L}\p{N}\p{M}) stripped from both ends. Punctuation inside the
 * line is kept. The key is XXH3-64 of that, with 0 replaced by 1 (0 marks empty slots).
 *
 * Invariants:
 *  - keys[]/counts[] are an open-addressing table (linear probing, power-of-two capacity, at most
 *    70% full); capacity only grows, up to max_cap slots, which max_bytes allows. When the table
 *    is at max_cap and 70% full, new keys are dropped (and counted) while present keys keep
 *    counting. Counts saturate at UINT32_MAX.
 *  - The serialized form ("HLMLINES", version 1, little-endian):
 *        0  magic[8]   8  u32 version   12 u32 min_line_chars   16 u64 entries   24 u64 dropped
 *        32 entries x {u64 key, u32 count}   then u64 XXH3-64 of every byte before it.
 *    Load validates all of it before adding anything, so a rejected input leaves c unchanged. */
#include <xxhash.h>

#include <stdlib.h>
#include <string.h>

#include "text/dedup.h"
#include "text/dedup_internal.h"

#define LC_MAGIC "HLMLINES"
enum { LC_VERSION = 1, LC_HEADER = 32, LC_ENTRY = 12, LC_TRAILER = 8, LC_MIN_SLOTS = 16 };
enum { SLOT_BYTES = sizeof(uint64_t) + sizeof(uint32_t) };
/* Lines up to this many bytes are normalized on the stack. */
enum { LINE_STACK = 2048 };

struct hlm_line_counts {
    uint64_t *keys; /* 0 = empty */
    uint32_t *counts;
    size_t cap, max_cap, entries;
    size_t min_line_chars;
    uint64_t dropped;
    hlm_buf scratch; /* one document's keys, for hlm_line_counts_add */
};

static inline uint64_t nonzero(uint64_t k) { return k ? k : 1; }

static inline int is_lnm(uint8_t cls) { return (cls & (HLM_CC_LETTER | HLM_CC_NUMBER | HLM_CC_MARK)) != 0; }

/* Normalizes the line s[0..n) into o, which has room for n * 3 / 2 + 8 bytes; returns the
 * normalized length and sets *chars to its number of code points. */
static size_t line_normalize(const uint8_t *s, size_t n, uint8_t *o, size_t *chars, const hlm_class_table **t)
{
    size_t w = 0, keep = 0, nch = 0, keep_chars = 0, i = 0;
    int started = 0, pending = 0;
    while (i < n) {
        uint32_t cp = s[i];
        size_t k = 1;
        uint8_t cls;
        if (cp < 0x80) {
            cls = hlm_ascii_class[cp];
        } else {
            k = hlm_utf8_decode_inline(s + i, n - i, &cp);
            if (cp == HLM_CP_INVALID) {
                cls = 0;
            } else {
                if (!*t) *t = hlm_class_table_get();
                cls = hlm_class_lookup(*t, cp);
            }
        }
        if (cls & HLM_CC_SPACE) {
            pending = started;
            i += k;
            continue;
        }
        if (!started && !is_lnm(cls)) {
            i += k;
            continue;
        }
        started = 1;
        if (pending) o[w++] = ' ', nch++, pending = 0;
        if (cls & HLM_CC_NUMBER) {
            o[w++] = '0';
        } else if (cp < 0x80) {
            o[w++] = (uint8_t)(cp - 'A' < 26u ? cp + 32 : cp);
        } else if (cp == HLM_CP_INVALID) {
            o[w++] = s[i];
        } else {
            w += hlm_utf8_encode_inline(hlm_dedup_fold(cp, cls), o + w);
        }
        nch++;
        if (is_lnm(cls)) keep = w, keep_chars = nch;
        i += k;
    }
    *chars = keep_chars;
    return keep;
}

/* Calls fn(ctx, line, line_len, key, countable) for each line of text ('\n' separated; the
 * line excludes the '\n'). Returns fn's first error. */
typedef hlm_status (*line_fn)(void *ctx, const uint8_t *line, size_t n, uint64_t key, int countable,
                              hlm_error *err);

static hlm_status for_each_line(const uint8_t *text, size_t len, size_t min_line_chars, line_fn fn, void *ctx,
                                hlm_error *err)
{
    uint8_t stack[LINE_STACK * 3 / 2 + 8];
    uint8_t *heap = NULL;
    size_t heap_cap = 0;
    const hlm_class_table *t = NULL;
    hlm_status st = HLM_OK;
    size_t pos = 0;
    while (pos < len) {
        const uint8_t *nl = memchr(text + pos, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - (text + pos)) : len - pos;
        uint8_t *o = stack;
        if (n > LINE_STACK) {
            size_t need = n / 2 * 3 + 8;
            if (need > heap_cap) {
                free(heap);
                heap = malloc(need);
                heap_cap = heap ? need : 0;
                if (!heap) {
                    st = hlm_errorf(err, HLM_ERR_NOMEM, "line dedup: cannot allocate %zu bytes for a line", need);
                    break;
                }
            }
            o = heap;
        }
        size_t chars;
        size_t w = line_normalize(text + pos, n, o, &chars, &t);
        int countable = chars >= min_line_chars && chars > 0;
        uint64_t key = countable ? nonzero(XXH3_64bits(o, w)) : 0;
        if ((st = fn(ctx, text + pos, n, key, countable, err)) != HLM_OK) break;
        pos += n + (nl != NULL);
    }
    free(heap);
    return st;
}

static hlm_status collect_key(void *ctx, const uint8_t *line, size_t n, uint64_t key, int countable, hlm_error *err)
{
    if (!countable) return HLM_OK;
    hlm_status st = hlm_buf_append(ctx, &key, sizeof key);
    return st ? hlm_errorf(err, st, "line dedup: out of memory for line keys") : HLM_OK;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

hlm_status hlm_line_keys(const uint8_t *text, size_t len, size_t min_line_chars, hlm_buf *keys_u64, hlm_error *err)
{
    if (keys_u64->len % sizeof(uint64_t))
        return hlm_errorf(err, HLM_ERR_INVALID, "line keys: buffer holds %zu bytes: expected a multiple of 8",
                          keys_u64->len);
    size_t start = keys_u64->len;
    hlm_status st = for_each_line(text, len, min_line_chars, collect_key, keys_u64, err);
    if (st) {
        keys_u64->len = start;
        return st;
    }
    if (keys_u64->len == start) return HLM_OK; /* data may still be NULL */
    uint64_t *k = (uint64_t *)(void *)(keys_u64->data + start);
    size_t n = (keys_u64->len - start) / sizeof *k, m = 0;
    if (n <= 32) { /* few lines: quadratic but allocation- and sort-free */
        for (size_t i = 0; i < n; i++) {
            size_t j = 0;
            while (j < m && k[j] != k[i]) j++;
            if (j == m) k[m++] = k[i];
        }
    } else {
        qsort(k, n, sizeof *k, cmp_u64);
        for (size_t i = 0; i < n; i++)
            if (!m || k[m - 1] != k[i]) k[m++] = k[i];
    }
    keys_u64->len = start + m * sizeof *k;
    return HLM_OK;
}

/* ---- the table ---- */

hlm_status hlm_line_counts_new(hlm_line_counts **out, size_t max_bytes, size_t min_line_chars, hlm_error *err)
{
    *out = NULL;
    size_t max_cap = LC_MIN_SLOTS;
    if (max_bytes / SLOT_BYTES < LC_MIN_SLOTS)
        return hlm_errorf(err, HLM_ERR_INVALID, "line counts: max_bytes %zu: expected at least %zu", max_bytes,
                          (size_t)LC_MIN_SLOTS * SLOT_BYTES);
    if (min_line_chars > UINT32_MAX)
        return hlm_errorf(err, HLM_ERR_INVALID, "line counts: min_line_chars %zu: expected at most %u",
                          min_line_chars, UINT32_MAX);
    while (max_cap <= max_bytes / SLOT_BYTES / 2) max_cap *= 2;
    hlm_line_counts *c = calloc(1, sizeof *c);
    if (!c) return hlm_errorf(err, HLM_ERR_NOMEM, "line counts: out of memory");
    c->max_cap = max_cap;
    c->cap = max_cap < 4096 ? max_cap : 4096;
    c->min_line_chars = min_line_chars;
    c->keys = calloc(c->cap, sizeof *c->keys);
    c->counts = calloc(c->cap, sizeof *c->counts);
    if (!c->keys || !c->counts) {
        hlm_line_counts_free(c);
        return hlm_errorf(err, HLM_ERR_NOMEM, "line counts: out of memory");
    }
    *out = c;
    return HLM_OK;
}

static size_t slot_of(const uint64_t *keys, size_t cap, uint64_t key)
{
    /* XXH3 keys are uniform in their low bits; keys from elsewhere get mixed anyway. */
    size_t i = (size_t)((key ^ (key >> 29)) * 0xBF58476D1CE4E5B9ull >> 20) & (cap - 1);
    while (keys[i] && keys[i] != key) i = (i + 1) & (cap - 1);
    return i;
}

static hlm_status table_grow(hlm_line_counts *c, hlm_error *err)
{
    size_t cap = c->cap * 2;
    uint64_t *keys = calloc(cap, sizeof *keys);
    uint32_t *counts = calloc(cap, sizeof *counts);
    if (!keys || !counts) {
        free(keys);
        free(counts);
        return hlm_errorf(err, HLM_ERR_NOMEM, "line counts: cannot grow to %zu slots", cap);
    }
    for (size_t i = 0; i < c->cap; i++) {
        if (!c->keys[i]) continue;
        size_t j = slot_of(keys, cap, c->keys[i]);
        keys[j] = c->keys[i];
        counts[j] = c->counts[i];
    }
    free(c->keys);
    free(c->counts);
    c->keys = keys;
    c->counts = counts;
    c->cap = cap;
    return HLM_OK;
}

static hlm_status add_count(hlm_line_counts *c, uint64_t key, uint32_t n, hlm_error *err)
{
    key = nonzero(key);
    size_t i = slot_of(c->keys, c->cap, key);
    if (!c->keys[i]) {
        if (c->entries + 1 > c->cap / 10 * 7) {
            if (c->cap >= c->max_cap) {
                c->dropped++;
                return HLM_OK;
            }
            hlm_status st = table_grow(c, err);
            if (st) return st;
            i = slot_of(c->keys, c->cap, key);
        }
        c->keys[i] = key;
        c->entries++;
    }
    c->counts[i] = c->counts[i] > UINT32_MAX - n ? UINT32_MAX : c->counts[i] + n;
    return HLM_OK;
}

hlm_status hlm_line_counts_add_keys(hlm_line_counts *c, const uint64_t *keys, size_t n, hlm_error *err)
{
    for (size_t i = 0; i < n; i++) {
        hlm_status st = add_count(c, keys[i], 1, err);
        if (st) return st;
    }
    return HLM_OK;
}

hlm_status hlm_line_counts_add(hlm_line_counts *c, const uint8_t *text, size_t len, hlm_error *err)
{
    c->scratch.len = 0;
    hlm_status st = hlm_line_keys(text, len, c->min_line_chars, &c->scratch, err);
    if (st) return st;
    return hlm_line_counts_add_keys(c, (const uint64_t *)(void *)c->scratch.data,
                                    c->scratch.len / sizeof(uint64_t), err);
}

hlm_status hlm_line_counts_merge(hlm_line_counts *dst, const hlm_line_counts *src, hlm_error *err)
{
    if (dst->min_line_chars != src->min_line_chars)
        return hlm_errorf(err, HLM_ERR_INVALID, "line counts merge: min_line_chars %zu and %zu: expected equal",
                          dst->min_line_chars, src->min_line_chars);
    for (size_t i = 0; i < src->cap; i++) {
        if (!src->keys[i]) continue;
        hlm_status st = add_count(dst, src->keys[i], src->counts[i], err);
        if (st) return st;
    }
    dst->dropped += src->dropped;
    return HLM_OK;
}

uint32_t hlm_line_counts_get(const hlm_line_counts *c, uint64_t key)
{
    key = nonzero(key);
    size_t i = slot_of(c->keys, c->cap, key);
    return c->keys[i] ? c->counts[i] : 0;
}

size_t hlm_line_counts_entries(const hlm_line_counts *c) { return c->entries; }

size_t hlm_line_counts_bytes(const hlm_line_counts *c) { return sizeof *c + c->cap * SLOT_BYTES + c->scratch.cap; }

uint64_t hlm_line_counts_dropped(const hlm_line_counts *c) { return c->dropped; }

hlm_status hlm_line_counts_save(const hlm_line_counts *c, hlm_buf *out, hlm_error *err)
{
    size_t start = out->len, total = LC_HEADER + c->entries * LC_ENTRY + LC_TRAILER;
    hlm_status st = hlm_buf_reserve(out, total);
    if (st) return hlm_errorf(err, st, "line counts: cannot allocate %zu bytes to save", total);
    uint8_t *o = out->data + start;
    memcpy(o, LC_MAGIC, 8);
    hlm_dedup_le32(o + 8, LC_VERSION);
    hlm_dedup_le32(o + 12, (uint32_t)c->min_line_chars);
    hlm_dedup_le64(o + 16, c->entries);
    hlm_dedup_le64(o + 24, c->dropped);
    uint8_t *e = o + LC_HEADER;
    for (size_t i = 0; i < c->cap; i++) {
        if (!c->keys[i]) continue;
        hlm_dedup_le64(e, c->keys[i]);
        hlm_dedup_le32(e + 8, c->counts[i]);
        e += LC_ENTRY;
    }
    hlm_dedup_le64(e, XXH3_64bits(o, (size_t)(e - o)));
    out->len = start + total;
    return HLM_OK;
}

hlm_status hlm_line_counts_load(hlm_line_counts *c, const uint8_t *data, size_t len, const char *name,
                                hlm_error *err)
{
    if (!name) name = "line counts";
    if (len < LC_HEADER + LC_TRAILER)
        return hlm_errorf(err, HLM_ERR_FORMAT, "%s: %zu bytes: expected at least %d (header and checksum)", name,
                          len, LC_HEADER + LC_TRAILER);
    if (memcmp(data, LC_MAGIC, 8))
        return hlm_errorf(err, HLM_ERR_FORMAT, "%s: bad magic: expected \"%s\" (line counts)", name, LC_MAGIC);
    uint32_t version = hlm_dedup_rd32(data + 8), min_chars = hlm_dedup_rd32(data + 12);
    uint64_t entries = hlm_dedup_rd64(data + 16), dropped = hlm_dedup_rd64(data + 24);
    if (version != LC_VERSION)
        return hlm_errorf(err, HLM_ERR_FORMAT, "%s: version %u: expected %d", name, version, LC_VERSION);
    if (min_chars != c->min_line_chars)
        return hlm_errorf(err, HLM_ERR_INVALID, "%s: min_line_chars %u: expected %zu (this run's setting)", name,
                          min_chars, c->min_line_chars);
    size_t body = len - LC_HEADER - LC_TRAILER;
    if (entries != body / LC_ENTRY || body % LC_ENTRY)
        return hlm_errorf(err, HLM_ERR_FORMAT, "%s: %zu bytes: expected %d + %llu x %d + %d for %llu entries",
                          name, len, LC_HEADER, (unsigned long long)entries, LC_ENTRY, LC_TRAILER,
                          (unsigned long long)entries);
    uint64_t sum = hlm_dedup_rd64(data + len - LC_TRAILER);
    if (sum != XXH3_64bits(data, len - LC_TRAILER))
        return hlm_errorf(err, HLM_ERR_FORMAT, "%s: checksum mismatch: the file is corrupt or truncated", name);
    const uint8_t *e = data + LC_HEADER;
    for (uint64_t i = 0; i < entries; i++, e += LC_ENTRY) {
        if (!hlm_dedup_rd64(e) || !hlm_dedup_rd32(e + 8))
            return hlm_errorf(err, HLM_ERR_FORMAT, "%s: entry %llu: expected a nonzero key and count", name,
                              (unsigned long long)i);
    }
    e = data + LC_HEADER;
    for (uint64_t i = 0; i < entries; i++, e += LC_ENTRY) {
        hlm_status st = add_count(c, hlm_dedup_rd64(e), hlm_dedup_rd32(e + 8), err);
        if (st) {
            hlm_error_prefix(err, "%s: ", name);
            return st;
        }
    }
    c->dropped = dropped > UINT64_MAX - c->dropped ? UINT64_MAX : c->dropped + dropped;
    return HLM_OK;
}

void hlm_line_counts_free(hlm_line_counts *c)
{
    if (!c) return;
    free(c->keys);
    free(c->counts);
    hlm_buf_free(&c->scratch);
    free(c);
}

/* ---- removal ---- */

typedef struct apply_ctx {
    const hlm_line_counts *c;
    uint32_t min_docs;
    hlm_buf *out;
    size_t removed;
    const uint8_t *end; /* end of the text: a line followed by '\n' keeps it */
} apply_ctx;

static hlm_status apply_line(void *ctx, const uint8_t *line, size_t n, uint64_t key, int countable, hlm_error *err)
{
    apply_ctx *a = ctx;
    if (countable && hlm_line_counts_get(a->c, key) >= a->min_docs) {
        a->removed++;
        return HLM_OK;
    }
    size_t w = n + (line + n < a->end); /* reserved up front: cannot fail */
    memcpy(a->out->data + a->out->len, line, w);
    a->out->len += w;
    return HLM_OK;
}

hlm_status hlm_line_dedup_apply(const hlm_line_counts *c, uint32_t min_docs, const uint8_t *text, size_t len,
                                hlm_buf *out, size_t *removed, hlm_error *err)
{
    out->len = 0;
    *removed = 0;
    if (min_docs < 1) return hlm_errorf(err, HLM_ERR_INVALID, "line dedup: min_docs 0: expected at least 1");
    hlm_status st = hlm_buf_reserve(out, len + 1);
    if (st) return hlm_errorf(err, st, "line dedup: cannot allocate %zu bytes", len + 1);
    apply_ctx a = {c, min_docs, out, 0, text + len};
    st = for_each_line(text, len, c->min_line_chars, apply_line, &a, err);
    *removed = a.removed;
    return st;
}
