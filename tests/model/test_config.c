/* Model configurations: presets, Hugging Face config.json parsing and writing, the parameter
 * table's layout invariants, parameter and FLOP counts.
 *
 * References: parameter counts are Hugging Face's (sum of numel over GPT2LMHeadModel /
 * LlamaForCausalLM parameters, a tied lm_head counted once): gpt2 124,439,808, gpt2-medium
 * 354,823,168, gpt2-large 774,030,080, gpt2-xl 1,557,611,200, Llama-2-7b 6,738,415,616,
 * Llama-3.2-1B 1,235,814,400, SmolLM2-135M 134,515,008; GPT-3 175B from Brown et al. 2020
 * (within 1%: the paper rounds). The config.json samples are the files those models publish. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hyperlm/file.h"
#include "hyperlm/model.h"

static hlm_model_config preset(const char *name)
{
    hlm_model_config c;
    hlm_error err;
    if (hlm_config_preset(name, &c, &err)) fail_msg("%s", err.msg);
    return c;
}

static void assert_config_equal(const hlm_model_config *a, const hlm_model_config *b)
{
    assert_int_equal(a->arch, b->arch);
    assert_int_equal(a->vocab_size, b->vocab_size);
    assert_int_equal(a->max_seq, b->max_seq);
    assert_int_equal(a->n_layer, b->n_layer);
    assert_int_equal(a->n_head, b->n_head);
    assert_int_equal(a->n_kv_head, b->n_kv_head);
    assert_int_equal(a->d_model, b->d_model);
    assert_int_equal(a->d_ff, b->d_ff);
    assert_int_equal(a->head_dim, b->head_dim);
    assert_true(a->norm_eps == b->norm_eps);
    assert_true(a->rope_theta == b->rope_theta);
    assert_int_equal(a->tie_embeddings, b->tie_embeddings);
    assert_true(a->init_std == b->init_std);
    assert_int_equal(a->bos_token_id, b->bos_token_id);
    assert_int_equal(a->eos_token_id, b->eos_token_id);
}

static int contains_name(const char *s, const char *name)
{
    return strstr(s, name) != NULL;
}

/* ---- presets ---- */

static void test_presets_validate(void **state)
{
    const char *const *names = hlm_config_preset_names();
    int n = 0;
    for (; names[n]; n++) {
        hlm_model_config c = preset(names[n]);
        hlm_error err;
        if (hlm_config_validate(&c, &err)) fail_msg("%s: %s", names[n], err.msg);
        assert_int_equal(c.head_dim * c.n_head, c.d_model);
    }
    assert_true(n >= 20);
    hlm_model_config c;
    hlm_error err;
    assert_int_equal(hlm_config_preset("gpt2-125m", &c, &err), HLM_ERR_INVALID);
    assert_true(contains_name(err.msg, "gpt2-125m") && contains_name(err.msg, "gpt2-124m") &&
                contains_name(err.msg, "tiny-llama"));
}

static void test_param_counts(void **state)
{
    hlm_model_config c = preset("gpt2-124m");
    assert_int_equal(hlm_config_num_params(&c), 124439808);
    c = preset("gpt2-350m");
    assert_int_equal(hlm_config_num_params(&c), 354823168);
    c = preset("gpt2-774m");
    assert_int_equal(hlm_config_num_params(&c), 774030080);
    c = preset("gpt2-1.5b");
    assert_int_equal(hlm_config_num_params(&c), 1557611200);
    c = preset("llama-7b");
    assert_int_equal(hlm_config_num_params(&c), 6738415616ull);
    c = preset("llama-1b");
    assert_int_equal(hlm_config_num_params(&c), 1235814400);
    c = preset("gpt3-175b");
    double n = (double)hlm_config_num_params(&c);
    assert_true(fabs(n - 175e9) / 175e9 < 0.01);
    /* the rest of the GPT-3 family is within 5% of its names (Table 2.1 rounds: 2.7B is 2.65B) */
    static const struct {
        const char *name;
        double params;
    } gpt3[] = {{"gpt3-125m", 125e6}, {"gpt3-350m", 350e6}, {"gpt3-760m", 760e6}, {"gpt3-1.3b", 1.3e9},
                {"gpt3-2.7b", 2.7e9}, {"gpt3-6.7b", 6.7e9}, {"gpt3-13b", 13e9}};
    for (size_t i = 0; i < sizeof gpt3 / sizeof *gpt3; i++) {
        c = preset(gpt3[i].name);
        n = (double)hlm_config_num_params(&c);
        if (fabs(n - gpt3[i].params) / gpt3[i].params > 0.05) fail_msg("%s: %.0f parameters", gpt3[i].name, n);
        assert_int_equal(c.max_seq, 2048);
        assert_int_equal(c.vocab_size, 50257);
    }
    c = preset("small-llama");
    n = (double)hlm_config_num_params(&c);
    assert_true(n >= 5e6 && n <= 10e6);
}

