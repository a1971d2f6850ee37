/* GGUF model export and import (src/infer/gguf_model.c).
 *
 * - f32 round trip on tiny Llama (untied, tied, GQA) and GPT-2 models: every parameter comes back
 *   bit for bit, and the engine's logits over the imported model are identical to the original's.
 * - The file as llama.cpp reads it, through our GGUF reader: metadata keys and values, tensor
 *   names, types and GGML dims; GPT-2's Conv1D weights transposed; Llama's q/k rows permuted, and
 *   the reason for it checked numerically: GGML's "normal" RoPE (adjacent pairs (2i, 2i+1), angle
 *   pos * base^(-2i/hd)) on the file's q and k equals, after the permutation, our rotate_half
 *   RoPE on the original rows (tolerance 1e-5 relative: two float32 evaluations of the same
 *   products in different orders).
 * - f16, q8_0 and q4_0 exports: the imported parameters and logits equal, bit for bit, those of
 *   the original whose matrices went through quant.c's quantize/dequantize along the file's rows;
 *   the logits' distance from the f32 model's is printed (f16 within 1%, q8_0 within 5% of the
 *   largest logit, the same order as the engine test's budget).
 * - Refusals: a SentencePiece tokenizer without scores (a gpt2 vocabulary relabelled "llama";
 *   SentencePiece itself is tested in tests/tokenizer/test_spm.c), a missing tensor, an unknown architecture, a weight type
 *   without an export, a tokenizer larger than the model's vocabulary.
 * A real llama.cpp file (SmolLM2) is tested in test_gguf_smollm2.c. */
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
#include "hyperlm/tokenizer.h"
#include "infer/engine.h"
#include "infer/gguf.h"
#include "infer/gguf_model.h"
#include "tmpdir.h"
#include "tiny_tokenizer.h"
#include "tokenizer/bytelevel.h"
#include "tokenizer/tokenizer_internal.h"

enum { V = 288 }; /* 256 bytes + 3 merges + 1 special = 260 tokens, then 28 "[PADn]" */

static hlm_model_config llama_cfg(int tied, int kv)
{
    hlm_model_config c = {0};
    c.arch = HLM_ARCH_LLAMA;
    c.vocab_size = V;
    c.max_seq = 64;
    c.n_layer = 2;
    c.n_head = 4;
    c.n_kv_head = kv;
    c.d_model = 64;
    c.d_ff = 96; /* a multiple of 32: down_proj quantizes too */
    c.head_dim = 16;
    c.norm_eps = 1e-5f;
    c.rope_theta = 10000.0f;
    c.tie_embeddings = tied;
    c.init_std = 0.2f;
    c.bos_token_id = c.eos_token_id = -1;
    return c;
}

static hlm_model_config gpt2_cfg(void)
{
    hlm_model_config c = llama_cfg(1, 4);
    c.arch = HLM_ARCH_GPT2;
    c.d_ff = 256;
    c.rope_theta = 0;
    return c;
}

static hlm_model *make_model(const hlm_model_config *cfg, uint64_t seed)
{
    hlm_error err = {0};
    hlm_model *m = NULL;
    assert_int_equal(hlm_model_create(cfg, &m, &err), HLM_OK);
    hlm_model_init_weights(m, seed);
    /* norms and biases away from 1 and 0, so that a mix-up between them shows */
    int n;
    const hlm_tensor_info *t = hlm_model_tensors(m, &n);
    float *p = hlm_model_params(m);
    for (int i = 0; i < n; i++)
        if (t[i].ndim == 1)
            for (size_t j = 0; j < t[i].numel; j++) p[t[i].offset + j] += 0.01f * (float)((j * 7 + (size_t)i) % 13) - 0.05f;
    return m;
}

static void export_model(hlm_model *m, hlm_qtype wt, const char *path)
{
    hlm_error err = {0};
    hlm_status s = hlm_gguf_export(m, tokenizer_path(), wt, "tiny", path, &err);
    if (s) fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(s, HLM_OK);
}

static hlm_model *import_model(const char *path, hlm_tokenizer **tok)
{
    hlm_error err = {0};
    hlm_model *m = NULL;
    hlm_status s = hlm_gguf_import(path, &m, tok, &err);
    if (s) fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(s, HLM_OK);
    return m;
}

/* Logits of the f32 engine after a fixed prompt and each of a few fixed decode steps (into out,
 * steps * V); fixed tokens, so that models whose argmax differs still see the same sequence. */
