/* The inference engine (engine.h): the training engine's forward pass (model/model.c) rewritten
 * for growing sequences with a KV cache. The f32 path reuses the training layers (norms, GELU,
 * SwiGLU, RoPE, attention, matmul_forward), so a prefill from an empty cache computes what
 * hlm_model_forward computes; decode steps score each row against the cache in another summation
 * order (tests/infer/test_engine.c bounds the difference).
 *
 * Shapes for a call over n rows: C = d_model, F = d_ff, Dq = H*hd, Dkv = KV*hd,
 * Dqkv = Dq + 2*Dkv; x (n,C) the residual stream, h (n,C) normed, qkv (n,Dqkv), att (n,Dq),
 * f1 (n,F or 2F), f2 (n,F), y (n,C) a branch output before it is added to x. Row i belongs to
 * sequence rseq[i] at position rpos[i]. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "infer/engine.h"
#include "infer/gguf.h"
#include "infer/gguf_model.h"
#include "infer/qpack.h"
#include "infer/quant_kernels.h"
#include "model/checkpoint.h"
#include "model/gemm.h"
#include "model/layers.h"
#include "model/safetensors.h"

/* From this many rows, a quantized matrix is multiplied by dequantizing tiles of DEQ_TILE floats
 * to f32 for the gemm (the dequantization is paid once for all rows); below, by the quantized
 * dot products, which read each weight byte once per call. */
#define DEQ_MIN_ROWS 16
/* From BF16W_MIN_ROWS to BF16W_MAX_ROWS rows, a quantized matrix with a packed bf16 copy is
 * multiplied in bf16 from the copy: reading 2 bytes a weight once for all rows costs less than
 * the quantized dot products once per row from about 6 rows (measured, SmolLM2 Q4_1). */
#define BF16W_MIN_ROWS 6
#define BF16W_MAX_ROWS 16
/* From QPACK_MIN_ROWS to QPACK_MAX_ROWS rows, a quantized matrix with an AMX int8 copy
 * (hlm_qpack) is multiplied from it: the same sums as the dot products, one tile product for up
 * to 16 rows; past 16, chunks of 16 rows against weights in L1. Up to 512 rows faster than the
 * dequantized tiles (SmolLM2 Q4_1 prefill, 2 threads: 16 rows 19 against 83 ms, 256 rows 239
 * against 277 ms, 512 rows even). */
#define QPACK_MIN_ROWS 2
#define QPACK_MAX_ROWS 512
#define DEQ_TILE (1 << 18)
/* Quantized rows are prefetched this many rows ahead of the dot products: measured here, decode
 * of a 110M Llama went from 140-165 to 165-240 tokens/s (Q4_0) and from 86-91 to 120-123 (Q8_0)
 * with 2 threads; the hardware prefetcher alone leaves the rows' streams short of bandwidth. */
#define PF_ROWS 4
#define KBLK 16 /* keys per block of the K cache: one 512-bit vector of scores */
/* Query heads of one KV head attended together in decode, each K block and V row read once for
 * all of them (grouped-query attention: SmolLM2 has 3 per KV head) */
#define ATT_G 4

/* A block of output columns of a matrix product: y[:, off..off+rows) = x W^T. */
typedef struct wpart {
    hlm_qtype t;   /* F32, or a type with a dot kernel */
    int rows, off;
    const void *w; /* F32: (rows, cols) when out_in, else (cols, rows); quantized: rows rows */
    int out_in;
    size_t row_bytes;
    hlm_bf16_packed *pk; /* a quantized part's packed bf16 copy (hlm_engine_pack_weights), or NULL */
    hlm_qpack *qp;       /* its AMX int8 copy, or NULL (a part has at most one of the two) */
} wpart;

/* y (n, rows) = x (n, cols) W^T + b, W stored as up to three parts (Llama's q, k, v files). */
typedef struct wmat {
    int rows, cols, nparts;
    wpart p[3];
    const float *bias; /* (rows) or NULL */
} wmat;

typedef struct eng_layer {
    const float *ln1_w, *ln1_b, *ln2_w, *ln2_b;
    wmat qkv, proj, fc, fcproj; /* Llama: fc = [gate | up] (2F, C) */
    float *k_cache, *v_cache;   /* per sequence: K as (KV, ctx/KBLK, hd, KBLK): blocks of KBLK keys,
                                 * each stored dimension-major, so that a query's scores are
                                 * vertical FMAs over contiguous memory; V (ctx, KV, hd) */
} eng_layer;

struct hlm_engine {
    hlm_model_config cfg;
    hlm_model *owned;     /* hlm_engine_load's model, while its f32 arrays are in use */
    hlm_gguf_file *gguf;  /* hlm_engine_open_gguf's mapping */
    hlm_st_file *st;      /* hlm_engine_load's mapping of model.safetensors (f32 weights) */
    void **allocs;        /* engine-owned arrays (quantized copies, converted tensors) */
    int n_allocs, cap_allocs;
    hlm_qtype wtype;
    int interleaved_rope; /* GGUF llama: pairs (2i, 2i+1) */
    int bf16_prefill;     /* quantized matrices times many rows in bf16 where the CPU has it */
    int ctx, n_seq;
    int *seq_pos;
    wpart emb;            /* token embeddings (V, C), f32 or quantized rows */
    const float *wpe, *lnf_w, *lnf_b;
    wmat head;
    eng_layer *layers;
    float *rope; /* (ctx, hd/2, 2) */
    /* scratch for up to cap rows */
    int cap;
    float *x, *h, *qkv, *att, *f1, *f2, *y, *mean, *rstd, *logits, *lse;
    int *rseq, *rpos;
    float *logits_all; /* (logits_rows, V) */
    int logits_rows;
    float *deq;   /* DEQ_TILE floats: a dequantized tile */
    void *act;    /* act_rows quantized activation rows of up to act_cols values */
    int act_cols, act_rows;
    float *scores; /* (score_threads, ATT_G, ctx): ATT_G rows of attention scores per thread */
    int score_threads;
};

static float *falloc(size_t n) { return malloc(sizeof(float) * (n ? n : 1)); }

static int ctx_blocks(const hlm_engine *e) { return (e->ctx + KBLK - 1) / KBLK; }

/* Keeps p (NULL: out of memory) on the engine's list of allocations. */
static void *own(hlm_engine *e, void *p)
{
    if (!p) return NULL;
    if (e->n_allocs == e->cap_allocs) {
        int cap = e->cap_allocs ? 2 * e->cap_allocs : 64;
        void **a = realloc(e->allocs, sizeof *a * (size_t)cap);
        if (!a) {
            free(p);
            return NULL;
        }
        e->allocs = a;
        e->cap_allocs = cap;
    }
    e->allocs[e->n_allocs++] = p;
    return p;
}

static void part_f32(wpart *p, const float *w, int rows, int off, int out_in)
{
    *p = (wpart){.t = HLM_QT_F32, .rows = rows, .off = off, .w = w, .out_in = out_in};
}

/* A part quantized to t from an f32 matrix (rows, cols) (out_in) or (cols, rows); stays f32 when
 * t is f32 or cols is not a multiple of the block. */
static hlm_status part_quantize(hlm_engine *e, wpart *p, hlm_qtype t, const float *src, int rows, int cols,
                                int off, int out_in, hlm_error *err)
{
    part_f32(p, src, rows, off, out_in);
    if (t == HLM_QT_F32 || cols % HLM_QBLOCK != 0) return HLM_OK;
    size_t row_bytes;
    hlm_status st = hlm_qtype_row_bytes(t, cols, &row_bytes, err);
    if (st != HLM_OK) return st;
    uint8_t *q = own(e, malloc(row_bytes * (size_t)rows));
    float *row = malloc(sizeof(float) * (size_t)cols);
    if (!q || !row) {
        free(row);
        return hlm_errorf(err, HLM_ERR_NOMEM, "engine: out of memory quantizing a %d x %d matrix", rows, cols);
    }
    for (int r = 0; r < rows && st == HLM_OK; r++) {
        const float *x = row;
        if (out_in) x = src + (size_t)r * cols;
        else
            for (int c = 0; c < cols; c++) row[c] = src[(size_t)c * rows + r];
        st = hlm_quantize_row(t, x, q + (size_t)r * row_bytes, cols, err);
    }
    free(row);
    if (st != HLM_OK) return st;
    *p = (wpart){.t = t, .rows = rows, .off = off, .w = q, .out_in = 1, .row_bytes = row_bytes};
    return HLM_OK;
}

static size_t part_bytes(const wpart *p, int cols)
{
    return p->t == HLM_QT_F32 ? sizeof(float) * (size_t)p->rows * cols : p->row_bytes * (size_t)p->rows;
}

/* The quantized parts of w for n < DEQ_MIN_ROWS rows: the activations quantized once, then one
 * parallel loop over the output columns of every quantized part (Llama's q, k, v files or gate
 * and up: one fork and join, not one per part), each weight row read once for all n rows. */
static void dot_parts(hlm_engine *e, const wmat *w, const float *x, int n, float *y, float beta, const int *done,
                      int quantized)
{
    int cols = w->cols, ld = w->rows;
    int64_t nb = cols / HLM_QBLOCK;
    hlm_q8_act acts[DEQ_MIN_ROWS];
    int have = 0;
    for (int j = 0; j < w->nparts; j++) have |= w->p[j].t != HLM_QT_F32 && !done[j];
    if (!have) return;
    for (int i = 0; i < n; i++) {
        hlm_q8_act_bind(&acts[i], e->act, cols, n, i);
        if (!quantized) hlm_quantize_act(x + (size_t)i * cols, &acts[i]);
    }
    hlm_qdot_fn fns[3];
    for (int j = 0; j < w->nparts; j++) fns[j] = w->p[j].t == HLM_QT_F32 || done[j] ? NULL : hlm_qdot_kernel(w->p[j].t);
    long work = (long)w->rows * cols;
    (void)work; /* unused where OpenMP is off */
#pragma omp parallel for schedule(static) if (work >= (1 << 16))
    for (int r = 0; r < w->rows; r++) {
        int j = 0;
        while (j + 1 < w->nparts && r >= w->p[j + 1].off) j++;
        const wpart *p = &w->p[j];
        if (!fns[j]) continue; /* an f32 part or a bf16 copy: done by a gemm */
        const uint8_t *wr = (const uint8_t *)p->w + (size_t)(r - p->off) * p->row_bytes;
        if (r - p->off + PF_ROWS < p->rows)
            for (size_t o = 0; o < p->row_bytes; o += 64) __builtin_prefetch(wr + PF_ROWS * p->row_bytes + o);
        for (int i = 0; i < n; i++) {
            float v = fns[j](wr, acts[i].q, acts[i].d, acts[i].s, nb);
            float *dst = y + (size_t)i * ld + r;
            *dst = beta != 0.0f ? *dst + v : v;
        }
    }
}

