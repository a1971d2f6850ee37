/* Sentence embeddings of the inference engine (hlm_engine_embed, src/infer/engine.c).
 *
 * Reference: Hugging Face transformers. tools/gen_model_fixtures.py runs the tiny GPT-2 and Llama
 * of tests/fixtures/model/ (GPT2Model / LlamaModel under the LM heads, eager attention, float32)
 * on prompts of 1, 7 and 32 tokens (32: the whole context) and stores last_hidden_state (after
 * ln_f / the final RMSNorm) averaged over the positions and scaled to unit length
 * (embed.safetensors). The f32 engine over the same weights must give the same unit vectors
 * within TOL_TORCH per element. The fixtures' README gives float32 PyTorch's distance from a
 * float64 run of the same computation: 1.1e-7 (GPT-2) and 1.8e-7 (Llama); our float32 sums run
 * in another order (blocked GEMMs, tiled attention), so our distance is of that size, a few times
 * it at most. TOL_TORCH is about 50x that, while the mistakes this test is for are three orders
 * larger: the last position's state instead of the mean is 0.29-0.46 away on the 7- and
 * 32-token prompts, the output of the layer before the last 0.26-0.52 on every prompt (both
 * measured with PyTorch), the residual stream before the final norm 4e-2 on the one-token prompt
 * (measured here); a missing scaling fails the unit length.
 *
 * Then, against the f32 engine (itself held to PyTorch above):
 * - the engine over the checkpoint's mapping (hlm_engine_load) and over the same model: equal
 *   bit for bit (the same layers on the same floats);
 * - quantized weights change the function, so they are held to a cosine: Q8_0 > 0.99 (per weight
 *   1/254 of a block's amax, the engine test's logits are within 3%), Q4_0 > 0.95 (1/16);
 * - GGUF files (hlm_engine_open_gguf: GGML's q/k row order, interleaved RoPE) of a random-init
 *   GPT-2, a Llama with GQA and an untied head and a tied Llama: F32 within TOL_TORCH of the
 *   engine over the model (the pairs are rotated in another order), Q8_0 cosine > 0.99;
 * - sequences: the embedding's sequence is empty afterwards, whatever it held before (the result
 *   is that of a fresh engine, bit for bit), and the other sequences continue as if nothing had
 *   run between their calls;
 * - refusals: a token outside the vocabulary (HLM_ERR_RANGE), n > ctx (HLM_ERR_RANGE), n < 1 and a
 *   sequence out of range (HLM_ERR_INVALID) leave the sequence as it was and the engine usable. */
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

#include "hyperlm/buf.h"
#include "hyperlm/file.h"
#include "hyperlm/model.h"
#include "infer/engine.h"
#include "infer/gguf_model.h"
#include "model/checkpoint.h"
#include "model/safetensors.h"
#include "tmpdir.h"
#include "tiny_tokenizer.h"
#include "fixtures.h"
#include "tokenizer/bytelevel.h"
#include "tokenizer/tokenizer_internal.h"

#define TOL_TORCH 1e-5 /* per element of a unit vector; f32 vs f64 PyTorch: 1.8e-7 */
#define COS_Q8 0.99
#define COS_Q4 0.95
#define N_PROMPTS 3    /* embed.safetensors: tokens.0..2, embedding.0..2 */

/* The fixture's model: config.json and every tensor of weights.safetensors. */
static hlm_model *model_from_fixture(const char *name)
{
    char rel[256];
    snprintf(rel, sizeof rel, "model/%s/config.json", name);
    char *path = fixture_path(rel);
    hlm_buf json = {0};
    hlm_error err = {0};
    if (hlm_file_read_all(path, &json, &err) != HLM_OK) fail_msg("%s", err.msg);
    hlm_model_config cfg;
    if (hlm_config_from_json((const char *)json.data, json.len, path, &cfg, &err) != HLM_OK) fail_msg("%s", err.msg);
    hlm_buf_free(&json);
    free(path);
    hlm_model *m = NULL;
    if (hlm_model_create(&cfg, &m, &err) != HLM_OK) fail_msg("%s: %s", name, err.msg);
    snprintf(rel, sizeof rel, "model/%s/weights.safetensors", name);
    hlm_st_file *w = open_st(rel);
    int n_tensors;
    const hlm_tensor_info *ti = hlm_model_tensors(m, &n_tensors);
    assert_int_equal(hlm_st_count(w), n_tensors);
    float *params = hlm_model_params(m);
    for (int i = 0; i < n_tensors; i++)
        if (hlm_st_read_f32(w, ti[i].name, ti[i].ndim, ti[i].shape, params + ti[i].offset, &err))
            fail_msg("%s: %s", name, err.msg);
    hlm_st_close(w);
    return m;
}

