/* Model configurations: presets, Hugging Face config.json in and out, and the parameter table.
 *
 * Invariants of the parameter table (hlm_config_tensors), which the model, the optimizer and the
 * checkpoint code all rely on:
 * - Tensors come in a fixed order (GPT-2: wte, wpe, per layer ln_1, attn, ln_2, mlp, then ln_f;
 *   Llama: embed_tokens, per layer input_layernorm, q/k/v/o, post_attention_layernorm,
 *   gate/up/down, then norm and, when not tied, lm_head), with Hugging Face names and storage
 *   shapes (GPT-2's Conv1D weights are (in, out), Llama's Linear weights (out, in)).
 * - Offsets (in floats) are packed in table order, and each tensor starts at a multiple of 16
 *   floats (64 bytes, one cache line) EXCEPT k_proj and v_proj, which follow q_proj with no gap,
 *   and up_proj, which follows gate_proj with no gap: the model multiplies [q; k; v] as one
 *   (H*hd + 2*KV*hd, C) matrix and [gate; up] as one (2F, C) matrix. Padding is inserted only
 *   before q_proj and gate_proj, so each group as a whole starts aligned.
 * - hlm_config_num_params counts elements, never padding; the parameter array is as long as the
 *   last tensor's offset + numel.
 *
 * Limits: every size is bounded (LIM_* below) so that the table's arithmetic cannot overflow
 * size_t or int64 whatever a config.json says; all real models are far inside them. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "hyperlm/buf.h"
#include "hyperlm/file.h"
#include "hyperlm/model.h"

#define LIM_VOCAB (1 << 24)
#define LIM_SEQ (1 << 24)
#define LIM_LAYER 4096
#define LIM_DMODEL (1 << 17)
#define LIM_HEAD (1 << 14)
#define LIM_DFF (1 << 20)
#define ALIGN_FLOATS 16

/* ---- presets ---- */

#define GPT2(L, C, H, V, P)                                                                          \
    {.arch = HLM_ARCH_GPT2, .vocab_size = V, .max_seq = P, .n_layer = L, .n_head = H,               \
     .n_kv_head = H, .d_model = C, .d_ff = 4 * (C), .head_dim = (C) / (H), .norm_eps = 1e-5f,       \
     .rope_theta = 10000.0f, .tie_embeddings = 1, .init_std = 0.02f,                                \
     .bos_token_id = (V) > BOS_GPT2 ? BOS_GPT2 : -1, .eos_token_id = (V) > BOS_GPT2 ? BOS_GPT2 : -1}
/* GPT-3 (Brown et al. 2020, Table 2.1) by n_layers, d_model, d_head: n_heads = d_model / d_head. */
#define GPT3(L, C, DH) GPT2(L, C, (C) / (DH), 50257, 2048)
#define LLAMA(L, C, H, KV, F, V, P, THETA, TIE, BOS, EOS)                                            \
    {.arch = HLM_ARCH_LLAMA, .vocab_size = V, .max_seq = P, .n_layer = L, .n_head = H,              \
     .n_kv_head = KV, .d_model = C, .d_ff = F, .head_dim = (C) / (H), .norm_eps = 1e-5f,           \
     .rope_theta = THETA, .tie_embeddings = TIE, .init_std = 0.02f, .bos_token_id = BOS,           \
     .eos_token_id = EOS}
#define BOS_GPT2 50256 /* <|endoftext|>, GPT-2's bos and eos (when the vocabulary has it) */

/* Notes on the shapes:
 * - GPT-3: the table's n_heads for 1.3B (24 heads of 128 = 3072 != d_model 2048) cannot be
 *   written as a GPT-2 config (n_embd / n_head); we keep d_model and d_head from the table, so
 *   1.3B has 16 heads. 13B's d_model 5140 is a typo in the table for 5120 = 40 * 128. GPT-3's
 *   alternating locally banded sparse attention is not modelled: all layers are dense.
 * - llama-110m is llama2.c's stories110M shape (tied classifier); llama-1b is Llama 3.2 1B
 *   without its llama3 rope_scaling (unsupported), so its context is Llama 3's 8192;
 *   llama-7b/13b/70b are Llama 2. tiny-* are for tests; small-llama (about 6.8M parameters) is
 *   the demo's model. */