/* y (n, w->rows) = x (n, cols) W^T + b. */
static hlm_status wmat_apply(hlm_engine *e, const wmat *w, const float *x, int n, float *y, hlm_error *err)
{
    int cols = w->cols, ld = w->rows;
    float beta = 0.0f;
    if (w->bias) {
        for (int i = 0; i < n; i++) memcpy(y + (size_t)i * ld, w->bias, sizeof(float) * (size_t)ld);
        beta = 1.0f;
    }
    int done[3] = {0, 0, 0}, quantized = 0, nqp = 0;
    const hlm_qpack *qps[3];
    float *qys[3];
    for (int j = 0; j < w->nparts; j++) {
        const wpart *p = &w->p[j];
        float *yo = y + p->off;
        if (p->t == HLM_QT_F32) {
            const float *W = p->w;
            hlm_sgemm(false, p->out_in != 0, n, p->rows, cols, 1.0f, x, cols, W, p->out_in ? cols : p->rows, beta,
                      yo, ld);
        } else if (p->qp && n >= QPACK_MIN_ROWS && n <= QPACK_MAX_ROWS) {
            if (!quantized) {
                for (int i = 0; i < n; i++) {
                    hlm_q8_act a;
                    hlm_q8_act_bind(&a, e->act, cols, n, i);
                    hlm_quantize_act(x + (size_t)i * cols, &a);
                }
                quantized = 1;
            }
            qps[nqp] = p->qp;
            qys[nqp++] = yo;
            done[j] = 1;
        } else if (p->pk && n >= BF16W_MIN_ROWS && n <= BF16W_MAX_ROWS &&
                   hlm_bf16_packed_gemm(p->pk, n, x, cols, beta, yo, ld)) {
            done[j] = 1;
        } else if (n >= DEQ_MIN_ROWS) {
            /* tiles of whole rows, dequantized in parallel, then one gemm per tile */
            int tile = DEQ_TILE / cols;
            if (tile < 1) tile = 1;
            for (int r0 = 0; r0 < p->rows; r0 += tile) {
                int nr = p->rows - r0 < tile ? p->rows - r0 : tile;
                const uint8_t *src = (const uint8_t *)p->w + (size_t)r0 * p->row_bytes;
                hlm_qtype t = p->t;
                size_t rb = p->row_bytes;
                float *deq = e->deq;
#pragma omp parallel for schedule(static)
                for (int r = 0; r < nr; r++)
                    hlm_dequantize_row(t, src + (size_t)r * rb, deq + (size_t)r * cols, cols, NULL);
                if (!e->bf16_prefill || !hlm_sgemm_bf16(false, true, n, nr, cols, x, cols, e->deq, cols, beta, yo + r0, ld))
                    hlm_sgemm(false, true, n, nr, cols, 1.0f, x, cols, e->deq, cols, beta, yo + r0, ld);
            }
        }
    }
    if (nqp) hlm_qpack_gemm_parts(qps, qys, nqp, e->act, n, beta, ld);
    if (n < DEQ_MIN_ROWS) dot_parts(e, w, x, n, y, beta, done, quantized);
    return HLM_OK;
}

/* The matrices of layer l into ws (the head's for l == n_layer); returns how many. */
static int layer_mats(hlm_engine *e, int l, wmat *ws[4])
{
    if (l == e->cfg.n_layer) {
        ws[0] = &e->head;
        return 1;
    }
    eng_layer *L = &e->layers[l];
    ws[0] = &L->qkv, ws[1] = &L->proj, ws[2] = &L->fc, ws[3] = &L->fcproj;
    return 4;
}

void hlm_engine_free(hlm_engine *e)
{
    if (!e) return;
    for (int l = e->layers ? 0 : e->cfg.n_layer; l <= e->cfg.n_layer; l++) {
        wmat *ws[4];
        for (int k = 0, n = layer_mats(e, l, ws); k < n; k++)
            for (int j = 0; j < ws[k]->nparts; j++) {
                hlm_bf16_packed_free(ws[k]->p[j].pk);
                hlm_qpack_free(ws[k]->p[j].qp);
            }
    }
    if (e->layers) {
        for (int l = 0; l < e->cfg.n_layer; l++) {
            free(e->layers[l].k_cache);
            free(e->layers[l].v_cache);
        }
        free(e->layers);
    }
    for (int i = 0; i < e->n_allocs; i++) free(e->allocs[i]);
    free(e->allocs);
    float *bufs[] = {e->rope, e->x, e->h, e->qkv, e->att, e->f1, e->f2, e->y, e->mean, e->rstd, e->logits,
                     e->lse, e->logits_all, e->deq, e->scores};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) free(bufs[i]);
    free(e->rseq);
    free(e->rpos);
    free(e->seq_pos);
    free(e->act);
    hlm_model_free(e->owned);
    hlm_gguf_close(e->gguf);
    hlm_st_close(e->st);
    free(e);
}

/* ---- weights from an hlm_model -------------------------------------------------------------- */

static const float *tensor(const hlm_model *m, const char *name)
{
    const hlm_tensor_info *t = hlm_model_find_tensor(m, name);
    /* hlm_model_params is not const-qualified; the engine never writes through it */
    return t ? hlm_model_params((hlm_model *)m) + t->offset : NULL;
}

/* A copy of n floats the engine owns (so that the model can be released). */
static const float *keep(hlm_engine *e, const float *src, size_t n, int copy)
{
    if (!copy || !src) return src;
    float *d = own(e, falloc(n));
    if (d) memcpy(d, src, sizeof(float) * n);
    return d;
}

static hlm_status wmat_from_model(hlm_engine *e, wmat *w, const float *src, int rows, int cols, int out_in,
                                  const float *bias, int copy, hlm_error *err)
{
    memset(w, 0, sizeof *w);
    w->rows = rows;
    w->cols = cols;
    w->nparts = 1;
    hlm_status st = part_quantize(e, &w->p[0], e->wtype, src, rows, cols, 0, out_in, err);
    if (st != HLM_OK) return st;
    if (w->p[0].t == HLM_QT_F32 && copy) {
        /* stays f32 (K not a multiple of 32) while the model goes: a copy */
        const float *c = keep(e, src, (size_t)rows * cols, 1);
        if (!c) return hlm_errorf(err, HLM_ERR_NOMEM, "engine: out of memory");
        w->p[0].w = c;
    }
    w->bias = keep(e, bias, (size_t)rows, copy);
    if (bias && !w->bias) return hlm_errorf(err, HLM_ERR_NOMEM, "engine: out of memory");
    return HLM_OK;
}

/* Resolves the tensors of the model by their Hugging Face names (the training engine's table).
 * copy: take copies of everything kept f32, so that the model can be freed afterwards. */
static hlm_status build_from_model(hlm_engine *e, const hlm_model *m, int copy, hlm_error *err)
{
    const hlm_model_config *c = &e->cfg;
    int gpt2 = c->arch == HLM_ARCH_GPT2;
    int C = c->d_model, F = c->d_ff, Dq = c->n_head * c->head_dim;
    int Dqkv = Dq + 2 * c->n_kv_head * c->head_dim;
    size_t V = (size_t)c->vocab_size;
    char nm[96];
#define NEED(dst, n, ...)                                                                          \
    do {                                                                                           \
        snprintf(nm, sizeof nm, __VA_ARGS__);                                                      \
        const float *t_ = tensor(m, nm);                                                           \
        if (!t_) return hlm_errorf(err, HLM_ERR_INVALID, "engine: the model has no tensor %s", nm); \
        if (!((dst) = keep(e, t_, (n), copy))) return hlm_errorf(err, HLM_ERR_NOMEM, "engine: out of memory"); \
    } while (0)
#define FIND(dst, ...)                                                                             \
    do {                                                                                           \
        snprintf(nm, sizeof nm, __VA_ARGS__);                                                      \
        if (!((dst) = tensor(m, nm)))                                                              \
            return hlm_errorf(err, HLM_ERR_INVALID, "engine: the model has no tensor %s", nm);    \
    } while (0)
    const float *wte, *lm_head;
    FIND(wte, gpt2 ? "transformer.wte.weight" : "model.embed_tokens.weight");
    const float *emb = keep(e, wte, V * C, copy);
    if (!emb) return hlm_errorf(err, HLM_ERR_NOMEM, "engine: out of memory");
    part_f32(&e->emb, emb, c->vocab_size, 0, 1);
    if (gpt2) {
        NEED(e->wpe, (size_t)c->max_seq * C, "transformer.wpe.weight");
        NEED(e->lnf_w, (size_t)C, "transformer.ln_f.weight");
        NEED(e->lnf_b, (size_t)C, "transformer.ln_f.bias");
        lm_head = wte;
    } else {
        NEED(e->lnf_w, (size_t)C, "model.norm.weight");
        if (c->tie_embeddings) lm_head = wte;
        else FIND(lm_head, "lm_head.weight");
    }
    hlm_status st = wmat_from_model(e, &e->head, lm_head, c->vocab_size, C, 1, NULL, copy && lm_head != wte, err);
    if (st != HLM_OK) return st;
    if (lm_head == wte && e->head.p[0].t == HLM_QT_F32) e->head.p[0].w = emb;
    for (int l = 0; l < c->n_layer; l++) {
        eng_layer *L = &e->layers[l];
        const float *qkv_w, *qkv_b = NULL, *proj_w, *proj_b = NULL, *fc_w, *fc_b = NULL, *fcp_w, *fcp_b = NULL;
        if (gpt2) {
            const char *p = "transformer.h";
            NEED(L->ln1_w, (size_t)C, "%s.%d.ln_1.weight", p, l);
            NEED(L->ln1_b, (size_t)C, "%s.%d.ln_1.bias", p, l);
            NEED(L->ln2_w, (size_t)C, "%s.%d.ln_2.weight", p, l);
            NEED(L->ln2_b, (size_t)C, "%s.%d.ln_2.bias", p, l);
            FIND(qkv_w, "%s.%d.attn.c_attn.weight", p, l);
            FIND(qkv_b, "%s.%d.attn.c_attn.bias", p, l);
            FIND(proj_w, "%s.%d.attn.c_proj.weight", p, l);
            FIND(proj_b, "%s.%d.attn.c_proj.bias", p, l);
            FIND(fc_w, "%s.%d.mlp.c_fc.weight", p, l);
            FIND(fc_b, "%s.%d.mlp.c_fc.bias", p, l);
            FIND(fcp_w, "%s.%d.mlp.c_proj.weight", p, l);
            FIND(fcp_b, "%s.%d.mlp.c_proj.bias", p, l);
        } else {
            /* q/k/v and gate/up are adjacent in the parameter array (model.h's invariant) */
            const char *p = "model.layers";
            NEED(L->ln1_w, (size_t)C, "%s.%d.input_layernorm.weight", p, l);
            NEED(L->ln2_w, (size_t)C, "%s.%d.post_attention_layernorm.weight", p, l);
            FIND(qkv_w, "%s.%d.self_attn.q_proj.weight", p, l);
            FIND(proj_w, "%s.%d.self_attn.o_proj.weight", p, l);
            FIND(fc_w, "%s.%d.mlp.gate_proj.weight", p, l);
            FIND(fcp_w, "%s.%d.mlp.down_proj.weight", p, l);
        }
        if ((st = wmat_from_model(e, &L->qkv, qkv_w, Dqkv, C, !gpt2, qkv_b, copy, err)) != HLM_OK ||
            (st = wmat_from_model(e, &L->proj, proj_w, C, Dq, !gpt2, proj_b, copy, err)) != HLM_OK ||
            (st = wmat_from_model(e, &L->fc, fc_w, gpt2 ? F : 2 * F, C, !gpt2, fc_b, copy, err)) != HLM_OK ||
            (st = wmat_from_model(e, &L->fcproj, fcp_w, C, F, !gpt2, fcp_b, copy, err)) != HLM_OK)
            return st;
    }
#undef NEED
#undef FIND
    return HLM_OK;
}

