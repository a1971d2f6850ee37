/* Tokenizer core: construction and the lookup tables, loading dispatch, accessors, decoding and
 * the streaming decoder. The representation and its invariants are in tokenizer_impl.h; file
 * formats live in tiktoken_file.c and tokenizer_json.c, encoding in encode.c. */
#include <stdlib.h>
#include <string.h>

#include "hyperlm/file.h"
#include "tokenizer/bytelevel.h"
#include "tokenizer/tokenizer_impl.h"
#include "tokenizer/tokenizer_internal.h"

/* ---- construction ---- */

hlm_status tk_new(uint32_t vocab_size, hlm_pattern pattern, tk_semantics sem, hlm_tokenizer **out,
                  hlm_error *err)
{
    *out = NULL;
    hlm_tokenizer *t = calloc(1, sizeof *t);
    if (!t) return hlm_errorf(err, HLM_ERR_NOMEM, "tokenizer: out of memory");
    t->pattern = pattern;
    t->semantics = sem;
    t->vocab_size = vocab_size;
    size_t n = vocab_size ? vocab_size : 1;
    t->kind = calloc(n, 1);
    t->whole_piece = calloc(n, 1);
    t->tok_off = calloc(n, sizeof *t->tok_off);
    t->tok_len = calloc(n, sizeof *t->tok_len);
    if (!t->kind || !t->whole_piece || !t->tok_off || !t->tok_len) {
        hlm_tokenizer_free(t);
        return hlm_errorf(err, HLM_ERR_NOMEM, "tokenizer: out of memory for %u ids", vocab_size);
    }
    for (int b = 0; b < 256; b++) t->byte_id[b] = TK_NONE;
    t->bos_id = TK_NONE;
    *out = t;
    return HLM_OK;
}

static hlm_status blob_append(hlm_tokenizer *t, const void *bytes, size_t len, uint64_t *off)
{
    if (t->blob_len + len > t->blob_cap) {
        size_t cap = t->blob_cap ? t->blob_cap : 1 << 16;
        while (cap < t->blob_len + len) cap *= 2;
        uint8_t *p = realloc(t->blob, cap);
        if (!p) return HLM_ERR_NOMEM;
        t->blob = p;
        t->blob_cap = cap;
    }
    *off = t->blob_len;
    if (len) memcpy(t->blob + t->blob_len, bytes, len);
    t->blob_len += len;
    return HLM_OK;
}

hlm_status tk_set_token(hlm_tokenizer *t, uint32_t id, const uint8_t *bytes, size_t len, hlm_error *err)
{
    if (len > UINT32_MAX) return hlm_errorf(err, HLM_ERR_FORMAT, "token %u: too long", id);
    if (blob_append(t, bytes, len, &t->tok_off[id]))
        return hlm_errorf(err, HLM_ERR_NOMEM, "tokenizer: out of memory");
    t->tok_len[id] = (uint32_t)len;
    t->kind[id] |= TK_REGULAR;
    return HLM_OK;
}

hlm_status tk_add_special(hlm_tokenizer *t, uint32_t id, const char *text, size_t len, hlm_error *err)
{
    tk_special *s = realloc(t->specials, (t->n_specials + 1) * sizeof *s);
    if (!s) return hlm_errorf(err, HLM_ERR_NOMEM, "tokenizer: out of memory");
    t->specials = s;
    char *copy = malloc(len + 1);
    if (!copy) return hlm_errorf(err, HLM_ERR_NOMEM, "tokenizer: out of memory");
    memcpy(copy, text, len);
    copy[len] = 0;
    s[t->n_specials++] = (tk_special){copy, len, id};
    t->kind[id] |= TK_SPECIAL;
    if (!(t->kind[id] & TK_REGULAR)) { /* token_bytes of a special-only id: its text */
        if (blob_append(t, text, len, &t->tok_off[id]))
            return hlm_errorf(err, HLM_ERR_NOMEM, "tokenizer: out of memory");
        t->tok_len[id] = (uint32_t)len;
    }
    return HLM_OK;
}