static void engine_logits(const hlm_model *m, float *out, int steps)
{
    hlm_error err = {0};
    hlm_engine *e = NULL;
    assert_int_equal(hlm_engine_create(m, HLM_QT_F32, 0, &e, &err), HLM_OK);
    int32_t prompt[6] = {5, 77, 256, 259, 12, 140};
    const float *lg = NULL;
    assert_int_equal(hlm_engine_prefill(e, prompt, 6, &lg, &err), HLM_OK);
    for (int s = 0; s < steps; s++) {
        memcpy(out + (size_t)s * V, lg, sizeof(float) * V);
        if (s + 1 < steps) assert_int_equal(hlm_engine_decode(e, (int32_t)(31 * s + 200) % V, &lg, &err), HLM_OK);
    }
    hlm_engine_free(e);
}

static double max_rel(const float *a, const float *b, size_t n)
{
    double d = 0, m = 0;
    for (size_t i = 0; i < n; i++) {
        d = fmax(d, fabs((double)a[i] - b[i]));
        m = fmax(m, fabs((double)b[i]));
    }
    return m > 0 ? d / m : d;
}

static const hlm_gguf_tensor *tensor(const hlm_gguf_file *f, const char *name, hlm_ggml_type type, uint64_t d0, uint64_t d1)
{
    const hlm_gguf_tensor *t = hlm_gguf_find_tensor(f, name);
    if (!t) fprintf(stderr, "missing tensor %s\n", name);
    assert_non_null(t);
    assert_int_equal(t->type, type);
    assert_int_equal(t->n_dims, d1 ? 2 : 1);
    assert_int_equal(t->dims[0], d0);
    if (d1) assert_int_equal(t->dims[1], d1);
    return t;
}

static uint32_t get_u32(const hlm_gguf_file *f, const char *key)
{
    uint32_t v = 0;
    hlm_error err = {0};
    assert_int_equal(hlm_gguf_get_u32(f, key, &v, &err), HLM_OK);
    return v;
}

static void assert_str(const hlm_gguf_file *f, const char *key, const char *want)
{
    hlm_gguf_str s;
    hlm_error err = {0};
    assert_int_equal(hlm_gguf_get_str(f, key, &s, &err), HLM_OK);
    assert_int_equal(s.len, strlen(want));
    assert_memory_equal(s.ptr, want, s.len);
}

