/* The inference engine (engine.h): the training engine's forward pass (model/model.c) rewritten
 * for one growing sequence with a KV cache. The f32 path reuses the training layers (norms, GELU,
 * SwiGLU, RoPE, matmul_forward), so it differs from hlm_model_forward only in attention, where the
 * training engine's tiled online softmax and this plain softmax over the cache sum in different
 * orders (tests/infer/test_engine.c bounds the difference).
 *
 * Shapes for a call over n rows: C = d_model, F = d_ff, Dq = H*hd, Dkv = KV*hd,
 * Dqkv = Dq + 2*Dkv; x (n,C) the residual stream, h (n,C) normed, qkv (n,Dqkv), att (n,Dq),
 * f1 (n,F or 2F), f2 (n,F), y (n,C) a branch output before it is added to x. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "infer/engine.h"
#include "model/checkpoint.h"
#include "model/layers.h"

/* A weight matrix y = x W^T (+ b), W (rows = out, cols = in). */
typedef struct wmat {
    hlm_qtype t;      /* F32, or the quantized type of q */
    int rows, cols;
    const float *f32; /* F32: the model's array, (rows, cols) when out_in, else (cols, rows) */
    int out_in;
    void *q;          /* quantized rows (rows * row_bytes), owned */
    size_t q_bytes;
    const float *bias; /* (rows) or NULL */
} wmat;

typedef struct eng_layer {
    const float *ln1_w, *ln1_b, *ln2_w, *ln2_b;
    wmat qkv, proj, fc, fcproj; /* Llama: fc = [gate | up] (2F, C) */
    float *k_cache, *v_cache;   /* (ctx, KV, hd) */
} eng_layer;

struct hlm_engine {
    hlm_model_config cfg;
    const hlm_model *model;
    hlm_model *owned; /* hlm_engine_load's model */
    hlm_qtype wtype;
    int ctx, pos;
    const float *wte, *wpe, *lnf_w, *lnf_b;
    wmat head;
    eng_layer *layers;
    float *rope; /* (ctx, hd/2, 2) */
    /* scratch for up to cap rows */
    int cap;
    float *x, *h, *qkv, *att, *f1, *f2, *y, *mean, *rstd, *logits;
    float *logits_all; /* (logits_rows, V): hlm_engine_prefill_all's */
    int logits_rows;
    float *scores; /* (score_threads, ctx): one row of attention scores per thread */
    int score_threads;
};

static void wmat_free(wmat *w) { free(w->q); }

/* Wraps the model's f32 matrix; quantizes it into (rows, cols) rows when t is a quantized type and
 * cols is a multiple of the block. */
static hlm_status wmat_init(wmat *w, hlm_qtype t, const float *src, int rows, int cols, int out_in,
                            const float *bias, hlm_error *err)
{
    memset(w, 0, sizeof *w);
    w->t = HLM_QT_F32;
    w->rows = rows;
    w->cols = cols;
    w->f32 = src;
    w->out_in = out_in;
    w->bias = bias;
    if (t == HLM_QT_F32 || cols % HLM_QBLOCK != 0) return HLM_OK;
    size_t row_bytes;
    hlm_status st = hlm_qtype_row_bytes(t, cols, &row_bytes, err);
    if (st != HLM_OK) return st;
    w->q = malloc(row_bytes * (size_t)rows);
    float *row = malloc(sizeof(float) * (size_t)cols);
    if (!w->q || !row) {
        free(row);
        free(w->q);
        w->q = NULL;
        return hlm_errorf(err, HLM_ERR_NOMEM, "engine: out of memory quantizing a %d x %d matrix", rows, cols);
    }
    for (int r = 0; r < rows && st == HLM_OK; r++) {
        const float *x = row;
        if (out_in) x = src + (size_t)r * cols;
        else
            for (int c = 0; c < cols; c++) row[c] = src[(size_t)c * rows + r];
        st = hlm_quantize_row(t, x, (uint8_t *)w->q + (size_t)r * row_bytes, cols, err);
    }
    free(row);
    if (st != HLM_OK) return st;
    w->t = t;
    w->q_bytes = row_bytes * (size_t)rows;
    return HLM_OK;
}