/* Prompt i of a fixture's embed.safetensors (tokens point into the mapping) and its embedding. */
static int fixture_prompt(const hlm_st_file *f, int i, const int32_t **tokens, float *expected, int C)
{
    char name[32];
    snprintf(name, sizeof name, "tokens.%d", i);
    const hlm_st_tensor *t = hlm_st_find(f, name);
    if (!t) fail_msg("fixture tensor %s is missing", name);
    assert_int_equal(t->dtype, HLM_DT_I32);
    assert_int_equal(t->ndim, 1);
    *tokens = t->data;
    snprintf(name, sizeof name, "embedding.%d", i);
    int64_t shape[1] = {C};
    hlm_error err = {0};
    if (hlm_st_read_f32(f, name, 1, shape, expected, &err) != HLM_OK) fail_msg("%s: %s", name, err.msg);
    return (int)t->shape[0];
}

static double dot(const float *a, const float *b, int n)
{
    double s = 0;
    for (int i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}

static double max_abs_diff(const float *a, const float *b, int n)
{
    double d = 0;
    for (int i = 0; i < n; i++)
        if (!(fabs((double)a[i] - b[i]) <= d)) d = fabs((double)a[i] - b[i]); /* NaN counts */
    return d;
}

static void embed_ok(hlm_engine *e, int seq, const int32_t *tokens, int n, float *out)
{
    hlm_error err = {0};
    hlm_status st = hlm_engine_embed(e, seq, tokens, n, out, &err);
    if (st != HLM_OK) fail_msg("hlm_engine_embed: %s", err.msg);
    assert_int_equal(hlm_engine_seq_pos(e, seq), 0);
}

/* The fixture models against transformers, and the other weight sources against the f32 engine. */
static void check_fixture(const char *name)
{
    hlm_model *m = model_from_fixture(name);
    const hlm_model_config *c = hlm_model_config_of(m);
    int C = c->d_model;
    char rel[256];
    snprintf(rel, sizeof rel, "model/%s/embed.safetensors", name);
    hlm_st_file *f = open_st(rel);
    assert_int_equal(hlm_st_count(f), 2 * N_PROMPTS);

    hlm_error err = {0};
    char dir[400];
    snprintf(dir, sizeof dir, "%s/%s", tmpdir, name);
    assert_int_equal(mkdir(dir, 0755), 0);
    assert_int_equal(hlm_checkpoint_save_model(m, dir, &err), HLM_OK);
    hlm_engine *f32 = NULL, *mapped = NULL, *q8 = NULL, *q4 = NULL;
    assert_int_equal(hlm_engine_create(m, HLM_QT_F32, 0, &f32, &err), HLM_OK);
    assert_int_equal(hlm_engine_load(dir, HLM_QT_F32, 0, &mapped, &err), HLM_OK);
    assert_int_equal(hlm_engine_create(m, HLM_QT_Q8_0, 0, &q8, &err), HLM_OK);
    assert_int_equal(hlm_engine_create(m, HLM_QT_Q4_0, 0, &q4, &err), HLM_OK);

    float *ref = malloc(sizeof(float) * C), *got = malloc(sizeof(float) * C), *b = malloc(sizeof(float) * C);
    for (int i = 0; i < N_PROMPTS; i++) {
        const int32_t *tokens;
        int n = fixture_prompt(f, i, &tokens, ref, C);
        embed_ok(f32, 0, tokens, n, got);
        double d = max_abs_diff(got, ref, C), len = sqrt(dot(got, got, C));
        printf("%s, %2d tokens: f32 vs transformers max |diff| %.2e, |v| - 1 = %.1e\n", name, n, d, len - 1);
        assert_true(d <= TOL_TORCH);
        assert_true(fabs(len - 1) < 1e-6);

        embed_ok(mapped, 0, tokens, n, b);
        assert_memory_equal(b, got, sizeof(float) * C);

        embed_ok(q8, 0, tokens, n, b);
        double c8 = dot(b, got, C);
        embed_ok(q4, 0, tokens, n, b);
        double c4 = dot(b, got, C);
        printf("%s, %2d tokens: cosine with f32: q8_0 %.6f, q4_0 %.6f\n", name, n, c8, c4);
        assert_true(c8 > COS_Q8);
        assert_true(c4 > COS_Q4);
        assert_true(c8 < 1.0 - 1e-9); /* the weights really are quantized */
    }
    free(ref);
    free(got);
    free(b);
    hlm_engine_free(f32);
    hlm_engine_free(mapped);
    hlm_engine_free(q8);
    hlm_engine_free(q4);
    hlm_st_close(f);
    hlm_model_free(m);
}

static void test_gpt2_vs_torch(void **state)
{
    (void)state;
    check_fixture("gpt2");
}

static void test_llama_vs_torch(void **state)
{
    (void)state;
    check_fixture("llama");
}

/* ---- sequences and refusals, on the fixture Llama ------------------------------------------- */

enum { P = 5 };
static const int32_t prompt[P] = {11, 42, 7, 93, 60};
static const int32_t text[9] = {3, 14, 15, 92, 65, 35, 89, 79, 32};

static void test_sequences(void **state)
{
    (void)state;
    hlm_model *m = model_from_fixture("llama");
    int C = hlm_model_config_of(m)->d_model, V = hlm_model_config_of(m)->vocab_size;
    hlm_error err = {0};
    hlm_engine *e = NULL, *fresh = NULL, *ref = NULL;
    assert_int_equal(hlm_engine_create(m, HLM_QT_F32, 0, &e, &err), HLM_OK);
    assert_int_equal(hlm_engine_create(m, HLM_QT_F32, 0, &fresh, &err), HLM_OK);
    assert_int_equal(hlm_engine_create(m, HLM_QT_F32, 0, &ref, &err), HLM_OK);
    assert_int_equal(hlm_engine_set_seqs(e, 3, &err), HLM_OK);
    float a[64], b[64];
    assert_true(C <= 64);
    embed_ok(fresh, 0, text, 9, a);

    /* seq 0 and 2 hold prompts, seq 1 some earlier content */
    const float *lg;
    assert_int_equal(hlm_engine_prefill_seq(e, 0, prompt, P, &lg, &err), HLM_OK);
    assert_int_equal(hlm_engine_prefill_seq(e, 1, text + 2, 6, &lg, &err), HLM_OK);
    assert_int_equal(hlm_engine_prefill_seq(e, 2, prompt + 1, 3, &lg, &err), HLM_OK);
    embed_ok(e, 1, text, 9, b);
    assert_memory_equal(a, b, sizeof(float) * C); /* what seq 1 held is gone */
    assert_int_equal(hlm_engine_seq_pos(e, 0), P);
    assert_int_equal(hlm_engine_seq_pos(e, 2), 3);
    /* seq 2's prompt goes the same way */
    embed_ok(e, 2, text, 9, b);
    assert_memory_equal(a, b, sizeof(float) * C);

    /* seq 0 continues: the same logits as an engine that ran only seq 0's tokens */
    const float *lr;
    assert_int_equal(hlm_engine_prefill(ref, prompt, P, &lr, &err), HLM_OK);
    int32_t next = 17;
    assert_int_equal(hlm_engine_prefill_seq(e, 0, &next, 1, &lg, &err), HLM_OK);
    assert_int_equal(hlm_engine_decode(ref, next, &lr, &err), HLM_OK);
    assert_memory_equal(lg, lr, sizeof(float) * (size_t)V);
    assert_int_equal(hlm_engine_seq_pos(e, 0), P + 1);

    /* a sequence emptied by an embedding takes a prompt from position 0 (fresh's seq 0 too) */
    assert_int_equal(hlm_engine_prefill_seq(e, 1, prompt, P, &lg, &err), HLM_OK);
    assert_int_equal(hlm_engine_prefill(fresh, prompt, P, &lr, &err), HLM_OK);
    assert_memory_equal(lg, lr, sizeof(float) * (size_t)V);
    hlm_engine_free(e);
    hlm_engine_free(fresh);
    hlm_engine_free(ref);
    hlm_model_free(m);
}

static void test_refusals(void **state)
{
    (void)state;
    hlm_model *m = model_from_fixture("gpt2");
    int C = hlm_model_config_of(m)->d_model, V = hlm_model_config_of(m)->vocab_size;
    hlm_error err = {0};
    hlm_engine *e = NULL;
    enum { CTX = 8 };
    assert_int_equal(hlm_engine_create(m, HLM_QT_F32, CTX, &e, &err), HLM_OK);
    assert_int_equal(hlm_engine_set_seqs(e, 2, &err), HLM_OK);
    float want[64], got[64];
    assert_true(C <= 64);
    embed_ok(e, 1, text, CTX, want); /* the whole context fits */
    const float *lg;
    assert_int_equal(hlm_engine_prefill_seq(e, 1, prompt, 3, &lg, &err), HLM_OK);

    int32_t bad[CTX];
    memcpy(bad, text, sizeof bad);
    bad[4] = V;
    assert_int_equal(hlm_engine_embed(e, 1, bad, CTX, got, &err), HLM_ERR_RANGE);
    assert_non_null(strstr(err.msg, "vocabulary"));
    bad[4] = -1;
    assert_int_equal(hlm_engine_embed(e, 1, bad, CTX, got, &err), HLM_ERR_RANGE);
    assert_int_equal(hlm_engine_embed(e, 1, text, CTX + 1, got, &err), HLM_ERR_RANGE);
    assert_non_null(strstr(err.msg, "context"));
    assert_int_equal(hlm_engine_embed(e, 1, text, 0, got, &err), HLM_ERR_INVALID);
    assert_int_equal(hlm_engine_embed(e, 2, text, 3, got, &err), HLM_ERR_INVALID);
    assert_int_equal(hlm_engine_embed(e, -1, text, 3, got, &err), HLM_ERR_INVALID);
    assert_int_equal(hlm_engine_seq_pos(e, 1), 3); /* refusals leave the sequence as it was */

    /* and the engine works on: the same embedding, and seq 1 continues */
    embed_ok(e, 0, text, CTX, got);
    assert_memory_equal(want, got, sizeof(float) * C);
    assert_int_equal(hlm_engine_seq_pos(e, 1), 3);
    assert_int_equal(hlm_engine_prefill_seq(e, 1, prompt + 3, 2, &lg, &err), HLM_OK);
    assert_int_equal(hlm_engine_seq_pos(e, 1), 5);
    hlm_engine_free(e);
    hlm_model_free(m);
}

/* ---- GGUF files ----------------------------------------------------------------------------- */

enum { GV = 288 }; /* a byte-level vocabulary of 260 tokens, padded: room for GGUF's tokenizer */

static hlm_model_config gguf_cfg(hlm_arch arch, int tied, int kv)
{
    hlm_model_config c = {0};
    c.arch = arch;
    c.vocab_size = GV;
    c.max_seq = 64;
    c.n_layer = 2;
    c.n_head = 4;
    c.n_kv_head = kv;
    c.d_model = 64;
    c.d_ff = arch == HLM_ARCH_GPT2 ? 256 : 96;
    c.head_dim = 16;
    c.norm_eps = 1e-5f;
    c.rope_theta = arch == HLM_ARCH_GPT2 ? 0.0f : 10000.0f;
    c.tie_embeddings = tied;
    c.init_std = 0.2f;
    c.bos_token_id = c.eos_token_id = -1;
    return c;
}

static void test_gguf(void **state)
{
    (void)state;
    hlm_model_config cfgs[3] = {gguf_cfg(HLM_ARCH_GPT2, 1, 4), gguf_cfg(HLM_ARCH_LLAMA, 0, 2),
                                gguf_cfg(HLM_ARCH_LLAMA, 1, 4)};
    const char *names[3] = {"gpt2", "llama untied gqa", "llama tied"};
    hlm_qtype types[2] = {HLM_QT_F32, HLM_QT_Q8_0};
    int32_t toks[40];
    for (int i = 0; i < 40; i++) toks[i] = (int32_t)((i * 97 + 13) % GV);
    const int lens[3] = {1, 6, 40}; /* 40: quantized matrices take the dequantized-tile path */
    char path[400];
    snprintf(path, sizeof path, "%s/embed.gguf", tmpdir);
    for (int k = 0; k < 3; k++) {
        hlm_error err = {0};
        hlm_model *m = NULL;
        assert_int_equal(hlm_model_create(&cfgs[k], &m, &err), HLM_OK);
        hlm_model_init_weights(m, 31 + (uint64_t)k);
        hlm_engine *ref = NULL;
        assert_int_equal(hlm_engine_create(m, HLM_QT_F32, 0, &ref, &err), HLM_OK);
        for (int t = 0; t < 2; t++) {
            hlm_status s = hlm_gguf_export(m, tokenizer_path(), types[t], "tiny", path, &err);
            if (s) fail_msg("%s", err.msg);
            hlm_engine *e = NULL;
            s = hlm_engine_open_gguf(path, 0, &e, NULL, &err);
            if (s) fail_msg("%s", err.msg);
            assert_int_equal(hlm_engine_wtype(e), types[t]);
            for (int j = 0; j < 3; j++) {
                float a[64], b[64];
                embed_ok(ref, 0, toks, lens[j], a);
                embed_ok(e, 0, toks, lens[j], b);
                double d = max_abs_diff(a, b, 64), cs = dot(a, b, 64);
                printf("gguf %s %s, %2d tokens: vs the f32 engine max |diff| %.2e, cosine %.6f\n", names[k],
                       hlm_qtype_name(types[t]), lens[j], d, cs);
                if (types[t] == HLM_QT_F32) assert_true(d <= TOL_TORCH);
                else assert_true(cs > COS_Q8);
            }
            hlm_engine_free(e);
        }
        hlm_engine_free(ref);
        hlm_model_free(m);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gpt2_vs_torch), cmocka_unit_test(test_llama_vs_torch), cmocka_unit_test(test_sequences),
        cmocka_unit_test(test_refusals),      cmocka_unit_test(test_gguf),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