/* Metadata and tensor layout as llama.cpp reads them. */
static void check_file(const char *path, const hlm_model_config *c, hlm_ggml_type mat, uint32_t ftype)
{
    hlm_gguf_file *f = NULL;
    hlm_error err = {0};
    assert_int_equal(hlm_gguf_open(path, &f, &err), HLM_OK);
    int llama = c->arch == HLM_ARCH_LLAMA;
    const char *a = llama ? "llama" : "gpt2";
    char k[128];
    assert_str(f, "general.architecture", a);
    assert_str(f, "general.name", "tiny");
#define U32(suffix) (snprintf(k, sizeof k, "%s.%s", a, suffix), get_u32(f, k))
    assert_int_equal(U32("block_count"), c->n_layer);
    assert_int_equal(U32("context_length"), c->max_seq);
    assert_int_equal(U32("embedding_length"), c->d_model);
    assert_int_equal(U32("feed_forward_length"), c->d_ff);
    assert_int_equal(U32("attention.head_count"), c->n_head);
    float eps = 0;
    if (llama) {
        assert_int_equal(U32("attention.head_count_kv"), c->n_kv_head);
        assert_int_equal(U32("rope.dimension_count"), c->head_dim);
        float base = 0;
        assert_int_equal(hlm_gguf_get_f32(f, "llama.rope.freq_base", &base, &err), HLM_OK);
        assert_true(base == c->rope_theta);
        assert_int_equal(hlm_gguf_get_f32(f, "llama.attention.layer_norm_rms_epsilon", &eps, &err), HLM_OK);
    } else {
        assert_null(hlm_gguf_find(f, "gpt2.attention.head_count_kv"));
        assert_int_equal(hlm_gguf_get_f32(f, "gpt2.attention.layer_norm_epsilon", &eps, &err), HLM_OK);
    }
#undef U32
    assert_true(eps == c->norm_eps);
    assert_int_equal(get_u32(f, "general.file_type"), ftype);
    /* tokenizer */
    assert_str(f, "tokenizer.ggml.model", "gpt2");
    assert_str(f, "tokenizer.ggml.pre", "gpt-2");
    const hlm_gguf_kv *toks, *types, *merges;
    assert_int_equal(hlm_gguf_get_array(f, "tokenizer.ggml.tokens", HLM_GGUF_STRING, &toks, &err), HLM_OK);
    assert_int_equal(hlm_gguf_get_array(f, "tokenizer.ggml.token_type", HLM_GGUF_INT32, &types, &err), HLM_OK);
    assert_int_equal(hlm_gguf_get_array(f, "tokenizer.ggml.merges", HLM_GGUF_STRING, &merges, &err), HLM_OK);
    assert_int_equal(toks->count, V);
    assert_int_equal(types->count, V);
    assert_int_equal(merges->count, 3);
    hlm_gguf_str s0 = hlm_gguf_arr_str(toks, 0), s256 = hlm_gguf_arr_str(toks, 258), sp = hlm_gguf_arr_str(toks, 259);
    hlm_gguf_str pad = hlm_gguf_arr_str(toks, V - 1), m2 = hlm_gguf_arr_str(merges, 2);
    assert_true(s0.len == 1 && s0.ptr[0] == '!');                        /* byte rank 0, as GPT-2 */
    assert_true(s256.len == 3 && !memcmp(s256.ptr, "\xc4\xa0t", 3)); /* "Ġt": byte-level alphabet */
    assert_true(sp.len == 13 && !memcmp(sp.ptr, "<|endoftext|>", 13));
    assert_true(pad.len == 8 && !memcmp(pad.ptr, "[PAD287]", 8));
    assert_true(m2.len == 4 && !memcmp(m2.ptr, "\xc4\xa0 t", 4));
    assert_int_equal(hlm_gguf_kv_elem(types, 0).i, 1);
    assert_int_equal(hlm_gguf_kv_elem(types, 259).i, 3);
    assert_int_equal(hlm_gguf_kv_elem(types, V - 1).i, 5);
    assert_int_equal(get_u32(f, "tokenizer.ggml.bos_token_id"), 259);
    assert_int_equal(get_u32(f, "tokenizer.ggml.eos_token_id"), 259);
    /* tensors */
    uint64_t C = (uint64_t)c->d_model, F = (uint64_t)c->d_ff, KV = (uint64_t)(c->n_kv_head * c->head_dim);
    tensor(f, "token_embd.weight", mat, C, V);
    tensor(f, "output_norm.weight", HLM_GGML_F32, C, 0);
    size_t n_expected;
    if (llama) {
        for (int i = 0; i < c->n_layer; i++) {
            char n[64];
#define T(name, ty, d0, d1) (snprintf(n, sizeof n, "blk.%d." name, i), tensor(f, n, ty, d0, d1))
            T("attn_norm.weight", HLM_GGML_F32, C, 0);
            T("attn_q.weight", mat, C, C);
            T("attn_k.weight", mat, C, KV);
            T("attn_v.weight", mat, C, KV);
            T("attn_output.weight", mat, C, C);
            T("ffn_norm.weight", HLM_GGML_F32, C, 0);
            T("ffn_gate.weight", mat, C, F);
            T("ffn_up.weight", mat, C, F);
            T("ffn_down.weight", mat, F, C);
        }
        if (c->tie_embeddings) assert_null(hlm_gguf_find_tensor(f, "output.weight"));
        else tensor(f, "output.weight", mat, C, V);
        n_expected = 2 + 9 * (size_t)c->n_layer + !c->tie_embeddings;
    } else {
        tensor(f, "position_embd.weight", HLM_GGML_F32, C, (uint64_t)c->max_seq);
        tensor(f, "output_norm.bias", HLM_GGML_F32, C, 0);
        for (int i = 0; i < c->n_layer; i++) {
            char n[64];
            T("attn_norm.weight", HLM_GGML_F32, C, 0);
            T("attn_norm.bias", HLM_GGML_F32, C, 0);
            T("attn_qkv.weight", mat, C, 3 * C);
            T("attn_qkv.bias", HLM_GGML_F32, 3 * C, 0);
            T("attn_output.weight", mat, C, C);
            T("attn_output.bias", HLM_GGML_F32, C, 0);
            T("ffn_norm.weight", HLM_GGML_F32, C, 0);
            T("ffn_norm.bias", HLM_GGML_F32, C, 0);
            T("ffn_up.weight", mat, C, F);
            T("ffn_up.bias", HLM_GGML_F32, F, 0);
            T("ffn_down.weight", mat, F, C);
            T("ffn_down.bias", HLM_GGML_F32, C, 0);
#undef T
        }
        assert_null(hlm_gguf_find_tensor(f, "output.weight"));
        n_expected = 4 + 12 * (size_t)c->n_layer;
    }
    assert_int_equal(hlm_gguf_tensor_count(f), n_expected);
    hlm_gguf_close(f);
}

