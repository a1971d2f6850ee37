/* The tokenizer's in-memory representation, shared by the loaders (tiktoken_file.c,
 * tokenizer_json.c), the encoder (encode.c) and the core (tokenizer.c).
 *
 * Invariants once a tokenizer is built (tk_finish):
 *  - every id < vocab_size is a regular token (kind & TK_REGULAR), a special token (TK_SPECIAL),
 *    both (a tokenizer.json added token that is also in the vocab), or a hole (kind == 0);
 *  - every single byte is a regular token (byte_id), so every byte string encodes;
 *  - regular tokens have distinct bytes; token_map finds a regular token by its bytes;
 *  - the pair map holds (left, right) -> (rank, merged) for every pair that may merge: tiktoken
 *    semantics: every split of every token into two tokens, rank = the merged token's rank (= id);
 *    Hugging Face semantics: the listed merges, rank = position in the list;
 *  - whole_piece[id] == 1 when a pre-token equal to the token's bytes encodes as that one token
 *    (always under tiktoken semantics, which emits such a piece directly, and under Hugging Face
 *    "ignore_merges"; otherwise only if BPE reaches the token, which tk_finish checks once per
 *    token); the token map's slot carries the same flag (TK_WHOLE);
 *  - the Bloom filters over the token map and the pair map hold a bit for every key in them
 *    (no false negatives), so a clear bit proves absence.
 * A SentencePiece tokenizer (spm != NULL, built by spm.c) keeps only the per-id arrays (what each
 * id decodes to) and the special tokens; the token and pair maps are not built, and encoding,
 * token lookup by text and the first token of a decode go to spm.c. */
#ifndef HLM_TOKENIZER_IMPL_H
#define HLM_TOKENIZER_IMPL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "hyperlm/tokenizer.h"

enum { TK_REGULAR = 1, TK_SPECIAL = 2 };
#define TK_WHOLE 0x80000000u
typedef enum { TK_SEM_TIKTOKEN = 0, TK_SEM_HF = 1 } tk_semantics;

#define TK_NONE UINT32_MAX
/* Ids above this are rejected when loading: it bounds memory for hostile files while leaving room
 * for vocabularies far larger than any in use (o200k has 200,019 ids). */
#define TK_MAX_ID (1u << 24)

typedef struct tk_pair {
    uint64_t key; /* left << 32 | right; UINT64_MAX marks an empty slot */
    uint32_t rank;
    uint32_t merged;
} tk_pair;

typedef struct tk_special {
    char *text; /* NUL-terminated copy; len excludes the NUL */
    size_t len;
    uint32_t id;
} tk_special;

struct hlm_tokenizer {
    hlm_pattern pattern;
    int normalize;
    tk_semantics semantics;
    int ignore_merges; /* Hugging Face "ignore_merges": a piece that is a token is emitted as is */
    uint32_t vocab_size;

    /* per id */
    uint8_t *kind;
    uint8_t *whole_piece;
    uint64_t *tok_off; /* into blob */
    uint32_t *tok_len;
    uint8_t *blob;
    size_t blob_len, blob_cap;

    uint32_t byte_id[256];

    /* regular tokens by bytes: open addressing, linear probing (id TK_NONE: empty slot). A slot
     * holds what a lookup needs, so a hit costs the slot and the token's bytes and a miss
     * usually the slot alone. */
    struct tk_slot {
        uint32_t tag; /* high half of the hash */
        uint32_t id;
        uint32_t len; /* | TK_WHOLE when whole_piece[id] */
        uint32_t off; /* into blob (tk_finish keeps the blob below 4 GB) */
    } *map;
    size_t map_mask;
    /* Bloom filter (one hash, ~16 bits per token) over the token map: most pieces of Korean or
     * code are not tokens, and this answers that from cache without the map's random access. */
    uint64_t *map_bloom;
    int map_bloom_shift;

