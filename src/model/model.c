/* The model: parameters, gradients and activations in three contiguous allocations, and the
 * forward/backward of a whole GPT-2 or Llama network built from the layers in layers.h.
 *
 * Shapes: N = B*T rows; C = d_model; F = d_ff; Dq = H*hd (== C); Dkv = KV*hd;
 * Dqkv = Dq + 2*Dkv. Per layer l the forward keeps (for backward):
 *   GPT-2: ln1 (N,C) + mean/rstd (N), qkv (N,Dqkv), att (N,Dq) + lse (B,H,T), res2 (N,C),
 *          ln2 (N,C) + mean/rstd, fch (N,F) pre-GELU, fcg (N,F) post-GELU, res3 (N,C)
 *   Llama: ln1 (N,C) + rstd, qkv (N,Dqkv) after RoPE, att, lse, res2, ln2 + rstd,
 *          gu (N,2F) [gate|up], sw (N,F) = silu(gate)*up, res3
 * res3 of layer l is the residual stream entering layer l+1 (layer 0 reads `encoded`). The
 * attention and MLP output projections are not kept: they are only added into the residual.
 * The loss is computed fused with its gradient in the forward pass (softmax + cross-entropy in
 * one sweep over the logits), so after a forward with targets the logits buffer holds dlogits. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "hyperlm/model.h"
#include "model/gemm.h"
#include "model/layers.h"

typedef struct layer_acts {
    float *ln1, *ln1_mean, *ln1_rstd, *qkv, *att, *lse, *res2, *ln2, *ln2_mean, *ln2_rstd;
    float *fch, *fcg, *res3; /* GPT-2: fch pre-GELU, fcg post; Llama: fch = gu (N,2F), fcg = sw */
} layer_acts;

typedef struct layer_params {
    const float *ln1_w, *ln1_b, *qkv_w, *qkv_b, *proj_w, *proj_b, *ln2_w, *ln2_b;
    const float *fc_w, *fc_b, *fcproj_w, *fcproj_b;
} layer_params;

struct hlm_model {
    hlm_model_config cfg;
    hlm_tensor_info *tensors;
    int n_tensors;
    size_t n_floats; /* parameter array length including alignment padding */
    float *params, *grads;
    /* tensor offsets resolved once: index of first tensor of each layer etc. */
    size_t off_wte, off_wpe, off_lnf_w, off_lnf_b, off_lm_head;
    size_t *layer_off; /* (n_layer, 12) offsets in layer_params order; SIZE_MAX = absent */
    float *rope; /* (max_seq, hd/2, 2) */

    /* activations for the current (B,T) */
    int B, T;
    size_t act_capacity; /* floats */
    float *acts;
    float *encoded, *lnf, *lnf_mean, *lnf_rstd, *logits, *losses, *scratch_c;
    layer_acts *layers;
    /* gradient scratch for backward */
    float *d_res, *d_c, *d_att, *d_qkv, *d_f1, *d_f2;
    int32_t *tokens, *targets;
    int have_targets, n_valid;
    int logits_are_grads;
    hlm_grad_ready_fn grad_ready;
    void *grad_ready_ctx;
    hlm_grad_storage_fn grad_storage;
    void *grad_storage_ctx;
};

enum { P_LN1_W, P_LN1_B, P_QKV_W, P_QKV_B, P_PROJ_W, P_PROJ_B, P_LN2_W, P_LN2_B, P_FC_W, P_FC_B,
       P_FCPROJ_W, P_FCPROJ_B, P_COUNT };

#define ABSENT ((size_t)-1)

static float *falloc(size_t n)
{
    void *p = NULL;
    size_t bytes = (n * sizeof(float) + 63) & ~(size_t)63;
    if (bytes == 0) bytes = 64;
    if (posix_memalign(&p, 64, bytes) != 0) return NULL;
    return p;
}

static size_t find_offset(const hlm_model *m, const char *name)
{
    for (int i = 0; i < m->n_tensors; i++)
        if (strcmp(m->tensors[i].name, name) == 0) return m->tensors[i].offset;
    return ABSENT;
}