/* The f32 round trip: bit-exact parameters, identical logits, and the file's orientation. */
static void roundtrip_f32(const hlm_model_config *cfg, const char *name)
{
    hlm_model *m = make_model(cfg, 7);
    const char *path = tmp_path(name);
    export_model(m, HLM_QT_F32, path);
    check_file(path, cfg, HLM_GGML_F32, 0);
    hlm_tokenizer *tok = NULL;
    hlm_model *b = import_model(path, &tok);
    const hlm_model_config *c2 = hlm_model_config_of(b);
    assert_int_equal(c2->arch, cfg->arch);
    assert_int_equal(c2->vocab_size, cfg->vocab_size);
    assert_int_equal(c2->max_seq, cfg->max_seq);
    assert_int_equal(c2->n_layer, cfg->n_layer);
    assert_int_equal(c2->n_head, cfg->n_head);
    assert_int_equal(c2->n_kv_head, cfg->n_kv_head);
    assert_int_equal(c2->d_model, cfg->d_model);
    assert_int_equal(c2->d_ff, cfg->d_ff);
    assert_int_equal(c2->tie_embeddings, cfg->tie_embeddings);
    assert_true(c2->norm_eps == cfg->norm_eps);
    if (cfg->arch == HLM_ARCH_LLAMA) assert_true(c2->rope_theta == cfg->rope_theta);
    assert_int_equal(hlm_model_num_params(b), hlm_model_num_params(m));
    int n;
    const hlm_tensor_info *t = hlm_model_tensors(m, &n);
    for (int i = 0; i < n; i++) {
        const hlm_tensor_info *u = hlm_model_find_tensor(b, t[i].name);
        assert_non_null(u);
        assert_memory_equal(hlm_model_params(m) + t[i].offset, hlm_model_params(b) + u->offset, t[i].numel * sizeof(float));
    }
    float *la = malloc(sizeof(float) * V * 4), *lb = malloc(sizeof(float) * V * 4);
    engine_logits(m, la, 4);
    engine_logits(b, lb, 4);
    assert_memory_equal(la, lb, sizeof(float) * V * 4);
    /* the tokenizer read back from tokenizer.ggml.* encodes as the tokenizer.json does */
    assert_non_null(tok);
    hlm_tokenizer *ref = NULL;
    hlm_error err = {0};
    assert_int_equal(hlm_tokenizer_load(tokenizer_path(), -1, &ref, &err), HLM_OK);
    const char *texts[] = {"the the<|endoftext|> tea", "  there, then\n\n  the 42 th\xe2\x82\xac!", ""};
    for (int i = 0; i < 3; i++) {
        hlm_ids ids = {0}, want = {0};
        assert_int_equal(hlm_tokenizer_encode(tok, texts[i], strlen(texts[i]), 1, &ids, &err), HLM_OK);
        assert_int_equal(hlm_tokenizer_encode(ref, texts[i], strlen(texts[i]), 1, &want, &err), HLM_OK);
        assert_int_equal(ids.len, want.len);
        if (ids.len) assert_memory_equal(ids.data, want.data, ids.len * sizeof *ids.data);
        hlm_ids_free(&ids);
        hlm_ids_free(&want);
    }
    hlm_ids ids = {0};
    assert_int_equal(hlm_tokenizer_encode(tok, "the<|endoftext|>", 16, 1, &ids, &err), HLM_OK);
    assert_int_equal(ids.len, 2);
    assert_int_equal(ids.data[0], 257); /* merges applied: t h -> 256, 256 e -> 257 */
    assert_int_equal(ids.data[1], 259);
    hlm_ids_free(&ids);
    hlm_tokenizer_free(ref);
    hlm_tokenizer_free(tok);
    free(la);
    free(lb);
    hlm_model_free(b);
    hlm_model_free(m);
}

static void test_roundtrip_llama(void **state)
{
    (void)state;
    hlm_model_config c = llama_cfg(0, 2);
    roundtrip_f32(&c, "llama.gguf");
    c = llama_cfg(1, 1);
    roundtrip_f32(&c, "llama_tied.gguf");
}

static void test_roundtrip_gpt2(void **state)
{
    (void)state;
    hlm_model_config c = gpt2_cfg();
    roundtrip_f32(&c, "gpt2.gguf");
}

/* Rotation of pairs (x[a], x[b]) by pos * base^(-2i/hd) for pair index i, in double. */
static void rope_pair(double *x, int a, int b, int i, int hd, int pos, double base)
{
    double th = pos * pow(base, -2.0 * i / hd), c = cos(th), s = sin(th);
    double x1 = x[a], x2 = x[b];
    x[a] = x1 * c - x2 * s;
    x[b] = x2 * c + x1 * s;
}

/* llama.cpp's RoPE (type NORM, adjacent pairs) on the file's q and k rows gives our rotate_half
 * RoPE's result, permuted the same way: attention scores q.k are therefore unchanged. */
