/* libFuzzer target: Hugging Face config.json text (hlm_config_from_json).
 * Invariants checked:
 *  - any input either parses or fails with HLM_ERR_FORMAT and a message; never a crash, leak or
 *    undefined behaviour (sizes from the file are bounded before any arithmetic);
 *  - a parsed config validates, its parameter table is consistent (sorted, aligned, numel sums to
 *    hlm_config_num_params), and hlm_config_to_json -> hlm_config_from_json gives it back
 *    field for field, and the text again unchanged. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hyperlm/model.h"
#include "fuzz_check.h"

static int same(const hlm_model_config *a, const hlm_model_config *b)
{
    return a->arch == b->arch && a->vocab_size == b->vocab_size && a->max_seq == b->max_seq &&
           a->n_layer == b->n_layer && a->n_head == b->n_head && a->n_kv_head == b->n_kv_head &&
           a->d_model == b->d_model && a->d_ff == b->d_ff && a->head_dim == b->head_dim &&
           a->norm_eps == b->norm_eps && a->rope_theta == b->rope_theta && a->tie_embeddings == b->tie_embeddings &&
           a->init_std == b->init_std && a->bos_token_id == b->bos_token_id && a->eos_token_id == b->eos_token_id;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    hlm_model_config c, back;
    hlm_error err;
    if (hlm_config_from_json((const char *)data, len, "fuzz.json", &c, &err) != HLM_OK) {
        CHECK(err.code == HLM_ERR_FORMAT && err.msg[0]);
        return 0;
    }
    CHECK(hlm_config_validate(&c, &err) == HLM_OK);
    (void)hlm_config_flops_per_token(&c, c.max_seq);
    /* the table of small models only: a fuzzed config may describe 10^14 parameters, and the
     * table of 4096 layers is slow to build on every run */
    if (c.n_layer <= 64) {
        hlm_tensor_info *t;
        int n;
        CHECK(hlm_config_tensors(&c, &t, &n, &err) == HLM_OK);
        size_t end = 0, sum = 0;
        for (int i = 0; i < n; i++) {
            CHECK(t[i].offset >= end && t[i].name[0]);
            end = t[i].offset + t[i].numel;
            sum += t[i].numel;
        }
        CHECK(sum == hlm_config_num_params(&c));
        free(t);
    }
    char *json = hlm_config_to_json(&c);
    CHECK(json);
    CHECK(hlm_config_from_json(json, strlen(json), "round-trip.json", &back, &err) == HLM_OK);
    CHECK(same(&c, &back));
    char *again = hlm_config_to_json(&back);
    CHECK(again && !strcmp(json, again));
    free(again);
    free(json);
    return 0;
}