static void test_flops(void **state)
{
    /* gpt2-124m: N_matmul = 12 * (768*2304 + 768*768 + 2*768*3072) + 50257*768 = 123,532,032;
     * forward at T = 1024: 2 * N_matmul + 4 * 12 * 768 * 1024 */
    hlm_model_config c = preset("gpt2-124m");
    assert_true(hlm_config_flops_per_token(&c, 1024) == 2.0 * 123532032 + 4.0 * 12 * 768 * 1024);
    /* llama-7b (untied): N_matmul is every parameter except the embedding and the norms */
    c = preset("llama-7b");
    double n_matmul = (double)hlm_config_num_params(&c) - 32000.0 * 4096 - (2 * 32 + 1) * 4096.0;
    assert_true(hlm_config_flops_per_token(&c, 0) == 2 * n_matmul);
    assert_true(hlm_config_flops_per_token(&c, 4096) - hlm_config_flops_per_token(&c, 0) == 4.0 * 32 * 4096 * 4096);
    /* llama-1b (tied, GQA): the lm head counts even though it shares the embedding's weights */
    c = preset("llama-1b");
    n_matmul = (double)hlm_config_num_params(&c) - (2 * 16 + 1) * 2048.0; /* embedding counted as lm head */
    assert_true(hlm_config_flops_per_token(&c, 0) == 2 * n_matmul);
}

/* ---- the parameter table ---- */

static const hlm_tensor_info *find(const hlm_tensor_info *t, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(t[i].name, name)) return &t[i];
    return NULL;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

/* The layout invariants of config.c, on any config. */
static void check_layout(const hlm_model_config *c, const char *what)
{
    hlm_tensor_info *t;
    int n;
    hlm_error err;
    if (hlm_config_tensors(c, &t, &n, &err)) fail_msg("%s: %s", what, err.msg);
    size_t end = 0, sum = 0;
    for (int i = 0; i < n; i++) {
        int packed = ends_with(t[i].name, "k_proj.weight") || ends_with(t[i].name, "v_proj.weight") ||
                     ends_with(t[i].name, "up_proj.weight");
        if (packed) {
            /* no gap after the previous tensor (q, k or gate) */
            if (t[i].offset != end) fail_msg("%s: %s not adjacent to %s", what, t[i].name, t[i - 1].name);
        } else {
            if (t[i].offset % 16) fail_msg("%s: %s at offset %zu, not 64-byte aligned", what, t[i].name, t[i].offset);
            if (t[i].offset < end || t[i].offset >= end + 16)
                fail_msg("%s: %s at %zu, expected the first multiple of 16 at or after %zu", what, t[i].name,
                         t[i].offset, end);
        }
        size_t numel = (size_t)t[i].shape[0] * (size_t)(t[i].ndim == 2 ? t[i].shape[1] : 1);
        assert_int_equal(t[i].numel, numel);
        assert_true(t[i].ndim == 1 || t[i].ndim == 2);
        assert_int_equal(t[i].decay, t[i].ndim == 2 && !strstr(t[i].name, "wte") && !strstr(t[i].name, "wpe") &&
                                         !strstr(t[i].name, "embed_tokens"));
        end = t[i].offset + t[i].numel;
        sum += t[i].numel;
    }
    assert_int_equal(sum, hlm_config_num_params(c));
    if (c->arch == HLM_ARCH_LLAMA)
        for (int l = 0; l < c->n_layer; l++) {
            char q[80], k[80], v[80], g[80], u[80];
            snprintf(q, sizeof q, "model.layers.%d.self_attn.q_proj.weight", l);
            snprintf(k, sizeof k, "model.layers.%d.self_attn.k_proj.weight", l);
            snprintf(v, sizeof v, "model.layers.%d.self_attn.v_proj.weight", l);
            snprintf(g, sizeof g, "model.layers.%d.mlp.gate_proj.weight", l);
            snprintf(u, sizeof u, "model.layers.%d.mlp.up_proj.weight", l);
            const hlm_tensor_info *tq = find(t, n, q), *tk = find(t, n, k), *tv = find(t, n, v);
            const hlm_tensor_info *tg = find(t, n, g), *tu = find(t, n, u);
            assert_non_null(tq);
            assert_non_null(tk);
            assert_non_null(tv);
            assert_non_null(tg);
            assert_non_null(tu);
            assert_int_equal(tq->offset % 16, 0);
            assert_int_equal(tk->offset, tq->offset + tq->numel);
            assert_int_equal(tv->offset, tk->offset + tk->numel);
            assert_int_equal(tg->offset % 16, 0);
            assert_int_equal(tu->offset, tg->offset + tg->numel);
        }
    free(t);
}