#define PRESETS(X)                                                                                   \
    X("gpt2-124m", GPT2(12, 768, 12, 50257, 1024))                                                   \
    X("gpt2-350m", GPT2(24, 1024, 16, 50257, 1024))                                                  \
    X("gpt2-774m", GPT2(36, 1280, 20, 50257, 1024))                                                  \
    X("gpt2-1.5b", GPT2(48, 1600, 25, 50257, 1024))                                                  \
    X("gpt3-125m", GPT3(12, 768, 64))                                                                \
    X("gpt3-350m", GPT3(24, 1024, 64))                                                               \
    X("gpt3-760m", GPT3(24, 1536, 96))                                                               \
    X("gpt3-1.3b", GPT3(24, 2048, 128))                                                              \
    X("gpt3-2.7b", GPT3(32, 2560, 80))                                                               \
    X("gpt3-6.7b", GPT3(32, 4096, 128))                                                              \
    X("gpt3-13b", GPT3(40, 5120, 128))                                                               \
    X("gpt3-175b", GPT3(96, 12288, 128))                                                             \
    X("llama-110m", LLAMA(12, 768, 12, 12, 2048, 32000, 1024, 10000.0f, 1, 1, 2))                   \
    X("llama-1b", LLAMA(16, 2048, 32, 8, 8192, 128256, 8192, 500000.0f, 1, 128000, 128001))         \
    X("llama-7b", LLAMA(32, 4096, 32, 32, 11008, 32000, 4096, 10000.0f, 0, 1, 2))                   \
    X("llama-13b", LLAMA(40, 5120, 40, 40, 13824, 32000, 4096, 10000.0f, 0, 1, 2))                  \
    X("llama-70b", LLAMA(80, 8192, 64, 8, 28672, 32000, 4096, 10000.0f, 0, 1, 2))                   \
    X("tiny-gpt2", GPT2(2, 64, 4, 512, 128))                                                         \
    X("tiny-llama", LLAMA(2, 64, 4, 2, 176, 512, 128, 10000.0f, 0, -1, -1))                          \
    X("small-llama", LLAMA(6, 256, 4, 2, 768, 8192, 256, 10000.0f, 1, -1, -1))

#define AS_PRESET(name, cfg) {name, cfg},
#define AS_NAME(name, cfg) name,

static const struct {
    const char *name;
    hlm_model_config cfg;
} presets[] = {PRESETS(AS_PRESET)};

static const char *const preset_names[] = {PRESETS(AS_NAME) NULL};

const char *const *hlm_config_preset_names(void) { return preset_names; }

static void names_list(hlm_buf *b)
{
    for (int i = 0; preset_names[i]; i++) hlm_buf_appendf(b, "%s%s", i ? ", " : "", preset_names[i]);
    hlm_buf_terminate(b);
}

hlm_status hlm_config_preset(const char *name, hlm_model_config *cfg, hlm_error *err)
{
    for (size_t i = 0; i < sizeof presets / sizeof *presets; i++)
        if (!strcmp(name, presets[i].name)) {
            *cfg = presets[i].cfg;
            return HLM_OK;
        }
    hlm_buf b = {0};
    names_list(&b);
    hlm_status st = hlm_errorf(err, HLM_ERR_INVALID, "unknown model preset '%s' (presets: %s)", name,
                               b.data ? (char *)b.data : "?");
    hlm_buf_free(&b);
    return st;
}

/* ---- validation ---- */

static const char *arch_name(hlm_arch a) { return a == HLM_ARCH_GPT2 ? "gpt2" : "llama"; }

hlm_status hlm_config_validate(const hlm_model_config *c, hlm_error *err)
{
    if (c->arch != HLM_ARCH_GPT2 && c->arch != HLM_ARCH_LLAMA)
        return hlm_errorf(err, HLM_ERR_INVALID, "arch: expected gpt2 or llama, found %d", (int)c->arch);
    const struct {
        const char *name;
        int v, hi;
    } sizes[] = {
        {"vocab_size", c->vocab_size, LIM_VOCAB}, {"max_seq", c->max_seq, LIM_SEQ},
        {"n_layer", c->n_layer, LIM_LAYER},       {"d_model", c->d_model, LIM_DMODEL},
        {"n_head", c->n_head, LIM_HEAD},          {"n_kv_head", c->n_kv_head, LIM_HEAD},
        {"d_ff", c->d_ff, LIM_DFF},               {"head_dim", c->head_dim, LIM_DMODEL},
    };
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++)
        if (sizes[i].v < 1 || sizes[i].v > sizes[i].hi)
            return hlm_errorf(err, HLM_ERR_INVALID, "%s: expected an integer in 1..%d, found %d", sizes[i].name,
                              sizes[i].hi, sizes[i].v);
    if (c->d_model % c->n_head)
        return hlm_errorf(err, HLM_ERR_INVALID, "d_model %d is not a multiple of n_head %d", c->d_model, c->n_head);
    if (c->head_dim != c->d_model / c->n_head)
        return hlm_errorf(err, HLM_ERR_INVALID,
                          "head_dim %d differs from d_model / n_head = %d (only that head size is supported)",
                          c->head_dim, c->d_model / c->n_head);
    if (c->n_head % c->n_kv_head)
        return hlm_errorf(err, HLM_ERR_INVALID, "n_kv_head %d does not divide n_head %d", c->n_kv_head, c->n_head);
    if (c->arch == HLM_ARCH_GPT2 && c->n_kv_head != c->n_head)
        return hlm_errorf(err, HLM_ERR_INVALID, "n_kv_head %d: GPT-2 has no grouped-query attention (expected %d)",
                          c->n_kv_head, c->n_head);
    if (c->arch == HLM_ARCH_LLAMA && c->head_dim % 2)
        return hlm_errorf(err, HLM_ERR_INVALID, "head_dim %d: RoPE needs an even head size", c->head_dim);
    if (!(c->norm_eps > 0) || !isfinite(c->norm_eps))
        return hlm_errorf(err, HLM_ERR_INVALID, "norm_eps: expected a positive number, found %g", c->norm_eps);
    if (c->arch == HLM_ARCH_LLAMA && (!(c->rope_theta > 0) || !isfinite(c->rope_theta)))
        return hlm_errorf(err, HLM_ERR_INVALID, "rope_theta: expected a positive number, found %g", c->rope_theta);
    if (!(c->init_std >= 0) || !isfinite(c->init_std))
        return hlm_errorf(err, HLM_ERR_INVALID, "init_std: expected a number >= 0, found %g", c->init_std);
    if (c->tie_embeddings != 0 && c->tie_embeddings != 1)
        return hlm_errorf(err, HLM_ERR_INVALID, "tie_embeddings: expected 0 or 1, found %d", c->tie_embeddings);
    if (c->arch == HLM_ARCH_GPT2 && !c->tie_embeddings)
        return hlm_errorf(err, HLM_ERR_INVALID, "tie_embeddings: GPT-2's lm_head is always tied to wte");
    if (c->bos_token_id < -1 || c->bos_token_id >= c->vocab_size)
        return hlm_errorf(err, HLM_ERR_INVALID, "bos_token_id %d: expected -1 (unset) or an id below vocab_size %d",
                          c->bos_token_id, c->vocab_size);
    if (c->eos_token_id < -1 || c->eos_token_id >= c->vocab_size)
        return hlm_errorf(err, HLM_ERR_INVALID, "eos_token_id %d: expected -1 (unset) or an id below vocab_size %d",
                          c->eos_token_id, c->vocab_size);
    return HLM_OK;
}