/* ---- weights from a GGUF file --------------------------------------------------------------- */

/* The tensor name of layer l (l < 0: a global tensor). */
static const hlm_gguf_tensor *gg_find(const hlm_gguf_file *f, int l, const char *name)
{
    char nm[96];
    if (l >= 0) snprintf(nm, sizeof nm, "blk.%d.%s", l, name);
    else snprintf(nm, sizeof nm, "%s", name);
    return hlm_gguf_find_tensor(f, nm);
}

static hlm_status gg_missing(const hlm_gguf_file *f, int l, const char *name, hlm_error *err)
{
    if (l >= 0)
        return hlm_errorf(err, HLM_ERR_FORMAT, "%s: no tensor blk.%d.%s", hlm_gguf_source(f), l, name);
    return hlm_errorf(err, HLM_ERR_FORMAT, "%s: no tensor %s", hlm_gguf_source(f), name);
}

/* An f32 vector of n values (norm weights, biases, position embeddings): in place when the file
 * stores f32, else converted. */
static hlm_status gg_vector(hlm_engine *e, int l, const char *name, size_t n, int required, const float **out,
                            hlm_error *err)
{
    const hlm_gguf_file *f = e->gguf;
    const hlm_gguf_tensor *t = gg_find(f, l, name);
    *out = NULL;
    if (!t) return required ? gg_missing(f, l, name, err) : HLM_OK;
    if (t->n_elems != n)
        return hlm_errorf(err, HLM_ERR_FORMAT, "%s: tensor %s has %llu values, expected %zu", hlm_gguf_source(f),
                          t->name, (unsigned long long)t->n_elems, n);
    if ((hlm_qtype)t->type == HLM_QT_F32 && (uintptr_t)t->data % sizeof(float) == 0) {
        *out = t->data;
        return HLM_OK;
    }
    int bv = hlm_qtype_block_values((hlm_qtype)t->type);
    if (bv == 0 || n % (size_t)bv)
        return hlm_errorf(err, HLM_ERR_FORMAT, "%s: tensor %s has type %u, which this engine cannot read",
                          hlm_gguf_source(f), t->name, (unsigned)t->type);
    float *d = own(e, falloc(n));
    if (!d) return hlm_errorf(err, HLM_ERR_NOMEM, "engine: out of memory");
    hlm_status st = hlm_dequantize_row((hlm_qtype)t->type, t->data, d, (int64_t)n, err);
    *out = d;
    return st;
}

/* A matrix part (rows, cols) from the file: in place when stored F32 or in a type with a dot
 * product, else (F16, BF16, ...) converted to f32 once. */
static hlm_status gg_part(hlm_engine *e, const hlm_gguf_tensor *t, int rows, int cols, int off, wpart *p,
                          hlm_error *err)
{
    const char *src = hlm_gguf_source(e->gguf);
    if (t->n_dims != 2 || t->dims[0] != (uint64_t)cols || t->dims[1] != (uint64_t)rows)
        return hlm_errorf(err, HLM_ERR_FORMAT, "%s: tensor %s has dims [%llu, %llu] (%u-D), expected [%d, %d]", src,
                          t->name, (unsigned long long)t->dims[0], (unsigned long long)t->dims[1], t->n_dims, cols,
                          rows);
    hlm_qtype qt = (hlm_qtype)t->type;
    /* f32 in place when the mapping is aligned for it (a file's alignment key may say 1) */
    if (qt == HLM_QT_F32 && (uintptr_t)t->data % sizeof(float) == 0) {
        part_f32(p, t->data, rows, off, 1);
        return HLM_OK;
    }
    if (hlm_qtype_has_dot(qt)) {
        size_t rb;
        hlm_status st = hlm_qtype_row_bytes(qt, cols, &rb, err);
        if (st != HLM_OK) return st;
        *p = (wpart){.t = qt, .rows = rows, .off = off, .w = t->data, .out_in = 1, .row_bytes = rb};
        return HLM_OK;
    }
    int bv = hlm_qtype_block_values(qt);
    if (bv == 0 || cols % bv)
        return hlm_errorf(err, HLM_ERR_FORMAT, "%s: tensor %s has type %u, which this engine cannot run", src, t->name,
                          (unsigned)t->type);
    size_t rb;
    hlm_status st = hlm_qtype_row_bytes(qt, cols, &rb, err);
    if (st != HLM_OK) return st;
    float *d = own(e, falloc((size_t)rows * cols));
    if (!d) return hlm_errorf(err, HLM_ERR_NOMEM, "engine: out of memory converting %s", t->name);
    for (int r = 0; r < rows && st == HLM_OK; r++)
        st = hlm_dequantize_row(qt, (const uint8_t *)t->data + (size_t)r * rb, d + (size_t)r * cols, cols, err);
    part_f32(p, d, rows, off, 1);
    return st;
}

/* A matrix of the listed parts (names of layer l, each with its row count), plus an optional bias
 * tensor of the whole. */
static hlm_status gg_wmat(hlm_engine *e, int l, wmat *w, int cols, int nparts, const char *const *names,
                          const int *rows, const char *bias, hlm_error *err)
{
    memset(w, 0, sizeof *w);
    w->cols = cols;
    w->nparts = nparts;
    for (int j = 0; j < nparts; j++) {
        const hlm_gguf_tensor *t = gg_find(e->gguf, l, names[j]);
        if (!t) return gg_missing(e->gguf, l, names[j], err);
        hlm_status st = gg_part(e, t, rows[j], cols, w->rows, &w->p[j], err);
        if (st != HLM_OK) return st;
        w->rows += rows[j];
    }
    return bias ? gg_vector(e, l, bias, (size_t)w->rows, 1, &w->bias, err) : HLM_OK;
}