static void test_layout_every_preset(void **state)
{
    const char *const *names = hlm_config_preset_names();
    for (int i = 0; names[i]; i++) {
        hlm_model_config c = preset(names[i]);
        check_layout(&c, names[i]);
    }
    /* odd sizes, so that q/k/v and gate/up end off a 16-float boundary */
    hlm_model_config c = preset("tiny-llama");
    c.d_model = 36;
    c.n_head = 6;
    c.n_kv_head = 3;
    c.head_dim = 6;
    c.d_ff = 19;
    c.vocab_size = 37;
    check_layout(&c, "odd llama");
    c.tie_embeddings = 1;
    check_layout(&c, "odd tied llama");
    c = preset("tiny-gpt2");
    c.d_model = 20;
    c.n_head = 5;
    c.n_kv_head = 5;
    c.head_dim = 4;
    c.d_ff = 7;
    c.max_seq = 3;
    check_layout(&c, "odd gpt2");
}

static void test_table_gpt2(void **state)
{
    hlm_model_config c = preset("tiny-gpt2"); /* L2 C64 H4 V512 P128 F256 */
    hlm_tensor_info *t;
    int n;
    hlm_error err;
    assert_int_equal(hlm_config_tensors(&c, &t, &n, &err), HLM_OK);
    assert_int_equal(n, 2 + 12 * 2 + 2);
    static const struct {
        const char *name;
        int ndim;
        int64_t s0, s1;
        int decay;
    } want[] = {
        {"transformer.wte.weight", 2, 512, 64, 0},       {"transformer.wpe.weight", 2, 128, 64, 0},
        {"transformer.h.0.ln_1.weight", 1, 64, 0, 0},    {"transformer.h.0.ln_1.bias", 1, 64, 0, 0},
        {"transformer.h.0.attn.c_attn.weight", 2, 64, 192, 1}, {"transformer.h.0.attn.c_attn.bias", 1, 192, 0, 0},
        {"transformer.h.0.attn.c_proj.weight", 2, 64, 64, 1},  {"transformer.h.0.attn.c_proj.bias", 1, 64, 0, 0},
        {"transformer.h.0.ln_2.weight", 1, 64, 0, 0},    {"transformer.h.0.ln_2.bias", 1, 64, 0, 0},
        {"transformer.h.0.mlp.c_fc.weight", 2, 64, 256, 1},    {"transformer.h.0.mlp.c_fc.bias", 1, 256, 0, 0},
        {"transformer.h.0.mlp.c_proj.weight", 2, 256, 64, 1},  {"transformer.h.0.mlp.c_proj.bias", 1, 64, 0, 0},
        {"transformer.h.1.ln_1.weight", 1, 64, 0, 0},
    };
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        assert_string_equal(t[i].name, want[i].name);
        assert_int_equal(t[i].ndim, want[i].ndim);
        assert_int_equal(t[i].shape[0], want[i].s0);
        if (want[i].ndim == 2) assert_int_equal(t[i].shape[1], want[i].s1);
        assert_int_equal(t[i].decay, want[i].decay);
    }
    assert_string_equal(t[n - 2].name, "transformer.ln_f.weight");
    assert_string_equal(t[n - 1].name, "transformer.ln_f.bias");
    assert_int_equal(t[0].offset, 0);
    assert_int_equal(t[1].offset, 512 * 64);
    assert_null(find(t, n, "lm_head.weight"));
    free(t);
}

static void test_table_llama(void **state)
{
    hlm_model_config c = preset("tiny-llama"); /* L2 C64 H4 KV2 F176 V512, untied */
    hlm_tensor_info *t;
    int n;
    hlm_error err;
    assert_int_equal(hlm_config_tensors(&c, &t, &n, &err), HLM_OK);
    assert_int_equal(n, 1 + 9 * 2 + 2);
    static const struct {
        const char *name;
        int64_t s0, s1;
    } want[] = {
        {"model.embed_tokens.weight", 512, 64},
        {"model.layers.0.input_layernorm.weight", 64, 0},
        {"model.layers.0.self_attn.q_proj.weight", 64, 64},
        {"model.layers.0.self_attn.k_proj.weight", 32, 64},
        {"model.layers.0.self_attn.v_proj.weight", 32, 64},
        {"model.layers.0.self_attn.o_proj.weight", 64, 64},
        {"model.layers.0.post_attention_layernorm.weight", 64, 0},
        {"model.layers.0.mlp.gate_proj.weight", 176, 64},
        {"model.layers.0.mlp.up_proj.weight", 176, 64},
        {"model.layers.0.mlp.down_proj.weight", 64, 176},
        {"model.layers.1.input_layernorm.weight", 64, 0},
    };
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        assert_string_equal(t[i].name, want[i].name);
        assert_int_equal(t[i].shape[0], want[i].s0);
        if (want[i].s1) assert_int_equal(t[i].shape[1], want[i].s1);
        assert_int_equal(t[i].ndim, want[i].s1 ? 2 : 1);
    }
    assert_string_equal(t[n - 2].name, "model.norm.weight");
    assert_string_equal(t[n - 1].name, "lm_head.weight");
    assert_int_equal(t[n - 1].decay, 1);
    assert_int_equal(t[n - 1].shape[0], 512);
    free(t);
    c.tie_embeddings = 1;
    assert_int_equal(hlm_config_tensors(&c, &t, &n, &err), HLM_OK);
    assert_int_equal(n, 1 + 9 * 2 + 1);
    assert_string_equal(t[n - 1].name, "model.norm.weight");
    free(t);
}