/* y (n, rows) = x (n, cols) W^T + b: the gemm for f32, hlm_matvec_q / hlm_matmul_q otherwise. */
static hlm_status wmat_apply(const wmat *w, const float *x, int n, float *y, hlm_error *err)
{
    if (w->t == HLM_QT_F32) {
        matmul_forward(y, x, w->f32, w->bias, n, w->cols, w->rows, w->out_in);
        return HLM_OK;
    }
    hlm_status st = n == 1 ? hlm_matvec_q(w->t, w->q, w->rows, w->cols, x, y, err)
                           : hlm_matmul_q(w->t, w->q, w->rows, w->cols, x, n, y, err);
    if (st != HLM_OK || !w->bias) return st;
    for (int i = 0; i < n; i++)
        for (int r = 0; r < w->rows; r++) y[(size_t)i * w->rows + r] += w->bias[r];
    return HLM_OK;
}

static const float *tensor(const hlm_model *m, const char *name)
{
    const hlm_tensor_info *t = hlm_model_find_tensor(m, name);
    /* hlm_model_params is not const-qualified; the engine never writes through it */
    return t ? hlm_model_params((hlm_model *)m) + t->offset : NULL;
}

static float *falloc(size_t n) { return malloc(sizeof(float) * (n ? n : 1)); }

void hlm_engine_free(hlm_engine *e)
{
    if (!e) return;
    if (e->layers) {
        for (int l = 0; l < e->cfg.n_layer; l++) {
            eng_layer *L = &e->layers[l];
            wmat_free(&L->qkv);
            wmat_free(&L->proj);
            wmat_free(&L->fc);
            wmat_free(&L->fcproj);
            free(L->k_cache);
            free(L->v_cache);
        }
        free(e->layers);
    }
    wmat_free(&e->head);
    free(e->rope);
    free(e->x);
    free(e->h);
    free(e->qkv);
    free(e->att);
    free(e->f1);
    free(e->f2);
    free(e->y);
    free(e->mean);
    free(e->rstd);
    free(e->logits);
    free(e->logits_all);
    free(e->scores);
    hlm_model_free(e->owned);
    free(e);
}

