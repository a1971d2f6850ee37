/* libFuzzer target: tiktoken rank files from memory (tk_load_tiktoken via
 * hlm_tokenizer_load_memory), with a pattern given and without.
 * Invariants checked:
 *  - any input either loads or fails with a message; never a crash, leak or undefined behaviour;
 *  - a file that loads encodes and decodes arbitrary text losslessly; deriving merges for
 *    tokenizer.json either succeeds or fails cleanly, and what it writes loads again and is
 *    lossless too. (Equal ids are not checked here: for an arbitrary rank file, one merge per
 *    token cannot always reproduce tiktoken's any-split rule; for OpenAI's files it does, which
 *    test_tiktoken_compat checks on every fixture.) */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hyperlm/tokenizer.h"
#include "tokenizer/tokenizer_impl.h"
#include "fuzz_check.h"

static const char sample[] = "Hello, world! It's 2024: \xea\xb0\x80\xeb\x82\x98 <|endoftext|>  \n\n\xff\x80 done";

static void encode(const hlm_tokenizer *t, const uint8_t *s, size_t n, hlm_ids *ids)
{
    hlm_error err;
    ids->len = 0;
    CHECK(hlm_tokenizer_encode(t, s, n, 0, ids, &err) == HLM_OK);
    hlm_buf back = {0};
    CHECK(hlm_tokenizer_decode(t, ids->data, ids->len, &back, &err) == HLM_OK);
    CHECK(back.len == n && (n == 0 || !memcmp(back.data, s, n)));
    hlm_buf_free(&back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    hlm_tokenizer *t;
    hlm_error err;
    /* the first byte picks: a known name (gpt2 specials), an unknown name with a pattern, or none */
    int mode = len ? data[0] % 3 : 0;
    const char *name = mode == 0 ? "fuzz_gpt2.tiktoken" : "fuzz.tiktoken";
    int pattern = mode == 1 ? HLM_PATTERN_O200K : -1;
    if (hlm_tokenizer_load_memory(data, len, name, pattern, &t, &err) != HLM_OK) {
        CHECK(t == NULL && err.msg[0]);
        return 0;
    }
    hlm_ids ids = {0};
    encode(t, (const uint8_t *)sample, sizeof sample - 1, &ids);
    encode(t, data, len < 512 ? len : 512, &ids);

    hlm_buf json = {0};
    if (tk_to_json(t, &json, "fuzz.json", &err) == HLM_OK) {
        hlm_tokenizer *u;
        CHECK(hlm_tokenizer_load_memory(json.data, json.len, "saved.json", -1, &u, &err) == HLM_OK);
        encode(u, (const uint8_t *)sample, sizeof sample - 1, &ids);
        encode(u, data, len < 512 ? len : 512, &ids);
        hlm_tokenizer_free(u);
    }
    hlm_buf_free(&json);
    hlm_ids_free(&ids);
    hlm_tokenizer_free(t);
    return 0;
}
