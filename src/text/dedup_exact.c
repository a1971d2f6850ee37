/* Exact duplicate keys: XXH3-128 of a case- and whitespace-normalized form, and a set of them.
 *
 * Invariants:
 *  - The key hashes the normalized bytes as one stream: short documents are hashed in one call,
 *    long ones through the streaming state; XXH3 gives the same value either way.
 *  - Ill-formed UTF-8 bytes are hashed as they are (they are neither case nor whitespace).
 *  - Keyset: linear probing on key.lo (already uniformly mixed by XXH3); the all-zero key, which
 *    marks empty slots, is kept in a flag instead. At most 70% of slots are used. */
#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include <stdlib.h>
#include <string.h>

#include "text/dedup.h"
#include "text/dedup_internal.h"

enum { SINK_BYTES = 4096 };

typedef struct key_sink {
    XXH3_state_t state;
    int streaming;
    size_t n;
    uint8_t buf[SINK_BYTES];
} key_sink;

static void sink_flush(key_sink *k)
{
    if (!k->streaming) {
        XXH3_128bits_reset(&k->state);
        k->streaming = 1;
    }
    XXH3_128bits_update(&k->state, k->buf, k->n);
    k->n = 0;
}

/* Room for one more code point (4 bytes) plus a separating space. */
static inline uint8_t *sink_room(key_sink *k)
{
    if (k->n + 5 > SINK_BYTES) sink_flush(k);
    return k->buf + k->n;
}

hlm_key128 hlm_dedup_exact_key(const uint8_t *text, size_t len)
{
    key_sink k;
    k.streaming = 0;
    k.n = 0;
    const hlm_class_table *t = NULL;
    int have_out = 0, pending_space = 0;
    size_t i = 0;
    while (i < len) {
        uint32_t c = text[i];
        if (c < 0x80) {
            if (hlm_ascii_class[c] & HLM_CC_SPACE) {
                pending_space = have_out;
                i++;
                continue;
            }
            uint8_t *o = sink_room(&k);
            if (pending_space) *o++ = ' ', k.n++, pending_space = 0;
            *o = (uint8_t)(c - 'A' < 26u ? c + 32 : c);
            k.n++;
            have_out = 1;
            i++;
            continue;
        }
        uint32_t cp;
        size_t n = hlm_utf8_decode_inline(text + i, len - i, &cp);
        uint8_t cls = 0;
        if (cp != HLM_CP_INVALID) {
            if (!t) t = hlm_class_table_get();
            cls = hlm_class_lookup(t, cp);
            if (cls & HLM_CC_SPACE) {
                pending_space = have_out;
                i += n;
                continue;
            }
        }
        uint8_t *o = sink_room(&k);
        if (pending_space) *o++ = ' ', k.n++, pending_space = 0;
        if (cp == HLM_CP_INVALID) {
            *o = (uint8_t)c;
            k.n++;
        } else {
            k.n += hlm_utf8_encode_inline(hlm_dedup_fold(cp, cls), o);
        }
        have_out = 1;
        i += n;
    }
    XXH128_hash_t h;
    if (k.streaming) {
        XXH3_128bits_update(&k.state, k.buf, k.n);
        h = XXH3_128bits_digest(&k.state);
    } else {
        h = XXH3_128bits(k.buf, k.n);
    }
    return (hlm_key128){h.low64, h.high64};
}

/* ---- keyset ---- */

struct hlm_keyset {
    hlm_key128 *slots;
    size_t cap, count; /* count includes the zero key */
    int has_zero;
};

static size_t slots_for(size_t n)
{
    size_t cap = 16;
    while (cap / 10 * 7 < n) cap *= 2;
    return cap;
}

hlm_status hlm_keyset_new(hlm_keyset **out, size_t expected, hlm_error *err)
{
    *out = NULL;
    if (expected > (SIZE_MAX / sizeof(hlm_key128)) / 4)
        return hlm_errorf(err, HLM_ERR_INVALID, "keyset: expected %zu keys: too many", expected);
    hlm_keyset *s = calloc(1, sizeof *s);
    if (!s) return hlm_errorf(err, HLM_ERR_NOMEM, "keyset: out of memory");
    s->cap = slots_for(expected);
    s->slots = calloc(s->cap, sizeof *s->slots);
    if (!s->slots) {
        free(s);
        return hlm_errorf(err, HLM_ERR_NOMEM, "keyset: cannot allocate %zu slots", slots_for(expected));
    }
    *out = s;
    return HLM_OK;
}

static hlm_key128 *probe(hlm_key128 *slots, size_t cap, hlm_key128 key)
{
    size_t i = (size_t)key.lo & (cap - 1);
    while ((slots[i].lo | slots[i].hi) && (slots[i].lo != key.lo || slots[i].hi != key.hi))
        i = (i + 1) & (cap - 1);
    return &slots[i];
}

static hlm_status grow(hlm_keyset *s, hlm_error *err)
{
    size_t cap = s->cap * 2;
    if (cap > SIZE_MAX / sizeof(hlm_key128)) return hlm_errorf(err, HLM_ERR_NOMEM, "keyset: too many keys");
    hlm_key128 *slots = calloc(cap, sizeof *slots);
    if (!slots) return hlm_errorf(err, HLM_ERR_NOMEM, "keyset: cannot grow to %zu slots", cap);
    for (size_t i = 0; i < s->cap; i++)
        if (s->slots[i].lo | s->slots[i].hi) *probe(slots, cap, s->slots[i]) = s->slots[i];
    free(s->slots);
    s->slots = slots;
    s->cap = cap;
    return HLM_OK;
}

hlm_status hlm_keyset_insert(hlm_keyset *s, hlm_key128 key, int *inserted, hlm_error *err)
{
    *inserted = 0;
    if (!(key.lo | key.hi)) {
        if (!s->has_zero) s->has_zero = 1, s->count++, *inserted = 1;
        return HLM_OK;
    }
    hlm_key128 *slot = probe(s->slots, s->cap, key);
    if (slot->lo | slot->hi) return HLM_OK;
    if (s->count + 1 > s->cap / 10 * 7) {
        hlm_status st = grow(s, err);
        if (st) return st;
        slot = probe(s->slots, s->cap, key);
    }
    *slot = key;
    s->count++;
    *inserted = 1;
    return HLM_OK;
}

size_t hlm_keyset_count(const hlm_keyset *s) { return s->count; }

size_t hlm_keyset_bytes(const hlm_keyset *s) { return sizeof *s + s->cap * sizeof(hlm_key128); }

void hlm_keyset_free(hlm_keyset *s)
{
    if (!s) return;
    free(s->slots);
    free(s);
}