/* ---- config.json in ---- */

typedef struct json_in {
    const cJSON *root;
    const char *src;
    hlm_error *err;
} json_in;

static const char *describe(const cJSON *v, char *buf, size_t n)
{
    if (!v) return "nothing";
    if (cJSON_IsNull(v)) return "null";
    if (cJSON_IsTrue(v)) return "true";
    if (cJSON_IsFalse(v)) return "false";
    if (cJSON_IsNumber(v)) {
        snprintf(buf, n, "%.17g", v->valuedouble);
        return buf;
    }
    if (cJSON_IsString(v)) {
        snprintf(buf, n, "the string \"%.40s\"", v->valuestring);
        return buf;
    }
    return cJSON_IsArray(v) ? "an array" : cJSON_IsObject(v) ? "an object" : "an invalid value";
}

static hlm_status wrong(json_in *j, const char *key, const cJSON *v, const char *expected)
{
    char b[96];
    if (!v)
        return hlm_errorf(j->err, HLM_ERR_FORMAT, "%s: missing key '%s' (expected %s)", j->src, key, expected);
    return hlm_errorf(j->err, HLM_ERR_FORMAT, "%s: key '%s': expected %s, found %s", j->src, key, expected,
                      describe(v, b, sizeof b));
}

static const cJSON *item(json_in *j, const char *key)
{
    return cJSON_GetObjectItemCaseSensitive(j->root, key);
}

static int absent(const cJSON *v) { return !v || cJSON_IsNull(v); }

static int int_value(const cJSON *v, long lo, long hi, int *out)
{
    if (!cJSON_IsNumber(v)) return 0;
    double d = v->valuedouble;
    if (!(d >= (double)lo && d <= (double)hi) || d != floor(d)) return 0;
    *out = (int)d;
    return 1;
}

/* An integer in lo..hi; absent or null gives def, or an error when required. */
static hlm_status get_int(json_in *j, const char *key, int required, int def, int lo, int hi, int *out)
{
    const cJSON *v = item(j, key);
    char expected[64];
    snprintf(expected, sizeof expected, "an integer in %d..%d", lo, hi);
    if (absent(v)) {
        if (required) return wrong(j, key, v, expected);
        *out = def;
        return HLM_OK;
    }
    return int_value(v, lo, hi, out) ? HLM_OK : wrong(j, key, v, expected);
}

/* A number that is finite as a float, in (0, inf) when positive else [0, inf). */
static hlm_status get_float(json_in *j, const char *key, float def, int positive, float *out)
{
    const cJSON *v = item(j, key);
    const char *expected = positive ? "a positive number" : "a number >= 0";
    if (absent(v)) {
        *out = def;
        return HLM_OK;
    }
    if (!cJSON_IsNumber(v)) return wrong(j, key, v, expected);
    float f = (float)v->valuedouble;
    if (!isfinite(f) || f < 0 || (positive && !(f > 0))) return wrong(j, key, v, expected);
    *out = f;
    return HLM_OK;
}

