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
#include "../tests/tokenizer/reference_bpe.h"
#include "fuzz_check.h"

enum { N_TOK = 6 };
static hlm_tokenizer *toks[N_TOK];

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
    ref_rank_file(t, &rf);
    for (int p = 0; p < HLM_PATTERN_COUNT; p++)
        if (hlm_tokenizer_load_memory(rf.data, rf.len, "mini.tiktoken", p, &toks[3 + p], &err)) abort();
    hlm_buf_free(&rf);
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
        size_t m = ref_naive_bpe(t, s, n, ref);
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