uint32_t tk_lookup_hashed(const hlm_tokenizer *t, const uint8_t *s, size_t len, uint64_t h)
{
    uint32_t tag = (uint32_t)(h >> 32);
    for (size_t i = (size_t)h & t->map_mask;; i = (i + 1) & t->map_mask) {
        const struct tk_slot *e = &t->map[i];
        if (e->id == TK_NONE) return TK_NONE;
        if (e->tag == tag && (e->len & ~TK_WHOLE) == len && !memcmp(t->blob + e->off, s, len)) return e->id;
    }
}

uint32_t tk_lookup(const hlm_tokenizer *t, const uint8_t *s, size_t len)
{
    return tk_lookup_hashed(t, s, len, tk_hash(s, len));
}

static size_t pow2_at_least(size_t n)
{
    size_t c = 1024;
    while (c < n) c *= 2;
    return c;
}

hlm_status tk_build_token_map(hlm_tokenizer *t, uint32_t dup[2])
{
    if (t->blob_len > UINT32_MAX) return HLM_ERR_NOMEM; /* 4 GB of token bytes: not a real vocabulary */
    size_t n = 0;
    for (uint32_t id = 0; id < t->vocab_size; id++) n += (t->kind[id] & TK_REGULAR) != 0;
    size_t cap = pow2_at_least(2 * n);
    free(t->map);
    t->map = malloc(cap * sizeof *t->map);
    if (!t->map) return HLM_ERR_NOMEM;
    for (size_t i = 0; i < cap; i++) t->map[i].id = TK_NONE;
    t->map_mask = cap - 1;
    for (uint32_t id = 0; id < t->vocab_size; id++) {
        if (!(t->kind[id] & TK_REGULAR)) continue;
        const uint8_t *s = t->blob + t->tok_off[id];
        size_t len = t->tok_len[id];
        uint64_t h = tk_hash(s, len);
        size_t i = (size_t)h & t->map_mask;
        for (; t->map[i].id != TK_NONE; i = (i + 1) & t->map_mask) {
            uint32_t o = t->map[i].id;
            if (t->tok_len[o] == len && !memcmp(t->blob + t->tok_off[o], s, len)) {
                dup[0] = o;
                dup[1] = id;
                return HLM_ERR_FORMAT;
            }
        }
        t->map[i] = (struct tk_slot){(uint32_t)(h >> 32), id, (uint32_t)len, (uint32_t)t->tok_off[id]};
    }
    size_t bits = 1 << 16;
    while (bits < 16 * n) bits *= 2;
    free(t->map_bloom);
    t->map_bloom = calloc(bits / 64, sizeof *t->map_bloom);
    if (!t->map_bloom) return HLM_ERR_NOMEM;
    t->map_bloom_shift = 64;
    for (size_t b = bits; b > 1; b >>= 1) t->map_bloom_shift--;
    for (size_t i = 0; i < cap; i++) {
        if (t->map[i].id == TK_NONE) continue;
        uint64_t h = tk_hash(t->blob + t->map[i].off, t->map[i].len & ~TK_WHOLE);
        size_t bit = (size_t)((h * 0xD6E8FEB86659FD93ull) >> t->map_bloom_shift);
        t->map_bloom[bit >> 6] |= 1ull << (bit & 63);
    }
    return HLM_OK;
}

static hlm_status pairs_alloc(hlm_tokenizer *t, size_t n)
{
    size_t cap = pow2_at_least(2 * n);
    free(t->pairs);
    t->pairs = malloc(cap * sizeof *t->pairs);
    if (!t->pairs) return HLM_ERR_NOMEM;
    for (size_t i = 0; i < cap; i++) t->pairs[i].key = UINT64_MAX;
    t->pair_mask = cap - 1;
    t->pair_shift = 64;
    while (cap > 1) {
        cap >>= 1;
        t->pair_shift--;
    }
    t->n_pairs = 0;
    return HLM_OK;
}

