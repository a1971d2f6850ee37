/* The inference engine (src/infer/engine.c) against the training engine (src/model/model.c).
 *
 * Reference: hlm_model_forward over the whole sequence so far, whose logits at the last position
 * the engine must reproduce after a prefill and after every decode step, on tiny GPT-2 and Llama
 * models (GQA, tied and untied heads) with the training engine's random init. The f32 engine runs
 * the same layers on the same weights; only attention sums in another order (a softmax over the
 * cache against the training engine's tiled online softmax), so the logits agree to a few fp32
 * ulps of the activations: the test allows 1e-4 of the logit vector's largest magnitude
 * (measured: about 1e-6). Greedy generation must pick exactly the training engine's argmax.
 *
 * Quantized weights change the function itself, so they are compared with the f32 logits with an
 * error budget from the formats (Q8_0: 1/254 of a block's amax per weight and activation; Q4_0:
 * 1/16 per weight): Q8_0 within 3% of the largest logit magnitude and the same argmax on most
 * steps; Q4_0 within 25% (measured values are printed). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hyperlm/model.h"
#include "infer/engine.h"
#include "model/gemm.h"

static int argmax(const float *x, int n)
{
    int b = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[b]) b = i;
    return b;
}

/* max |a - b| / max |b| */
static double rel_err(const float *a, const float *b, int n)
{
    double d = 0, m = 0;
    for (int i = 0; i < n; i++) {
        if (fabs((double)a[i] - b[i]) > d) d = fabs((double)a[i] - b[i]);
        if (fabs((double)b[i]) > m) m = fabs((double)b[i]);
    }
    return m > 0 ? d / m : d;
}

static hlm_model *make_model(const hlm_model_config *cfg, uint64_t seed)
{
    hlm_error err = {0};
    hlm_model *m = NULL;
    assert_int_equal(hlm_model_create(cfg, &m, &err), HLM_OK);
    hlm_model_init_weights(m, seed);
    return m;
}

/* Logits of the training engine at the last of tokens[0..n). */
static const float *ref_logits(hlm_model *m, const int32_t *tokens, int n)
{
    hlm_error err = {0};
    assert_int_equal(hlm_model_forward(m, tokens, NULL, 1, n, NULL, &err), HLM_OK);
    return hlm_model_logits(m) + (size_t)(n - 1) * hlm_model_config_of(m)->vocab_size;
}

enum { PROMPT = 9, STEPS = 24 };

/* Prefill PROMPT tokens, then STEPS greedy decode steps; each step's logits against the training
 * engine's on the same sequence. Returns the worst relative error and counts argmax agreements. */
static double run_against_reference(hlm_model *m, hlm_qtype wt, int *same_argmax, int *steps, int check_greedy)
{
    const hlm_model_config *c = hlm_model_config_of(m);
    int V = c->vocab_size;
    hlm_error err = {0};
    hlm_engine *e = NULL;
    assert_int_equal(hlm_engine_create(m, wt, 0, &e, &err), HLM_OK);
    int32_t seq[PROMPT + STEPS + 1];
    uint64_t s = 12345;
    for (int i = 0; i < PROMPT; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        seq[i] = (int32_t)((s >> 33) % (uint64_t)V);
    }
    const float *lg = NULL;
    assert_int_equal(hlm_engine_prefill(e, seq, PROMPT, &lg, &err), HLM_OK);
    assert_int_equal(hlm_engine_pos(e), PROMPT);
    double worst = 0;
    *same_argmax = 0;
    *steps = 0;
    int n = PROMPT;
    for (int step = 0;; step++) {
        const float *ref = ref_logits(m, seq, n);
        double r = rel_err(lg, ref, V);
        if (r > worst) worst = r;
        int a = argmax(lg, V), b = argmax(ref, V);
        *same_argmax += a == b;
        (*steps)++;
        if (check_greedy) assert_int_equal(a, b); /* greedy generation == argmax of the reference */
        if (step == STEPS) break;
        /* the reference's greedy token, so that both run on one sequence even when they differ */
        seq[n++] = b;
        assert_int_equal(hlm_engine_decode(e, b, &lg, &err), HLM_OK);
        assert_int_equal(hlm_engine_pos(e), n);
    }
    hlm_engine_free(e);
    return worst;
}

