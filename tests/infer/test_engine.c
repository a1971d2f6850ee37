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
#include <sys/stat.h>

#include "hyperlm/model.h"
#include "infer/engine.h"
#include "infer/qpack.h"
#include "model/checkpoint.h"
#include "model/gemm.h"
#include "tmpdir.h"

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

/* Several sequences: a batched prefill gives each prompt the logits of its own prefill (1e-5), a
 * batched decode step gives each sequence the logits that its own
 * single-sequence decode gives (f32: the gemm over 3 rows against 3 gemms over 1 row, 1e-5 of the
 * largest logit; q8_0: the same dot products row by row, so equal to 1e-6), caches stay apart,
 * truncation continues a sequence as if the cut-off tokens had never been there, and the calls
 * refuse a sequence out of range, named twice, or full. */
static void test_batch(void **state)
{
    (void)state;
    hlm_qtype types[2] = {HLM_QT_F32, HLM_QT_Q8_0};
    double tol[2] = {1e-5, 1e-6};
    const char *presets[2] = {"tiny-llama", "tiny-gpt2"};
    for (int p = 0; p < 2; p++)
        for (int t = 0; t < 2; t++) {
            hlm_error err = {0};
            hlm_model_config c = preset(presets[p]);
            hlm_model *m = make_model(&c, 7);
            hlm_engine *one = NULL, *many = NULL;
            assert_int_equal(hlm_engine_create(m, types[t], 32, &one, &err), HLM_OK);
            assert_int_equal(hlm_engine_create(m, types[t], 32, &many, &err), HLM_OK);
            assert_int_equal(hlm_engine_set_seqs(many, 3, &err), HLM_OK);
            assert_int_equal(hlm_engine_seqs(many), 3);
            /* prompts of 3, 5 and 2 tokens */
            int32_t prompts[3][5] = {{1, 2, 3}, {400, 401, 402, 403, 404}, {7, 9}};
            int plen[3] = {3, 5, 2};
            const float *lg;
            /* the three prompts in one batched prefill, against each one alone */
            int seqs0[3] = {0, 1, 2};
            int32_t cat[10];
            for (int k = 0, r = 0; k < 3; k++)
                for (int i = 0; i < plen[k]; i++) cat[r++] = prompts[k][i];
            assert_int_equal(hlm_engine_prefill_batch(many, seqs0, cat, plen, 3, &lg, &err), HLM_OK);
            float pre[3][512];
            memcpy(pre, lg, sizeof pre);
            for (int k = 0; k < 3; k++) {
                assert_int_equal(hlm_engine_seq_pos(many, k), plen[k]);
                hlm_engine_reset(one);
                assert_int_equal(hlm_engine_prefill(one, prompts[k], plen[k], &lg, &err), HLM_OK);
                assert_true(rel_err(pre[k], lg, c.vocab_size) < 1e-5);
            }
            int32_t next[3] = {11, 12, 13};
            for (int step = 0; step < 4; step++) {
                int seqs[3] = {2, 0, 1}; /* any order */
                int32_t toks[3] = {next[2], next[0], next[1]};
                assert_int_equal(hlm_engine_decode_batch(many, seqs, toks, 3, &lg, &err), HLM_OK);
                float got[3][512];
                for (int i = 0; i < 3; i++) memcpy(got[seqs[i]], lg + (size_t)i * c.vocab_size, sizeof got[0]);
                for (int k = 0; k < 3; k++) {
                    /* the reference: sequence k alone, everything so far in one engine */
                    int32_t all[16];
                    int n = 0;
                    for (int i = 0; i < plen[k]; i++) all[n++] = prompts[k][i];
                    for (int s2 = 0; s2 <= step; s2++) all[n++] = (int32_t)(11 + k + 3 * s2);
                    hlm_engine_reset(one);
                    assert_int_equal(hlm_engine_prefill(one, all, plen[k], &lg, &err), HLM_OK);
                    for (int i = plen[k]; i < n; i++) assert_int_equal(hlm_engine_decode(one, all[i], &lg, &err), HLM_OK);
                    assert_true(rel_err(got[k], lg, c.vocab_size) < tol[t]);
                    assert_int_equal(hlm_engine_seq_pos(many, k), n);
                }
                for (int k = 0; k < 3; k++) next[k] += 3;
            }
            /* truncation: sequence 1 back to its prompt, then the same first step again */
            float first[512];
            hlm_engine_reset(one);
            assert_int_equal(hlm_engine_prefill(one, prompts[1], 5, &lg, &err), HLM_OK);
            assert_int_equal(hlm_engine_decode(one, 12, &lg, &err), HLM_OK);
            memcpy(first, lg, sizeof first);
            hlm_engine_seq_truncate(many, 1, 5);
            assert_int_equal(hlm_engine_seq_pos(many, 1), 5);
            int s1 = 1;
            int32_t t12 = 12;
            assert_int_equal(hlm_engine_decode_batch(many, &s1, &t12, 1, &lg, &err), HLM_OK);
            assert_true(rel_err(lg, first, c.vocab_size) < tol[t]);
            /* refusals, with nothing changed */
            int bad_seqs[2] = {0, 0}, out_of_range = 3;
            int32_t two[2] = {1, 2};
            int before = hlm_engine_seq_pos(many, 0);
            assert_int_equal(hlm_engine_decode_batch(many, bad_seqs, two, 2, &lg, &err), HLM_ERR_INVALID);
            assert_non_null(strstr(err.msg, "twice"));
            assert_int_equal(hlm_engine_decode_batch(many, &out_of_range, two, 1, &lg, &err), HLM_ERR_INVALID);
            assert_int_equal(hlm_engine_prefill_seq(many, -1, two, 1, &lg, &err), HLM_ERR_INVALID);
            assert_int_equal(hlm_engine_seq_pos(many, 0), before);
            assert_int_equal(hlm_engine_seq_pos(many, 3), -1);
            assert_int_equal(hlm_engine_set_seqs(many, 0, &err), HLM_ERR_RANGE);
            int zero_len[1] = {0};
            assert_int_equal(hlm_engine_prefill_batch(many, seqs0, two, zero_len, 1, &lg, &err), HLM_ERR_INVALID);
            int32_t outside[2] = {1, 100000};
            int len2[1] = {2};
            assert_int_equal(hlm_engine_prefill_batch(many, seqs0, outside, len2, 1, &lg, &err), HLM_ERR_RANGE);
            assert_int_equal(hlm_engine_seq_pos(many, 0), before);
            /* a full sequence */
            int32_t fill[32];
            for (int i = 0; i < 32; i++) fill[i] = i;
            hlm_engine_seq_truncate(many, 2, 0);
            assert_int_equal(hlm_engine_prefill_seq(many, 2, fill, 32, &lg, &err), HLM_OK);
            int s2 = 2;
            assert_int_equal(hlm_engine_decode_batch(many, &s2, two, 1, &lg, &err), HLM_ERR_RANGE);
            assert_non_null(strstr(err.msg, "full"));
            hlm_engine_free(one);
            hlm_engine_free(many);
            hlm_model_free(m);
        }
}

