/* libFuzzer target: tokenizer.json loading from memory (tk_load_json via hlm_tokenizer_load_memory).
 * Invariants checked:
 *  - any input either loads or fails with a message; never a crash, leak or undefined behaviour;
 *  - a file that loads encodes and decodes arbitrary text losslessly (up to NFC when it
 *    normalizes), and its tokenizer.json text (tk_to_json) loads again and gives the same ids. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hyperlm/tokenizer.h"
#include "text/unicode.h"
#include "tokenizer/tokenizer_impl.h"
#include "fuzz_check.h"

static const char sample[] = "Hello, world! It's 2024: \xea\xb0\x80\xeb\x82\x98 \xe1\x84\x80\xe1\x85\xa1 e\xcc\x81 "
                             "<|endoftext|>  \n\n\xff\x80 done";

static void encode_text(const hlm_tokenizer *t, const uint8_t *s, size_t n, hlm_ids *ids)
{
    hlm_error err;
    ids->len = 0;
    CHECK(hlm_tokenizer_encode(t, s, n, 1, ids, &err) == HLM_OK);
}

static void check_roundtrip(const hlm_tokenizer *t, const uint8_t *s, size_t n)
{
    hlm_ids ids = {0};
    hlm_buf back = {0}, nfc = {0};
    hlm_error err;
    CHECK(hlm_tokenizer_encode(t, s, n, 0, &ids, &err) == HLM_OK);
    CHECK(hlm_tokenizer_decode(t, ids.data, ids.len, &back, &err) == HLM_OK);
    if (hlm_tokenizer_normalizes(t)) {
        CHECK(hlm_nfc_append(s, n, &nfc, &err) == HLM_OK);
        s = nfc.data;
        n = nfc.len;
    }
    CHECK(back.len == n && (n == 0 || !memcmp(back.data, s, n)));
    hlm_ids_free(&ids);
    hlm_buf_free(&back);
    hlm_buf_free(&nfc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    hlm_tokenizer *t;
    hlm_error err;
    if (hlm_tokenizer_load_memory(data, len, "fuzz.json", -1, &t, &err) != HLM_OK) {
        CHECK(t == NULL && err.msg[0]);
        return 0;
    }
    check_roundtrip(t, (const uint8_t *)sample, sizeof sample - 1);
    check_roundtrip(t, data, len < 512 ? len : 512);

    hlm_buf json = {0};
    if (tk_to_json(t, &json, "fuzz.json", &err) == HLM_OK) {
        hlm_tokenizer *u;
        CHECK(hlm_tokenizer_load_memory(json.data, json.len, "saved.json", -1, &u, &err) == HLM_OK);
        hlm_ids a = {0}, b = {0};
        encode_text(t, (const uint8_t *)sample, sizeof sample - 1, &a);
        encode_text(u, (const uint8_t *)sample, sizeof sample - 1, &b);
        CHECK(a.len == b.len && !memcmp(a.data, b.data, a.len * sizeof *a.data));
        hlm_ids_free(&a);
        hlm_ids_free(&b);
        hlm_tokenizer_free(u);
    }
    hlm_buf_free(&json);
    hlm_tokenizer_free(t);
    return 0;
}