static void test_validate_rejects(void **state)
{
    hlm_error err;
    hlm_model_config c = preset("tiny-llama");
    c.n_kv_head = 3;
    assert_int_equal(hlm_config_validate(&c, &err), HLM_ERR_INVALID);
    assert_true(contains_name(err.msg, "n_kv_head"));
    hlm_tensor_info *t = (hlm_tensor_info *)1;
    int n = 7;
    assert_int_equal(hlm_config_tensors(&c, &t, &n, &err), HLM_ERR_INVALID);
    assert_null(t);
    assert_int_equal(n, 0);
    c = preset("tiny-llama");
    c.head_dim = 32;
    assert_int_equal(hlm_config_validate(&c, &err), HLM_ERR_INVALID);
    assert_true(contains_name(err.msg, "head_dim"));
    c = preset("tiny-gpt2");
    c.n_kv_head = 2;
    assert_int_equal(hlm_config_validate(&c, &err), HLM_ERR_INVALID);
    c = preset("tiny-gpt2");
    c.tie_embeddings = 0;
    assert_int_equal(hlm_config_validate(&c, &err), HLM_ERR_INVALID);
    c = preset("tiny-gpt2");
    c.norm_eps = NAN;
    assert_int_equal(hlm_config_validate(&c, &err), HLM_ERR_INVALID);
    c = preset("tiny-gpt2");
    c.eos_token_id = 512;
    assert_int_equal(hlm_config_validate(&c, &err), HLM_ERR_INVALID);
    assert_true(contains_name(err.msg, "eos_token_id"));
    c = preset("tiny-gpt2");
    c.arch = (hlm_arch)7;
    assert_int_equal(hlm_config_validate(&c, &err), HLM_ERR_INVALID);
    c = preset("tiny-gpt2");
    c.n_layer = 0;
    assert_int_equal(hlm_config_validate(&c, &err), HLM_ERR_INVALID);
    assert_true(contains_name(err.msg, "n_layer"));
}

/* ---- config.json ---- */

static void test_round_trip_every_preset(void **state)
{
    const char *const *names = hlm_config_preset_names();
    for (int i = 0; names[i]; i++) {
        hlm_model_config c = preset(names[i]), back;
        char *json = hlm_config_to_json(&c);
        assert_non_null(json);
        hlm_error err;
        if (hlm_config_from_json(json, strlen(json), names[i], &back, &err)) fail_msg("%s: %s\n%s", names[i], err.msg, json);
        assert_config_equal(&c, &back);
        /* what transformers needs to pick the class and build it in fp32 */
        cJSON *o = cJSON_Parse(json);
        assert_non_null(o);
        const cJSON *arch = cJSON_GetArrayItem(cJSON_GetObjectItem(o, "architectures"), 0);
        assert_true(cJSON_IsString(arch));
        assert_string_equal(arch->valuestring, c.arch == HLM_ARCH_GPT2 ? "GPT2LMHeadModel" : "LlamaForCausalLM");
        assert_string_equal(cJSON_GetObjectItem(o, "torch_dtype")->valuestring, "float32");
        if (c.arch == HLM_ARCH_GPT2) {
            static const char *zero[] = {"attn_pdrop", "embd_pdrop", "resid_pdrop"};
            for (int k = 0; k < 3; k++) {
                const cJSON *v = cJSON_GetObjectItem(o, zero[k]);
                assert_true(cJSON_IsNumber(v) && v->valuedouble == 0);
            }
            assert_true(cJSON_IsTrue(cJSON_GetObjectItem(o, "scale_attn_weights")));
            assert_true(cJSON_IsTrue(cJSON_GetObjectItem(o, "use_cache")));
            assert_string_equal(cJSON_GetObjectItem(o, "activation_function")->valuestring, "gelu_new");
        } else {
            assert_true(cJSON_IsNull(cJSON_GetObjectItem(o, "rope_scaling")));
            assert_string_equal(cJSON_GetObjectItem(o, "hidden_act")->valuestring, "silu");
            assert_int_equal(cJSON_GetObjectItem(o, "num_key_value_heads")->valueint, c.n_kv_head);
        }
        cJSON_Delete(o);
        /* and again: the text is a fixed point */
        char *again = hlm_config_to_json(&back);
        assert_string_equal(json, again);
        free(again);
        free(json);
    }
    /* floats keep their exact value through the text */
    hlm_model_config c = preset("tiny-llama"), back;
    c.norm_eps = 1.2345678e-7f;
    c.init_std = 0.041666666666666664f;
    c.rope_theta = 123456.789f;
    char *json = hlm_config_to_json(&c);
    hlm_error err;
    assert_int_equal(hlm_config_from_json(json, strlen(json), "x", &back, &err), HLM_OK);
    assert_config_equal(&c, &back);
    free(json);
}