/* Resolves the tensors of the model by their Hugging Face names (the training engine's table). */
static hlm_status build(hlm_engine *e, hlm_error *err)
{
    const hlm_model_config *c = &e->cfg;
    const hlm_model *m = e->model;
    int gpt2 = c->arch == HLM_ARCH_GPT2;
    int C = c->d_model, F = c->d_ff, Dq = c->n_head * c->head_dim;
    int Dqkv = Dq + 2 * c->n_kv_head * c->head_dim;
    char nm[96];
#define NEED(dst, ...)                                                                             \
    do {                                                                                           \
        snprintf(nm, sizeof nm, __VA_ARGS__);                                                      \
        if (!((dst) = tensor(m, nm)))                                                              \
            return hlm_errorf(err, HLM_ERR_INVALID, "engine: the model has no tensor %s", nm);    \
    } while (0)
    const float *lm_head;
    if (gpt2) {
        NEED(e->wte, "transformer.wte.weight");
        NEED(e->wpe, "transformer.wpe.weight");
        NEED(e->lnf_w, "transformer.ln_f.weight");
        NEED(e->lnf_b, "transformer.ln_f.bias");
        lm_head = e->wte;
    } else {
        NEED(e->wte, "model.embed_tokens.weight");
        NEED(e->lnf_w, "model.norm.weight");
        if (c->tie_embeddings) lm_head = e->wte;
        else NEED(lm_head, "lm_head.weight");
    }
    hlm_status st = wmat_init(&e->head, lm_head == e->wte ? HLM_QT_F32 : e->wtype, lm_head, c->vocab_size, C, 1,
                              NULL, err);
    if (st != HLM_OK) return st;
    size_t kv = (size_t)e->ctx * c->n_kv_head * c->head_dim;
    for (int l = 0; l < c->n_layer; l++) {
        eng_layer *L = &e->layers[l];
        const float *qkv_w, *qkv_b = NULL, *proj_w, *proj_b = NULL, *fc_w, *fc_b = NULL, *fcp_w, *fcp_b = NULL;
        if (gpt2) {
            const char *p = "transformer.h";
            NEED(L->ln1_w, "%s.%d.ln_1.weight", p, l);
            NEED(L->ln1_b, "%s.%d.ln_1.bias", p, l);
            NEED(L->ln2_w, "%s.%d.ln_2.weight", p, l);
            NEED(L->ln2_b, "%s.%d.ln_2.bias", p, l);
            NEED(qkv_w, "%s.%d.attn.c_attn.weight", p, l);
            NEED(qkv_b, "%s.%d.attn.c_attn.bias", p, l);
            NEED(proj_w, "%s.%d.attn.c_proj.weight", p, l);
            NEED(proj_b, "%s.%d.attn.c_proj.bias", p, l);
            NEED(fc_w, "%s.%d.mlp.c_fc.weight", p, l);
            NEED(fc_b, "%s.%d.mlp.c_fc.bias", p, l);
            NEED(fcp_w, "%s.%d.mlp.c_proj.weight", p, l);
            NEED(fcp_b, "%s.%d.mlp.c_proj.bias", p, l);
        } else {
            /* q/k/v and gate/up are adjacent in the parameter array (model.h's invariant) */
            const char *p = "model.layers";
            NEED(L->ln1_w, "%s.%d.input_layernorm.weight", p, l);
            NEED(L->ln2_w, "%s.%d.post_attention_layernorm.weight", p, l);
            NEED(qkv_w, "%s.%d.self_attn.q_proj.weight", p, l);
            NEED(proj_w, "%s.%d.self_attn.o_proj.weight", p, l);
            NEED(fc_w, "%s.%d.mlp.gate_proj.weight", p, l);
            NEED(fcp_w, "%s.%d.mlp.down_proj.weight", p, l);
        }
        if ((st = wmat_init(&L->qkv, e->wtype, qkv_w, Dqkv, C, !gpt2, qkv_b, err)) != HLM_OK ||
            (st = wmat_init(&L->proj, e->wtype, proj_w, C, Dq, !gpt2, proj_b, err)) != HLM_OK ||
            (st = wmat_init(&L->fc, e->wtype, fc_w, gpt2 ? F : 2 * F, C, !gpt2, fc_b, err)) != HLM_OK ||
            (st = wmat_init(&L->fcproj, e->wtype, fcp_w, C, F, !gpt2, fcp_b, err)) != HLM_OK)
            return st;
        L->k_cache = falloc(kv);
        L->v_cache = falloc(kv);
        if (!L->k_cache || !L->v_cache)
            return hlm_errorf(err, HLM_ERR_NOMEM, "engine: out of memory for a KV cache of %d positions", e->ctx);
    }
#undef NEED
    return HLM_OK;
}

hlm_status hlm_engine_create(const hlm_model *m, hlm_qtype wtype, int ctx, hlm_engine **out, hlm_error *err)
{
    *out = NULL;
    const hlm_model_config *c = hlm_model_config_of(m);
    if (wtype != HLM_QT_F32 && wtype != HLM_QT_Q8_0 && wtype != HLM_QT_Q4_0)
        return hlm_errorf(err, HLM_ERR_INVALID, "engine: weight type %s is not supported (f32, q8_0 or q4_0)",
                          hlm_qtype_name(wtype));
    if (ctx == 0) ctx = c->max_seq;
    if (ctx < 1 || ctx > c->max_seq)
        return hlm_errorf(err, HLM_ERR_RANGE, "engine: context %d must be in [1, %d] (the model's max_seq)", ctx,
                          c->max_seq);
    hlm_engine *e = calloc(1, sizeof *e);
    if (!e) return hlm_errorf(err, HLM_ERR_NOMEM, "engine: out of memory");
    e->cfg = *c;
    e->model = m;
    e->wtype = wtype;
    e->ctx = ctx;
    e->layers = calloc((size_t)c->n_layer, sizeof *e->layers);
    e->logits = falloc((size_t)c->vocab_size);
    if (c->arch == HLM_ARCH_LLAMA) e->rope = falloc((size_t)ctx * c->head_dim);
    hlm_status st = HLM_OK;
    if (!e->layers || !e->logits || (c->arch == HLM_ARCH_LLAMA && !e->rope))
        st = hlm_errorf(err, HLM_ERR_NOMEM, "engine: out of memory");
    if (st == HLM_OK) st = build(e, err);
    if (st != HLM_OK) {
        hlm_engine_free(e);
        return st;
    }
    /* the training engine's table (rope.c), so that the rotations are the same floats */
    if (e->rope) rope_table(e->rope, ctx, c->head_dim, c->rope_theta);
    *out = e;
    return HLM_OK;
}