/* A prompt of many rows multiplies quantized matrices as dequantized tiles, in bf16 where the CPU
 * has it: against fp32 tiles the logits move by bf16's rounding of activations and weights
 * (relative 2^-9 each, summed over K = 64..256 terms in fp32), far inside the Q8_0 budget; 1e-2 of
 * the largest logit. And the tile path agrees with the dot-product path (decode steps) to the
 * quantization of activations (the engine test's Q8_0 budget against f32, 3%). */
static void test_prefill_paths(void **state)
{
    (void)state;
    hlm_error err = {0};
    hlm_model_config c = preset("tiny-llama");
    hlm_model *m = make_model(&c, 9);
    int32_t toks[40];
    for (int i = 0; i < 40; i++) toks[i] = (i * 53 + 7) % 512;
    hlm_engine *e = NULL;
    assert_int_equal(hlm_engine_create(m, HLM_QT_Q8_0, 64, &e, &err), HLM_OK);
    const float *lg;
    float fp32[512], bf16[512];
    hlm_engine_set_bf16_prefill(e, 0);
    assert_int_equal(hlm_engine_prefill(e, toks, 40, &lg, &err), HLM_OK);
    memcpy(fp32, lg, sizeof fp32);
    hlm_engine_reset(e);
    hlm_engine_set_bf16_prefill(e, 1);
    assert_int_equal(hlm_engine_prefill(e, toks, 40, &lg, &err), HLM_OK);
    memcpy(bf16, lg, sizeof bf16);
    double d = rel_err(bf16, fp32, 512);
    printf("q8_0 prefill of 40 rows: bf16 tiles vs fp32 tiles %.2e%s\n", d,
           hlm_gemm_bf16_supported() ? "" : " (no native bf16 here: both fp32)");
    assert_true(d < 1e-2);
    hlm_engine_reset(e);
    for (int i = 0; i < 40; i++) assert_int_equal(hlm_engine_decode(e, toks[i], &lg, &err), HLM_OK);
    d = rel_err(lg, fp32, 512);
    printf("q8_0: token by token vs fp32 tiles %.2e\n", d);
    assert_true(d < 0.03);
    hlm_engine_free(e);
    hlm_model_free(m);
}

