/* Independent references shared by the tokenizer tests and the encoder fuzz target: a naive
 * byte-pair merge (recomputes every pair each step) and a writer of a tokenizer's regular tokens
 * as a tiktoken rank file. Header-only: the fuzz target includes it by relative path. */
#ifndef HLM_TESTS_REFERENCE_BPE_H
#define HLM_TESTS_REFERENCE_BPE_H

#include <stdint.h>
#include <string.h>

#include "hyperlm/buf.h"
#include "tokenizer/tokenizer_impl.h"

static inline void ref_b64_append(hlm_buf *b, const uint8_t *s, size_t n)
{
    static const char c[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (size_t i = 0; i < n; i += 3) {
        uint32_t w = (uint32_t)s[i] << 16 | (i + 1 < n ? (uint32_t)s[i + 1] << 8 : 0) | (i + 2 < n ? s[i + 2] : 0);
        char q[4] = {c[w >> 18], c[(w >> 12) & 63], i + 1 < n ? c[(w >> 6) & 63] : '=', i + 2 < n ? c[w & 63] : '='};
        hlm_buf_append(b, q, 4);
    }
}

/* The regular tokens of t as a tiktoken rank file (ids are ranks). */
static inline void ref_rank_file(const hlm_tokenizer *t, hlm_buf *out)
{
    for (uint32_t id = 0; id < hlm_tokenizer_vocab_size(t); id++) {
        if (t->kind[id] != TK_REGULAR) continue;
        ref_b64_append(out, t->blob + t->tok_off[id], t->tok_len[id]);
        hlm_buf_appendf(out, " %u\n", id);
    }
}

/* Naive byte-pair merge: the lowest (rank, position) pair joins, parts in a plain array. */
static inline size_t ref_naive_bpe(const hlm_tokenizer *t, const uint8_t *s, size_t n, uint32_t *parts)
{
    for (size_t i = 0; i < n; i++) parts[i] = t->byte_id[s[i]];
    size_t m = n;
    for (;;) {
        uint32_t best = UINT32_MAX, merged = 0;
        size_t at = 0;
        for (size_t i = 0; i + 1 < m; i++) {
            const tk_pair *p = tk_pair_find(t, parts[i], parts[i + 1]);
            if (p && p->rank < best) {
                best = p->rank;
                merged = p->merged;
                at = i;
            }
        }
        if (best == UINT32_MAX) return m;
        parts[at] = merged;
        memmove(&parts[at + 1], &parts[at + 2], (m - at - 2) * sizeof *parts);
        m--;
    }
}

#endif