hlm_status hlm_engine_load(const char *dir, hlm_qtype wtype, int ctx, hlm_engine **out, hlm_error *err)
{
    *out = NULL;
    hlm_model *m = NULL;
    hlm_status st = hlm_checkpoint_load_model(dir, &m, err);
    if (st != HLM_OK) return st;
    st = hlm_engine_create(m, wtype, ctx, out, err);
    if (st != HLM_OK) {
        hlm_model_free(m);
        return st;
    }
    (*out)->owned = m;
    return HLM_OK;
}

const hlm_model_config *hlm_engine_config(const hlm_engine *e) { return &e->cfg; }
hlm_qtype hlm_engine_wtype(const hlm_engine *e) { return e->wtype; }
int hlm_engine_ctx(const hlm_engine *e) { return e->ctx; }
int hlm_engine_pos(const hlm_engine *e) { return e->pos; }
void hlm_engine_reset(hlm_engine *e) { e->pos = 0; }

static void count_mat(const wmat *w, int *q, int *f, size_t *bytes)
{
    if (w->t == HLM_QT_F32) {
        (*f)++;
        *bytes += sizeof(float) * (size_t)w->rows * w->cols;
    } else {
        (*q)++;
        *bytes += w->q_bytes;
    }
}

static void count_all(const hlm_engine *e, int *q, int *f, size_t *bytes)
{
    *q = *f = 0;
    *bytes = 0;
    for (int l = 0; l < e->cfg.n_layer; l++) {
        const eng_layer *L = &e->layers[l];
        count_mat(&L->qkv, q, f, bytes);
        count_mat(&L->proj, q, f, bytes);
        count_mat(&L->fc, q, f, bytes);
        count_mat(&L->fcproj, q, f, bytes);
    }
    count_mat(&e->head, q, f, bytes);
}

void hlm_engine_matrix_counts(const hlm_engine *e, int *quantized, int *kept_f32)
{
    size_t b;
    count_all(e, quantized, kept_f32, &b);
}

size_t hlm_engine_weight_bytes(const hlm_engine *e)
{
    int q, f;
    size_t b;
    count_all(e, &q, &f, &b);
    return b;
}

/* Grows the scratch to n rows. */
static hlm_status ensure_rows(hlm_engine *e, int n, hlm_error *err)
{
    int threads = 1;
#ifdef _OPENMP
    threads = omp_get_max_threads();
#endif
    if (threads > e->score_threads) {
        free(e->scores);
        e->scores = falloc((size_t)threads * e->ctx);
        e->score_threads = e->scores ? threads : 0;
        if (!e->scores) return hlm_errorf(err, HLM_ERR_NOMEM, "engine: out of memory for attention scores");
    }
    if (n <= e->cap) return HLM_OK;
    const hlm_model_config *c = &e->cfg;
    size_t C = c->d_model, F = c->d_ff, Dq = (size_t)c->n_head * c->head_dim;
    size_t Dqkv = Dq + 2 * (size_t)c->n_kv_head * c->head_dim, N = (size_t)n;
    float **bufs[] = {&e->x, &e->h, &e->qkv, &e->att, &e->f1, &e->f2, &e->y, &e->mean, &e->rstd};
    size_t sizes[] = {N * C, N * C, N * Dqkv, N * Dq, N * 2 * F, N * F, N * C, N, N};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        free(*bufs[i]);
        *bufs[i] = falloc(sizes[i]);
        if (!*bufs[i]) {
            e->cap = 0;
            return hlm_errorf(err, HLM_ERR_NOMEM, "engine: out of memory for %d rows of activations", n);
        }
    }
    e->cap = n;
    return HLM_OK;
}