static void test_qk_permutation(void **state)
{
    (void)state;
    hlm_model_config c = llama_cfg(0, 2);
    hlm_model *m = make_model(&c, 11);
    const char *path = tmp_path("perm.gguf");
    export_model(m, HLM_QT_F32, path);
    hlm_gguf_file *f = NULL;
    hlm_error err = {0};
    assert_int_equal(hlm_gguf_open(path, &f, &err), HLM_OK);
    int hd = c.head_dim, C = c.d_model;
    const char *names[2][2] = {{"blk.1.attn_q.weight", "model.layers.1.self_attn.q_proj.weight"},
                               {"blk.1.attn_k.weight", "model.layers.1.self_attn.k_proj.weight"}};
    double x[64];
    for (int j = 0; j < C; j++) x[j] = sin(0.37 * j + 1.0);
    for (int w = 0; w < 2; w++) {
        const hlm_gguf_tensor *g = hlm_gguf_find_tensor(f, names[w][0]);
        const hlm_tensor_info *t = hlm_model_find_tensor(m, names[w][1]);
        const float *ours = hlm_model_params(m) + t->offset, *file = g->data;
        int rows = (int)t->shape[0];
        double *yo = calloc((size_t)rows, sizeof *yo), *yf = calloc((size_t)rows, sizeof *yf);
        for (int r = 0; r < rows; r++)
            for (int j = 0; j < C; j++) {
                yo[r] += (double)ours[(size_t)r * C + j] * x[j];
                yf[r] += (double)file[(size_t)r * C + j] * x[j];
            }
        /* the rows themselves: file row 2i is our row i, file row 2i+1 our row hd/2 + i */
        assert_memory_equal(file + (size_t)1 * C, ours + (size_t)(hd / 2) * C, sizeof(float) * C);
        assert_memory_equal(file + (size_t)2 * C, ours + (size_t)1 * C, sizeof(float) * C);
        int pos = 13;
        double scale = 0;
        for (int h = 0; h < rows / hd; h++)
            for (int i = 0; i < hd / 2; i++) {
                rope_pair(yo, h * hd + i, h * hd + i + hd / 2, i, hd, pos, c.rope_theta); /* rotate_half */
                rope_pair(yf, h * hd + 2 * i, h * hd + 2 * i + 1, i, hd, pos, c.rope_theta); /* GGML NORM */
            }
        for (int r = 0; r < rows; r++) scale = fmax(scale, fabs(yo[r]));
        for (int h = 0; h < rows / hd; h++)
            for (int i = 0; i < hd / 2; i++) {
                assert_true(fabs(yf[h * hd + 2 * i] - yo[h * hd + i]) <= 1e-5 * scale);
                assert_true(fabs(yf[h * hd + 2 * i + 1] - yo[h * hd + hd / 2 + i]) <= 1e-5 * scale);
            }
        free(yo);
        free(yf);
    }
    /* GPT-2: attn_qkv is c_attn transposed (file row r, column j = c_attn[j][r]) */
    hlm_gguf_close(f);
    hlm_model_config g2 = gpt2_cfg();
    hlm_model *mg = make_model(&g2, 12);
    path = tmp_path("gpt2_t.gguf");
    export_model(mg, HLM_QT_F32, path);
    assert_int_equal(hlm_gguf_open(path, &f, &err), HLM_OK);
    const float *file = hlm_gguf_find_tensor(f, "blk.0.attn_qkv.weight")->data;
    const hlm_tensor_info *t = hlm_model_find_tensor(mg, "transformer.h.0.attn.c_attn.weight");
    const float *ours = hlm_model_params(mg) + t->offset;
    for (int r = 0; r < 3 * C; r += 17)
        for (int j = 0; j < C; j += 5) assert_true(file[(size_t)r * C + j] == ours[(size_t)j * 3 * C + r]);
    hlm_gguf_close(f);
    hlm_model_free(mg);
    hlm_model_free(m);
}

/* ref's 2-D parameters replaced by what a file of type wt holds: each row of the file's layout
 * (GPT-2's Conv1D weights transposed) quantized and dequantized with quant.c's reference. */