/* S sequences of a 3-token prompt each and their next tokens, all ids below V. */
static void batch_inputs(int S, int V, int *seqs, int *lens, int32_t *prompt, int32_t *step)
{
    for (int i = 0; i < S; i++) {
        seqs[i] = i;
        lens[i] = 3;
        step[i] = (i * 31 + 5) % V;
        for (int k = 0; k < 3; k++) prompt[i * 3 + k] = (i * 7 + k * 13 + 1) % V;
    }
}

/* Packed bf16 copies of Q8_0 weights (hlm_engine_pack_weights, HLM_PACK_BF16): a decode step of 8 sequences
 * multiplies from them; its logits must stay within bf16 rounding of the same step on the
 * quantized dot products (1e-2 of the largest logit, as the bf16 prefill tiles above), and steps
 * of fewer than 6 rows must be unchanged (bit for bit: they keep the dot products). */
static void test_bf16_weights(void **state)
{
    (void)state;
    hlm_error err = {0};
    hlm_model_config c = preset("tiny-llama");
    hlm_model *m = make_model(&c, 13);
    enum { S = 8, V = 512 };
    hlm_engine *plain = NULL, *packed = NULL;
    assert_int_equal(hlm_engine_create(m, HLM_QT_Q8_0, 64, &plain, &err), HLM_OK);
    assert_int_equal(hlm_engine_create(m, HLM_QT_Q8_0, 64, &packed, &err), HLM_OK);
    size_t bytes = 0;
    assert_int_equal(hlm_engine_pack_weights(packed, HLM_PACK_BF16, &bytes, &err), HLM_OK);
    printf("bf16 copies: %zu bytes%s\n", bytes, hlm_gemm_bf16_supported() ? "" : " (no native bf16 here: none made)");
    if (hlm_gemm_bf16_supported()) assert_true(bytes > 0);
    hlm_engine *es[2] = {plain, packed};
    static float out[2][S * V];
    int seqs[S];
    int32_t prompt[S * 3], step[S];
    int lens[S];
    batch_inputs(S, V, seqs, lens, prompt, step);
    for (int k = 0; k < 2; k++) {
        const float *lg;
        assert_int_equal(hlm_engine_set_seqs(es[k], S, &err), HLM_OK);
        assert_int_equal(hlm_engine_prefill_batch(es[k], seqs, prompt, lens, S, &lg, &err), HLM_OK);
        assert_int_equal(hlm_engine_decode_batch(es[k], seqs, step, S, &lg, &err), HLM_OK);
        memcpy(out[k], lg, sizeof out[k]);
    }
    double worst = 0;
    for (int i = 0; i < S; i++) {
        double d = rel_err(out[1] + i * V, out[0] + i * V, V);
        if (d > worst) worst = d;
    }
    printf("q8_0 decode of %d sequences: packed bf16 vs quantized dots %.2e\n", S, worst);
    assert_true(worst < 1e-2);
    /* 2 sequences of one prompt token (from fresh caches): 2 rows, the dot products in both */
    int ones[2] = {1, 1};
    for (int k = 0; k < 2; k++) {
        const float *lg;
        assert_int_equal(hlm_engine_set_seqs(es[k], 2, &err), HLM_OK);
        assert_int_equal(hlm_engine_prefill_batch(es[k], seqs, prompt, ones, 2, &lg, &err), HLM_OK);
        assert_int_equal(hlm_engine_decode_batch(es[k], seqs, step, 2, &lg, &err), HLM_OK);
        memcpy(out[k], lg, sizeof(float) * 2 * V);
    }
    assert_memory_equal(out[0], out[1], sizeof(float) * 2 * V);
    hlm_engine_free(plain);
    hlm_engine_free(packed);
    hlm_model_free(m);
}