static const char gpt2_hf[] =
    "{\n"
    "  \"activation_function\": \"gelu_new\",\n"
    "  \"architectures\": [\n    \"GPT2LMHeadModel\"\n  ],\n"
    "  \"attn_pdrop\": 0.1,\n  \"bos_token_id\": 50256,\n  \"embd_pdrop\": 0.1,\n"
    "  \"eos_token_id\": 50256,\n  \"initializer_range\": 0.02,\n  \"layer_norm_epsilon\": 1e-05,\n"
    "  \"model_type\": \"gpt2\",\n  \"n_ctx\": 1024,\n  \"n_embd\": 768,\n  \"n_head\": 12,\n"
    "  \"n_layer\": 12,\n  \"n_positions\": 1024,\n  \"resid_pdrop\": 0.1,\n"
    "  \"summary_activation\": null,\n  \"summary_first_dropout\": 0.1,\n  \"summary_proj_to_labels\": true,\n"
    "  \"summary_type\": \"cls_index\",\n  \"summary_use_proj\": true,\n"
    "  \"task_specific_params\": {\n    \"text-generation\": {\n      \"do_sample\": true,\n"
    "      \"max_length\": 50\n    }\n  },\n"
    "  \"vocab_size\": 50257\n}\n";

static const char llama2_hf[] =
    "{\n  \"_name_or_path\": \"meta-llama/Llama-2-7b-hf\",\n"
    "  \"architectures\": [\n    \"LlamaForCausalLM\"\n  ],\n"
    "  \"bos_token_id\": 1,\n  \"eos_token_id\": 2,\n  \"hidden_act\": \"silu\",\n  \"hidden_size\": 4096,\n"
    "  \"initializer_range\": 0.02,\n  \"intermediate_size\": 11008,\n  \"max_position_embeddings\": 4096,\n"
    "  \"model_type\": \"llama\",\n  \"num_attention_heads\": 32,\n  \"num_hidden_layers\": 32,\n"
    "  \"num_key_value_heads\": 32,\n  \"pretraining_tp\": 1,\n  \"rms_norm_eps\": 1e-05,\n"
    "  \"rope_scaling\": null,\n  \"tie_word_embeddings\": false,\n  \"torch_dtype\": \"float16\",\n"
    "  \"transformers_version\": \"4.31.0.dev0\",\n  \"use_cache\": true,\n  \"vocab_size\": 32000\n}\n";

static const char smollm2_hf[] =
    "{\n  \"architectures\": [\n    \"LlamaForCausalLM\"\n  ],\n"
    "  \"attention_bias\": false,\n  \"attention_dropout\": 0.0,\n  \"bos_token_id\": 0,\n  \"eos_token_id\": 0,\n"
    "  \"hidden_act\": \"silu\",\n  \"hidden_size\": 576,\n  \"initializer_range\": 0.041666666666666664,\n"
    "  \"intermediate_size\": 1536,\n  \"is_llama_config\": true,\n  \"max_position_embeddings\": 8192,\n"
    "  \"mlp_bias\": false,\n  \"model_type\": \"llama\",\n  \"num_attention_heads\": 9,\n"
    "  \"num_hidden_layers\": 30,\n  \"num_key_value_heads\": 3,\n  \"pad_token_id\": null,\n"
    "  \"pretraining_tp\": 1,\n  \"rms_norm_eps\": 1e-05,\n  \"rope_interleaved\": false,\n"
    "  \"rope_scaling\": null,\n  \"rope_theta\": 100000,\n  \"tie_word_embeddings\": true,\n"
    "  \"torch_dtype\": \"bfloat16\",\n  \"transformers_version\": \"4.42.3\",\n  \"use_cache\": true,\n"
    "  \"vocab_size\": 49152\n}\n";

/* Llama 3.2 1B as published: its llama3 rope_scaling is not supported. */
static const char llama32_hf[] =
    "{\"architectures\": [\"LlamaForCausalLM\"], \"attention_bias\": false, \"attention_dropout\": 0.0,"
    " \"bos_token_id\": 128000, \"eos_token_id\": 128001, \"head_dim\": 64, \"hidden_act\": \"silu\","
    " \"hidden_size\": 2048, \"initializer_range\": 0.02, \"intermediate_size\": 8192,"
    " \"max_position_embeddings\": 131072, \"mlp_bias\": false, \"model_type\": \"llama\","
    " \"num_attention_heads\": 32, \"num_hidden_layers\": 16, \"num_key_value_heads\": 8, \"pretraining_tp\": 1,"
    " \"rms_norm_eps\": 1e-05, \"rope_scaling\": {\"factor\": 32.0, \"high_freq_factor\": 4.0,"
    " \"low_freq_factor\": 1.0, \"original_max_position_embeddings\": 8192, \"rope_type\": \"llama3\"},"
    " \"rope_theta\": 500000.0, \"tie_word_embeddings\": true, \"torch_dtype\": \"bfloat16\","
    " \"transformers_version\": \"4.45.0.dev0\", \"use_cache\": true, \"vocab_size\": 128256}";