/* Inserts or overwrites (a later Hugging Face merge of the same pair wins, as in `tokenizers`). */
static void pairs_put(hlm_tokenizer *t, uint32_t left, uint32_t right, uint32_t rank, uint32_t merged)
{
    uint64_t key = (uint64_t)left << 32 | right;
    size_t i = (size_t)((key * 0x9E3779B97F4A7C15ull) >> t->pair_shift);
    while (t->pairs[i].key != UINT64_MAX && t->pairs[i].key != key) i = (i + 1) & t->pair_mask;
    if (t->pairs[i].key == UINT64_MAX) t->n_pairs++;
    t->pairs[i] = (tk_pair){key, rank, merged};
}

/* The Bloom filter over the pair map (see tokenizer_impl.h). */
static hlm_status build_pair_bloom(hlm_tokenizer *t)
{
    size_t bits = 1 << 16;
    while (bits < 16 * t->n_pairs) bits *= 2;
    free(t->pair_bloom);
    t->pair_bloom = calloc(bits / 64, sizeof *t->pair_bloom);
    if (!t->pair_bloom) return HLM_ERR_NOMEM;
    t->bloom_shift = 64;
    for (size_t b = bits; b > 1; b >>= 1) t->bloom_shift--;
    for (size_t i = 0; i <= t->pair_mask; i++) {
        if (t->pairs[i].key == UINT64_MAX) continue;
        size_t bit = tk_bloom_bit(t, (uint32_t)(t->pairs[i].key >> 32), (uint32_t)t->pairs[i].key);
        t->pair_bloom[bit >> 6] |= 1ull << (bit & 63);
    }
    return HLM_OK;
}

static hlm_status build_byte_pairs(hlm_tokenizer *t)
{
    if (build_pair_bloom(t)) return HLM_ERR_NOMEM;
    free(t->byte_pairs);
    t->byte_pairs = malloc(65536 * sizeof *t->byte_pairs);
    if (!t->byte_pairs) return HLM_ERR_NOMEM;
    for (int a = 0; a < 256; a++)
        for (int b = 0; b < 256; b++) {
            const tk_pair *p = tk_pair_find(t, t->byte_id[a], t->byte_id[b]);
            t->byte_pairs[a << 8 | b].rank = p ? p->rank : UINT32_MAX;
            t->byte_pairs[a << 8 | b].merged = p ? p->merged : TK_NONE;
        }
    return HLM_OK;
}

static int special_cmp(const void *a, const void *b)
{
    const tk_special *x = a, *y = b;
    return x->id < y->id ? -1 : x->id > y->id;
}