/* AMX int8 copies (hlm_engine_pack_weights, HLM_PACK_INT8) of Q8_0 and Q4_0 weights: decode
 * steps of 2 and 8 sequences multiply from them. They compute the dot products' own sums in
 * another order, so the logits must stay within fp32 rounding of the unpacked engine's (1e-5 of
 * the largest logit, against the 1e-2 the bf16 copies are allowed), and a step of one row (the
 * dot products in both) must be unchanged bit for bit. */
static void test_int8_weights(void **state)
{
    (void)state;
    hlm_error err = {0};
    hlm_model_config c = preset("tiny-llama");
    hlm_model *m = make_model(&c, 17);
    enum { S = 8, V = 512 };
    hlm_qtype types[2] = {HLM_QT_Q8_0, HLM_QT_Q4_0};
    for (int t = 0; t < 2; t++) {
        hlm_engine *plain = NULL, *packed = NULL;
        assert_int_equal(hlm_engine_create(m, types[t], 64, &plain, &err), HLM_OK);
        assert_int_equal(hlm_engine_create(m, types[t], 64, &packed, &err), HLM_OK);
        size_t bytes = 0;
        assert_int_equal(hlm_engine_pack_weights(packed, HLM_PACK_INT8, &bytes, &err), HLM_OK);
        if (!hlm_qpack_supported()) {
            assert_true(bytes == 0);
            printf("SKIPPED: no AMX int8 tiles on this CPU or OS\n");
            hlm_engine_free(plain);
            hlm_engine_free(packed);
            hlm_model_free(m);
            skip();
        }
        assert_true(bytes > 0);
        hlm_engine *es[2] = {plain, packed};
        static float out[2][S * V];
        int seqs[S], lens[S];
        int32_t prompt[S * 3], step[S];
        batch_inputs(S, V, seqs, lens, prompt, step);
        int counts[3] = {S, 2, 1};
        for (int q = 0; q < 3; q++) {
            int ns = counts[q];
            for (int k = 0; k < 2; k++) {
                const float *lg;
                assert_int_equal(hlm_engine_set_seqs(es[k], ns, &err), HLM_OK);
                /* the prompts go in as decode steps too (a prefill of more than 16 rows takes
                 * the dequantized tiles in the plain engine), then one step of the next tokens */
                for (int t = 0; t < 3; t++) {
                    int32_t col[S];
                    for (int i = 0; i < ns; i++) col[i] = prompt[i * 3 + t];
                    assert_int_equal(hlm_engine_decode_batch(es[k], seqs, col, ns, &lg, &err), HLM_OK);
                }
                assert_int_equal(hlm_engine_decode_batch(es[k], seqs, step, ns, &lg, &err), HLM_OK);
                memcpy(out[k], lg, sizeof(float) * (size_t)ns * V);
            }
            double worst = 0;
            for (int i = 0; i < ns; i++) {
                double d = rel_err(out[1] + i * V, out[0] + i * V, V);
                if (d > worst) worst = d;
            }
            printf("%s decode of %d sequences: int8 tiles vs quantized dots %.2e\n", hlm_qtype_name(types[t]), ns, worst);
            if (ns == 1) assert_memory_equal(out[0], out[1], sizeof(float) * V);
            else assert_true(worst < 1e-5);
            if (ns != S) continue;
            /* the packed engine's prefill of all 24 prompt rows at once (chunks of 16 rows
             * against each group of weights): the same sums again */
            const float *lg;
            assert_int_equal(hlm_engine_set_seqs(packed, S, &err), HLM_OK);
            assert_int_equal(hlm_engine_prefill_batch(packed, seqs, prompt, lens, S, &lg, &err), HLM_OK);
            assert_int_equal(hlm_engine_decode_batch(packed, seqs, step, S, &lg, &err), HLM_OK);
            worst = 0;
            for (int i = 0; i < S; i++) {
                double d = rel_err(lg + i * V, out[0] + i * V, V);
                if (d > worst) worst = d;
            }
            printf("%s prefill of %d rows then a step: int8 tiles vs quantized dots %.2e\n", hlm_qtype_name(types[t]),
                   S * 3, worst);
            assert_true(worst < 1e-5);
        }
        hlm_engine_free(plain);
        hlm_engine_free(packed);
    }
    hlm_model_free(m);
}

