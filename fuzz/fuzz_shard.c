/* libFuzzer target: token shards from memory (hlm_shard_open_mem), with and without verification,
 * and the loader over what opens.
 * Invariants checked:
 *  - any input either opens or fails with HLM_ERR_FORMAT and a message; never a crash, an
 *    out-of-bounds read (ASan), a leak or undefined behaviour;
 *  - a shard that opens has exactly 64 + n_tokens * token_bytes bytes, and every token reads back
 *    the same through token(), copy_u32 and copy_i32;
 *  - a verified shard has every token < vocab_size, and hlm_shard_verify agrees with open;
 *  - a loader over a verified shard's tokens yields targets that are inputs shifted by one, in
 *    both orders, for batches far past the first epoch (B, T, seed and range from reserved
 *    header byte 48, which version 1 ignores). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "data/loader.h"
#include "data/shard.h"
#include "fuzz_check.h"

static void check_loader(const uint32_t *tokens, size_t n, uint32_t vocab, uint32_t eot, uint8_t knob)
{
    hlm_token_source *src;
    hlm_error err;
    CHECK(hlm_token_source_from_tokens(tokens, n, vocab, eot, &src, &err) == HLM_OK);
    CHECK(hlm_token_source_length(src) == n);
    int B = 1 + knob % 3, T = 1 + (knob >> 2) % 5;
    for (int order = 0; order < 2; order++) {
        hlm_loader_config c = {.B = B, .T = T, .order = order, .seed = knob, .begin = knob % 2};
        hlm_loader *l;
        if (hlm_loader_create(src, &c, &l, &err) != HLM_OK) {
            CHECK(n < c.begin + (size_t)B * T + 1);
            continue;
        }
        int32_t in[15], tg[15];
        for (uint64_t k = 0; k < 6; k++) {
            uint64_t index = k * 1000003u;
            hlm_loader_batch(l, index, in, tg);
            for (int j = 0; j < B; j++)
                for (int t = 0; t + 1 < T; t++) CHECK(tg[j * T + t] == in[j * T + t + 1]);
            for (int i = 0; i < B * T; i++) CHECK(in[i] >= 0 && (uint32_t)in[i] < vocab);
        }
        hlm_loader_free(l);
    }
    hlm_token_source_free(src);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    for (int verify = 0; verify < 2; verify++) {
        hlm_shard *s;
        hlm_error err;
        err.msg[0] = 0;
        hlm_status st = hlm_shard_open_mem(data, len, "fuzz.tok", verify, &s, &err);
        if (st != HLM_OK) {
            CHECK(st == HLM_ERR_FORMAT && s == NULL && strstr(err.msg, "fuzz.tok"));
            continue;
        }
        uint64_t n = hlm_shard_n_tokens(s);
        uint32_t tb = hlm_shard_token_bytes(s), vocab = hlm_shard_vocab_size(s);
        CHECK(tb == 2 || tb == 4);
        CHECK(len == 64 + n * tb);
        CHECK(hlm_shard_eot_id(s) < vocab && hlm_shard_n_docs(s) <= n);
        uint32_t *u = malloc((n ? n : 1) * sizeof *u);
        int32_t *i32 = malloc((n ? n : 1) * sizeof *i32);
        CHECK(u && i32);
        hlm_shard_copy_u32(s, 0, (size_t)n, u);
        hlm_shard_copy_i32(s, 0, (size_t)n, i32);
        int in_range = 1;
        for (uint64_t i = 0; i < n; i++) {
            uint32_t v = hlm_shard_token(s, i);
            CHECK(u[i] == v && (uint32_t)i32[i] == v);
            in_range &= v < vocab;
        }
        hlm_status v = hlm_shard_verify(s, &err);
        if (verify) CHECK(v == HLM_OK && in_range);
        if (v == HLM_OK && vocab <= (1u << 31)) check_loader(u, (size_t)n, vocab, hlm_shard_eot_id(s), data[48]);
        free(u);
        free(i32);
        hlm_shard_close(s);
    }
    return 0;
}