static void check_config(const hlm_model_config *cfg, const char *name)
{
    hlm_model *m = make_model(cfg, 42);
    int same, steps;
    double e32 = run_against_reference(m, HLM_QT_F32, &same, &steps, 1);
    printf("%s f32: max rel err %.2e, argmax %d/%d\n", name, e32, same, steps);
    assert_true(e32 < 1e-4);
    assert_int_equal(same, steps);
    double e8 = run_against_reference(m, HLM_QT_Q8_0, &same, &steps, 0);
    printf("%s q8_0: max rel err %.2e, argmax %d/%d\n", name, e8, same, steps);
    assert_true(e8 < 0.03);
    assert_true(same * 10 >= steps * 8);
    double e4 = run_against_reference(m, HLM_QT_Q4_0, &same, &steps, 0);
    printf("%s q4_0: max rel err %.2e, argmax %d/%d\n", name, e4, same, steps);
    assert_true(e4 < 0.25);
    assert_true(e4 > e8); /* the coarser format is further away: the weights really are quantized */
    hlm_model_free(m);
}

static hlm_model_config preset(const char *name)
{
    hlm_model_config c;
    hlm_error err = {0};
    assert_int_equal(hlm_config_preset(name, &c, &err), HLM_OK);
    return c;
}

static void test_gpt2(void **state)
{
    (void)state;
    hlm_model_config c = preset("tiny-gpt2");
    check_config(&c, "tiny-gpt2");
}

static void test_llama(void **state)
{
    (void)state;
    hlm_model_config c = preset("tiny-llama"); /* GQA 4/2, untied head, d_ff 176 (kept f32) */
    check_config(&c, "tiny-llama");
    c.d_ff = 192; /* every matrix quantized */
    c.tie_embeddings = 1;
    check_config(&c, "tiny-llama-ff192-tied");
    c.n_kv_head = 1; /* multi-query */
    c.tie_embeddings = 0;
    check_config(&c, "tiny-llama-mqa");
}

/* Which matrices are quantized: K a multiple of 32 only; a tied head stays the f32 embedding. */
static void test_matrix_counts(void **state)
{
    (void)state;
    hlm_error err = {0};
    hlm_model_config c = preset("tiny-llama");
    hlm_model *m = make_model(&c, 1);
    hlm_engine *e = NULL;
    int q, f;
    assert_int_equal(hlm_engine_create(m, HLM_QT_Q8_0, 0, &e, &err), HLM_OK);
    hlm_engine_matrix_counts(e, &q, &f);
    assert_int_equal(q, 2 * 3 + 1); /* qkv, o, gate|up per layer + the untied head */
    assert_int_equal(f, 2);         /* down_proj: K = 176 */
    size_t q8 = hlm_engine_weight_bytes(e);
    hlm_engine_free(e);
    assert_int_equal(hlm_engine_create(m, HLM_QT_F32, 0, &e, &err), HLM_OK);
    hlm_engine_matrix_counts(e, &q, &f);
    assert_int_equal(q, 0);
    assert_int_equal(f, 9);
    assert_true(hlm_engine_weight_bytes(e) > 2 * q8);
    hlm_engine_free(e);
    hlm_model_free(m);
}

/* Prefill in pieces == prefill at once == token by token; reset starts over. */
static void test_chunking(void **state)
{
    (void)state;
    hlm_error err = {0};
    hlm_model_config c = preset("tiny-llama");
    hlm_model *m = make_model(&c, 3);
    int32_t toks[12] = {5, 77, 300, 1, 0, 511, 42, 42, 9, 100, 200, 300};
    float a[512], b[512];
    const float *lg;
    hlm_engine *e = NULL;
    assert_int_equal(hlm_engine_create(m, HLM_QT_F32, 32, &e, &err), HLM_OK);
    assert_int_equal(hlm_engine_prefill(e, toks, 12, &lg, &err), HLM_OK);
    memcpy(a, lg, sizeof a);
    hlm_engine_reset(e);
    assert_int_equal(hlm_engine_pos(e), 0);
    assert_int_equal(hlm_engine_prefill(e, toks, 5, &lg, &err), HLM_OK);
    assert_int_equal(hlm_engine_prefill(e, toks + 5, 7, &lg, &err), HLM_OK);
    memcpy(b, lg, sizeof b);
    assert_true(rel_err(b, a, 512) < 1e-5);
    hlm_engine_reset(e);
    for (int i = 0; i < 12; i++) assert_int_equal(hlm_engine_decode(e, toks[i], &lg, &err), HLM_OK);
    assert_true(rel_err(lg, a, 512) < 1e-5);
    hlm_engine_free(e);
    hlm_model_free(m);
}