static hlm_model_config parse_ok(const char *json)
{
    hlm_model_config c;
    hlm_error err;
    if (hlm_config_from_json(json, strlen(json), "sample.json", &c, &err)) fail_msg("%s", err.msg);
    return c;
}

/* transformers >= 5 writes rope_theta inside rope_parameters (as in tests/fixtures/model/llama). */
static void test_rope_parameters(void **state)
{
    static const char v5[] =
        "{\"model_type\": \"llama\", \"vocab_size\": 96, \"hidden_size\": 32, \"intermediate_size\": 88,"
        " \"num_hidden_layers\": 2, \"num_attention_heads\": 4, \"num_key_value_heads\": 2,"
        " \"max_position_embeddings\": 32, \"rope_parameters\": {\"rope_theta\": 500000.0, \"rope_type\": \"default\"}}";
    hlm_model_config c = parse_ok(v5);
    assert_float_equal(c.rope_theta, 500000.0f, 0.0f);
    static const char scaled[] =
        "{\"model_type\": \"llama\", \"vocab_size\": 96, \"hidden_size\": 32, \"intermediate_size\": 88,"
        " \"num_hidden_layers\": 2, \"num_attention_heads\": 4, \"max_position_embeddings\": 32,"
        " \"rope_parameters\": {\"rope_theta\": 500000.0, \"rope_type\": \"llama3\", \"factor\": 32.0}}";
    hlm_error err;
    assert_int_equal(hlm_config_from_json(scaled, strlen(scaled), "v5.json", &c, &err), HLM_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "rope_type"));
}

static void test_hf_samples(void **state)
{
    hlm_model_config c = parse_ok(gpt2_hf), want = preset("gpt2-124m");
    assert_config_equal(&c, &want);
    c = parse_ok(llama2_hf);
    want = preset("llama-7b");
    assert_config_equal(&c, &want);

    c = parse_ok(smollm2_hf);
    assert_int_equal(c.arch, HLM_ARCH_LLAMA);
    assert_int_equal(c.n_layer, 30);
    assert_int_equal(c.d_model, 576);
    assert_int_equal(c.n_head, 9);
    assert_int_equal(c.n_kv_head, 3);
    assert_int_equal(c.head_dim, 64);
    assert_int_equal(c.d_ff, 1536);
    assert_int_equal(c.vocab_size, 49152);
    assert_int_equal(c.max_seq, 8192);
    assert_int_equal(c.tie_embeddings, 1);
    assert_true(c.rope_theta == 100000.0f);
    assert_true(c.norm_eps == 1e-5f);
    assert_true(c.init_std == (float)0.041666666666666664);
    assert_int_equal(c.bos_token_id, 0);
    assert_int_equal(c.eos_token_id, 0);
    assert_int_equal(hlm_config_num_params(&c), 134515008);

    hlm_error err;
    assert_int_equal(hlm_config_from_json(llama32_hf, strlen(llama32_hf), "sample.json", &c, &err), HLM_ERR_FORMAT);
    assert_true(contains_name(err.msg, "'rope_scaling'") && contains_name(err.msg, "not supported"));
    /* without it, the shape is the llama-1b preset's (whose context is 8192, not 131072) */
    char *edited = strdup(llama32_hf);
    char *rs = strstr(edited, "\"rope_scaling\": {");
    memcpy(rs, "\"rope_scalinX\"", 14);
    c = parse_ok(edited);
    want = preset("llama-1b");
    want.max_seq = 131072;
    assert_config_equal(&c, &want);
    free(edited);

    /* defaults: n_inner null -> 4 * n_embd; bos/eos null -> unset; num_key_value_heads -> heads;
     * an eos list (Llama 3.1 instruct) keeps the first id */
    c = parse_ok("{\"model_type\": \"gpt2\", \"vocab_size\": 100, \"n_positions\": 16, \"n_embd\": 32,"
                 " \"n_layer\": 1, \"n_head\": 2, \"n_inner\": null, \"bos_token_id\": null}");
    assert_int_equal(c.d_ff, 128);
    assert_int_equal(c.bos_token_id, -1);
    assert_int_equal(c.eos_token_id, -1);
    assert_true(c.norm_eps == 1e-5f);
    c = parse_ok("{\"model_type\": \"gpt2\", \"vocab_size\": 100, \"n_positions\": 16, \"n_embd\": 32,"
                 " \"n_layer\": 1, \"n_head\": 2, \"n_inner\": 80, \"activation_function\": \"gelu_pytorch_tanh\"}");
    assert_int_equal(c.d_ff, 80);
    c = parse_ok("{\"model_type\": \"llama\", \"vocab_size\": 100, \"hidden_size\": 32, \"intermediate_size\": 64,"
                 " \"num_hidden_layers\": 1, \"num_attention_heads\": 4, \"max_position_embeddings\": 16,"
                 " \"eos_token_id\": [7, 8, 9], \"head_dim\": 8}");
    assert_int_equal(c.n_kv_head, 4);
    assert_int_equal(c.eos_token_id, 7);
    assert_int_equal(c.tie_embeddings, 0);
    assert_true(c.norm_eps == 1e-6f); /* LlamaConfig's default */
    assert_true(c.rope_theta == 10000.0f);
}