static hlm_status get_bool(json_in *j, const char *key, int def, int *out)
{
    const cJSON *v = item(j, key);
    if (absent(v)) {
        *out = def;
        return HLM_OK;
    }
    if (!cJSON_IsBool(v)) return wrong(j, key, v, "true or false");
    *out = cJSON_IsTrue(v);
    return HLM_OK;
}

/* A boolean flag that HyperLM supports only at one value (the standard architecture's). */
static hlm_status require_bool(json_in *j, const char *key, int def, int want, const char *why)
{
    int b;
    hlm_status st = get_bool(j, key, def, &b);
    if (st) return st;
    if (b != want)
        return hlm_errorf(j->err, HLM_ERR_FORMAT, "%s: key '%s': %s is not supported (%s)", j->src, key,
                          b ? "true" : "false", why);
    return HLM_OK;
}

/* bos/eos: an id, null (unset: -1), or a list of ids (as in Llama 3.1; the first is kept). */
static hlm_status get_token_id(json_in *j, const char *key, int vocab, int *out)
{
    const cJSON *v = item(j, key);
    char expected[96];
    snprintf(expected, sizeof expected, "null, a token id in 0..%d or a list of them", vocab - 1);
    *out = -1;
    if (absent(v)) return HLM_OK;
    if (cJSON_IsArray(v)) {
        const cJSON *e;
        cJSON_ArrayForEach(e, v) if (!int_value(e, 0, vocab - 1, out)) return wrong(j, key, v, expected);
        if (v->child) int_value(v->child, 0, vocab - 1, out);
        return HLM_OK;
    }
    return int_value(v, 0, vocab - 1, out) ? HLM_OK : wrong(j, key, v, expected);
}

static hlm_status get_string(json_in *j, const char *key, const char *def, const char **out)
{
    const cJSON *v = item(j, key);
    if (absent(v)) {
        *out = def;
        return HLM_OK;
    }
    if (!cJSON_IsString(v)) return wrong(j, key, v, "a string");
    *out = v->valuestring;
    return HLM_OK;
}

#define TRY(x)                                                                                       \
    do {                                                                                             \
        hlm_status st_ = (x);                                                                        \
        if (st_) return st_;                                                                         \
    } while (0)

static hlm_status heads_divide(json_in *j, const char *dim_key, int dim, const char *heads_key, int heads)
{
    if (dim % heads)
        return hlm_errorf(j->err, HLM_ERR_FORMAT, "%s: key '%s': %d is not a multiple of %s (%d)", j->src, dim_key,
                          dim, heads_key, heads);
    return HLM_OK;
}

/* Hugging Face GPT2Config. Dropout keys are ignored (pretraining here has no dropout). */
static hlm_status parse_gpt2(json_in *j, hlm_model_config *c)
{
    c->arch = HLM_ARCH_GPT2;
    TRY(get_int(j, "vocab_size", 1, 0, 1, LIM_VOCAB, &c->vocab_size));
    TRY(get_int(j, "n_positions", 1, 0, 1, LIM_SEQ, &c->max_seq));
    TRY(get_int(j, "n_embd", 1, 0, 1, LIM_DMODEL, &c->d_model));
    TRY(get_int(j, "n_layer", 1, 0, 1, LIM_LAYER, &c->n_layer));
    TRY(get_int(j, "n_head", 1, 0, 1, LIM_HEAD, &c->n_head));
    TRY(heads_divide(j, "n_embd", c->d_model, "n_head", c->n_head));
    c->n_kv_head = c->n_head;
    c->head_dim = c->d_model / c->n_head;
    TRY(get_int(j, "n_inner", 0, 4 * c->d_model, 1, LIM_DFF, &c->d_ff));
    TRY(get_float(j, "layer_norm_epsilon", 1e-5f, 1, &c->norm_eps));
    TRY(get_float(j, "initializer_range", 0.02f, 0, &c->init_std));
    c->rope_theta = 10000.0f;
    const char *act;
    TRY(get_string(j, "activation_function", "gelu_new", &act));
    if (strcmp(act, "gelu_new") && strcmp(act, "gelu_pytorch_tanh"))
        return hlm_errorf(j->err, HLM_ERR_FORMAT,
                          "%s: key 'activation_function': \"%.40s\" is not supported (expected gelu_new or "
                          "gelu_pytorch_tanh, the tanh approximation GPT-2 uses)",
                          j->src, act);
    TRY(require_bool(j, "tie_word_embeddings", 1, 1, "GPT-2's lm_head is tied to wte"));
    c->tie_embeddings = 1;
    TRY(require_bool(j, "scale_attn_weights", 1, 1, "attention scores are always scaled by 1/sqrt(head_dim)"));
    TRY(require_bool(j, "scale_attn_by_inverse_layer_idx", 0, 0, "expected false"));
    TRY(require_bool(j, "add_cross_attention", 0, 0, "decoder-only models only"));
    TRY(get_token_id(j, "bos_token_id", c->vocab_size, &c->bos_token_id));
    TRY(get_token_id(j, "eos_token_id", c->vocab_size, &c->eos_token_id));
    return HLM_OK;
}

