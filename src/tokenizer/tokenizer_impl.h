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
 *    (always under tiktoken semantics, which emits such a piece directly; under Hugging Face
 *    semantics only if BPE reaches the token, which tk_finish checks once per token). */
#ifndef HLM_TOKENIZER_IMPL_H
#define HLM_TOKENIZER_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "hyperlm/tokenizer.h"

enum { TK_REGULAR = 1, TK_SPECIAL = 2 };
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

    /* regular tokens by bytes: open addressing, linear probing; UINT64_MAX marks an empty slot */
    uint64_t *map;
    size_t map_mask;

    tk_pair *pairs;
    size_t pair_mask;
    int pair_shift; /* 64 - log2(capacity): the slot is the top bits of the multiplied key */
    size_t n_pairs;
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

/* Regular token with these bytes, or TK_NONE. */
uint32_t tk_lookup(const hlm_tokenizer *t, const uint8_t *s, size_t len);
uint32_t tk_lookup_hashed(const hlm_tokenizer *t, const uint8_t *s, size_t len, uint64_t h);
uint64_t tk_hash(const uint8_t *s, size_t len);

static inline const tk_pair *tk_pair_find(const hlm_tokenizer *t, uint32_t left, uint32_t right)
{
    uint64_t key = (uint64_t)left << 32 | right;
    size_t i = (size_t)((key * 0x9E3779B97F4A7C15ull) >> t->pair_shift);
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

#endif