/* hlm_engine_load with f32 weights runs on model.safetensors' mapping (q/k/v and gate/up found
 * back to back there, so the same products as over the model): its logits equal, bit for bit,
 * those of the engine over the model the checkpoint was saved from; and a checkpoint whose
 * tensor has the wrong shape is refused with the tensor named. */
static void test_load_mapped(void **state)
{
    (void)state;
    const char *presets[3] = {"tiny-llama", "tiny-gpt2", "tiny-llama-tied"};
    for (int p = 0; p < 3; p++) {
        hlm_error err = {0};
        hlm_model_config c = preset(p == 2 ? "tiny-llama" : presets[p]);
        if (p == 2) c.tie_embeddings = 1;
        hlm_model *m = make_model(&c, 21);
        char dir[400];
        snprintf(dir, sizeof dir, "%s/%s", tmpdir, presets[p]);
        assert_int_equal(mkdir(dir, 0755), 0);
        assert_int_equal(hlm_checkpoint_save_model(m, dir, &err), HLM_OK);
        hlm_engine *a = NULL, *b = NULL;
        assert_int_equal(hlm_engine_create(m, HLM_QT_F32, 0, &a, &err), HLM_OK);
        hlm_status st = hlm_engine_load(dir, HLM_QT_F32, 0, &b, &err);
        if (st) fprintf(stderr, "%s\n", err.msg);
        assert_int_equal(st, HLM_OK);
        int32_t toks[10] = {3, 14, 15, 92, 65, 35, 89, 79, 32, 38};
        const float *la, *lb;
        assert_int_equal(hlm_engine_prefill(a, toks, 8, &la, &err), HLM_OK);
        assert_int_equal(hlm_engine_prefill(b, toks, 8, &lb, &err), HLM_OK);
        assert_memory_equal(la, lb, sizeof(float) * (size_t)c.vocab_size);
        assert_int_equal(hlm_engine_decode(a, toks[8], &la, &err), HLM_OK);
        assert_int_equal(hlm_engine_decode(b, toks[8], &lb, &err), HLM_OK);
        assert_memory_equal(la, lb, sizeof(float) * (size_t)c.vocab_size);
        hlm_engine_free(a);
        hlm_engine_free(b);
        hlm_model_free(m);
    }
    /* a checkpoint saved from another shape, behind this one's config.json */
    hlm_error err = {0};
    hlm_model_config c = preset("tiny-llama"), c2 = c;
    c2.d_ff = 160;
    hlm_model *m2 = make_model(&c2, 1);
    char dir[400], cmd[1000];
    snprintf(dir, sizeof dir, "%s/wrong", tmpdir);
    assert_int_equal(mkdir(dir, 0755), 0);
    assert_int_equal(hlm_checkpoint_save_model(m2, dir, &err), HLM_OK);
    hlm_model *m = make_model(&c, 1);
    char good[400];
    snprintf(good, sizeof good, "%s/good", tmpdir);
    assert_int_equal(mkdir(good, 0755), 0);
    assert_int_equal(hlm_checkpoint_save_model(m, good, &err), HLM_OK);
    snprintf(cmd, sizeof cmd, "cp %s/config.json %s/config.json", good, dir);
    assert_int_equal(system(cmd), 0);
    hlm_engine *e = (hlm_engine *)1;
    assert_int_equal(hlm_engine_load(dir, HLM_QT_F32, 0, &e, &err), HLM_ERR_FORMAT);
    assert_null(e);
    assert_non_null(strstr(err.msg, "mlp."));
    hlm_model_free(m);
    hlm_model_free(m2);
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
        cmocka_unit_test(test_batch),    cmocka_unit_test(test_prefill_paths), cmocka_unit_test(test_bf16_weights), cmocka_unit_test(test_int8_weights), cmocka_unit_test(test_load_mapped),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