#define GPT2_BASE "\"model_type\": \"gpt2\", \"vocab_size\": 100, \"n_positions\": 16, \"n_layer\": 1"
#define LLAMA_BASE                                                                                   \
    "\"model_type\": \"llama\", \"vocab_size\": 100, \"intermediate_size\": 64, \"num_hidden_layers\": 1," \
    " \"max_position_embeddings\": 16"

static void test_malformed(void **state)
{
    static const struct {
        const char *json, *key1, *key2;
    } cases[] = {
        {"{" GPT2_BASE ", \"n_embd\": \"768\", \"n_head\": 2}", "'n_embd'", "string"},
        {"{" GPT2_BASE ", \"n_embd\": 32}", "missing key 'n_head'", "integer"},
        {"{\"model_type\": \"gpt2\", \"vocab_size\": 100, \"n_positions\": 16, \"n_embd\": 32, \"n_head\": 2}",
         "missing key 'n_layer'", NULL},
        {"{" GPT2_BASE ", \"n_embd\": 32, \"n_head\": 2, \"activation_function\": \"relu\"}", "'activation_function'",
         "gelu_new"},
        {"{" GPT2_BASE ", \"n_embd\": 30, \"n_head\": 4}", "'n_embd'", "n_head"},
        {"{" GPT2_BASE ", \"n_embd\": 32, \"n_head\": 2, \"tie_word_embeddings\": false}", "'tie_word_embeddings'",
         NULL},
        {"{" GPT2_BASE ", \"n_embd\": 32, \"n_head\": 2, \"layer_norm_epsilon\": \"1e-5\"}", "'layer_norm_epsilon'",
         NULL},
        {"{" GPT2_BASE ", \"n_embd\": 32, \"n_head\": 2, \"layer_norm_epsilon\": 0}", "'layer_norm_epsilon'", NULL},
        {"{" GPT2_BASE ", \"n_embd\": 32, \"n_head\": 2, \"bos_token_id\": 100}", "'bos_token_id'", NULL},
        {"{" GPT2_BASE ", \"n_embd\": 32, \"n_head\": 2, \"n_inner\": 0}", "'n_inner'", NULL},
        {"{" GPT2_BASE ", \"n_embd\": 32.5, \"n_head\": 2}", "'n_embd'", NULL},
        {"{" GPT2_BASE ", \"n_embd\": -32, \"n_head\": 2}", "'n_embd'", NULL},
        {"{" GPT2_BASE ", \"n_embd\": 1e12, \"n_head\": 2}", "'n_embd'", NULL},
        {"{" GPT2_BASE ", \"n_embd\": 32, \"n_head\": 2, \"scale_attn_by_inverse_layer_idx\": true}",
         "'scale_attn_by_inverse_layer_idx'", NULL},
        {"{\"model_type\": \"gpt2\", \"vocab_size\": 0, \"n_positions\": 16, \"n_layer\": 1, \"n_embd\": 32, "
         "\"n_head\": 2}",
         "'vocab_size'", NULL},
        {"{" LLAMA_BASE ", \"hidden_size\": 576, \"num_attention_heads\": 7}", "'hidden_size'", "num_attention_heads"},
        {"{" LLAMA_BASE ", \"hidden_size\": 32, \"num_attention_heads\": 4, \"num_key_value_heads\": 3}",
         "'num_key_value_heads'", NULL},
        {"{" LLAMA_BASE ", \"hidden_size\": 32, \"num_attention_heads\": 4, \"head_dim\": 16}", "'head_dim'",
         "hidden_size / num_attention_heads"},
        {"{" LLAMA_BASE ", \"hidden_size\": 32, \"num_attention_heads\": 4, \"hidden_act\": \"gelu\"}", "'hidden_act'",
         "silu"},
        {"{" LLAMA_BASE ", \"hidden_size\": 32, \"num_attention_heads\": 4, \"rope_scaling\": {\"type\": \"linear\","
         " \"factor\": 2.0}}",
         "'rope_scaling'", "not supported"},
        {"{" LLAMA_BASE ", \"hidden_size\": 32, \"num_attention_heads\": 4, \"attention_bias\": true}",
         "'attention_bias'", NULL},
        {"{" LLAMA_BASE ", \"hidden_size\": 32, \"num_attention_heads\": 4, \"mlp_bias\": true}", "'mlp_bias'", NULL},
        {"{" LLAMA_BASE ", \"hidden_size\": 32, \"num_attention_heads\": 4, \"rms_norm_eps\": 1e300}",
         "'rms_norm_eps'", NULL},
        {"{" LLAMA_BASE ", \"hidden_size\": 32, \"num_attention_heads\": 4, \"tie_word_embeddings\": \"yes\"}",
         "'tie_word_embeddings'", "true or false"},
        {"{" LLAMA_BASE ", \"hidden_size\": 32, \"num_attention_heads\": 4, \"eos_token_id\": [1, \"x\"]}",
         "'eos_token_id'", NULL},
        {"{" LLAMA_BASE ", \"hidden_size\": 36, \"num_attention_heads\": 4}", "'num_attention_heads'", "even"},
        {"{\"model_type\": \"llama\", \"vocab_size\": 100, \"intermediate_size\": 64, \"num_hidden_layers\": 1,"
         " \"hidden_size\": 32, \"num_attention_heads\": 4}",
         "missing key 'max_position_embeddings'", NULL},
        {"{\"model_type\": \"mistral\", \"vocab_size\": 100}", "'model_type'", "mistral"},
        {"{\"vocab_size\": 100}", "missing key 'model_type'", NULL},
        {"{\"model_type\": 3}", "'model_type'", NULL},
        {"[1, 2]", "JSON object", NULL},
        {"{\"model_type\": \"gpt2\",", "not valid JSON", NULL},
        {"", "not valid JSON", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        hlm_model_config c;
        hlm_error err;
        memset(&c, 0x55, sizeof c);
        hlm_status st = hlm_config_from_json(cases[i].json, strlen(cases[i].json), "sample.json", &c, &err);
        if (st != HLM_ERR_FORMAT) fail_msg("case %zu: status %d for %s", i, st, cases[i].json);
        if (!contains_name(err.msg, "sample.json") || !contains_name(err.msg, cases[i].key1) ||
            (cases[i].key2 && !contains_name(err.msg, cases[i].key2)))
            fail_msg("case %zu: message \"%s\" should name %s %s", i, err.msg, cases[i].key1,
                     cases[i].key2 ? cases[i].key2 : "");
        assert_int_equal(err.code, HLM_ERR_FORMAT);
        assert_int_equal(c.vocab_size, 0); /* a failed parse leaves a zeroed config */
    }
}

static void test_resolve(void **state)
{
    char dir[] = "/tmp/hlm-test-config-XXXXXX", path[128];
    assert_non_null(mkdtemp(dir));
    hlm_model_config c, want = preset("llama-7b");
    hlm_error err;
    assert_int_equal(hlm_config_resolve("tiny-gpt2", &c, &err), HLM_OK);
    assert_int_equal(c.d_model, 64);
    /* a folder without config.json: an I/O error naming the file */
    assert_int_equal(hlm_config_resolve(dir, &c, &err), HLM_ERR_IO);
    assert_true(contains_name(err.msg, "config.json"));
    snprintf(path, sizeof path, "%s/config.json", dir);
    assert_int_equal(hlm_file_write_atomic(path, llama2_hf, strlen(llama2_hf), &err), HLM_OK);
    assert_int_equal(hlm_config_resolve(dir, &c, &err), HLM_OK);
    assert_config_equal(&c, &want);
    assert_int_equal(hlm_config_resolve(path, &c, &err), HLM_OK);
    assert_config_equal(&c, &want);
    /* a bad file: the error names the file and the key */
    static const char bad[] = "{\"model_type\": \"llama\", \"hidden_size\": \"big\"}";
    snprintf(path, sizeof path, "%s/bad.json", dir);
    assert_int_equal(hlm_file_write_atomic(path, bad, strlen(bad), &err), HLM_OK);
    assert_int_equal(hlm_config_resolve(path, &c, &err), HLM_ERR_FORMAT);
    assert_true(contains_name(err.msg, path) && contains_name(err.msg, "'vocab_size'"));
    /* neither: the presets are listed */
    assert_int_equal(hlm_config_resolve("gpt-5", &c, &err), HLM_ERR_INVALID);
    assert_true(contains_name(err.msg, "'gpt-5'") && contains_name(err.msg, "gpt3-175b") &&
                contains_name(err.msg, "small-llama"));
    unlink(path);
    snprintf(path, sizeof path, "%s/config.json", dir);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_presets_validate),  cmocka_unit_test(test_param_counts),
        cmocka_unit_test(test_flops),             cmocka_unit_test(test_layout_every_preset),
        cmocka_unit_test(test_table_gpt2),        cmocka_unit_test(test_table_llama),
        cmocka_unit_test(test_validate_rejects),  cmocka_unit_test(test_round_trip_every_preset),
        cmocka_unit_test(test_hf_samples),        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_resolve), cmocka_unit_test(test_rope_parameters),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