/* Hugging Face LlamaConfig. pretraining_tp and attention_dropout do not change the function. */
static hlm_status parse_llama(json_in *j, hlm_model_config *c)
{
    c->arch = HLM_ARCH_LLAMA;
    TRY(get_int(j, "vocab_size", 1, 0, 1, LIM_VOCAB, &c->vocab_size));
    TRY(get_int(j, "hidden_size", 1, 0, 1, LIM_DMODEL, &c->d_model));
    TRY(get_int(j, "intermediate_size", 1, 0, 1, LIM_DFF, &c->d_ff));
    TRY(get_int(j, "num_hidden_layers", 1, 0, 1, LIM_LAYER, &c->n_layer));
    TRY(get_int(j, "num_attention_heads", 1, 0, 1, LIM_HEAD, &c->n_head));
    TRY(heads_divide(j, "hidden_size", c->d_model, "num_attention_heads", c->n_head));
    TRY(get_int(j, "num_key_value_heads", 0, c->n_head, 1, LIM_HEAD, &c->n_kv_head));
    if (c->n_head % c->n_kv_head)
        return hlm_errorf(j->err, HLM_ERR_FORMAT,
                          "%s: key 'num_key_value_heads': %d does not divide num_attention_heads (%d)", j->src,
                          c->n_kv_head, c->n_head);
    c->head_dim = c->d_model / c->n_head;
    int head_dim;
    TRY(get_int(j, "head_dim", 0, c->head_dim, 1, LIM_DMODEL, &head_dim));
    if (head_dim != c->head_dim)
        return hlm_errorf(j->err, HLM_ERR_FORMAT,
                          "%s: key 'head_dim': %d is not supported (HyperLM supports only head_dim = hidden_size / "
                          "num_attention_heads = %d)",
                          j->src, head_dim, c->head_dim);
    if (c->head_dim % 2)
        return hlm_errorf(j->err, HLM_ERR_FORMAT,
                          "%s: key 'num_attention_heads': head size hidden_size / num_attention_heads = %d is odd "
                          "(RoPE needs an even head size)",
                          j->src, c->head_dim);
    TRY(get_int(j, "max_position_embeddings", 1, 0, 1, LIM_SEQ, &c->max_seq));
    TRY(get_float(j, "rms_norm_eps", 1e-6f, 1, &c->norm_eps)); /* LlamaConfig's default */
    TRY(get_float(j, "rope_theta", 10000.0f, 1, &c->rope_theta));
    /* transformers >= 5 writes {"rope_parameters": {"rope_type": "default", "rope_theta": ...}}
     * instead of a top-level rope_theta; a rope_type other than default is scaling we lack. */
    const cJSON *rp = item(j, "rope_parameters");
    if (!absent(rp)) {
        if (!cJSON_IsObject(rp)) return wrong(j, "rope_parameters", rp, "an object");
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(rp, "rope_type");
        if (!absent(type) && (!cJSON_IsString(type) || strcmp(type->valuestring, "default")))
            return hlm_errorf(j->err, HLM_ERR_FORMAT,
                              "%s: key 'rope_parameters.rope_type': not supported (expected \"default\": only plain "
                              "RoPE is implemented)",
                              j->src);
        const cJSON *theta = cJSON_GetObjectItemCaseSensitive(rp, "rope_theta");
        if (!absent(theta)) {
            if (!cJSON_IsNumber(theta) || !(theta->valuedouble > 0) || !isfinite((float)theta->valuedouble))
                return wrong(j, "rope_parameters.rope_theta", theta, "a positive number");
            c->rope_theta = (float)theta->valuedouble;
        }
    }
    TRY(get_float(j, "initializer_range", 0.02f, 0, &c->init_std));
    TRY(get_bool(j, "tie_word_embeddings", 0, &c->tie_embeddings));
    const char *act;
    TRY(get_string(j, "hidden_act", "silu", &act));
    if (strcmp(act, "silu"))
        return hlm_errorf(j->err, HLM_ERR_FORMAT, "%s: key 'hidden_act': \"%.40s\" is not supported (expected silu)",
                          j->src, act);
    if (!absent(item(j, "rope_scaling")))
        return hlm_errorf(j->err, HLM_ERR_FORMAT,
                          "%s: key 'rope_scaling': not supported (expected null or absent: only plain RoPE is "
                          "implemented)",
                          j->src);
    TRY(require_bool(j, "attention_bias", 0, 0, "Llama attention has no biases"));
    TRY(require_bool(j, "mlp_bias", 0, 0, "Llama MLPs have no biases"));
    TRY(get_token_id(j, "bos_token_id", c->vocab_size, &c->bos_token_id));
    TRY(get_token_id(j, "eos_token_id", c->vocab_size, &c->eos_token_id));
    return HLM_OK;
}