    tk_pair *pairs;
    size_t pair_mask;
    int pair_shift; /* 64 - log2(capacity): the slot is the top bits of the multiplied key */
    size_t n_pairs;
    /* A one-hash Bloom filter over the pair map's keys, ~16 bits per pair (o200k: 1 MB, which
     * stays in cache where the 16 MB map cannot). Most lookups during merging are for pairs that
     * do not exist (the final parts of every piece), and the filter answers ~95% of those. */
    uint64_t *pair_bloom;
    int bloom_shift;
    /* the pairs of two single bytes, by (byte << 8 | byte): every piece starts as bytes, so these
     * are the most frequent lookups, and 512 KB stays in cache where the pair map cannot */
    struct tk_byte_pair {
        uint32_t rank, merged; /* rank UINT32_MAX: no merge */
    } *byte_pairs;

    /* merges in order (Hugging Face semantics; for saving) */
    uint32_t (*merges)[2];
    size_t n_merges;

    tk_special *specials;
    size_t n_specials;
    uint8_t special_first[256]; /* 1 if some special token starts with this byte */

    uint32_t bos_id; /* the id a text starts with (hlm_tokenizer_bos), or TK_NONE */
    struct tk_spm *spm; /* a SentencePiece model (spm.c), or NULL: byte-level BPE */
};

/* ---- building (tokenizer.c) ---- */

/* Allocates an empty tokenizer with room for ids < vocab_size. */
hlm_status tk_new(uint32_t vocab_size, hlm_pattern pattern, tk_semantics sem, hlm_tokenizer **out,
                  hlm_error *err);
/* Sets the bytes of a regular token. The caller checks the id is in range and unused. */
hlm_status tk_set_token(hlm_tokenizer *t, uint32_t id, const uint8_t *bytes, size_t len, hlm_error *err);
hlm_status tk_add_special(hlm_tokenizer *t, uint32_t id, const char *text, size_t len, hlm_error *err);
/* Builds the token map; HLM_ERR_FORMAT with the two ids in dup if two regular tokens have the same
 * bytes (no message: the loader knows where they came from). */
hlm_status tk_build_token_map(hlm_tokenizer *t, uint32_t dup[2]);
/* Builds the token map unless already built, checks that every byte is a token, builds the pair map (tiktoken: from the tokens; HF: from t->merges) and the
 * whole-piece flags. what: the file name for messages. */
hlm_status tk_finish(hlm_tokenizer *t, const char *what, hlm_error *err);
/* The part of tk_finish about special tokens: sorts them by id, checks they are non-empty with
 * distinct ids and texts, fills special_first. */
hlm_status tk_finish_specials(hlm_tokenizer *t, const char *what, hlm_error *err);

/* Regular token with these bytes, or TK_NONE. */
uint32_t tk_lookup(const hlm_tokenizer *t, const uint8_t *s, size_t len);
uint32_t tk_lookup_hashed(const hlm_tokenizer *t, const uint8_t *s, size_t len, uint64_t h);
/* XXH3, inlined from the header (the hash of every piece: the library call and its generic
 * length dispatch would cost as much as the rest of a whole-token lookup). */
static inline uint64_t tk_hash(const uint8_t *s, size_t len) { return XXH3_64bits(s, len); }

/* Equality of short byte strings without a call to memcmp. */
static inline int tk_bytes_equal(const uint8_t *a, const uint8_t *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (a[i] != b[i]) return 0;
    return 1;
}
/* The regular token with these bytes if a piece of exactly these bytes encodes as it (whole_piece),
 * else TK_NONE. */
static inline uint32_t tk_lookup_whole(const hlm_tokenizer *t, const uint8_t *s, size_t len, uint64_t h)
{
    size_t bit = (size_t)((h * 0xD6E8FEB86659FD93ull) >> t->map_bloom_shift);
    if (!((t->map_bloom[bit >> 6] >> (bit & 63)) & 1)) return TK_NONE;
    uint32_t tag = (uint32_t)(h >> 32);
    for (size_t i = (size_t)h & t->map_mask;; i = (i + 1) & t->map_mask) {
        const struct tk_slot *e = &t->map[i];
        if (e->id == TK_NONE) return TK_NONE;
        if (e->tag == tag && (e->len & ~TK_WHOLE) == len && tk_bytes_equal(t->blob + e->off, s, len))
            return e->len & TK_WHOLE ? e->id : TK_NONE;
    }
}