hlm_status tk_finish(hlm_tokenizer *t, const char *what, hlm_error *err)
{
    if (!t->map) {
        uint32_t dup[2];
        hlm_status st = tk_build_token_map(t, dup);
        if (st == HLM_ERR_NOMEM) return hlm_errorf(err, st, "%s: out of memory", what);
        if (st) return hlm_errorf(err, st, "%s: tokens %u and %u have the same bytes", what, dup[0], dup[1]);
    }
    for (uint32_t id = 0; id < t->vocab_size; id++)
        if ((t->kind[id] & TK_REGULAR) && t->tok_len[id] == 0)
            return hlm_errorf(err, HLM_ERR_FORMAT, "%s: token %u is empty", what, id);
    for (int b = 0; b < 256; b++) {
        uint8_t c = (uint8_t)b;
        t->byte_id[b] = tk_lookup(t, &c, 1);
        if (t->byte_id[b] == TK_NONE)
            return hlm_errorf(err, HLM_ERR_FORMAT,
                              "%s: no token for the byte 0x%02x; every one of the 256 bytes must be a token",
                              what, b);
    }

    if (t->semantics == TK_SEM_TIKTOKEN) {
        /* Every split of every token into two tokens: these are exactly the adjacent pairs that
         * tiktoken's byte_pair_merge may join (their concatenation is a token). Counted first so
         * the table is sized once (o200k: 446k pairs). */
        size_t n = 0;
        for (int pass = 0; pass < 2; pass++) {
            if (pass == 1 && pairs_alloc(t, n + 16)) return hlm_errorf(err, HLM_ERR_NOMEM, "%s: out of memory", what);
            for (uint32_t id = 0; id < t->vocab_size; id++) {
                if (!(t->kind[id] & TK_REGULAR)) continue;
                const uint8_t *s = t->blob + t->tok_off[id];
                size_t len = t->tok_len[id];
                for (size_t k = 1; k < len; k++) {
                    uint32_t a = tk_lookup(t, s, k);
                    if (a == TK_NONE) continue;
                    uint32_t b = tk_lookup(t, s + k, len - k);
                    if (b == TK_NONE) continue;
                    if (pass == 0)
                        n++;
                    else
                        pairs_put(t, a, b, id, id);
                }
            }
        }
        for (uint32_t id = 0; id < t->vocab_size; id++) t->whole_piece[id] = (t->kind[id] & TK_REGULAR) != 0;
        if (build_byte_pairs(t)) return hlm_errorf(err, HLM_ERR_NOMEM, "%s: out of memory", what);
    } else {
        if (pairs_alloc(t, t->n_merges + 16)) return hlm_errorf(err, HLM_ERR_NOMEM, "%s: out of memory", what);
        uint8_t small[256];
        for (size_t i = 0; i < t->n_merges; i++) {
            uint32_t a = t->merges[i][0], b = t->merges[i][1];
            size_t la = t->tok_len[a], lb = t->tok_len[b];
            uint32_t m;
            if (la + lb <= sizeof small) {
                memcpy(small, t->blob + t->tok_off[a], la);
                memcpy(small + la, t->blob + t->tok_off[b], lb);
                m = tk_lookup(t, small, la + lb);
            } else {
                uint8_t *tmp = malloc(la + lb);
                if (!tmp) return hlm_errorf(err, HLM_ERR_NOMEM, "%s: out of memory", what);
                memcpy(tmp, t->blob + t->tok_off[a], la);
                memcpy(tmp + la, t->blob + t->tok_off[b], lb);
                m = tk_lookup(t, tmp, la + lb);
                free(tmp);
            }
            if (m == TK_NONE)
                return hlm_errorf(err, HLM_ERR_FORMAT, "%s: merge %zu (%u, %u): the merged token is not in the vocabulary",
                                  what, i, a, b);
            pairs_put(t, a, b, (uint32_t)i, m);
        }
        if (build_byte_pairs(t)) return hlm_errorf(err, HLM_ERR_NOMEM, "%s: out of memory", what);
        hlm_ids tmp = {0};
        for (uint32_t id = 0; id < t->vocab_size; id++) {
            if (!(t->kind[id] & TK_REGULAR)) continue;
            if (t->ignore_merges) {
                t->whole_piece[id] = 1;
                continue;
            }
            tmp.len = 0;
            if (tk_bpe(t, t->blob + t->tok_off[id], t->tok_len[id], UINT32_MAX, &tmp)) {
                hlm_ids_free(&tmp);
                return hlm_errorf(err, HLM_ERR_NOMEM, "%s: out of memory", what);
            }
            t->whole_piece[id] = tmp.len == 1 && tmp.data[0] == id;
        }
        hlm_ids_free(&tmp);
    }

    return tk_finish_specials(t, what, err);
}

hlm_status tk_finish_specials(hlm_tokenizer *t, const char *what, hlm_error *err)
{
    if (t->n_specials) qsort(t->specials, t->n_specials, sizeof *t->specials, special_cmp);
    memset(t->special_first, 0, sizeof t->special_first);
    for (size_t i = 0; i < t->n_specials; i++) {
        if (t->specials[i].len == 0) return hlm_errorf(err, HLM_ERR_FORMAT, "%s: special token %u is empty", what, t->specials[i].id);
        if (i && t->specials[i].id == t->specials[i - 1].id)
            return hlm_errorf(err, HLM_ERR_FORMAT, "%s: two special tokens have the id %u", what, t->specials[i].id);
        for (size_t j = 0; j < i; j++)
            if (t->specials[j].len == t->specials[i].len && !memcmp(t->specials[j].text, t->specials[i].text, t->specials[i].len))
                return hlm_errorf(err, HLM_ERR_FORMAT, "%s: special tokens %u and %u have the same text '%s'", what,
                                  t->specials[j].id, t->specials[i].id, t->specials[i].text);
        t->special_first[(uint8_t)t->specials[i].text[0]] = 1;
    }
    return HLM_OK;
}