static hlm_status build_from_gguf(hlm_engine *e, hlm_error *err)
{
    const hlm_model_config *c = &e->cfg;
    const hlm_gguf_file *f = e->gguf;
    int gpt2 = c->arch == HLM_ARCH_GPT2;
    int C = c->d_model, F = c->d_ff, Dq = c->n_head * c->head_dim, Dkv = c->n_kv_head * c->head_dim;
    int V = c->vocab_size;
    hlm_status st;
    const hlm_gguf_tensor *te = gg_find(f, -1, "token_embd.weight");
    if (!te) return gg_missing(f, -1, "token_embd.weight", err);
    if ((st = gg_part(e, te, V, C, 0, &e->emb, err)) != HLM_OK) return st;
    if ((st = gg_vector(e, -1, "output_norm.weight", (size_t)C, 1, &e->lnf_w, err)) != HLM_OK) return st;
    if (gpt2) {
        if ((st = gg_vector(e, -1, "output_norm.bias", (size_t)C, 1, &e->lnf_b, err)) != HLM_OK) return st;
        if ((st = gg_vector(e, -1, "position_embd.weight", (size_t)c->max_seq * C, 1, &e->wpe, err)) != HLM_OK)
            return st;
    }
    const char *out_name[] = {gg_find(f, -1, "output.weight") ? "output.weight" : "token_embd.weight"};
    if ((st = gg_wmat(e, -1, &e->head, C, 1, out_name, &V, NULL, err)) != HLM_OK) return st;
    for (int l = 0; l < c->n_layer; l++) {
        eng_layer *L = &e->layers[l];
        if ((st = gg_vector(e, l, "attn_norm.weight", (size_t)C, 1, &L->ln1_w, err)) != HLM_OK ||
            (st = gg_vector(e, l, "ffn_norm.weight", (size_t)C, 1, &L->ln2_w, err)) != HLM_OK)
            return st;
        if (gpt2) {
            const char *qkv[] = {"attn_qkv.weight"}, *o[] = {"attn_output.weight"}, *up[] = {"ffn_up.weight"},
                       *down[] = {"ffn_down.weight"};
            int r_qkv = Dq + 2 * Dkv;
            if ((st = gg_vector(e, l, "attn_norm.bias", (size_t)C, 1, &L->ln1_b, err)) != HLM_OK ||
                (st = gg_vector(e, l, "ffn_norm.bias", (size_t)C, 1, &L->ln2_b, err)) != HLM_OK ||
                (st = gg_wmat(e, l, &L->qkv, C, 1, qkv, &r_qkv, "attn_qkv.bias", err)) != HLM_OK ||
                (st = gg_wmat(e, l, &L->proj, Dq, 1, o, &C, "attn_output.bias", err)) != HLM_OK ||
                (st = gg_wmat(e, l, &L->fc, C, 1, up, &F, "ffn_up.bias", err)) != HLM_OK ||
                (st = gg_wmat(e, l, &L->fcproj, F, 1, down, &C, "ffn_down.bias", err)) != HLM_OK)
                return st;
        } else {
            const char *qkv[] = {"attn_q.weight", "attn_k.weight", "attn_v.weight"}, *o[] = {"attn_output.weight"},
                       *gu[] = {"ffn_gate.weight", "ffn_up.weight"}, *down[] = {"ffn_down.weight"};
            int r_qkv[] = {Dq, Dkv, Dkv}, r_gu[] = {F, F};
            if ((st = gg_wmat(e, l, &L->qkv, C, 3, qkv, r_qkv, NULL, err)) != HLM_OK ||
                (st = gg_wmat(e, l, &L->proj, Dq, 1, o, &C, NULL, err)) != HLM_OK ||
                (st = gg_wmat(e, l, &L->fc, C, 2, gu, r_gu, NULL, err)) != HLM_OK ||
                (st = gg_wmat(e, l, &L->fcproj, F, 1, down, &C, NULL, err)) != HLM_OK)
                return st;
        }
    }
    return HLM_OK;
}

/* ---- weights from a mapped checkpoint (f32) ------------------------------------------------- */

/* A tensor of the checkpoint with the shape the configuration gives: in place when stored f32
 * at an aligned offset, else converted to f32 once (f16, bf16, ...). */
static hlm_status st_tensor(hlm_engine *e, const char *name, int ndim, int64_t d0, int64_t d1, const float **out,
                            hlm_error *err)
{
    const hlm_st_tensor *t = hlm_st_find(e->st, name);
    *out = NULL;
    if (!t) return hlm_errorf(err, HLM_ERR_FORMAT, "model.safetensors: no tensor %s", name);
    int64_t shape[2] = {d0, d1};
    if (t->ndim != ndim || t->shape[0] != d0 || (ndim == 2 && t->shape[1] != d1))
        return hlm_errorf(err, HLM_ERR_FORMAT, "model.safetensors: tensor %s has %d dims [%lld, %lld], expected [%lld%s%lld]",
                          name, t->ndim, (long long)t->shape[0], (long long)(t->ndim > 1 ? t->shape[1] : 0), (long long)d0,
                          ndim == 2 ? ", " : "", (long long)(ndim == 2 ? d1 : 0));
    if (t->dtype == HLM_DT_F32 && (uintptr_t)t->data % sizeof(float) == 0) {
        *out = t->data;
        return HLM_OK;
    }
    size_t n = (size_t)d0 * (size_t)(ndim == 2 ? d1 : 1);
    float *d = own(e, falloc(n));
    if (!d) return hlm_errorf(err, HLM_ERR_NOMEM, "engine: out of memory converting %s", name);
    *out = d;
    return hlm_st_read_f32(e->st, name, ndim, shape, d, err);
}

/* Up to three consecutive row blocks of one matrix ((rows, cols) each, out_in) as one part when
 * the file holds them back to back (HyperLM's checkpoints do: model.h's parameter order), else
 * as separate parts; the same products either way. */
static hlm_status st_wmat(hlm_engine *e, wmat *w, int cols, int n, const char *const *names, const int *rows,
                          int out_in, const char *bias, hlm_error *err)
{
    memset(w, 0, sizeof *w);
    w->cols = cols;
    const float *ptr[3];
    for (int j = 0; j < n; j++) {
        hlm_status st = out_in ? st_tensor(e, names[j], 2, rows[j], cols, &ptr[j], err)
                               : st_tensor(e, names[j], 2, cols, rows[j], &ptr[j], err);
        if (st != HLM_OK) return st;
    }
    for (int j = 0; j < n; j++) {
        if (j > 0 && out_in && ptr[j] == ptr[j - 1] + (size_t)rows[j - 1] * cols) {
            w->p[w->nparts - 1].rows += rows[j]; /* contiguous with the previous block */
        } else {
            part_f32(&w->p[w->nparts], ptr[j], rows[j], w->rows, out_in);
            w->nparts++;
        }
        w->rows += rows[j];
    }
    return bias ? st_tensor(e, bias, 1, w->rows, 0, &w->bias, err) : HLM_OK;
}

static hlm_status build_from_st(hlm_engine *e, hlm_error *err)
{
    const hlm_model_config *c = &e->cfg;
    int gpt2 = c->arch == HLM_ARCH_GPT2;
    int C = c->d_model, F = c->d_ff, V = c->vocab_size, Dq = c->n_head * c->head_dim, Dkv = c->n_kv_head * c->head_dim;
    hlm_status st;
    const float *wte;
    if ((st = st_tensor(e, gpt2 ? "transformer.wte.weight" : "model.embed_tokens.weight", 2, V, C, &wte, err)) != HLM_OK)
        return st;
    part_f32(&e->emb, wte, V, 0, 1);
    if (gpt2) {
        if ((st = st_tensor(e, "transformer.wpe.weight", 2, c->max_seq, C, &e->wpe, err)) != HLM_OK ||
            (st = st_tensor(e, "transformer.ln_f.weight", 1, C, 0, &e->lnf_w, err)) != HLM_OK ||
            (st = st_tensor(e, "transformer.ln_f.bias", 1, C, 0, &e->lnf_b, err)) != HLM_OK)
            return st;
    } else if ((st = st_tensor(e, "model.norm.weight", 1, C, 0, &e->lnf_w, err)) != HLM_OK) {
        return st;
    }
    const char *head[] = {"lm_head.weight"};
    if (gpt2 || c->tie_embeddings) {
        memset(&e->head, 0, sizeof e->head);
        e->head.rows = V;
        e->head.cols = C;
        e->head.nparts = 1;
        part_f32(&e->head.p[0], wte, V, 0, 1);
    } else if ((st = st_wmat(e, &e->head, C, 1, head, &V, 1, NULL, err)) != HLM_OK) {
        return st;
    }
    char nm[8][96];
    for (int l = 0; l < c->n_layer; l++) {
        eng_layer *L = &e->layers[l];
        if (gpt2) {
            const char *h = "transformer.h";
            snprintf(nm[0], 96, "%s.%d.ln_1.weight", h, l);
            snprintf(nm[1], 96, "%s.%d.ln_1.bias", h, l);
            snprintf(nm[2], 96, "%s.%d.ln_2.weight", h, l);
            snprintf(nm[3], 96, "%s.%d.ln_2.bias", h, l);
            if ((st = st_tensor(e, nm[0], 1, C, 0, &L->ln1_w, err)) != HLM_OK ||
                (st = st_tensor(e, nm[1], 1, C, 0, &L->ln1_b, err)) != HLM_OK ||
                (st = st_tensor(e, nm[2], 1, C, 0, &L->ln2_w, err)) != HLM_OK ||
                (st = st_tensor(e, nm[3], 1, C, 0, &L->ln2_b, err)) != HLM_OK)
                return st;
            /* Conv1D: (in, out) */
            const char *mats[4] = {"attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj"};
            wmat *ws[4] = {&L->qkv, &L->proj, &L->fc, &L->fcproj};
            int ins[4] = {C, Dq, C, F}, outs[4] = {Dq + 2 * Dkv, C, F, C};
            for (int k = 0; k < 4; k++) {
                char w_name[96], b_name[96];
                snprintf(w_name, sizeof w_name, "%s.%d.%s.weight", h, l, mats[k]);
                snprintf(b_name, sizeof b_name, "%s.%d.%s.bias", h, l, mats[k]);
                const char *names[1] = {w_name};
                if ((st = st_wmat(e, ws[k], ins[k], 1, names, &outs[k], 0, b_name, err)) != HLM_OK) return st;
            }
        } else {
            const char *h = "model.layers";
            snprintf(nm[0], 96, "%s.%d.input_layernorm.weight", h, l);
            snprintf(nm[1], 96, "%s.%d.post_attention_layernorm.weight", h, l);
            snprintf(nm[2], 96, "%s.%d.self_attn.q_proj.weight", h, l);
            snprintf(nm[3], 96, "%s.%d.self_attn.k_proj.weight", h, l);
            snprintf(nm[4], 96, "%s.%d.self_attn.v_proj.weight", h, l);
            snprintf(nm[5], 96, "%s.%d.self_attn.o_proj.weight", h, l);
            snprintf(nm[6], 96, "%s.%d.mlp.gate_proj.weight", h, l);
            snprintf(nm[7], 96, "%s.%d.mlp.up_proj.weight", h, l);
            char down[96];
            snprintf(down, sizeof down, "%s.%d.mlp.down_proj.weight", h, l);
            const char *qkv[3] = {nm[2], nm[3], nm[4]}, *o[1] = {nm[5]}, *gu[2] = {nm[6], nm[7]}, *dn[1] = {down};
            int r_qkv[3] = {Dq, Dkv, Dkv}, r_gu[2] = {F, F};
            if ((st = st_tensor(e, nm[0], 1, C, 0, &L->ln1_w, err)) != HLM_OK ||
                (st = st_tensor(e, nm[1], 1, C, 0, &L->ln2_w, err)) != HLM_OK ||
                (st = st_wmat(e, &L->qkv, C, 3, qkv, r_qkv, 1, NULL, err)) != HLM_OK ||
                (st = st_wmat(e, &L->proj, Dq, 1, o, &C, 1, NULL, err)) != HLM_OK ||
                (st = st_wmat(e, &L->fc, C, 2, gu, r_gu, 1, NULL, err)) != HLM_OK ||
                (st = st_wmat(e, &L->fcproj, F, 1, dn, &C, 1, NULL, err)) != HLM_OK)
                return st;
        }
    }
    return HLM_OK;
}