hlm_status hlm_config_from_json(const char *json, size_t len, const char *source, hlm_model_config *cfg,
                                hlm_error *err)
{
    if (!source) source = "config.json";
    memset(cfg, 0, sizeof *cfg);
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(json, len, &end, 0);
    if (!root) {
        size_t at = end && end >= json ? (size_t)(end - json) : 0;
        return hlm_errorf(err, HLM_ERR_FORMAT, "%s: not valid JSON (error near byte %zu)", source, at);
    }
    hlm_status st;
    json_in j = {root, source, err};
    const char *type = NULL;
    hlm_model_config c;
    memset(&c, 0, sizeof c);
    if (!cJSON_IsObject(root)) {
        st = hlm_errorf(err, HLM_ERR_FORMAT, "%s: expected a JSON object at the top level", source);
    } else if (!cJSON_IsString(item(&j, "model_type"))) {
        st = wrong(&j, "model_type", item(&j, "model_type"), "\"gpt2\" or \"llama\"");
    } else if (!strcmp(type = item(&j, "model_type")->valuestring, "gpt2")) {
        st = parse_gpt2(&j, &c);
    } else if (!strcmp(type, "llama")) {
        st = parse_llama(&j, &c);
    } else {
        st = hlm_errorf(err, HLM_ERR_FORMAT, "%s: key 'model_type': \"%.40s\" is not supported (expected gpt2 or llama)",
                        source, type);
    }
    cJSON_Delete(root);
    if (!st && (st = hlm_config_validate(&c, err))) {
        hlm_error_prefix(err, "%s: ", source);
        if (err) err->code = HLM_ERR_FORMAT;
        st = HLM_ERR_FORMAT;
    }
    if (!st) *cfg = c;
    return st;
}

hlm_status hlm_config_resolve(const char *preset_or_path, hlm_model_config *cfg, hlm_error *err)
{
    struct stat sb;
    if (stat(preset_or_path, &sb) == 0) {
        hlm_buf path = {0}, text = {0};
        hlm_status st = hlm_buf_appendf(&path, "%s%s", preset_or_path, S_ISDIR(sb.st_mode) ? "/config.json" : "");
        if (st) return hlm_errorf(err, st, "%s: out of memory", preset_or_path);
        const char *p = (const char *)path.data;
        st = hlm_file_read_all(p, &text, err);
        if (!st) st = hlm_config_from_json((const char *)text.data, text.len, p, cfg, err);
        hlm_buf_free(&text);
        hlm_buf_free(&path);
        return st;
    }
    for (int i = 0; preset_names[i]; i++)
        if (!strcmp(preset_or_path, preset_names[i])) return hlm_config_preset(preset_or_path, cfg, err);
    hlm_buf b = {0};
    names_list(&b);
    hlm_status st = hlm_errorf(err, HLM_ERR_INVALID,
                               "'%s' is neither a model preset nor a config.json file or a folder holding one "
                               "(presets: %s)",
                               preset_or_path, b.data ? (char *)b.data : "?");
    hlm_buf_free(&b);
    return st;
}

/* ---- config.json out ---- */

/* Shortest decimal that reads back (as a double cast to float, as from_json does) to f, with a
 * ".0" when it would otherwise read as a JSON integer (Python would then load an int). */
static void format_float(float f, char *buf, size_t n)
{
    for (int p = 6; p <= 9; p++) {
        snprintf(buf, n, "%.*g", p, (double)f);
        if ((float)strtod(buf, NULL) == f) break;
    }
    if (!strpbrk(buf, ".eEn")) strncat(buf, ".0", n - strlen(buf) - 1);
}

static void add_float(cJSON *o, const char *key, float f)
{
    char b[48];
    format_float(f, b, sizeof b);
    cJSON_AddRawToObject(o, key, b);
}

static void add_token_id(cJSON *o, const char *key, int id)
{
    if (id < 0)
        cJSON_AddNullToObject(o, key);
    else
        cJSON_AddNumberToObject(o, key, id);
}

