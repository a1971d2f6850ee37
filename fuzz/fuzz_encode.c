/* libFuzzer target: encoding arbitrary bytes, with Hugging Face and tiktoken merge semantics and
 * each of the three patterns. The tokenizer is the committed fixture
 * tests/fixtures/tokenizer/hf_hyperlm.json (found next to this file), also turned into a rank
 * file in memory for tiktoken semantics. The first input byte picks the tokenizer and whether
 * special tokens are allowed; the rest is the text.
 * Invariants checked:
 *  - decode(encode(x)) == x (NFC(x) when the tokenizer normalizes);
 *  - the streaming decoder gives the bulk decode, holding back at most 3 bytes;
 *  - byte-pair merging of the whole input as one piece equals a naive reference (both the short
 *    array path and the heap path for long pieces). */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hyperlm/tokenizer.h"
#include "text/unicode.h"
#include "tokenizer/tokenizer_impl.h"

#define CHECK(x)                                                                                     \
    do {                                                                                             \
        if (!(x)) __builtin_trap();                                                                  \
    } while (0)

enum { N_TOK = 6 };
static hlm_tokenizer *toks[N_TOK];

static void b64_append(hlm_buf *b, const uint8_t *s, size_t n)
{
    static const char *c = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (size_t i = 0; i < n; i += 3) {
        uint32_t w = (uint32_t)s[i] << 16 | (i + 1 < n ? (uint32_t)s[i + 1] << 8 : 0) | (i + 2 < n ? s[i + 2] : 0);
        char q[4] = {c[w >> 18], c[(w >> 12) & 63], i + 1 < n ? c[(w >> 6) & 63] : '=', i + 2 < n ? c[w & 63] : '='};
        hlm_buf_append(b, q, 4);
    }
}

static void init(void)
{
    char path[4096];
    const char *me = __FILE__, *slash = strrchr(me, '/');
    snprintf(path, sizeof path, "%.*s/../tests/fixtures/tokenizer/hf_hyperlm.json", slash ? (int)(slash - me) : 1,
             slash ? me : ".");
    hlm_error err;
    for (int p = 0; p < HLM_PATTERN_COUNT; p++)
        if (hlm_tokenizer_load(path, p, &toks[p], &err)) {
            fprintf(stderr, "fuzz_encode: %s\n", err.msg);
            abort();
        }
    hlm_buf rf = {0};
    const hlm_tokenizer *t = toks[0];
    for (uint32_t id = 0; id < hlm_tokenizer_vocab_size(t); id++) {
        if (t->kind[id] != TK_REGULAR) continue;
        b64_append(&rf, t->blob + t->tok_off[id], t->tok_len[id]);
        hlm_buf_appendf(&rf, " %u\n", id);
    }
    for (int p = 0; p < HLM_PATTERN_COUNT; p++)
        if (hlm_tokenizer_load_memory(rf.data, rf.len, "mini.tiktoken", p, &toks[3 + p], &err)) abort();
    hlm_buf_free(&rf);
}

static size_t naive_bpe(const hlm_tokenizer *t, const uint8_t *s, size_t n, uint32_t *parts)
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    if (!toks[0]) init();
    if (len == 0) return 0;
    const hlm_tokenizer *t = toks[(data[0] & 0x7F) % N_TOK];
    int allow_special = data[0] >> 7;
    const uint8_t *s = data + 1;
    size_t n = len - 1;
    hlm_error err;
    hlm_ids ids = {0};
    hlm_buf back = {0}, nfc = {0}, stream = {0};
    CHECK(hlm_tokenizer_encode(t, s, n, allow_special, &ids, &err) == HLM_OK);
    CHECK(hlm_tokenizer_decode(t, ids.data, ids.len, &back, &err) == HLM_OK);
    const uint8_t *want = s;
    size_t want_len = n;
    if (hlm_tokenizer_normalizes(t)) {
        CHECK(hlm_nfc_append(s, n, &nfc, &err) == HLM_OK);
        want = nfc.data;
        want_len = nfc.len;
    }
    CHECK(back.len == want_len && (want_len == 0 || !memcmp(back.data, want, want_len)));

    hlm_decoder d;
    hlm_decoder_init(&d, t);
    size_t total = 0;
    for (size_t i = 0; i < ids.len; i++) {
        CHECK(hlm_decoder_push(&d, ids.data[i], &stream, &err) == HLM_OK);
        total += t->tok_len[ids.data[i]];
        CHECK(stream.len <= total && total - stream.len <= 3);
        CHECK(stream.len == 0 || !memcmp(stream.data, back.data, stream.len));
    }
    CHECK(hlm_decoder_flush(&d, &stream, &err) == HLM_OK);
    CHECK(stream.len == back.len && (back.len == 0 || !memcmp(stream.data, back.data, back.len)));

    if (n && n <= 600) {
        uint32_t *ref = malloc(n * sizeof *ref);
        size_t m = naive_bpe(t, s, n, ref);
        ids.len = 0;
        CHECK(tk_bpe(t, s, n, UINT32_MAX, &ids) == HLM_OK);
        CHECK(ids.len == m && !memcmp(ids.data, ref, m * sizeof *ref));
        free(ref);
    }
    hlm_ids_free(&ids);
    hlm_buf_free(&back);
    hlm_buf_free(&nfc);
    hlm_buf_free(&stream);
    return 0;
}