hlm_status hlm_tokenizer_from_merges(hlm_pattern pattern, int normalize, const uint32_t (*merges)[2],
                                     size_t n_merges, const char *const *specials, size_t n_specials,
                                     hlm_tokenizer **out, hlm_error *err)
{
    *out = NULL;
    if ((unsigned)pattern >= HLM_PATTERN_COUNT)
        return hlm_errorf(err, HLM_ERR_INVALID, "tokenizer: unknown pattern %d", (int)pattern);
    if (n_merges + n_specials > TK_MAX_ID - 256)
        return hlm_errorf(err, HLM_ERR_INVALID, "tokenizer: %zu merges and %zu special tokens are too many",
                          n_merges, n_specials);
    uint32_t vocab = (uint32_t)(256 + n_merges + n_specials);
    hlm_tokenizer *t;
    hlm_status st = tk_new(vocab, pattern, TK_SEM_HF, &t, err);
    if (st) return st;
    t->normalize = normalize != 0;
    for (int r = 0; r < 256; r++) {
        uint8_t b = hlm_bytelevel_byte_of_rank(r);
        if ((st = tk_set_token(t, (uint32_t)r, &b, 1, err))) goto fail;
    }
    if (n_merges) {
        t->merges = malloc(n_merges * sizeof *t->merges);
        if (!t->merges) {
            st = hlm_errorf(err, HLM_ERR_NOMEM, "tokenizer: out of memory");
            goto fail;
        }
    }
    uint8_t *tmp = NULL;
    size_t tmp_cap = 0;
    for (size_t i = 0; i < n_merges; i++) {
        uint32_t a = merges[i][0], b = merges[i][1];
        if (a >= 256 + i || b >= 256 + i) {
            free(tmp);
            st = hlm_errorf(err, HLM_ERR_INVALID, "tokenizer: merge %zu: ids %u and %u must both be below %zu", i, a,
                            b, 256 + i);
            goto fail;
        }
        size_t la = t->tok_len[a], lb = t->tok_len[b];
        if (la + lb > tmp_cap) {
            tmp_cap = (la + lb) * 2;
            uint8_t *p = realloc(tmp, tmp_cap);
            if (!p) {
                free(tmp);
                st = hlm_errorf(err, HLM_ERR_NOMEM, "tokenizer: out of memory");
                goto fail;
            }
            tmp = p;
        }
        /* copy first: tk_set_token may move the blob */
        memcpy(tmp, t->blob + t->tok_off[a], la);
        memcpy(tmp + la, t->blob + t->tok_off[b], lb);
        if ((st = tk_set_token(t, (uint32_t)(256 + i), tmp, la + lb, err))) {
            free(tmp);
            goto fail;
        }
        t->merges[i][0] = a;
        t->merges[i][1] = b;
    }
    free(tmp);
    t->n_merges = n_merges;
    for (size_t i = 0; i < n_specials; i++) {
        if (!specials[i] || !specials[i][0]) {
            st = hlm_errorf(err, HLM_ERR_INVALID, "tokenizer: special token %zu is empty", i);
            goto fail;
        }
        if ((st = tk_add_special(t, (uint32_t)(256 + n_merges + i), specials[i], strlen(specials[i]), err))) goto fail;
    }
    if ((st = tk_finish(t, "tokenizer", err))) {
        if (st == HLM_ERR_FORMAT) err->code = st = HLM_ERR_INVALID;
        goto fail;
    }
    *out = t;
    return HLM_OK;
fail:
    hlm_tokenizer_free(t);
    return st;
}