/* ---- construction --------------------------------------------------------------------------- */

static void for_each_part(const hlm_engine *e, void (*fn)(const wpart *, int cols, void *), void *arg)
{
    for (int l = 0; l < e->cfg.n_layer; l++) {
        const eng_layer *L = &e->layers[l];
        const wmat *ws[] = {&L->qkv, &L->proj, &L->fc, &L->fcproj};
        for (int k = 0; k < 4; k++)
            for (int j = 0; j < ws[k]->nparts; j++) fn(&ws[k]->p[j], ws[k]->cols, arg);
    }
    for (int j = 0; j < e->head.nparts; j++) fn(&e->head.p[j], e->head.cols, arg);
}

static void tally_type(const wpart *p, int cols, void *arg)
{
    size_t *bytes_by_type = arg;
    if ((int)p->t < 64) bytes_by_type[p->t] += part_bytes(p, cols);
}

static hlm_status alloc_caches(hlm_engine *e, int n_seq, hlm_error *err)
{
    const hlm_model_config *c = &e->cfg;
    size_t kv = (size_t)n_seq * e->ctx * c->n_kv_head * c->head_dim;
    size_t kk = (size_t)n_seq * ctx_blocks(e) * KBLK * c->n_kv_head * c->head_dim;
    int *pos = calloc((size_t)n_seq, sizeof *pos);
    if (!pos) return hlm_errorf(err, HLM_ERR_NOMEM, "engine: out of memory");
    float **k = calloc((size_t)c->n_layer, sizeof *k), **v = calloc((size_t)c->n_layer, sizeof *v);
    int ok = k && v;
    for (int l = 0; ok && l < c->n_layer; l++) {
        /* zeroed (pages mapped lazily): the lanes past a sequence's end are read, never used */
        k[l] = calloc(kk ? kk : 1, sizeof(float));
        v[l] = falloc(kv);
        ok = k[l] && v[l];
    }
    if (!ok) {
        for (int l = 0; k && v && l < c->n_layer; l++) {
            free(k[l]);
            free(v[l]);
        }
        free(k);
        free(v);
        free(pos);
        if (e->seq_pos) memset(e->seq_pos, 0, sizeof *e->seq_pos * (size_t)e->n_seq);
        return hlm_errorf(err, HLM_ERR_NOMEM, "engine: out of memory for the KV caches of %d sequences of %d positions",
                          n_seq, e->ctx);
    }
    for (int l = 0; l < c->n_layer; l++) {
        free(e->layers[l].k_cache);
        free(e->layers[l].v_cache);
        e->layers[l].k_cache = k[l];
        e->layers[l].v_cache = v[l];
    }
    free(k);
    free(v);
    free(e->seq_pos);
    e->seq_pos = pos;
    e->n_seq = n_seq;
    return HLM_OK;
}

/* The common part of every constructor: checks, allocation, then build(e). */
static hlm_status engine_new(const hlm_model_config *c, hlm_qtype wtype, int ctx, hlm_engine **out, hlm_error *err)
{
    *out = NULL;
    if (ctx == 0) ctx = c->max_seq;
    if (ctx < 1 || ctx > c->max_seq)
        return hlm_errorf(err, HLM_ERR_RANGE, "engine: context %d must be in [1, %d] (the model's max_seq)", ctx,
                          c->max_seq);
    hlm_engine *e = calloc(1, sizeof *e);
    if (!e) return hlm_errorf(err, HLM_ERR_NOMEM, "engine: out of memory");
    e->cfg = *c;
    e->wtype = wtype;
    e->ctx = ctx;
    e->bf16_prefill = 1;
    e->layers = calloc((size_t)c->n_layer, sizeof *e->layers);
    e->logits = falloc((size_t)c->vocab_size);
    e->deq = falloc(DEQ_TILE + (size_t)c->d_model + (size_t)c->d_ff); /* a tile is at least one row */
    int Dq = c->n_head * c->head_dim;
    e->act_cols = c->d_model > c->d_ff ? c->d_model : c->d_ff;
    if (Dq > e->act_cols) e->act_cols = Dq;
    e->act_cols = (e->act_cols + HLM_QBLOCK - 1) / HLM_QBLOCK * HLM_QBLOCK;
    e->act_rows = DEQ_MIN_ROWS;
    e->act = malloc(hlm_q8_act_bytes(e->act_cols, e->act_rows));
    if (c->arch == HLM_ARCH_LLAMA) e->rope = falloc((size_t)ctx * c->head_dim);
    if (!e->layers || !e->logits || !e->deq || !e->act || (c->arch == HLM_ARCH_LLAMA && !e->rope)) {
        hlm_engine_free(e);
        return hlm_errorf(err, HLM_ERR_NOMEM, "engine: out of memory");
    }
    /* the training engine's table (rope.c), so that the rotations are the same floats */
    if (e->rope) rope_table(e->rope, ctx, c->head_dim, c->rope_theta);
    *out = e;
    return HLM_OK;
}

static hlm_status engine_finish(hlm_engine *e, hlm_error *err)
{
    return alloc_caches(e, 1, err);
}

static hlm_status create(const hlm_model *m, hlm_qtype wtype, int ctx, int copy, hlm_engine **out, hlm_error *err)
{
    *out = NULL;
    if (wtype != HLM_QT_F32 && wtype != HLM_QT_Q8_0 && wtype != HLM_QT_Q4_0)
        return hlm_errorf(err, HLM_ERR_INVALID, "engine: weight type %s is not supported (f32, q8_0 or q4_0)",
                          hlm_qtype_name(wtype));
    hlm_engine *e;
    hlm_status st = engine_new(hlm_model_config_of(m), wtype, ctx, &e, err);
    if (st != HLM_OK) return st;
    if ((st = build_from_model(e, m, copy, err)) != HLM_OK || (st = engine_finish(e, err)) != HLM_OK) {
        hlm_engine_free(e);
        return st;
    }
    *out = e;
    return HLM_OK;
}

hlm_status hlm_engine_create(const hlm_model *m, hlm_qtype wtype, int ctx, hlm_engine **out, hlm_error *err)
{
    return create(m, wtype, ctx, 0, out, err);
}

/* The engine over m (consumed): it owns m when it reads m's f32 arrays in place. */
static hlm_status adopt(hlm_model *m, hlm_qtype wtype, int ctx, hlm_engine **out, hlm_error *err)
{
    /* quantized: the engine copies what stays f32 and the model's parameters go */
    int copy = wtype != HLM_QT_F32;
    hlm_status st = create(m, wtype, ctx, copy, out, err);
    if (st != HLM_OK || copy) {
        hlm_model_free(m);
        return st;
    }
    (*out)->owned = m;
    return HLM_OK;
}

hlm_status hlm_engine_load(const char *dir, hlm_qtype wtype, int ctx, hlm_engine **out, hlm_error *err)
{
    *out = NULL;
    if (wtype == HLM_QT_F32) {
        /* f32: the engine reads model.safetensors' mapping in place */
        hlm_model_config cfg;
        hlm_status st = hlm_config_resolve(dir, &cfg, err);
        if (st != HLM_OK) return st;
        char path[4200];
        snprintf(path, sizeof path, "%s/model.safetensors", dir);
        hlm_engine *e;
        if ((st = engine_new(&cfg, HLM_QT_F32, ctx, &e, err)) != HLM_OK) return st;
        if ((st = hlm_st_open(path, &e->st, err)) == HLM_OK && (st = build_from_st(e, err)) == HLM_OK)
            st = engine_finish(e, err);
        if (st != HLM_OK) {
            hlm_engine_free(e);
            return st;
        }
        *out = e;
        return HLM_OK;
    }
    hlm_model *m = NULL;
    hlm_status st = hlm_checkpoint_load_model(dir, &m, err);
    return st == HLM_OK ? adopt(m, wtype, ctx, out, err) : st;
}

hlm_status hlm_engine_open_gguf(const char *path, int ctx, hlm_engine **out, hlm_tokenizer **tok, hlm_error *err)
{
    *out = NULL;
    if (tok) *tok = NULL;
    hlm_gguf_file *f = NULL;
    hlm_status st = hlm_gguf_open(path, &f, err);
    return st == HLM_OK ? hlm_engine_from_gguf(f, ctx, out, tok, err) : st;
}

hlm_status hlm_engine_from_gguf(hlm_gguf_file *f, int ctx, hlm_engine **out, hlm_tokenizer **tok, hlm_error *err)
{
    *out = NULL;
    if (tok) *tok = NULL;
    hlm_model_config cfg;
    hlm_status st = hlm_gguf_read_config(f, &cfg, err);
    if (st != HLM_OK) {
        hlm_gguf_close(f);
        return st;
    }
    hlm_engine *e;
    if ((st = engine_new(&cfg, HLM_QT_F32, ctx, &e, err)) != HLM_OK) {
        hlm_gguf_close(f);
        return st;
    }
    e->gguf = f;
    e->interleaved_rope = cfg.arch == HLM_ARCH_LLAMA;
    if ((st = build_from_gguf(e, err)) == HLM_OK) st = engine_finish(e, err);
    if (st == HLM_OK && tok) st = hlm_gguf_read_tokenizer(f, tok, err);
    if (st != HLM_OK) {
        hlm_engine_free(e);
        return st;
    }
    /* the type that holds most of the matrix bytes names the engine's weights */
    size_t by_type[64] = {0};
    for_each_part(e, tally_type, by_type);
    for (int t = 0; t < 64; t++)
        if (by_type[t] > by_type[e->wtype]) e->wtype = (hlm_qtype)t;
    *out = e;
    return HLM_OK;
}