char *hlm_config_to_json(const hlm_model_config *c)
{
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    int gpt2 = c->arch == HLM_ARCH_GPT2;
    const char *arch = gpt2 ? "GPT2LMHeadModel" : "LlamaForCausalLM";
    cJSON_AddItemToObject(o, "architectures", cJSON_CreateStringArray(&arch, 1));
    cJSON_AddStringToObject(o, "model_type", arch_name(c->arch));
    cJSON_AddNumberToObject(o, "vocab_size", c->vocab_size);
    if (gpt2) {
        cJSON_AddNumberToObject(o, "n_positions", c->max_seq);
        cJSON_AddNumberToObject(o, "n_ctx", c->max_seq);
        cJSON_AddNumberToObject(o, "n_embd", c->d_model);
        cJSON_AddNumberToObject(o, "n_layer", c->n_layer);
        cJSON_AddNumberToObject(o, "n_head", c->n_head);
        cJSON_AddNumberToObject(o, "n_inner", c->d_ff);
        cJSON_AddStringToObject(o, "activation_function", "gelu_new");
        add_float(o, "layer_norm_epsilon", c->norm_eps);
        add_float(o, "initializer_range", c->init_std);
        cJSON_AddRawToObject(o, "attn_pdrop", "0.0");
        cJSON_AddRawToObject(o, "embd_pdrop", "0.0");
        cJSON_AddRawToObject(o, "resid_pdrop", "0.0");
        cJSON_AddRawToObject(o, "summary_first_dropout", "0.0");
        cJSON_AddBoolToObject(o, "scale_attn_weights", 1);
        cJSON_AddBoolToObject(o, "scale_attn_by_inverse_layer_idx", 0);
        cJSON_AddBoolToObject(o, "reorder_and_upcast_attn", 0);
    } else {
        cJSON_AddNumberToObject(o, "hidden_size", c->d_model);
        cJSON_AddNumberToObject(o, "intermediate_size", c->d_ff);
        cJSON_AddNumberToObject(o, "num_hidden_layers", c->n_layer);
        cJSON_AddNumberToObject(o, "num_attention_heads", c->n_head);
        cJSON_AddNumberToObject(o, "num_key_value_heads", c->n_kv_head);
        cJSON_AddNumberToObject(o, "head_dim", c->head_dim);
        cJSON_AddNumberToObject(o, "max_position_embeddings", c->max_seq);
        cJSON_AddStringToObject(o, "hidden_act", "silu");
        add_float(o, "rms_norm_eps", c->norm_eps);
        add_float(o, "rope_theta", c->rope_theta);
        cJSON_AddNullToObject(o, "rope_scaling");
        add_float(o, "initializer_range", c->init_std);
        cJSON_AddBoolToObject(o, "attention_bias", 0);
        cJSON_AddRawToObject(o, "attention_dropout", "0.0");
        cJSON_AddBoolToObject(o, "mlp_bias", 0);
        cJSON_AddNumberToObject(o, "pretraining_tp", 1);
    }
    cJSON_AddBoolToObject(o, "tie_word_embeddings", c->tie_embeddings != 0);
    add_token_id(o, "bos_token_id", c->bos_token_id);
    add_token_id(o, "eos_token_id", c->eos_token_id);
    cJSON_AddStringToObject(o, "torch_dtype", "float32");
    cJSON_AddBoolToObject(o, "use_cache", 1);
    char *text = cJSON_Print(o);
    cJSON_Delete(o);
    if (!text) return NULL;
    /* cJSON indents with tabs and writes ":\t"; Hugging Face writes 2 spaces and ": ". No value
     * written here contains a tab, so the rewrite is safe. */
    size_t n = 0;
    for (const char *p = text; *p; p++) n += *p == '\t' ? 2 : 1;
    char *out = malloc(n + 2), *d = out;
    for (const char *p = text; out && *p; p++)
        if (*p != '\t')
            *d++ = *p;
        else if (p > text && p[-1] == ':')
            *d++ = ' ';
        else
            *d++ = ' ', *d++ = ' ';
    if (out) memcpy(d, "\n", 2);
    cJSON_free(text);
    return out;
}

/* ---- the parameter table ---- */

typedef struct table {
    hlm_tensor_info *t; /* NULL: only count */
    int n;
    size_t next;  /* first free float after the last tensor */
    size_t numel; /* sum of numel */
} table;

/* align: pad next up to a multiple of ALIGN_FLOATS first (0 for k/v_proj and up_proj). */
static void add(table *tb, int align, int decay, int64_t d0, int64_t d1, const char *fmt, int layer)
{
    size_t off = align ? (tb->next + ALIGN_FLOATS - 1) / ALIGN_FLOATS * ALIGN_FLOATS : tb->next;
    size_t numel = (size_t)d0 * (size_t)(d1 ? d1 : 1);
    if (tb->t) {
        hlm_tensor_info *t = &tb->t[tb->n];
        memset(t, 0, sizeof *t);
        snprintf(t->name, sizeof t->name, fmt, layer);
        t->ndim = d1 ? 2 : 1;
        t->shape[0] = d0;
        t->shape[1] = d1;
        t->offset = off;
        t->numel = numel;
        t->decay = decay;
    }
    tb->n++;
    tb->next = off + numel;
    tb->numel += numel;
}