/* Home slot of a pair in the pair map. */
static inline size_t tk_pair_slot(const hlm_tokenizer *t, uint32_t left, uint32_t right)
{
    return (size_t)((((uint64_t)left << 32 | right) * 0x9E3779B97F4A7C15ull) >> t->pair_shift);
}

static inline size_t tk_bloom_bit(const hlm_tokenizer *t, uint32_t left, uint32_t right)
{
    return (size_t)((((uint64_t)left << 32 | right) * 0xD6E8FEB86659FD93ull) >> t->bloom_shift);
}

/* 0 if the pair is certainly not in the pair map. */
static inline int tk_pair_maybe(const hlm_tokenizer *t, uint32_t left, uint32_t right)
{
    size_t bit = tk_bloom_bit(t, left, right);
    return (int)(t->pair_bloom[bit >> 6] >> (bit & 63)) & 1;
}

static inline const tk_pair *tk_pair_find(const hlm_tokenizer *t, uint32_t left, uint32_t right)
{
    uint64_t key = (uint64_t)left << 32 | right;
    size_t i = tk_pair_slot(t, left, right);
    for (;;) {
        const tk_pair *p = &t->pairs[i];
        if (p->key == key) return p;
        if (p->key == UINT64_MAX) return NULL;
        i = (i + 1) & t->pair_mask;
    }
}

/* ---- loaders ---- */

/* Loads from memory; name is used for messages and, for rank files, to recognise the encoding
 * (gpt2/r50k, cl100k_base, o200k_base). pattern < 0: from the file or the name. */
hlm_status hlm_tokenizer_load_memory(const void *data, size_t len, const char *name, int pattern,
                                     hlm_tokenizer **out, hlm_error *err);
hlm_status tk_load_tiktoken(const uint8_t *data, size_t len, const char *name, int pattern,
                            hlm_tokenizer **out, hlm_error *err);
hlm_status tk_load_json(const uint8_t *data, size_t len, const char *name, int pattern,
                        hlm_tokenizer **out, hlm_error *err);
/* Appends the tokenizer.json text that hlm_tokenizer_save writes (path: for messages only). */
hlm_status tk_to_json(const hlm_tokenizer *t, hlm_buf *out, const char *path, hlm_error *err);
/* The merges that reproduce a rank file's tokens (one per token of two or more bytes, in rank
 * order: the pair tiktoken's algorithm ends with when encoding the token's bytes with only lower
 * ranks). */
hlm_status tk_derive_merges(const hlm_tokenizer *t, uint32_t (**merges)[2], size_t *n, hlm_error *err);

/* ---- encoding (encode.c) ---- */

/* Byte-pair merging of one piece: appends the ids. Only pairs with rank < max_rank merge. */
hlm_status tk_bpe(const hlm_tokenizer *t, const uint8_t *s, size_t len, uint32_t max_rank, hlm_ids *out);

/* The special token whose text starts at s (the longest if several do), or NULL (encode.c; the
 * BPE and SentencePiece encoders both split the input at these). */
const tk_special *tk_special_at(const hlm_tokenizer *t, const uint8_t *s, size_t len);

/* ---- SentencePiece (spm.c) ---- */

hlm_status tk_spm_encode(const hlm_tokenizer *t, const uint8_t *s, size_t len, int allow_special, hlm_ids *out,
                         hlm_error *err);
/* hlm_tokenizer_token_id: by the piece as the vocabulary spells it ("▁the", "<0x0A>", "<s>"). */
int tk_spm_token_id(const hlm_tokenizer *t, const uint8_t *s, size_t len, uint32_t *id);
/* Bytes that hlm_tokenizer_decode drops from the text of the first id: 1 (the space of the prefix
 * that encoding adds) when it is a piece that starts with U+2581 and the vocabulary adds the
 * prefix, else 0. */
size_t tk_spm_decode_skip(const hlm_tokenizer *t, uint32_t first);
void tk_spm_free(struct tk_spm *m);

#endif