/* Threads do not change the f32 results beyond the gemm's own summation order. */
static void test_threads(void **state)
{
    (void)state;
    hlm_error err = {0};
    hlm_model_config c = preset("tiny-gpt2");
    hlm_model *m = make_model(&c, 5);
    int32_t toks[20];
    for (int i = 0; i < 20; i++) toks[i] = (i * 37) % 512;
    float a[512];
    const float *lg;
    int before = hlm_get_threads();
    hlm_engine *e = NULL;
    hlm_set_threads(1);
    assert_int_equal(hlm_engine_create(m, HLM_QT_Q8_0, 0, &e, &err), HLM_OK);
    assert_int_equal(hlm_engine_prefill(e, toks, 20, &lg, &err), HLM_OK);
    memcpy(a, lg, sizeof a);
    hlm_engine_reset(e);
    hlm_set_threads(3);
    assert_int_equal(hlm_engine_prefill(e, toks, 20, &lg, &err), HLM_OK);
    assert_true(rel_err(lg, a, 512) < 1e-5);
    hlm_set_threads(before);
    hlm_engine_free(e);
    hlm_model_free(m);
}

static void test_bad_input(void **state)
{
    (void)state;
    hlm_error err = {0};
    hlm_model_config c = preset("tiny-gpt2");
    hlm_model *m = make_model(&c, 9);
    hlm_engine *e = NULL;
    assert_int_equal(hlm_engine_create(m, HLM_QT_Q4_1, 0, &e, &err), HLM_ERR_INVALID);
    assert_non_null(strstr(err.msg, "q4_1"));
    assert_null(e);
    assert_int_equal(hlm_engine_create(m, HLM_QT_F32, 129, &e, &err), HLM_ERR_RANGE);
    assert_int_equal(hlm_engine_create(m, HLM_QT_F32, -1, &e, &err), HLM_ERR_RANGE);
    assert_int_not_equal(hlm_engine_load("/nonexistent/hyperlm-model", HLM_QT_F32, 0, &e, &err), HLM_OK);
    assert_null(e);

    assert_int_equal(hlm_engine_create(m, HLM_QT_F32, 8, &e, &err), HLM_OK);
    const float *lg = (const float *)&err;
    int32_t toks[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    assert_int_equal(hlm_engine_decode(e, 512, &lg, &err), HLM_ERR_RANGE);
    assert_non_null(strstr(err.msg, "vocabulary"));
    assert_null(lg);
    assert_int_equal(hlm_engine_decode(e, -1, &lg, &err), HLM_ERR_RANGE);
    toks[3] = 600;
    assert_int_equal(hlm_engine_prefill(e, toks, 5, &lg, &err), HLM_ERR_RANGE);
    toks[3] = 4;
    assert_int_equal(hlm_engine_prefill(e, toks, 0, &lg, &err), HLM_ERR_INVALID);
    assert_int_equal(hlm_engine_prefill(e, toks, 9, &lg, &err), HLM_ERR_RANGE);
    assert_non_null(strstr(err.msg, "context"));
    assert_int_equal(hlm_engine_pos(e), 0); /* failures leave the cache as it was */
    assert_int_equal(hlm_engine_prefill(e, toks, 7, &lg, &err), HLM_OK);
    assert_int_equal(hlm_engine_prefill(e, toks, 2, &lg, &err), HLM_ERR_RANGE);
    assert_int_equal(hlm_engine_decode(e, 8, &lg, &err), HLM_OK);
    assert_int_equal(hlm_engine_decode(e, 9, &lg, &err), HLM_ERR_RANGE);
    assert_non_null(strstr(err.msg, "context overflow"));
    assert_int_equal(hlm_engine_pos(e), 8);
    hlm_engine_free(e);
    hlm_model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gpt2),     cmocka_unit_test(test_llama),    cmocka_unit_test(test_matrix_counts),
        cmocka_unit_test(test_chunking), cmocka_unit_test(test_threads),  cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