void hlm_tokenizer_free(hlm_tokenizer *t)
{
    if (!t) return;
    free(t->kind);
    free(t->whole_piece);
    free(t->tok_off);
    free(t->tok_len);
    free(t->blob);
    free(t->map);
    free(t->map_bloom);
    free(t->pairs);
    free(t->byte_pairs);
    free(t->pair_bloom);
    free(t->merges);
    for (size_t i = 0; i < t->n_specials; i++) free(t->specials[i].text);
    free(t->specials);
    tk_spm_free(t->spm);
    free(t);
}

/* ---- loading ---- */

hlm_status hlm_tokenizer_load_memory(const void *data, size_t len, const char *name, int pattern,
                                     hlm_tokenizer **out, hlm_error *err)
{
    *out = NULL;
    if (!name) name = "tokenizer";
    if (pattern >= HLM_PATTERN_COUNT)
        return hlm_errorf(err, HLM_ERR_INVALID, "%s: unknown pattern %d", name, pattern);
    const uint8_t *s = data;
    size_t i = 0;
    if (len >= 3 && s[0] == 0xEF && s[1] == 0xBB && s[2] == 0xBF) i = 3;
    while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n')) i++;
    if (i == len)
        return hlm_errorf(err, HLM_ERR_FORMAT, "%s: empty file; expected a tokenizer.json or a tiktoken rank file",
                          name);
    if (s[i] == '{') return tk_load_json(s, len, name, pattern, out, err);
    return tk_load_tiktoken(s, len, name, pattern, out, err);
}

hlm_status hlm_tokenizer_load(const char *path, int pattern, hlm_tokenizer **out, hlm_error *err)
{
    *out = NULL;
    hlm_buf b = {0};
    hlm_status st = hlm_file_read_all(path, &b, err);
    if (st) {
        hlm_buf_free(&b);
        return st;
    }
    st = hlm_tokenizer_load_memory(b.data, b.len, path, pattern, out, err);
    hlm_buf_free(&b);
    return st;
}

/* ---- accessors ---- */

uint32_t hlm_tokenizer_vocab_size(const hlm_tokenizer *t) { return t->vocab_size; }
hlm_pattern hlm_tokenizer_pattern(const hlm_tokenizer *t) { return t->pattern; }
int hlm_tokenizer_normalizes(const hlm_tokenizer *t) { return t->normalize; }
size_t hlm_tokenizer_special_count(const hlm_tokenizer *t) { return t->n_specials; }

void hlm_tokenizer_special(const hlm_tokenizer *t, size_t i, const char **text, uint32_t *id)
{
    if (i >= t->n_specials) {
        if (text) *text = NULL;
        if (id) *id = TK_NONE;
        return;
    }
    if (text) *text = t->specials[i].text;
    if (id) *id = t->specials[i].id;
}

hlm_status hlm_tokenizer_token_bytes(const hlm_tokenizer *t, uint32_t id, const uint8_t **bytes, size_t *len,
                                     hlm_error *err)
{
    if (id >= t->vocab_size || !t->kind[id])
        return hlm_errorf(err, HLM_ERR_RANGE, "token id %u: no such token (vocabulary size %u)", id, t->vocab_size);
    *bytes = t->blob + t->tok_off[id];
    *len = t->tok_len[id];
    return HLM_OK;
}

int hlm_tokenizer_bos(const hlm_tokenizer *t, uint32_t *id)
{
    if (t->bos_id == TK_NONE) return 0;
    if (id) *id = t->bos_id;
    return 1;
}

int hlm_tokenizer_token_id(const hlm_tokenizer *t, const void *bytes, size_t len, uint32_t *id)
{
    if (t->spm) return tk_spm_token_id(t, bytes, len, id);
    uint32_t r = tk_lookup(t, bytes, len);
    if (r == TK_NONE) {
        for (size_t i = 0; i < t->n_specials; i++)
            if (t->specials[i].len == len && !memcmp(t->specials[i].text, bytes, len)) {
                r = t->specials[i].id;
                break;
            }
    }
    if (r == TK_NONE) return 0;
    if (id) *id = r;
    return 1;
}

/* ---- decoding ---- */