/* Causal attention of rows at positions pos..pos+n-1 over the cache [0, pos+n): for query head h
 * (kv head h / (H/KV)), out = softmax(q k^T / sqrt(hd)) v. att (n, Dq), q read from qkv (n, Dqkv). */
static void attention_cached(hlm_engine *e, const eng_layer *L, int n)
{
    const hlm_model_config *c = &e->cfg;
    int H = c->n_head, KV = c->n_kv_head, hd = c->head_dim, group = H / KV, pos = e->pos;
    size_t Dqkv = (size_t)(H + 2 * KV) * hd;
    float scale = 1.0f / sqrtf((float)hd);
    long work = (long)n * H;
#pragma omp parallel for schedule(static) if (work * (pos + n) * hd >= (1 << 15))
    for (long w = 0; w < work; w++) {
        int i = (int)(w / H), h = (int)(w % H), kvh = h / group, len = pos + i + 1;
        const float *q = e->qkv + (size_t)i * Dqkv + (size_t)h * hd;
        float *out = e->att + (size_t)i * H * hd + (size_t)h * hd;
        int tid = 0;
#ifdef _OPENMP
        tid = omp_get_thread_num();
#endif
        float *s = e->scores + (size_t)tid * e->ctx;
        float mx = -INFINITY;
        for (int t = 0; t < len; t++) {
            const float *k = L->k_cache + ((size_t)t * KV + kvh) * hd;
            float dot = 0.0f;
            for (int d = 0; d < hd; d++) dot += q[d] * k[d];
            s[t] = dot * scale;
            if (s[t] > mx) mx = s[t];
        }
        float sum = 0.0f;
        for (int t = 0; t < len; t++) {
            s[t] = expf(s[t] - mx);
            sum += s[t];
        }
        float inv = 1.0f / sum;
        for (int d = 0; d < hd; d++) out[d] = 0.0f;
        for (int t = 0; t < len; t++) {
            const float *v = L->v_cache + ((size_t)t * KV + kvh) * hd;
            float p = s[t] * inv;
            for (int d = 0; d < hd; d++) out[d] += p * v[d];
        }
    }
}

static void add_rows(float *x, const float *y, size_t n)
{
    for (size_t i = 0; i < n; i++) x[i] += y[i];
}