static void quantize_reference(hlm_model *ref, hlm_qtype wt)
{
    int n;
    const hlm_tensor_info *t = hlm_model_tensors(ref, &n);
    hlm_error err = {0};
    for (int i = 0; i < n; i++) {
        if (t[i].ndim != 2 || strstr(t[i].name, "wpe")) continue;
        float *p = hlm_model_params(ref) + t[i].offset;
        int conv1d = !strncmp(t[i].name, "transformer.h.", 14);
        int64_t rows = conv1d ? t[i].shape[1] : t[i].shape[0], cols = conv1d ? t[i].shape[0] : t[i].shape[1];
        float *row = malloc(sizeof(float) * (size_t)cols);
        void *q = malloc((size_t)cols * 4);
        for (int64_t r = 0; r < rows; r++) {
            for (int64_t c = 0; c < cols; c++) row[c] = conv1d ? p[c * rows + r] : p[r * cols + c];
            assert_int_equal(hlm_quantize_row(wt, row, q, cols, &err), HLM_OK);
            assert_int_equal(hlm_dequantize_row(wt, q, row, cols, &err), HLM_OK);
            for (int64_t c = 0; c < cols; c++) *(conv1d ? &p[c * rows + r] : &p[r * cols + c]) = row[c];
        }
        free(row);
        free(q);
    }
}

/* Quantized exports: the import equals, bit for bit, the original with its matrices quantized
 * and dequantized by quant.c (so the file holds those rows, in llama.cpp's layout and block
 * format), and so do the engine's logits; how far those logits are from the f32 model's is
 * printed and held to the engine test's f16 and q8_0 budgets (q4_0 with the embedding and the
 * head quantized too is printed only: at 4 bits the tiny random models' logits move by tens of
 * percent). */
static void quantized(const hlm_model_config *cfg, hlm_qtype wt, hlm_ggml_type gt, uint32_t ftype, double logit_budget,
                      const char *name)
{
    hlm_model *m = make_model(cfg, 21), *ref = make_model(cfg, 21);
    quantize_reference(ref, wt);
    const char *path = tmp_path(name);
    export_model(m, wt, path);
    check_file(path, cfg, gt, ftype);
    hlm_model *b = import_model(path, NULL);
    int n;
    const hlm_tensor_info *t = hlm_model_tensors(m, &n);
    for (int i = 0; i < n; i++) {
        const float *x = hlm_model_params(ref) + t[i].offset, *y = hlm_model_params(b) + hlm_model_find_tensor(b, t[i].name)->offset;
        if (memcmp(x, y, t[i].numel * sizeof(float))) fprintf(stderr, "%s differs\n", t[i].name);
        assert_memory_equal(x, y, t[i].numel * sizeof(float));
    }
    float *la = malloc(sizeof(float) * V * 4), *lb = malloc(sizeof(float) * V * 4), *lr = malloc(sizeof(float) * V * 4);
    engine_logits(m, la, 4);
    engine_logits(b, lb, 4);
    engine_logits(ref, lr, 4);
    assert_memory_equal(lb, lr, sizeof(float) * V * 4);
    double r = max_rel(lb, la, (size_t)V * 4);
    printf("%s: logits vs f32 max rel err %.2e (budget %.2g)\n", name, r, logit_budget);
    assert_true(r < logit_budget);
    assert_true(r > 0); /* the weights really changed */
    free(la);
    free(lb);
    free(lr);
    hlm_model_free(b);
    hlm_model_free(ref);
    hlm_model_free(m);
}

static void test_quantized(void **state)
{
    (void)state;
    hlm_model_config l = llama_cfg(0, 2), g = gpt2_cfg();
    quantized(&l, HLM_QT_F16, HLM_GGML_F16, 1, 0.01, "llama_f16.gguf");
    quantized(&l, HLM_QT_Q8_0, HLM_GGML_Q8_0, 7, 0.05, "llama_q8.gguf");
    quantized(&l, HLM_QT_Q4_0, HLM_GGML_Q4_0, 2, 2.0, "llama_q4.gguf");
    quantized(&g, HLM_QT_F16, HLM_GGML_F16, 1, 0.01, "gpt2_f16.gguf");
    quantized(&g, HLM_QT_Q8_0, HLM_GGML_Q8_0, 7, 0.05, "gpt2_q8.gguf");
    quantized(&g, HLM_QT_Q4_0, HLM_GGML_Q4_0, 2, 2.0, "gpt2_q4.gguf");
}

/* A copy of src with key `skip` left out and extra_key set to a string, and tensor drop_tensor
 * left out. */