/* Resolves every tensor the forward pass uses; returns the name of a missing one or NULL. */
static const char *resolve_offsets(hlm_model *m)
{
    const hlm_model_config *c = &m->cfg;
    static char missing[96];
    int gpt2 = c->arch == HLM_ARCH_GPT2;
#define NEED(dst, nm)                                                         \
    do {                                                                      \
        (dst) = find_offset(m, (nm));                                         \
        if ((dst) == ABSENT) {                                                \
            snprintf(missing, sizeof missing, "%s", (nm));                    \
            return missing;                                                   \
        }                                                                     \
    } while (0)
    char nm[96];
    if (gpt2) {
        NEED(m->off_wte, "transformer.wte.weight");
        NEED(m->off_wpe, "transformer.wpe.weight");
        NEED(m->off_lnf_w, "transformer.ln_f.weight");
        NEED(m->off_lnf_b, "transformer.ln_f.bias");
        m->off_lm_head = m->off_wte;
    } else {
        NEED(m->off_wte, "model.embed_tokens.weight");
        m->off_wpe = ABSENT;
        NEED(m->off_lnf_w, "model.norm.weight");
        m->off_lnf_b = ABSENT;
        if (c->tie_embeddings) m->off_lm_head = m->off_wte;
        else NEED(m->off_lm_head, "lm_head.weight");
    }
    static const char *gpt2_names[P_COUNT] = {
        "ln_1.weight", "ln_1.bias", "attn.c_attn.weight", "attn.c_attn.bias", "attn.c_proj.weight",
        "attn.c_proj.bias", "ln_2.weight", "ln_2.bias", "mlp.c_fc.weight", "mlp.c_fc.bias",
        "mlp.c_proj.weight", "mlp.c_proj.bias"};
    /* Llama: q_proj starts the fused (Dqkv, C) matrix; gate_proj starts the fused (2F, C) one. */
    static const char *llama_names[P_COUNT] = {
        "input_layernorm.weight", NULL, "self_attn.q_proj.weight", NULL, "self_attn.o_proj.weight",
        NULL, "post_attention_layernorm.weight", NULL, "mlp.gate_proj.weight", NULL,
        "mlp.down_proj.weight", NULL};
    for (int l = 0; l < c->n_layer; l++) {
        for (int p = 0; p < P_COUNT; p++) {
            const char *suffix = gpt2 ? gpt2_names[p] : llama_names[p];
            size_t *dst = &m->layer_off[(size_t)l * P_COUNT + p];
            if (!suffix) {
                *dst = ABSENT;
                continue;
            }
            snprintf(nm, sizeof nm, gpt2 ? "transformer.h.%d.%s" : "model.layers.%d.%s", l, suffix);
            NEED(*dst, nm);
        }
        if (!gpt2) {
            /* The fused matrices rely on adjacency (config.c's invariant): check it here. */
            size_t q = m->layer_off[(size_t)l * P_COUNT + P_QKV_W];
            size_t g = m->layer_off[(size_t)l * P_COUNT + P_FC_W];
            size_t k, v, u;
            snprintf(nm, sizeof nm, "model.layers.%d.self_attn.k_proj.weight", l);
            NEED(k, nm);
            snprintf(nm, sizeof nm, "model.layers.%d.self_attn.v_proj.weight", l);
            NEED(v, nm);
            snprintf(nm, sizeof nm, "model.layers.%d.mlp.up_proj.weight", l);
            NEED(u, nm);
            size_t dq = (size_t)c->n_head * c->head_dim * c->d_model;
            size_t dkv = (size_t)c->n_kv_head * c->head_dim * c->d_model;
            if (k != q + dq || v != k + dkv || u != g + (size_t)c->d_ff * c->d_model) {
                snprintf(missing, sizeof missing, "adjacent q/k/v and gate/up in layer %d", l);
                return missing;
            }
        }
    }
#undef NEED
    return NULL;
}