static void layout(const hlm_model_config *c, table *tb)
{
    int64_t V = c->vocab_size, C = c->d_model, F = c->d_ff, P = c->max_seq;
    int64_t Q = (int64_t)c->n_head * c->head_dim, KV = (int64_t)c->n_kv_head * c->head_dim;
    if (c->arch == HLM_ARCH_GPT2) {
        add(tb, 1, 0, V, C, "transformer.wte.weight", 0);
        add(tb, 1, 0, P, C, "transformer.wpe.weight", 0);
        for (int i = 0; i < c->n_layer; i++) {
            add(tb, 1, 0, C, 0, "transformer.h.%d.ln_1.weight", i);
            add(tb, 1, 0, C, 0, "transformer.h.%d.ln_1.bias", i);
            add(tb, 1, 1, C, 3 * C, "transformer.h.%d.attn.c_attn.weight", i);
            add(tb, 1, 0, 3 * C, 0, "transformer.h.%d.attn.c_attn.bias", i);
            add(tb, 1, 1, C, C, "transformer.h.%d.attn.c_proj.weight", i);
            add(tb, 1, 0, C, 0, "transformer.h.%d.attn.c_proj.bias", i);
            add(tb, 1, 0, C, 0, "transformer.h.%d.ln_2.weight", i);
            add(tb, 1, 0, C, 0, "transformer.h.%d.ln_2.bias", i);
            add(tb, 1, 1, C, F, "transformer.h.%d.mlp.c_fc.weight", i);
            add(tb, 1, 0, F, 0, "transformer.h.%d.mlp.c_fc.bias", i);
            add(tb, 1, 1, F, C, "transformer.h.%d.mlp.c_proj.weight", i);
            add(tb, 1, 0, C, 0, "transformer.h.%d.mlp.c_proj.bias", i);
        }
        add(tb, 1, 0, C, 0, "transformer.ln_f.weight", 0);
        add(tb, 1, 0, C, 0, "transformer.ln_f.bias", 0);
        return;
    }
    add(tb, 1, 0, V, C, "model.embed_tokens.weight", 0);
    for (int i = 0; i < c->n_layer; i++) {
        add(tb, 1, 0, C, 0, "model.layers.%d.input_layernorm.weight", i);
        add(tb, 1, 1, Q, C, "model.layers.%d.self_attn.q_proj.weight", i);
        add(tb, 0, 1, KV, C, "model.layers.%d.self_attn.k_proj.weight", i); /* no gap: [q; k; v] */
        add(tb, 0, 1, KV, C, "model.layers.%d.self_attn.v_proj.weight", i);
        add(tb, 1, 1, C, Q, "model.layers.%d.self_attn.o_proj.weight", i);
        add(tb, 1, 0, C, 0, "model.layers.%d.post_attention_layernorm.weight", i);
        add(tb, 1, 1, F, C, "model.layers.%d.mlp.gate_proj.weight", i);
        add(tb, 0, 1, F, C, "model.layers.%d.mlp.up_proj.weight", i); /* no gap: [gate; up] */
        add(tb, 1, 1, C, F, "model.layers.%d.mlp.down_proj.weight", i);
    }
    add(tb, 1, 0, C, 0, "model.norm.weight", 0);
    if (!c->tie_embeddings) add(tb, 1, 1, V, C, "lm_head.weight", 0);
}

hlm_status hlm_config_tensors(const hlm_model_config *cfg, hlm_tensor_info **out, int *n, hlm_error *err)
{
    *out = NULL;
    *n = 0;
    hlm_status st = hlm_config_validate(cfg, err);
    if (st) return st;
    table count = {0};
    layout(cfg, &count);
    table tb = {.t = malloc((size_t)count.n * sizeof *tb.t)};
    if (!tb.t) return hlm_errorf(err, HLM_ERR_NOMEM, "parameter table of %d tensors: out of memory", count.n);
    layout(cfg, &tb);
    *out = tb.t;
    *n = tb.n;
    return HLM_OK;
}

size_t hlm_config_num_params(const hlm_model_config *cfg)
{
    table tb = {0};
    layout(cfg, &tb);
    return tb.numel;
}

/* Forward FLOPs per token, PaLM's convention (Chowdhery et al. 2022, Appendix B: training costs
 * 6N + 12 L H Q T per token, i.e. forward 2N + 4 L H Q T, backward twice that):
 *   2 * N_matmul            every weight of a matrix multiply does one multiply-add per token;
 *                           N_matmul includes the lm head (V x C, tied or not) and excludes the
 *                           embedding lookups (wte/wpe, embed_tokens), norms and biases;
 *   + 4 * L * H * hd * T    QK^T and AV, 2 * H * hd * T FLOPs each per token and layer, counted
 *                           over the full T (not the causal half), as PaLM does. */
double hlm_config_flops_per_token(const hlm_model_config *c, int T)
{
    double C = c->d_model, F = c->d_ff, V = c->vocab_size, L = c->n_layer;
    double Q = (double)c->n_head * c->head_dim, KV = (double)c->n_kv_head * c->head_dim;
    double per_layer = c->arch == HLM_ARCH_GPT2 ? C * 3 * C + C * C + 2 * C * F
                                                : C * (Q + 2 * KV) + Q * C + 3 * C * F;
    double n_matmul = L * per_layer + V * C;
    return 2 * n_matmul + 4 * L * Q * (double)T;
}