static void rewrite(const char *src, const char *dst, const char *skip, const char *extra_key, const char *extra_val,
                    const char *drop_tensor)
{
    hlm_gguf_file *f = NULL;
    hlm_gguf_writer *w = NULL;
    hlm_error err = {0};
    assert_int_equal(hlm_gguf_open(src, &f, &err), HLM_OK);
    assert_int_equal(hlm_gguf_writer_new(&w, &err), HLM_OK);
    for (size_t i = 0; i < hlm_gguf_kv_count(f); i++) {
        const hlm_gguf_kv *kv = hlm_gguf_kv_at(f, i);
        if (skip && !strcmp(kv->key, skip)) continue;
        assert_int_equal(hlm_gguf_add_kv(w, kv, &err), HLM_OK);
    }
    if (extra_key) assert_int_equal(hlm_gguf_add_str(w, extra_key, extra_val, &err), HLM_OK);
    for (size_t i = 0; i < hlm_gguf_tensor_count(f); i++) {
        const hlm_gguf_tensor *t = hlm_gguf_tensor_at(f, i);
        if (drop_tensor && !strcmp(t->name, drop_tensor)) continue;
        assert_int_equal(hlm_gguf_add_tensor(w, t->name, t->type, t->n_dims, t->dims, t->data, t->nbytes, 1, &err), HLM_OK);
    }
    assert_int_equal(hlm_gguf_write(w, dst, &err), HLM_OK);
    hlm_gguf_writer_free(w);
    hlm_gguf_close(f);
}

static void expect_import_error(const char *path, int with_tok, const char *needle)
{
    hlm_model *m = NULL;
    hlm_tokenizer *tok = NULL;
    hlm_error err = {0};
    assert_int_not_equal(hlm_gguf_import(path, &m, with_tok ? &tok : NULL, &err), HLM_OK);
    assert_null(m);
    if (!strstr(err.msg, needle)) fprintf(stderr, "message: %s\n", err.msg);
    assert_non_null(strstr(err.msg, needle));
}

/* Logits of an engine (any source) after the same prompt and steps as engine_logits. */
static void engine_logits_of(hlm_engine *e, float *out, int steps)
{
    hlm_error err = {0};
    int32_t prompt[6] = {5, 77, 256, 259, 12, 140};
    const float *lg = NULL;
    assert_int_equal(hlm_engine_prefill(e, prompt, 6, &lg, &err), HLM_OK);
    for (int s = 0; s < steps; s++) {
        memcpy(out + (size_t)s * V, lg, sizeof(float) * V);
        if (s + 1 < steps) assert_int_equal(hlm_engine_decode(e, (int32_t)(31 * s + 200) % V, &lg, &err), HLM_OK);
    }
}

/* The engine over the mapped file (hlm_engine_open_gguf: stored types, GGML's q/k row order with
 * interleaved RoPE) against the engine over the file imported to f32 (hlm_gguf_import) and
 * quantized again to the file's type. Re-quantizing dequantized Q8_0 / Q4_0 blocks gives the same
 * blocks (the block's extreme code comes back as the same scale), so both engines run the same
 * numbers; only the RoPE pairing and the order of fp32 sums differ, and an activation code can
 * round the other way: 1e-4 of the largest logit for f32 (the engine test's f32 budget), 1e-3 for
 * the quantized files. The prompt is 6 rows: below the dequantized-tile (bf16) path. Both
 * architectures, a tied and an untied Llama, GQA. */
static void test_native(void **state)
{
    (void)state;
    enum { STEPS = 4 };
    hlm_model_config cfgs[3] = {llama_cfg(0, 2), llama_cfg(1, 4), gpt2_cfg()};
    hlm_qtype types[3] = {HLM_QT_F32, HLM_QT_Q8_0, HLM_QT_Q4_0};
    double tol[3] = {1e-4, 1e-3, 1e-3};
    char path[400];
    snprintf(path, sizeof path, "%s/native.gguf", tmpdir);
    for (int k = 0; k < 3; k++) {
        hlm_model *m = make_model(&cfgs[k], 11 + (uint64_t)k);
        for (int t = 0; t < 3; t++) {
            export_model(m, types[t], path);
            hlm_error err = {0};
            hlm_engine *ref = NULL, *e = NULL;
            hlm_tokenizer *tok = NULL;
            hlm_model *im = import_model(path, NULL);
            assert_int_equal(hlm_engine_create(im, types[t], 0, &ref, &err), HLM_OK);
            hlm_status s = hlm_engine_open_gguf(path, 0, &e, &tok, &err);
            if (s) fprintf(stderr, "%s\n", err.msg);
            assert_int_equal(s, HLM_OK);
            assert_non_null(tok);
            assert_int_equal(hlm_engine_wtype(e), types[t]);
            assert_int_equal(hlm_engine_ctx(e), cfgs[k].max_seq);
            float a[STEPS * V], b[STEPS * V];
            engine_logits_of(ref, a, STEPS);
            engine_logits_of(e, b, STEPS);
            double worst = 0, mx = 0;
            for (int i = 0; i < STEPS * V; i++) {
                if (fabs((double)a[i] - b[i]) > worst) worst = fabs((double)a[i] - b[i]);
                if (fabs((double)a[i]) > mx) mx = fabs((double)a[i]);
            }
            printf("native %s %s: max |diff| / max |logit| = %.2e\n", cfgs[k].arch == HLM_ARCH_GPT2 ? "gpt2" : "llama",
                   hlm_qtype_name(types[t]), worst / mx);
            assert_true(worst / mx < tol[t]);
            hlm_tokenizer_free(tok);
            hlm_engine_free(ref);
            hlm_engine_free(e);
            hlm_model_free(im);
        }
        hlm_model_free(m);
    }
}