hlm_status hlm_model_create(const hlm_model_config *cfg, hlm_model **out, hlm_error *err)
{
    *out = NULL;
    hlm_status st = hlm_config_validate(cfg, err);
    if (st != HLM_OK) return st;
    hlm_model *m = calloc(1, sizeof *m);
    if (!m) return hlm_errorf(err, HLM_ERR_NOMEM, "model: out of memory");
    m->cfg = *cfg;
    st = hlm_config_tensors(cfg, &m->tensors, &m->n_tensors, err);
    if (st != HLM_OK) {
        free(m);
        return st;
    }
    for (int i = 0; i < m->n_tensors; i++) {
        size_t end = m->tensors[i].offset + m->tensors[i].numel;
        if (end > m->n_floats) m->n_floats = end;
    }
    m->layer_off = malloc(sizeof(size_t) * P_COUNT * (size_t)(cfg->n_layer > 0 ? cfg->n_layer : 1));
    m->params = falloc(m->n_floats);
    m->grads = falloc(m->n_floats);
    if (cfg->arch == HLM_ARCH_LLAMA) m->rope = falloc((size_t)cfg->max_seq * cfg->head_dim);
    if (!m->layer_off || !m->params || !m->grads || (cfg->arch == HLM_ARCH_LLAMA && !m->rope)) {
        hlm_model_free(m);
        return hlm_errorf(err, HLM_ERR_NOMEM, "model: out of memory for %zu parameters",
                          m->n_floats);
    }
    memset(m->params, 0, m->n_floats * sizeof(float));
    memset(m->grads, 0, m->n_floats * sizeof(float));
    const char *missing = resolve_offsets(m);
    if (missing) {
        hlm_model_free(m);
        return hlm_errorf(err, HLM_ERR_INVALID, "model: tensor table lacks %s", missing);
    }
    if (m->rope) rope_table(m->rope, cfg->max_seq, cfg->head_dim, cfg->rope_theta);
    *out = m;
    return HLM_OK;
}

void hlm_model_free(hlm_model *m)
{
    if (!m) return;
    free(m->tensors);
    free(m->layer_off);
    free(m->params);
    free(m->grads);
    free(m->rope);
    free(m->acts);
    free(m->layers);
    free(m->tokens);
    free(m->targets);
    free(m);
}

const hlm_model_config *hlm_model_config_of(const hlm_model *m) { return &m->cfg; }
float *hlm_model_params(hlm_model *m) { return m->params; }
float *hlm_model_grads(hlm_model *m) { return m->grads; }
size_t hlm_model_num_params(const hlm_model *m) { return hlm_config_num_params(&m->cfg); }
size_t hlm_model_array_floats(const hlm_model *m) { return m->n_floats; }

const hlm_tensor_info *hlm_model_tensors(const hlm_model *m, int *n)
{
    if (n) *n = m->n_tensors;
    return m->tensors;
}

const hlm_tensor_info *hlm_model_find_tensor(const hlm_model *m, const char *name)
{
    for (int i = 0; i < m->n_tensors; i++)
        if (strcmp(m->tensors[i].name, name) == 0) return &m->tensors[i];
    return NULL;
}

void hlm_model_zero_grad(hlm_model *m)
{
    if (m->grads) memset(m->grads, 0, m->n_floats * sizeof(float));
}

void hlm_model_set_grad_storage(hlm_model *m, hlm_grad_storage_fn fn, void *ctx)
{
    m->grad_storage = fn;
    m->grad_storage_ctx = ctx;
}

void hlm_model_free_grads(hlm_model *m)
{
    free(m->grads);
    m->grads = NULL;
}

void hlm_model_set_grad_ready(hlm_model *m, hlm_grad_ready_fn fn, void *ctx)
{
    m->grad_ready = fn;
    m->grad_ready_ctx = ctx;
}

/* The lowest offset of layer l's tensors: every gradient from there up is final once layer l's
 * backward is done (the table's order: embeddings, layers 0..L-1, final norm, lm head). */
static size_t layer_start(const hlm_model *m, int l)
{
    size_t lo = (size_t)-1;
    for (int p = 0; p < P_COUNT; p++) {
        size_t o = m->layer_off[(size_t)l * P_COUNT + p];
        if (o != ABSENT && o < lo) lo = o;
    }
    return lo;
}

int hlm_model_grad_groups(const hlm_model *m, size_t *bounds)
{
    int n = 0;
    bounds[n++] = 0;
    for (int l = 0; l < m->cfg.n_layer; l++) bounds[n++] = layer_start(m, l);
    bounds[n++] = m->off_lnf_w;
    bounds[n] = m->n_floats;
    return n;
}