hlm_status hlm_engine_open(const char *path, hlm_qtype wtype, int ctx, hlm_engine **out, hlm_tokenizer **tok,
                           hlm_error *err)
{
    *out = NULL;
    if (tok) *tok = NULL;
    if (hlm_gguf_is_file(path)) {
        if (wtype == HLM_ENGINE_STORED) return hlm_engine_open_gguf(path, ctx, out, tok, err);
        hlm_model *m = NULL;
        hlm_status st = hlm_gguf_import(path, &m, tok, err);
        if (st == HLM_OK) st = adopt(m, wtype, ctx, out, err);
        if (st != HLM_OK && tok) {
            hlm_tokenizer_free(*tok);
            *tok = NULL;
        }
        return st;
    }
    hlm_status st = hlm_engine_load(path, wtype == HLM_ENGINE_STORED ? HLM_QT_F32 : wtype, ctx, out, err);
    if (st != HLM_OK || !tok) return st;
    char tp[4200];
    snprintf(tp, sizeof tp, "%s/tokenizer.json", path);
    st = hlm_tokenizer_load(tp, -1, tok, err);
    if (st != HLM_OK) {
        hlm_engine_free(*out);
        *out = NULL;
    }
    return st;
}

const hlm_model_config *hlm_engine_config(const hlm_engine *e) { return &e->cfg; }
hlm_qtype hlm_engine_wtype(const hlm_engine *e) { return e->wtype; }
const hlm_gguf_file *hlm_engine_gguf(const hlm_engine *e) { return e->gguf; }
int hlm_engine_ctx(const hlm_engine *e) { return e->ctx; }
int hlm_engine_pos(const hlm_engine *e) { return e->seq_pos[0]; }
void hlm_engine_reset(hlm_engine *e) { e->seq_pos[0] = 0; }
void hlm_engine_set_bf16_prefill(hlm_engine *e, int on) { e->bf16_prefill = on != 0; }

/* The packed bf16 copy of one quantized part. */
static hlm_bf16_packed *part_pack(const wpart *p, int cols)
{
    float *w = malloc(sizeof *w * (size_t)p->rows * (size_t)cols);
    if (!w) return NULL;
#pragma omp parallel for schedule(static)
    for (int r = 0; r < p->rows; r++)
        hlm_dequantize_row(p->t, (const uint8_t *)p->w + (size_t)r * p->row_bytes, w + (size_t)r * cols, cols, NULL);
    hlm_bf16_packed *pk = hlm_bf16_pack(w, p->rows, cols, BF16W_MAX_ROWS);
    free(w);
    return pk;
}

hlm_status hlm_engine_pack_weights(hlm_engine *e, int kinds, size_t *bytes, hlm_error *err)
{
    *bytes = 0;
    int int8 = (kinds & HLM_PACK_INT8) && hlm_qpack_supported();
    int bf16 = (kinds & HLM_PACK_BF16) && hlm_gemm_bf16_supported();
    for (int l = 0; l <= e->cfg.n_layer; l++) {
        wmat *ws[4];
        for (int k = 0, n = layer_mats(e, l, ws); k < n; k++)
            for (int j = 0; j < ws[k]->nparts; j++) {
                wpart *p = &ws[k]->p[j];
                int cols = ws[k]->cols;
                if (p->t == HLM_QT_F32 || p->pk || p->qp) continue;
                if (int8 && hlm_qpack_type_ok(p->t)) {
                    hlm_error why = {0};
                    p->qp = hlm_qpack_new(p->t, p->w, p->rows, cols, &why);
                    if (p->qp) {
                        *bytes += hlm_qpack_bytes(p->qp);
                        continue;
                    }
                    if (why.code == HLM_ERR_NOMEM) return hlm_errorf(err, HLM_ERR_NOMEM, "engine: %s", why.msg);
                    /* a scale it cannot hold: the bf16 copy, if any */
                }
                if (!bf16) continue;
                if (!(p->pk = part_pack(p, cols)))
                    return hlm_errorf(err, HLM_ERR_NOMEM, "engine: cannot pack a bf16 copy of a %d x %d matrix",
                                      p->rows, cols);
                *bytes += hlm_bf16_packed_bytes(p->pk);
            }
    }
    return HLM_OK;
}
int hlm_engine_seqs(const hlm_engine *e) { return e->n_seq; }
int hlm_engine_seq_pos(const hlm_engine *e, int seq) { return seq >= 0 && seq < e->n_seq ? e->seq_pos[seq] : -1; }

void hlm_engine_seq_truncate(hlm_engine *e, int seq, int pos)
{
    if (seq >= 0 && seq < e->n_seq && pos >= 0 && pos < e->seq_pos[seq]) e->seq_pos[seq] = pos;
}

hlm_status hlm_engine_set_seqs(hlm_engine *e, int n_seq, hlm_error *err)
{
    if (n_seq < 1 || n_seq > 65536)
        return hlm_errorf(err, HLM_ERR_RANGE, "engine: %d sequences, expected 1..65536", n_seq);
    return alloc_caches(e, n_seq, err);
}

typedef struct counts { int q, f; size_t bytes; } counts;

static void count_part(const wpart *p, int cols, void *arg)
{
    counts *k = arg;
    if (p->t == HLM_QT_F32) k->f++;
    else k->q++;
    k->bytes += part_bytes(p, cols);
}

void hlm_engine_matrix_counts(const hlm_engine *e, int *quantized, int *kept_f32)
{
    counts k = {0};
    for_each_part(e, count_part, &k);
    *quantized = k.q;
    *kept_f32 = k.f;
}

size_t hlm_engine_weight_bytes(const hlm_engine *e)
{
    counts k = {0};
    for_each_part(e, count_part, &k);
    return k.bytes;
}

/* ---- forward -------------------------------------------------------------------------------- */

/* Grows the scratch to n rows. */
static hlm_status ensure_rows(hlm_engine *e, int n, hlm_error *err)
{
    int threads = 1;
#ifdef _OPENMP
    threads = omp_get_max_threads();
#endif
    if (threads > e->score_threads) {
        free(e->scores);
        e->scores = falloc((size_t)threads * ATT_G * ctx_blocks(e) * KBLK);
        e->score_threads = e->scores ? threads : 0;
        if (!e->scores) return hlm_errorf(err, HLM_ERR_NOMEM, "engine: out of memory for attention scores");
    }
    if (n <= e->cap) return HLM_OK;
    int act_rows = hlm_qpack_act_rows(n);
    if (act_rows > e->act_rows) {
        void *a = malloc(hlm_q8_act_bytes(e->act_cols, act_rows));
        if (!a) return hlm_errorf(err, HLM_ERR_NOMEM, "engine: out of memory for %d quantized activation rows", n);
        free(e->act);
        e->act = a;
        e->act_rows = act_rows;
    }
    const hlm_model_config *c = &e->cfg;
    size_t C = c->d_model, F = c->d_ff, Dq = (size_t)c->n_head * c->head_dim;
    size_t Dqkv = Dq + 2 * (size_t)c->n_kv_head * c->head_dim, N = (size_t)n;
    float **bufs[] = {&e->x, &e->h, &e->qkv, &e->att, &e->f1, &e->f2, &e->y, &e->mean, &e->rstd, &e->lse};
    size_t sizes[] = {N * C, N * C, N * Dqkv, N * Dq, N * 2 * F, N * F, N * C, N, N, N * c->n_head};
    free(e->rseq);
    free(e->rpos);
    e->rseq = malloc(sizeof(int) * N);
    e->rpos = malloc(sizeof(int) * N);
    int ok = e->rseq && e->rpos;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        free(*bufs[i]);
        *bufs[i] = falloc(sizes[i]);
        ok = ok && *bufs[i];
    }
    if (!ok) {
        e->cap = 0;
        return hlm_errorf(err, HLM_ERR_NOMEM, "engine: out of memory for %d rows of activations", n);
    }
    e->cap = n;
    return HLM_OK;
}

/* Causal attention of each row against its sequence's cache [0, rpos[i]] (the row's own K and V
 * are already there): for query head h (kv head h / (H/KV)), out = softmax(q k^T / sqrt(hd)) v.
 * att (n, Dq), q read from qkv (n, Dqkv). */
/* G query heads (a constant after inlining, 1..ATT_G) that share one KV head, against its cache
 * of len positions: each K block and V row is read once for the G heads. Per head the arithmetic
 * is the same whatever G is. qs, outs: the heads' query and output rows; s: G rows of srow
 * scores. */