/* all: the logits of every row into logits_all (n, V); else of the last row into logits. */
static hlm_status forward(hlm_engine *e, const int32_t *tokens, int n, int all, const float **logits,
                          hlm_error *err)
{
    const hlm_model_config *c = &e->cfg;
    if (logits) *logits = NULL;
    if (n < 1) return hlm_errorf(err, HLM_ERR_INVALID, "engine: %d tokens, expected at least 1", n);
    if (n > e->ctx - e->pos)
        return hlm_errorf(err, HLM_ERR_RANGE,
                          "engine: context overflow: %d tokens at position %d exceed the context of %d", n,
                          e->pos, e->ctx);
    for (int i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= c->vocab_size)
            return hlm_errorf(err, HLM_ERR_RANGE, "engine: token %d at index %d is outside the vocabulary [0, %d)",
                              tokens[i], i, c->vocab_size);
    hlm_status st = ensure_rows(e, n, err);
    if (st != HLM_OK) return st;
    if (all && n > e->logits_rows) {
        free(e->logits_all);
        e->logits_all = falloc((size_t)n * c->vocab_size);
        e->logits_rows = e->logits_all ? n : 0;
        if (!e->logits_all)
            return hlm_errorf(err, HLM_ERR_NOMEM, "engine: out of memory for the logits of %d positions", n);
    }
    int gpt2 = c->arch == HLM_ARCH_GPT2;
    int C = c->d_model, F = c->d_ff, H = c->n_head, KV = c->n_kv_head, hd = c->head_dim, pos = e->pos;
    size_t Dq = (size_t)H * hd, Dkv = (size_t)KV * hd, Dqkv = Dq + 2 * Dkv, NC = (size_t)n * C;
    float eps = c->norm_eps;

    for (int i = 0; i < n; i++) {
        float *x = e->x + (size_t)i * C;
        const float *te = e->wte + (size_t)tokens[i] * C;
        if (gpt2) {
            const float *pe = e->wpe + (size_t)(pos + i) * C;
            for (int j = 0; j < C; j++) x[j] = te[j] + pe[j];
        } else {
            memcpy(x, te, sizeof(float) * (size_t)C);
        }
    }
    for (int l = 0; l < c->n_layer; l++) {
        eng_layer *L = &e->layers[l];
        if (gpt2) layernorm_forward(e->h, e->mean, e->rstd, e->x, L->ln1_w, L->ln1_b, n, C, eps);
        else rmsnorm_forward(e->h, e->rstd, e->x, L->ln1_w, n, C, eps);
        if ((st = wmat_apply(&L->qkv, e->h, n, e->qkv, err)) != HLM_OK) return st;
        /* rows are positions pos..pos+n-1: rope_forward with T = n reads table rows from pos */
        if (!gpt2) rope_forward(e->qkv, e->rope + (size_t)pos * hd, 1, n, H, KV, hd);
        for (int i = 0; i < n; i++) {
            const float *r = e->qkv + (size_t)i * Dqkv;
            memcpy(L->k_cache + (size_t)(pos + i) * Dkv, r + Dq, sizeof(float) * Dkv);
            memcpy(L->v_cache + (size_t)(pos + i) * Dkv, r + Dq + Dkv, sizeof(float) * Dkv);
        }
        attention_cached(e, L, n);
        if ((st = wmat_apply(&L->proj, e->att, n, e->y, err)) != HLM_OK) return st;
        add_rows(e->x, e->y, NC);
        if (gpt2) {
            layernorm_forward(e->h, e->mean, e->rstd, e->x, L->ln2_w, L->ln2_b, n, C, eps);
            if ((st = wmat_apply(&L->fc, e->h, n, e->f1, err)) != HLM_OK) return st;
            gelu_forward(e->f2, e->f1, (size_t)n * F);
        } else {
            rmsnorm_forward(e->h, e->rstd, e->x, L->ln2_w, n, C, eps);
            if ((st = wmat_apply(&L->fc, e->h, n, e->f1, err)) != HLM_OK) return st;
            swiglu_forward(e->f2, e->f1, n, F);
        }
        if ((st = wmat_apply(&L->fcproj, e->f2, n, e->y, err)) != HLM_OK) return st;
        add_rows(e->x, e->y, NC);
    }
    /* the head runs over the last row only, unless every position's logits are asked for */
    int rows = all ? n : 1;
    const float *first = e->x + (size_t)(n - rows) * C;
    float *out = all ? e->logits_all : e->logits;
    if (gpt2) layernorm_forward(e->h, e->mean, e->rstd, first, e->lnf_w, e->lnf_b, rows, C, eps);
    else rmsnorm_forward(e->h, e->rstd, first, e->lnf_w, rows, C, eps);
    if ((st = wmat_apply(&e->head, e->h, rows, out, err)) != HLM_OK) return st;
    e->pos += n;
    if (logits) *logits = out;
    return HLM_OK;
}

hlm_status hlm_engine_prefill(hlm_engine *e, const int32_t *tokens, int n, const float **logits, hlm_error *err)
{
    return forward(e, tokens, n, 0, logits, err);
}

hlm_status hlm_engine_prefill_all(hlm_engine *e, const int32_t *tokens, int n, const float **logits,
                                  hlm_error *err)
{
    return forward(e, tokens, n, 1, logits, err);
}

hlm_status hlm_engine_decode(hlm_engine *e, int32_t token, const float **logits, hlm_error *err)
{
    return forward(e, &token, 1, 0, logits, err);
}