hlm_status hlm_tokenizer_decode(const hlm_tokenizer *t, const uint32_t *ids, size_t n, hlm_buf *out,
                                hlm_error *err)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t id = ids[i];
        if (id >= t->vocab_size || !t->kind[id])
            return hlm_errorf(err, HLM_ERR_RANGE, "decode: position %zu: token id %u is not in the vocabulary (size %u)",
                              i, id, t->vocab_size);
        total += t->tok_len[id];
    }
    /* SentencePiece: the space of the prefix that encoding put in front goes (as DecodeIds does) */
    size_t skip = n && t->spm ? tk_spm_decode_skip(t, ids[0]) : 0;
    total -= skip;
    if (hlm_buf_reserve(out, total)) return hlm_errorf(err, HLM_ERR_NOMEM, "decode: out of memory");
    uint8_t *dst = out->data + out->len;
    for (size_t i = 0; i < n; i++) {
        memcpy(dst, t->blob + t->tok_off[ids[i]] + skip, t->tok_len[ids[i]] - skip);
        dst += t->tok_len[ids[i]] - skip;
        skip = 0;
    }
    out->len += total;
    return HLM_OK;
}

void hlm_decoder_init(hlm_decoder *d, const hlm_tokenizer *tok)
{
    d->tok = tok;
    d->n_pending = 0;
}

/* Number of bytes at the end of s[0..n) (n <= 4 gives the stream's last bytes) that start a UTF-8
 * character that is still incomplete but can become well-formed: only those are held back. */
static size_t utf8_incomplete_tail(const uint8_t *s, size_t n)
{
    for (size_t back = 1; back <= 3 && back <= n; back++) {
        uint8_t c = s[n - back];
        if ((c & 0xC0) == 0x80) continue; /* continuation byte: look further back */
        size_t need = c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
        if (need <= back) return 0; /* not a lead byte, or its character is complete */
        if (back >= 2) { /* the second byte has a narrower range after some lead bytes */
            uint8_t c1 = s[n - back + 1];
            uint8_t lo = c == 0xE0 ? 0xA0 : c == 0xF0 ? 0x90 : 0x80;
            uint8_t hi = c == 0xED ? 0x9F : c == 0xF4 ? 0x8F : 0xBF;
            if (c1 < lo || c1 > hi) return 0;
        }
        return back;
    }
    return 0;
}

static hlm_status decoder_emit(hlm_decoder *d, const uint8_t *b, size_t n, hlm_buf *out, hlm_error *err)
{
    size_t k = d->n_pending, total = k + n;
    uint8_t last[4];
    size_t m = total < 4 ? total : 4;
    for (size_t i = 0; i < m; i++) { /* the stream's last m bytes: pending followed by b */
        size_t p = total - m + i;
        last[i] = p < k ? d->pending[p] : b[p - k];
    }
    size_t hold = utf8_incomplete_tail(last, m);
    size_t emit = total - hold;
    if (hlm_buf_reserve(out, emit)) return hlm_errorf(err, HLM_ERR_NOMEM, "decode: out of memory");
    size_t from_pending = emit < k ? emit : k;
    memcpy(out->data + out->len, d->pending, from_pending);
    if (emit > k) memcpy(out->data + out->len + k, b, emit - k);
    out->len += emit;
    memcpy(d->pending, last + m - hold, hold);
    d->n_pending = hold;
    return HLM_OK;
}

hlm_status hlm_decoder_push(hlm_decoder *d, uint32_t id, hlm_buf *out, hlm_error *err)
{
    const hlm_tokenizer *t = d->tok;
    if (id >= t->vocab_size || !t->kind[id])
        return hlm_errorf(err, HLM_ERR_RANGE, "decode: token id %u is not in the vocabulary (size %u)", id,
                          t->vocab_size);
    return decoder_emit(d, t->blob + t->tok_off[id], t->tok_len[id], out, err);
}

hlm_status hlm_decoder_flush(hlm_decoder *d, hlm_buf *out, hlm_error *err)
{
    if (hlm_buf_append(out, d->pending, d->n_pending)) return hlm_errorf(err, HLM_ERR_NOMEM, "decode: out of memory");
    d->n_pending = 0;
    return HLM_OK;
}