static inline __attribute__((always_inline)) void attend_heads(const float *const *qs, float *const *outs,
                                                             const float *kt, const float *vc, size_t Dkv, int len,
                                                             int hd, float scale, float *s, size_t srow, const int G)
{
    /* scores KBLK keys at a time, each block read front to back: vertical FMAs only (the lanes
     * past len in the last block hold whatever the cache holds and are not kept) */
    for (int b = 0; b * KBLK < len; b++) {
        const float *blk = kt + (size_t)b * hd * KBLK;
        /* four independent sums over the dimensions per head: an add's latency, not its
         * throughput, would bound a single chain */
        float a0[ATT_G][KBLK] = {{0}}, a1[ATT_G][KBLK] = {{0}}, a2[ATT_G][KBLK] = {{0}}, a3[ATT_G][KBLK] = {{0}};
        int d = 0;
        for (; d + 4 <= hd; d += 4) {
            const float *r = blk + (size_t)d * KBLK;
            for (int g = 0; g < G; g++) {
                const float *q = qs[g];
                float q0 = q[d] * scale, q1 = q[d + 1] * scale, q2 = q[d + 2] * scale, q3 = q[d + 3] * scale;
#pragma omp simd
                for (int j = 0; j < KBLK; j++) {
                    a0[g][j] += q0 * r[j];
                    a1[g][j] += q1 * r[KBLK + j];
                    a2[g][j] += q2 * r[2 * KBLK + j];
                    a3[g][j] += q3 * r[3 * KBLK + j];
                }
            }
        }
        for (; d < hd; d++)
            for (int g = 0; g < G; g++) {
                float qd = qs[g][d] * scale;
#pragma omp simd
                for (int j = 0; j < KBLK; j++) a0[g][j] += qd * blk[(size_t)d * KBLK + j];
            }
        int m = len - b * KBLK < KBLK ? len - b * KBLK : KBLK;
        for (int g = 0; g < G; g++) {
            float acc[KBLK];
#pragma omp simd
            for (int j = 0; j < KBLK; j++) acc[j] = (a0[g][j] + a1[g][j]) + (a2[g][j] + a3[g][j]);
            memcpy(s + (size_t)g * srow + (size_t)b * KBLK, acc, sizeof(float) * (size_t)m);
        }
    }
    float inv[ATT_G];
    for (int g = 0; g < G; g++) {
        float *sg = s + (size_t)g * srow;
        float mx = vec_max(sg, len);
        inv[g] = 1.0f / vec_exp_sum(sg, sg, mx, len);
        for (int d = 0; d < hd; d++) outs[g][d] = 0.0f;
    }
    /* four keys per pass over out: a quarter of the read-modify-write chains through memory */
    int t = 0;
    for (; t + 4 <= len; t += 4) {
        const float *v0 = vc + (size_t)t * Dkv, *v1 = v0 + Dkv, *v2 = v1 + Dkv, *v3 = v2 + Dkv;
        for (int g = 0; g < G; g++) {
            const float *sg = s + (size_t)g * srow;
            float *out = outs[g];
            float p0 = sg[t] * inv[g], p1 = sg[t + 1] * inv[g], p2 = sg[t + 2] * inv[g], p3 = sg[t + 3] * inv[g];
#pragma omp simd
            for (int d = 0; d < hd; d++) out[d] += (p0 * v0[d] + p1 * v1[d]) + (p2 * v2[d] + p3 * v3[d]);
        }
    }
    for (; t < len; t++) {
        const float *v = vc + (size_t)t * Dkv;
        for (int g = 0; g < G; g++) {
            float p = s[(size_t)g * srow + t] * inv[g], *out = outs[g];
#pragma omp simd
            for (int d = 0; d < hd; d++) out[d] += p * v[d];
        }
    }
}

/* Query heads per work item: the largest of 4, 3, 2, 1 that divides the heads per KV head. */
static int att_heads_per_item(int group)
{
    for (int g = ATT_G; g > 1; g--)
        if (group % g == 0) return g;
    return 1;
}

static void attention_cached(hlm_engine *e, const eng_layer *L, int n)
{
    const hlm_model_config *c = &e->cfg;
    int H = c->n_head, KV = c->n_kv_head, hd = c->head_dim, group = H / KV;
    int G = att_heads_per_item(group), items = H / G;
    size_t Dqkv = (size_t)(H + 2 * KV) * hd, Dkv = (size_t)KV * hd, seq_floats = (size_t)e->ctx * Dkv;
    size_t srow = (size_t)ctx_blocks(e) * KBLK;
    float scale = 1.0f / sqrtf((float)hd);
    long work = (long)n * items;
    long span = 0;
    for (int i = 0; i < n; i++) span += e->rpos[i] + 1;
    (void)span; /* unused where OpenMP is off (the fuzz build) */
#pragma omp parallel for schedule(dynamic, 1) if (span * H * hd >= (1 << 15))
    for (long w = 0; w < work; w++) {
        int i = (int)(w / items), h0 = (int)(w % items) * G, kvh = h0 / group, len = e->rpos[i] + 1;
        size_t kv_head_floats = srow * hd;
        const float *kt = L->k_cache + ((size_t)e->rseq[i] * KV + kvh) * kv_head_floats;
        const float *vc = L->v_cache + (size_t)e->rseq[i] * seq_floats + (size_t)kvh * hd;
        const float *qs[ATT_G];
        float *outs[ATT_G];
        for (int g = 0; g < G; g++) {
            qs[g] = e->qkv + (size_t)i * Dqkv + (size_t)(h0 + g) * hd;
            outs[g] = e->att + (size_t)i * H * hd + (size_t)(h0 + g) * hd;
        }
        int tid = 0;
#ifdef _OPENMP
        tid = omp_get_thread_num();
#endif
        float *s = e->scores + (size_t)tid * ATT_G * srow;
        switch (G) {
        case 4: attend_heads(qs, outs, kt, vc, Dkv, len, hd, scale, s, srow, 4); break;
        case 3: attend_heads(qs, outs, kt, vc, Dkv, len, hd, scale, s, srow, 3); break;
        case 2: attend_heads(qs, outs, kt, vc, Dkv, len, hd, scale, s, srow, 2); break;
        default: attend_heads(qs, outs, kt, vc, Dkv, len, hd, scale, s, srow, 1); break;
        }
    }
}

/* RoPE of the q and k heads of each row at its position: Hugging Face's rotate_half pairs for an
 * hlm_model, GGML's interleaved pairs for a GGUF file (same angles, see engine.h). */
static void rope_rows(hlm_engine *e, int n, int contiguous)
{
    const hlm_model_config *c = &e->cfg;
    int H = c->n_head, KV = c->n_kv_head, hd = c->head_dim, half = hd / 2;
    size_t Dqkv = (size_t)(H + 2 * KV) * hd;
    if (!e->interleaved_rope && contiguous) {
        /* rows are positions rpos[0].. in order: rope_forward with T = n reads table rows from there */
        rope_forward(e->qkv, e->rope + (size_t)e->rpos[0] * hd, 1, n, H, KV, hd);
        return;
    }
#pragma omp parallel for schedule(static) if (n > 1)
    for (int i = 0; i < n; i++) {
        const float *cs = e->rope + (size_t)e->rpos[i] * hd;
        float *row = e->qkv + (size_t)i * Dqkv;
        if (!e->interleaved_rope) {
            rope_forward(row, cs, 1, 1, H, KV, hd);
            continue;
        }
        for (int hh = 0; hh < H + KV; hh++) {
            float *x = row + (size_t)hh * hd;
            for (int k = 0; k < half; k++) {
                float co = cs[2 * k], si = cs[2 * k + 1], x1 = x[2 * k], x2 = x[2 * k + 1];
                x[2 * k] = x1 * co - x2 * si;
                x[2 * k + 1] = x2 * co + x1 * si;
            }
        }
    }
}

static void add_rows(float *x, const float *y, size_t n)
{
#pragma omp simd
    for (size_t i = 0; i < n; i++) x[i] += y[i];
}

/* What forward leaves after the layers. */
typedef enum fwd_out {
    OUT_LAST,  /* the last row's logits in logits */
    OUT_ROWS,  /* logits_all: the rows sel names (n_sel), or every row when sel is NULL */
    OUT_NORMED /* no logits: every row after the final norm in h (n, C), the lm head's input */
} fwd_out;

/* Runs rows described by e->rseq/e->rpos (already checked); the caches of their sequences grow
 * only when the whole call succeeds. contiguous: the rows are one sequence's consecutive
 * positions. */
static hlm_status forward(hlm_engine *e, const int32_t *tokens, int n, fwd_out what, const int *sel, int n_sel,
                          int contiguous, const float **logits, hlm_error *err)
{
    const hlm_model_config *c = &e->cfg;
    hlm_status st;
    int rows = what == OUT_LAST ? 1 : sel ? n_sel : n;
    if (what == OUT_ROWS && rows > e->logits_rows) {
        free(e->logits_all);
        e->logits_all = falloc((size_t)rows * c->vocab_size);
        e->logits_rows = e->logits_all ? rows : 0;
        if (!e->logits_all)
            return hlm_errorf(err, HLM_ERR_NOMEM, "engine: out of memory for the logits of %d positions", rows);
    }
    int gpt2 = c->arch == HLM_ARCH_GPT2;
    int C = c->d_model, F = c->d_ff, H = c->n_head, KV = c->n_kv_head, hd = c->head_dim;
    size_t Dq = (size_t)H * hd, Dkv = (size_t)KV * hd, Dqkv = Dq + 2 * Dkv, NC = (size_t)n * C;
    size_t seq_floats = (size_t)e->ctx * Dkv, kv_head_floats = (size_t)ctx_blocks(e) * KBLK * hd;
    size_t kseq_floats = kv_head_floats * KV;
    float eps = c->norm_eps;
    /* a prefill from an empty cache is the training engine's causal attention over these rows */
    int flash = contiguous && e->rpos[0] == 0 && n > 1;

    for (int i = 0; i < n; i++) {
        float *x = e->x + (size_t)i * C;
        if (e->emb.t == HLM_QT_F32) memcpy(x, (const float *)e->emb.w + (size_t)tokens[i] * C, sizeof(float) * C);
        else hlm_dequantize_row(e->emb.t, (const uint8_t *)e->emb.w + (size_t)tokens[i] * e->emb.row_bytes, x, C, NULL);
        if (gpt2) {
            const float *pe = e->wpe + (size_t)e->rpos[i] * C;
            for (int j = 0; j < C; j++) x[j] += pe[j];
        }
    }
    for (int l = 0; l < c->n_layer; l++) {
        eng_layer *L = &e->layers[l];
        if (gpt2) layernorm_forward(e->h, e->mean, e->rstd, e->x, L->ln1_w, L->ln1_b, n, C, eps);
        else rmsnorm_forward(e->h, e->rstd, e->x, L->ln1_w, n, C, eps);
        if ((st = wmat_apply(e, &L->qkv, e->h, n, e->qkv, err)) != HLM_OK) return st;
        if (!gpt2) rope_rows(e, n, contiguous);
        for (int i = 0; i < n; i++) {
            const float *r = e->qkv + (size_t)i * Dqkv;
            size_t at = (size_t)e->rseq[i] * seq_floats + (size_t)e->rpos[i] * Dkv;
            memcpy(L->v_cache + at, r + Dq + Dkv, sizeof(float) * Dkv);
            /* K in key blocks of KBLK, each (hd, KBLK): see eng_layer */
            int t = e->rpos[i];
            float *kb = L->k_cache + (size_t)e->rseq[i] * kseq_floats + (size_t)(t / KBLK) * hd * KBLK + t % KBLK;
            for (int h = 0; h < KV; h++)
                for (int d = 0; d < hd; d++) kb[(size_t)h * kv_head_floats + (size_t)d * KBLK] = r[Dq + (size_t)h * hd + d];
        }
        if (flash) attention_forward(e->att, e->lse, e->qkv, 1, n, H, KV, hd);
        else attention_cached(e, L, n);
        if ((st = wmat_apply(e, &L->proj, e->att, n, e->y, err)) != HLM_OK) return st;
        add_rows(e->x, e->y, NC);
        if (gpt2) {
            layernorm_forward(e->h, e->mean, e->rstd, e->x, L->ln2_w, L->ln2_b, n, C, eps);
            if ((st = wmat_apply(e, &L->fc, e->h, n, e->f1, err)) != HLM_OK) return st;
            gelu_forward(e->f2, e->f1, (size_t)n * F);
        } else {
            rmsnorm_forward(e->h, e->rstd, e->x, L->ln2_w, n, C, eps);
            if ((st = wmat_apply(e, &L->fc, e->h, n, e->f1, err)) != HLM_OK) return st;
            swiglu_forward(e->f2, e->f1, n, F);
        }
        if ((st = wmat_apply(e, &L->fcproj, e->f2, n, e->y, err)) != HLM_OK) return st;
        add_rows(e->x, e->y, NC);
    }
    /* the final norm and the head run over the rows whose output is asked for */
    const float *first = e->x + (size_t)(n - rows) * C;
    if (sel) {
        for (int i = 0; i < n_sel; i++) memcpy(e->y + (size_t)i * C, e->x + (size_t)sel[i] * C, sizeof(float) * C);
        first = e->y;
    }
    if (gpt2) layernorm_forward(e->h, e->mean, e->rstd, first, e->lnf_w, e->lnf_b, rows, C, eps);
    else rmsnorm_forward(e->h, e->rstd, first, e->lnf_w, rows, C, eps);
    float *out = NULL;
    if (what != OUT_NORMED) {
        out = what == OUT_ROWS ? e->logits_all : e->logits;
        if ((st = wmat_apply(e, &e->head, e->h, rows, out, err)) != HLM_OK) return st;
    }
    for (int i = 0; i < n; i++)
        if (e->rpos[i] + 1 > e->seq_pos[e->rseq[i]]) e->seq_pos[e->rseq[i]] = e->rpos[i] + 1;
    if (logits) *logits = out;
    return HLM_OK;
}