/* The storage of the gradient group [lo, hi): the model's array, or the storage callback's. */
static float *grad_group(hlm_model *m, size_t lo, size_t hi)
{
    if (!m->grad_storage) return m->grads ? m->grads + lo : NULL;
    return m->grad_storage(m->grad_storage_ctx, lo, hi);
}

/* ---- initialization ---------------------------------------------------------------------- */

/* Standard normal by Box-Muller on 53-bit uniforms; one stream per tensor so that a tensor's
 * values do not depend on the tensors before it. */
static void fill_normal(float *dst, size_t n, float std, uint64_t seed)
{
    uint64_t s = seed;
    for (size_t i = 0; i < n; i += 2) {
        double u1 = ((double)(hlm_splitmix64(&s) >> 11) + 1.0) * 0x1.0p-53; /* (0, 1] */
        double u2 = (double)(hlm_splitmix64(&s) >> 11) * 0x1.0p-53;
        double r = sqrt(-2.0 * log(u1));
        dst[i] = (float)(std * r * cos(2.0 * M_PI * u2));
        if (i + 1 < n) dst[i + 1] = (float)(std * r * sin(2.0 * M_PI * u2));
    }
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

void hlm_model_init_weights(hlm_model *m, uint64_t seed)
{
    const hlm_model_config *c = &m->cfg;
    float std = c->init_std > 0 ? c->init_std : 0.02f;
    /* GPT-2 (Radford et al. 2019, sec. 2.3): residual-path output projections scaled by
     * 1/sqrt(N) with N = 2 * n_layer residual layers. */
    float proj_std = std / sqrtf(2.0f * (float)c->n_layer);
    memset(m->params, 0, m->n_floats * sizeof(float));
    for (int i = 0; i < m->n_tensors; i++) {
        const hlm_tensor_info *t = &m->tensors[i];
        float *p = m->params + t->offset;
        uint64_t s = seed * 0x100000001B3ull + (uint64_t)i * 0x9E3779B97F4A7C15ull;
        if (t->ndim == 1) {
            int is_norm_w = ends_with(t->name, "ln_1.weight") || ends_with(t->name, "ln_2.weight") ||
                            ends_with(t->name, "ln_f.weight") || ends_with(t->name, "layernorm.weight") ||
                            strcmp(t->name, "model.norm.weight") == 0;
            for (size_t j = 0; j < t->numel; j++) p[j] = is_norm_w ? 1.0f : 0.0f;
            continue;
        }
        int residual_out = ends_with(t->name, "attn.c_proj.weight") ||
                           ends_with(t->name, "mlp.c_proj.weight") ||
                           ends_with(t->name, "o_proj.weight") || ends_with(t->name, "down_proj.weight");
        fill_normal(p, t->numel, residual_out ? proj_std : std, s);
    }
}

/* ---- activations ------------------------------------------------------------------------- */

/* Bump allocator over the activation block: with base == NULL only counts. Every piece is
 * padded to 16 floats (64 bytes) so that rows of each buffer start cache-line aligned. */
typedef struct act_cursor {
    float *base;
    size_t off;
} act_cursor;

static void take(act_cursor *cur, float **dst, size_t n)
{
    if (cur->base) *dst = cur->base + cur->off;
    cur->off += (n + 15) & ~(size_t)15;
}

/* Walks the activation layout for (B,T); with base != NULL it also assigns m's pointers. */
static size_t layout_acts(hlm_model *m, const hlm_model_config *c, int B, int T, float *base)
{
    size_t N = (size_t)B * T, C = c->d_model, F = c->d_ff, V = c->vocab_size;
    size_t Dq = (size_t)c->n_head * c->head_dim, Dkv = (size_t)c->n_kv_head * c->head_dim;
    size_t Dqkv = Dq + 2 * Dkv, BH = (size_t)B * c->n_head;
    size_t fc_width = c->arch == HLM_ARCH_GPT2 ? F : 2 * F;
    act_cursor cur = {base, 0};
    float *dummy;
    layer_acts tmp;
#define P(field) (base ? &m->field : &dummy)
    take(&cur, P(encoded), N * C);
    for (int l = 0; l < c->n_layer; l++) {
        layer_acts *a = base ? &m->layers[l] : &tmp;
        take(&cur, &a->ln1, N * C);
        take(&cur, &a->ln1_mean, N);
        take(&cur, &a->ln1_rstd, N);
        take(&cur, &a->qkv, N * Dqkv);
        take(&cur, &a->att, N * Dq);
        take(&cur, &a->lse, BH * T);
        take(&cur, &a->res2, N * C);
        take(&cur, &a->ln2, N * C);
        take(&cur, &a->ln2_mean, N);
        take(&cur, &a->ln2_rstd, N);
        take(&cur, &a->fch, N * fc_width);
        take(&cur, &a->fcg, N * F);
        take(&cur, &a->res3, N * C);
    }
    take(&cur, P(lnf), N * C);
    take(&cur, P(lnf_mean), N);
    take(&cur, P(lnf_rstd), N);
    take(&cur, P(logits), N * V);
    take(&cur, P(losses), N);
    take(&cur, P(scratch_c), N * C);
    /* backward scratch */
    take(&cur, P(d_res), N * C);
    take(&cur, P(d_c), N * C);
    take(&cur, P(d_att), N * Dq);
    take(&cur, P(d_qkv), N * Dqkv);
    take(&cur, P(d_f1), N * fc_width);
    take(&cur, P(d_f2), N * F);
#undef P
    return cur.off;
}

size_t hlm_model_activation_bytes(const hlm_model_config *cfg, int B, int T)
{
    return layout_acts(NULL, cfg, B, T, NULL) * sizeof(float);
}

static hlm_status ensure_acts(hlm_model *m, int B, int T, hlm_error *err)
{
    if (m->acts && m->B == B && m->T == T) return HLM_OK;
    size_t need = layout_acts(NULL, &m->cfg, B, T, NULL);
    if (need > m->act_capacity) {
        free(m->acts);
        m->acts = falloc(need);
        m->act_capacity = m->acts ? need : 0;
        if (!m->acts)
            return hlm_errorf(err, HLM_ERR_NOMEM, "model: out of memory for activations (%zu MB at B=%d T=%d)",
                              need * sizeof(float) >> 20, B, T);
    }
    if (!m->layers) {
        m->layers = calloc((size_t)(m->cfg.n_layer > 0 ? m->cfg.n_layer : 1), sizeof(layer_acts));
        if (!m->layers) return hlm_errorf(err, HLM_ERR_NOMEM, "model: out of memory");
    }
    int32_t *tk = realloc(m->tokens, sizeof(int32_t) * (size_t)B * T);
    if (tk) m->tokens = tk;
    int32_t *tg = realloc(m->targets, sizeof(int32_t) * (size_t)B * T);
    if (tg) m->targets = tg;
    if (!tk || !tg) return hlm_errorf(err, HLM_ERR_NOMEM, "model: out of memory");
    layout_acts(m, &m->cfg, B, T, m->acts);
    m->B = B;
    m->T = T;
    return HLM_OK;
}

/* Layer l's tensors in an array of the layout whose element lo is at base[0] (lo = 0: a whole
 * array; a gradient group's storage otherwise). */
static layer_params layer_p_from(const hlm_model *m, const float *base, size_t lo, int l)
{
    const size_t *o = &m->layer_off[(size_t)l * P_COUNT];
    const float *v[P_COUNT];
    for (int p = 0; p < P_COUNT; p++) v[p] = o[p] == ABSENT ? NULL : base + (o[p] - lo);
    layer_params lp = {v[P_LN1_W], v[P_LN1_B], v[P_QKV_W], v[P_QKV_B], v[P_PROJ_W], v[P_PROJ_B],
                       v[P_LN2_W], v[P_LN2_B], v[P_FC_W], v[P_FC_B], v[P_FCPROJ_W], v[P_FCPROJ_B]};
    return lp;
}

static layer_params layer_p(const hlm_model *m, const float *base, int l) { return layer_p_from(m, base, 0, l); }

/* ---- forward ----------------------------------------------------------------------------- */

hlm_status hlm_model_forward(hlm_model *m, const int32_t *tokens, const int32_t *targets, int B,
                             int T, float *loss, hlm_error *err)
{
    const hlm_model_config *c = &m->cfg;
    if (B <= 0 || T <= 0)
        return hlm_errorf(err, HLM_ERR_INVALID, "model forward: batch %d x sequence %d must be positive", B, T);
    if (T > c->max_seq)
        return hlm_errorf(err, HLM_ERR_RANGE, "model forward: sequence length %d exceeds the model's maximum %d",
                          T, c->max_seq);
    size_t N = (size_t)B * T;
    int n_valid = 0;
    for (size_t i = 0; i < N; i++) {
        if (tokens[i] < 0 || tokens[i] >= c->vocab_size)
            return hlm_errorf(err, HLM_ERR_RANGE, "model forward: token %d at position %zu is outside the vocabulary [0, %d)",
                              tokens[i], i, c->vocab_size);
        if (targets) {
            if (targets[i] < -1 || targets[i] >= c->vocab_size)
                return hlm_errorf(err, HLM_ERR_RANGE, "model forward: target %d at position %zu is outside [-1, %d)",
                                  targets[i], i, c->vocab_size);
            n_valid += targets[i] != -1;
        }
    }
    hlm_status st = ensure_acts(m, B, T, err);
    if (st != HLM_OK) return st;
    memcpy(m->tokens, tokens, N * sizeof(int32_t));
    if (targets) memcpy(m->targets, targets, N * sizeof(int32_t));
    m->have_targets = targets != NULL;
    m->n_valid = n_valid;

    int C = c->d_model, F = c->d_ff, V = c->vocab_size, H = c->n_head, KV = c->n_kv_head;
    int hd = c->head_dim, Dq = H * hd, Dqkv = Dq + 2 * KV * hd, n = (int)N;
    int gpt2 = c->arch == HLM_ARCH_GPT2;
    const float *P = m->params;

    embedding_forward(m->encoded, tokens, P + m->off_wte, gpt2 ? P + m->off_wpe : NULL, B, T, C);
    for (int l = 0; l < c->n_layer; l++) {
        layer_acts *a = &m->layers[l];
        layer_params w = layer_p(m, P, l);
        /* norm 1, fused with the previous layer's MLP residual */
        if (l == 0) {
            if (gpt2) layernorm_forward(a->ln1, a->ln1_mean, a->ln1_rstd, m->encoded, w.ln1_w, w.ln1_b, n, C, c->norm_eps);
            else rmsnorm_forward(a->ln1, a->ln1_rstd, m->encoded, w.ln1_w, n, C, c->norm_eps);
        } else {
            layer_acts *p = &m->layers[l - 1];
            if (gpt2)
                residual_layernorm_forward(p->res3, a->ln1, a->ln1_mean, a->ln1_rstd, p->res2, m->scratch_c,
                                           w.ln1_w, w.ln1_b, n, C, c->norm_eps);
            else
                residual_rmsnorm_forward(p->res3, a->ln1, a->ln1_rstd, p->res2, m->scratch_c, w.ln1_w, n, C,
                                         c->norm_eps);
        }
        const float *res_in = l == 0 ? m->encoded : m->layers[l - 1].res3;
        /* attention */
        matmul_forward(a->qkv, a->ln1, w.qkv_w, w.qkv_b, n, C, Dqkv, !gpt2);
        if (!gpt2) rope_forward(a->qkv, m->rope, B, T, H, KV, hd);
        attention_forward(a->att, a->lse, a->qkv, B, T, H, KV, hd);
        matmul_forward(m->scratch_c, a->att, w.proj_w, w.proj_b, n, Dq, C, !gpt2);
        if (gpt2)
            residual_layernorm_forward(a->res2, a->ln2, a->ln2_mean, a->ln2_rstd, res_in, m->scratch_c, w.ln2_w,
                                       w.ln2_b, n, C, c->norm_eps);
        else
            residual_rmsnorm_forward(a->res2, a->ln2, a->ln2_rstd, res_in, m->scratch_c, w.ln2_w, n, C, c->norm_eps);
        /* MLP */
        if (gpt2) {
            matmul_forward(a->fch, a->ln2, w.fc_w, w.fc_b, n, C, F, false);
            gelu_forward(a->fcg, a->fch, N * (size_t)F);
        } else {
            matmul_forward(a->fch, a->ln2, w.fc_w, NULL, n, C, 2 * F, true);
            swiglu_forward(a->fcg, a->fch, n, F);
        }
        matmul_forward(m->scratch_c, a->fcg, w.fcproj_w, w.fcproj_b, n, F, C, !gpt2);
    }
    layer_acts *last = &m->layers[c->n_layer - 1];
    if (gpt2)
        residual_layernorm_forward(last->res3, m->lnf, m->lnf_mean, m->lnf_rstd, last->res2, m->scratch_c,
                                   P + m->off_lnf_w, P + m->off_lnf_b, n, C, c->norm_eps);
    else
        residual_rmsnorm_forward(last->res3, m->lnf, m->lnf_rstd, last->res2, m->scratch_c, P + m->off_lnf_w, n,
                                 C, c->norm_eps);
    matmul_forward(m->logits, m->lnf, P + m->off_lm_head, NULL, n, C, V, true);
    m->logits_are_grads = 0;
    if (targets) {
        double sum = n_valid > 0 ? softmax_xent_forward_backward(m->logits, m->losses, targets, n, V, n_valid, 1.0f)
                                 : 0.0;
        if (n_valid == 0) memset(m->logits, 0, N * (size_t)V * sizeof(float));
        m->logits_are_grads = 1;
        if (loss) *loss = n_valid > 0 ? (float)(sum / n_valid) : 0.0f;
    } else if (loss) {
        *loss = 0.0f;
    }
    return HLM_OK;
}

const float *hlm_model_logits(const hlm_model *m) { return m->logits_are_grads ? NULL : m->logits; }

/* ---- backward ---------------------------------------------------------------------------- */

hlm_status hlm_model_backward(hlm_model *m, float loss_scale, hlm_error *err)
{
    const hlm_model_config *c = &m->cfg;
    if (!m->acts || !m->have_targets || !m->logits_are_grads)
        return hlm_errorf(err, HLM_ERR_INVALID, "model backward: needs a forward pass with targets first");
    int B = m->B, T = m->T, n = B * T;
    size_t N = (size_t)n;
    int C = c->d_model, F = c->d_ff, V = c->vocab_size, H = c->n_head, KV = c->n_kv_head;
    int hd = c->head_dim, Dq = H * hd, Dqkv = Dq + 2 * KV * hd;
    int gpt2 = c->arch == HLM_ARCH_GPT2;
    int fc_width = gpt2 ? F : 2 * F;
    const float *P = m->params;
    /* gradient storage per group (hlm_model_grad_groups): the model's array, or windows */
    size_t emb_hi = layer_start(m, 0), head_lo = m->off_lnf_w;
    float *g_head = grad_group(m, head_lo, m->n_floats), *g_emb = NULL;
    if (!g_head) return hlm_errorf(err, HLM_ERR_NOMEM, "model backward: out of memory for gradients");
    float *g_lm_head;
    if (m->off_lm_head >= head_lo) {
        g_lm_head = g_head + (m->off_lm_head - head_lo);
    } else { /* tied: the embedding's group, written again at the end */
        g_emb = grad_group(m, 0, emb_hi);
        if (!g_emb) return hlm_errorf(err, HLM_ERR_NOMEM, "model backward: out of memory for gradients");
        g_lm_head = g_emb + m->off_lm_head;
    }

    /* lm head: dlogits (scale 1) are in m->logits. d(scale*loss)/dW = dlogits^T (scale*lnf). */
    memset(m->d_res, 0, N * C * sizeof(float));
    memset(m->d_c, 0, N * C * sizeof(float));
    matmul_backward(m->d_c, NULL, NULL, m->logits, m->lnf, P + m->off_lm_head, n, C, V, true);
    const float *lnf_scaled = m->lnf;
    if (loss_scale != 1.0f) {
        long nc = (long)(N * C);
#pragma omp parallel for schedule(static)
        for (long i = 0; i < nc; i++) {
            m->d_c[i] *= loss_scale;
            m->scratch_c[i] = m->lnf[i] * loss_scale;
        }
        lnf_scaled = m->scratch_c;
    }
    matmul_backward(NULL, g_lm_head, NULL, m->logits, lnf_scaled, P + m->off_lm_head, n, C, V, true);
    layer_acts *last = &m->layers[c->n_layer - 1];
    if (gpt2)
        layernorm_backward(m->d_res, g_head, g_head + (m->off_lnf_b - head_lo), m->d_c, last->res3, P + m->off_lnf_w,
                           m->lnf_mean, m->lnf_rstd, n, C);
    else
        rmsnorm_backward(m->d_res, g_head, m->d_c, last->res3, P + m->off_lnf_w, m->lnf_rstd, n, C);
    if (m->grad_ready) m->grad_ready(m->grad_ready_ctx, m->off_lnf_w); /* final norm and untied lm head */

    for (int l = c->n_layer - 1; l >= 0; l--) {
        layer_acts *a = &m->layers[l];
        layer_params w = layer_p(m, P, l);
        size_t lo = layer_start(m, l), hi = l + 1 < c->n_layer ? layer_start(m, l + 1) : head_lo;
        float *gl = grad_group(m, lo, hi);
        if (!gl) return hlm_errorf(err, HLM_ERR_NOMEM, "model backward: out of memory for gradients");
        layer_params g = layer_p_from(m, gl, lo, l);
        const float *res_in = l == 0 ? m->encoded : m->layers[l - 1].res3;
        /* MLP: d_res is d(res3) = d(MLP out) */
        memset(m->d_f2, 0, N * F * sizeof(float));
        matmul_backward(m->d_f2, (float *)g.fcproj_w, (float *)g.fcproj_b, m->d_res, a->fcg, w.fcproj_w, n, F, C, !gpt2);
        memset(m->d_f1, 0, N * fc_width * sizeof(float));
        if (gpt2) gelu_backward(m->d_f1, a->fch, m->d_f2, N * (size_t)F);
        else swiglu_backward(m->d_f1, m->d_f2, a->fch, n, F);
        memset(m->d_c, 0, N * C * sizeof(float));
        matmul_backward(m->d_c, (float *)g.fc_w, (float *)g.fc_b, m->d_f1, a->ln2, w.fc_w, n, C, fc_width, !gpt2);
        if (gpt2)
            layernorm_backward(m->d_res, (float *)g.ln2_w, (float *)g.ln2_b, m->d_c, a->res2, w.ln2_w, a->ln2_mean,
                               a->ln2_rstd, n, C);
        else
            rmsnorm_backward(m->d_res, (float *)g.ln2_w, m->d_c, a->res2, w.ln2_w, a->ln2_rstd, n, C);
        /* attention: d_res is now d(res2) = d(attention out) */
        memset(m->d_att, 0, N * Dq * sizeof(float));
        matmul_backward(m->d_att, (float *)g.proj_w, (float *)g.proj_b, m->d_res, a->att, w.proj_w, n, Dq, C, !gpt2);
        memset(m->d_qkv, 0, N * Dqkv * sizeof(float));
        attention_backward(m->d_qkv, m->d_att, a->qkv, a->att, a->lse, B, T, H, KV, hd);
        if (!gpt2) rope_backward(m->d_qkv, m->rope, B, T, H, KV, hd);
        memset(m->d_c, 0, N * C * sizeof(float));
        matmul_backward(m->d_c, (float *)g.qkv_w, (float *)g.qkv_b, m->d_qkv, a->ln1, w.qkv_w, n, C, Dqkv, !gpt2);
        if (gpt2)
            layernorm_backward(m->d_res, (float *)g.ln1_w, (float *)g.ln1_b, m->d_c, res_in, w.ln1_w, a->ln1_mean,
                               a->ln1_rstd, n, C);
        else
            rmsnorm_backward(m->d_res, (float *)g.ln1_w, m->d_c, res_in, w.ln1_w, a->ln1_rstd, n, C);
        if (m->grad_ready) m->grad_ready(m->grad_ready_ctx, layer_start(m, l));
    }
    if (!g_emb) g_emb = grad_group(m, 0, emb_hi);
    if (!g_emb) return hlm_errorf(err, HLM_ERR_NOMEM, "model backward: out of memory for gradients");
    embedding_backward(g_emb + m->off_wte, gpt2 ? g_emb + m->off_wpe : NULL, m->d_res, m->tokens, B, T, C);
    if (m->grad_ready) m->grad_ready(m->grad_ready_ctx, 0);
    /* the logits buffer now holds gradients of a step already taken */
    m->have_targets = 0;
    return HLM_OK;
}