/* A file whose tensors do not fit its metadata is refused with the tensor named, and no engine. */
static void test_native_refusals(void **state)
{
    (void)state;
    hlm_model_config c = llama_cfg(0, 2);
    hlm_model *m = make_model(&c, 3);
    char path[400], bad[400];
    snprintf(path, sizeof path, "%s/n2.gguf", tmpdir);
    snprintf(bad, sizeof bad, "%s/n2bad.gguf", tmpdir);
    export_model(m, HLM_QT_Q8_0, path);
    hlm_error err = {0};
    hlm_gguf_file *f = NULL;
    assert_int_equal(hlm_gguf_open(path, &f, &err), HLM_OK);
    /* copy every key, and every tensor but blk.1.ffn_up.weight, which goes in with a wrong shape */
    hlm_gguf_writer *w = NULL;
    assert_int_equal(hlm_gguf_writer_new(&w, &err), HLM_OK);
    for (size_t i = 0; i < hlm_gguf_kv_count(f); i++) assert_int_equal(hlm_gguf_add_kv(w, hlm_gguf_kv_at(f, i), &err), HLM_OK);
    for (size_t i = 0; i < hlm_gguf_tensor_count(f); i++) {
        const hlm_gguf_tensor *t = hlm_gguf_tensor_at(f, i);
        uint64_t dims[4] = {t->dims[0], t->dims[1], t->dims[2], t->dims[3]};
        size_t nbytes = t->nbytes;
        if (!strcmp(t->name, "blk.1.ffn_up.weight")) {
            dims[1] = t->dims[1] / 2;
            nbytes /= 2;
        }
        assert_int_equal(hlm_gguf_add_tensor(w, t->name, t->type, t->n_dims, dims, t->data, nbytes, 1, &err), HLM_OK);
    }
    assert_int_equal(hlm_gguf_write(w, bad, &err), HLM_OK);
    hlm_gguf_writer_free(w);
    hlm_gguf_close(f);
    hlm_engine *e = (hlm_engine *)1;
    assert_int_equal(hlm_engine_open_gguf(bad, 0, &e, NULL, &err), HLM_ERR_FORMAT);
    assert_null(e);
    assert_non_null(strstr(err.msg, "blk.1.ffn_up.weight"));
    hlm_model_free(m);
}

static void test_refusals(void **state)
{
    (void)state;
    hlm_model_config c = llama_cfg(0, 2);
    hlm_model *m = make_model(&c, 3);
    char src[400], dst[400];
    snprintf(src, sizeof src, "%s", tmp_path("base.gguf"));
    export_model(m, HLM_QT_F32, src);
    snprintf(dst, sizeof dst, "%s", tmp_path("bad.gguf"));
    rewrite(src, dst, "tokenizer.ggml.model", "tokenizer.ggml.model", "llama", NULL);
    expect_import_error(dst, 1, "tokenizer.ggml.scores: missing");
    hlm_model *ok = import_model(dst, NULL); /* the weights alone still load */
    hlm_model_free(ok);
    rewrite(src, dst, NULL, NULL, NULL, "blk.1.ffn_up.weight");
    expect_import_error(dst, 0, "blk.1.ffn_up.weight");
    rewrite(src, dst, "general.architecture", "general.architecture", "mamba", NULL);
    expect_import_error(dst, 0, "mamba");
    hlm_error err = {0};
    assert_int_equal(hlm_gguf_export(m, tokenizer_path(), HLM_QT_Q4_1, NULL, dst, &err), HLM_ERR_INVALID);
    hlm_model_config small = c;
    small.vocab_size = 200; /* the tokenizer's ids go up to 259 */
    hlm_model *ms = make_model(&small, 3);
    assert_int_equal(hlm_gguf_export(ms, tokenizer_path(), HLM_QT_F32, NULL, dst, &err), HLM_ERR_RANGE);
    hlm_model_free(ms);
    hlm_model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_llama), cmocka_unit_test(test_roundtrip_gpt2), cmocka_unit_test(test_qk_permutation),
        cmocka_unit_test(test_quantized),       cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_native),          cmocka_unit_test(test_native_refusals),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