static hlm_status check_tokens(const hlm_engine *e, const int32_t *tokens, int n, hlm_error *err)
{
    for (int i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= e->cfg.vocab_size)
            return hlm_errorf(err, HLM_ERR_RANGE, "engine: token %d at index %d is outside the vocabulary [0, %d)",
                              tokens[i], i, e->cfg.vocab_size);
    return HLM_OK;
}

/* Checks n tokens for sequence seq at position pos (-1: its next one); makes room for the rows. */
static hlm_status check_prefill(hlm_engine *e, int seq, int pos, const int32_t *tokens, int n, hlm_error *err)
{
    if (seq < 0 || seq >= e->n_seq)
        return hlm_errorf(err, HLM_ERR_INVALID, "engine: sequence %d, expected 0..%d", seq, e->n_seq - 1);
    if (pos < 0) pos = e->seq_pos[seq];
    if (n < 1) return hlm_errorf(err, HLM_ERR_INVALID, "engine: %d tokens, expected at least 1", n);
    if (n > e->ctx - pos)
        return hlm_errorf(err, HLM_ERR_RANGE, "engine: context overflow: %d tokens at position %d exceed the context of %d",
                          n, pos, e->ctx);
    hlm_status st = check_tokens(e, tokens, n, err);
    if (st == HLM_OK) st = ensure_rows(e, n, err);
    return st;
}

static void contiguous_rows(hlm_engine *e, int seq, int pos, int n)
{
    for (int i = 0; i < n; i++) {
        e->rseq[i] = seq;
        e->rpos[i] = pos + i;
    }
}

static hlm_status prefill(hlm_engine *e, int seq, const int32_t *tokens, int n, fwd_out what, const float **logits,
                          hlm_error *err)
{
    if (logits) *logits = NULL;
    hlm_status st = check_prefill(e, seq, -1, tokens, n, err);
    if (st != HLM_OK) return st;
    contiguous_rows(e, seq, e->seq_pos[seq], n);
    return forward(e, tokens, n, what, NULL, 0, 1, logits, err);
}

hlm_status hlm_engine_prefill(hlm_engine *e, const int32_t *tokens, int n, const float **logits, hlm_error *err)
{
    return prefill(e, 0, tokens, n, OUT_LAST, logits, err);
}

hlm_status hlm_engine_prefill_seq(hlm_engine *e, int seq, const int32_t *tokens, int n, const float **logits,
                                  hlm_error *err)
{
    return prefill(e, seq, tokens, n, OUT_LAST, logits, err);
}

hlm_status hlm_engine_prefill_all(hlm_engine *e, const int32_t *tokens, int n, const float **logits, hlm_error *err)
{
    return prefill(e, 0, tokens, n, OUT_ROWS, logits, err);
}

hlm_status hlm_engine_decode(hlm_engine *e, int32_t token, const float **logits, hlm_error *err)
{
    return prefill(e, 0, &token, 1, OUT_LAST, logits, err);
}

hlm_status hlm_engine_embed(hlm_engine *e, int seq, const int32_t *tokens, int n, float *out, hlm_error *err)
{
    int C = e->cfg.d_model;
    /* from position 0 whatever seq holds: the checks see an empty sequence */
    hlm_status st = check_prefill(e, seq, 0, tokens, n, err);
    double *sum = st == HLM_OK ? calloc((size_t)C, sizeof *sum) : NULL;
    if (st == HLM_OK && !sum) st = hlm_errorf(err, HLM_ERR_NOMEM, "engine: out of memory");
    if (st != HLM_OK) return st;
    e->seq_pos[seq] = 0;
    contiguous_rows(e, seq, 0, n);
    st = forward(e, tokens, n, OUT_NORMED, NULL, 0, 1, NULL, err);
    e->seq_pos[seq] = 0;
    if (st == HLM_OK) {
        /* summed in double over up to ctx rows; the mean's 1/n vanishes in the scaling to unit
         * length */
        for (int i = 0; i < n; i++) {
            const float *h = e->h + (size_t)i * C;
            for (int j = 0; j < C; j++) sum[j] += h[j];
        }
        double sq = 0;
        for (int j = 0; j < C; j++) sq += sum[j] * sum[j];
        double inv = sq > 0 ? 1.0 / sqrt(sq) : 0.0;
        for (int j = 0; j < C; j++) out[j] = (float)(sum[j] * inv);
    }
    free(sum);
    return st;
}

/* Checks n distinct sequences with room for lens[i] (NULL: 1) more tokens each. */
static hlm_status check_seqs(const hlm_engine *e, const int *seqs, const int *lens, int n, hlm_error *err)
{
    if (n < 1) return hlm_errorf(err, HLM_ERR_INVALID, "engine: %d sequences in a batch, expected at least 1", n);
    for (int i = 0; i < n; i++) {
        if (seqs[i] < 0 || seqs[i] >= e->n_seq)
            return hlm_errorf(err, HLM_ERR_INVALID, "engine: sequence %d at index %d, expected 0..%d", seqs[i], i,
                              e->n_seq - 1);
        for (int j = 0; j < i; j++)
            if (seqs[j] == seqs[i])
                return hlm_errorf(err, HLM_ERR_INVALID, "engine: sequence %d named twice in one batch", seqs[i]);
        int len = lens ? lens[i] : 1;
        if (len < 1) return hlm_errorf(err, HLM_ERR_INVALID, "engine: prompt %d has %d tokens, expected at least 1", i, len);
        if (len > e->ctx - e->seq_pos[seqs[i]])
            return hlm_errorf(err, HLM_ERR_RANGE,
                              "engine: context overflow: sequence %d is full (%d tokens at position %d, context %d)",
                              seqs[i], len, e->seq_pos[seqs[i]], e->ctx);
    }
    return HLM_OK;
}

hlm_status hlm_engine_prefill_batch(hlm_engine *e, const int *seqs, const int32_t *tokens, const int *lens, int n,
                                    const float **logits, hlm_error *err)
{
    if (logits) *logits = NULL;
    hlm_status st = check_seqs(e, seqs, lens, n, err);
    long rows = 0;
    for (int i = 0; st == HLM_OK && i < n; i++) rows += lens[i];
    if (st == HLM_OK && rows > (1 << 30)) st = hlm_errorf(err, HLM_ERR_RANGE, "engine: %ld rows in one batch", rows);
    if (st == HLM_OK) st = check_tokens(e, tokens, (int)rows, err);
    if (st == HLM_OK) st = ensure_rows(e, (int)rows, err);
    int *last = st == HLM_OK ? malloc(sizeof(int) * (size_t)n) : NULL;
    if (st == HLM_OK && !last) st = hlm_errorf(err, HLM_ERR_NOMEM, "engine: out of memory");
    if (st != HLM_OK) return st;
    int r = 0;
    for (int i = 0; i < n; i++) {
        for (int k = 0; k < lens[i]; k++, r++) {
            e->rseq[r] = seqs[i];
            e->rpos[r] = e->seq_pos[seqs[i]] + k;
        }
        last[i] = r - 1;
    }
    st = forward(e, tokens, (int)rows, OUT_ROWS, last, n, 0, logits, err);
    free(last);
    return st;
}

hlm_status hlm_engine_decode_batch(hlm_engine *e, const int *seqs, const int32_t *tokens, int n, const float **logits,
                                   hlm_error *err)
{
    if (logits) *logits = NULL;
    hlm_status st = check_seqs(e, seqs, NULL, n, err);
    if (st == HLM_OK) st = check_tokens(e, tokens, n, err);
    if (st == HLM_OK) st = ensure_rows(e, n, err);
    if (st != HLM_OK) return st;
    for (int i = 0; i < n; i++) {
        e->rseq[i] = seqs[i];
        e->rpos[i] = e->seq_pos[seqs[i]];
    }
    /* every row is the last of its sequence: logits_all in order */
    return forward(e, tokens, n, OUT_ROWS, NULL, 0, n == 1, logits, err);
}
