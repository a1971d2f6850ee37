/* Layers of GPT-2 and Llama on the CPU, fp32: embedding, matmul, LayerNorm, RMSNorm, GELU,
 * SwiGLU and the fused softmax + cross-entropy (attention and RoPE are in attention.c, rope.c).
 * Conventions are those of layers.h: backward ADDS into gradients, rows are parallel (OpenMP,
 * schedule(static)), nothing allocates on the heap.
 *
 * Invariants:
 * - Every result computed here is the same bits for any thread count (the GEMMs are oneDNN's:
 *   docs/gemm.md). Per-row work is naturally so; the reductions over rows (dw, db of the norms,
 *   bias gradients, embedding gradients) never split a sum by thread. The norms sum fixed chunks
 *   of ROW_CHUNK rows into a partial and add the partials in chunk order (`ordered`); column
 *   sums and the embedding backward give each task a tile of columns and walk all rows in order
 *   inside it.
 * - IEEE semantics (no -ffast-math): NaN and Inf in the inputs propagate to the outputs.
 * - Vector code: AVX-512 intrinsics where the compiler would not do as well by itself (exp, the
 *   softmax passes), `omp simd` loops elsewhere; __AVX512F__ off (portable and sanitizer builds)
 *   selects the plain C versions, which the tests check as well.
 * - Stack use: the norm backward keeps 2*C floats on the caller's stack and 2*C per worker. */
#include "model/layers.h"

#include <math.h>
#include <string.h>

#include "model/gemm.h"
#include "model/vexp.h"

#ifdef __AVX512F__
#include <immintrin.h>
#endif

/* Rows per partial sum of a parameter gradient. Fixed, so the order of additions (and hence the
 * bits) does not depend on the thread count; 64 rows of C = 768 stay in L2 while summed. */
#define ROW_CHUNK 64
/* Columns per task of the column-parallel passes (bias gradient, embedding backward). */
#define COL_TILE 64
/* Elements per task of the element-wise layers. */
#define ELEM_BLOCK 4096

static inline int min_int(int a, int b) { return a < b ? a : b; }

/* ---- exp, sigmoid ------------------------------------------------------------------------- */

#ifdef __AVX512F__

/* 1 / (1 + exp(-x)). The reciprocal is rcp14 and one Newton step (error ~2^-28, below float's
 * rounding; vdivps would cost 16 cycles per vector and dominate GELU and SwiGLU). Where
 * 1 + exp(-x) is Inf the step would give Inf * 0 = NaN, so those lanes are set to 0 exactly,
 * as a true division gives; NaN stays NaN. */
static inline __m512 sigmoid16(__m512 x)
{
    const __m512 one = _mm512_set1_ps(1.0f);
    __m512 d = _mm512_add_ps(one, hlm_exp16(_mm512_sub_ps(_mm512_setzero_ps(), x)));
    __m512 r = _mm512_rcp14_ps(d);
    r = _mm512_fmadd_ps(r, _mm512_fnmadd_ps(d, r, one), r);
    return _mm512_mask_mov_ps(r, _mm512_cmp_ps_mask(d, _mm512_set1_ps(INFINITY), _CMP_EQ_OQ),
                              _mm512_setzero_ps());
}

static inline __mmask16 tail_mask(int n) { return (__mmask16)((1u << n) - 1u); }
#endif

static inline float sigmoid1(float x) { return 1.0f / (1.0f + expf(-x)); }

/* ---- embedding ---------------------------------------------------------------------------- */

void embedding_forward(float *out, const int32_t *tokens, const float *wte, const float *wpe,
                       int B, int T, int C)
{
    int N = B * T;
#pragma omp parallel for schedule(static)
    for (int i = 0; i < N; i++) {
        float *restrict o = out + (size_t)i * C;
        const float *restrict e = wte + (size_t)tokens[i] * C;
        if (wpe) {
            const float *restrict p = wpe + (size_t)(i % T) * C;
#pragma omp simd
            for (int c = 0; c < C; c++) o[c] = e[c] + p[c];
        } else {
            memcpy(o, e, (size_t)C * sizeof *o);
        }
    }
}

/* Race-free without atomics: each task owns a tile of channels of every row of dwte and dwpe and
 * adds the tokens in order, so a token repeated in the batch is summed in a fixed order. */
void embedding_backward(float *dwte, float *dwpe, const float *dout, const int32_t *tokens,
                        int B, int T, int C)
{
    int N = B * T, ntiles = (C + COL_TILE - 1) / COL_TILE;
#pragma omp parallel for schedule(static)
    for (int tile = 0; tile < ntiles; tile++) {
        int c0 = tile * COL_TILE, nc = min_int(COL_TILE, C - c0);
        for (int i = 0; i < N; i++) {
            const float *restrict g = dout + (size_t)i * C + c0;
            if (dwte) {
                float *restrict d = dwte + (size_t)tokens[i] * C + c0;
#pragma omp simd
                for (int c = 0; c < nc; c++) d[c] += g[c];
            }
            if (dwpe) {
                float *restrict d = dwpe + (size_t)(i % T) * C + c0;
#pragma omp simd
                for (int c = 0; c < nc; c++) d[c] += g[c];
            }
        }
    }
}

/* ---- matmul ------------------------------------------------------------------------------- */

void matmul_forward(float *y, const float *x, const float *w, const float *b, int N, int K, int M,
                    bool w_out_in)
{
    float beta = 0.0f;
    if (b) { /* y starts as the bias; the gemm adds x . W to it */
#pragma omp parallel for schedule(static)
        for (int i = 0; i < N; i++) memcpy(y + (size_t)i * M, b, (size_t)M * sizeof *y);
        beta = 1.0f;
    }
    if (w_out_in)
        hlm_sgemm(false, true, N, M, K, 1.0f, x, K, w, K, beta, y, M);
    else
        hlm_sgemm(false, false, N, M, K, 1.0f, x, K, w, M, beta, y, M);
}

/* db (M) += column sums of dy (N,M): tiles of columns in parallel, each summing ROW_CHUNK rows
 * at a time into a partial (pairwise-like accuracy), rows always in the same order. */
static void column_sums_add(float *db, const float *dy, int N, int M)
{
    int ntiles = (M + COL_TILE - 1) / COL_TILE;
#pragma omp parallel for schedule(static)
    for (int tile = 0; tile < ntiles; tile++) {
        int j0 = tile * COL_TILE, nj = min_int(COL_TILE, M - j0);
        float tot[COL_TILE] = {0};
        for (int i0 = 0; i0 < N; i0 += ROW_CHUNK) {
            float part[COL_TILE] = {0};
            int i1 = min_int(N, i0 + ROW_CHUNK);
            for (int i = i0; i < i1; i++) {
                const float *restrict row = dy + (size_t)i * M + j0;
#pragma omp simd
                for (int j = 0; j < nj; j++) part[j] += row[j];
            }
            for (int j = 0; j < nj; j++) tot[j] += part[j];
        }
        for (int j = 0; j < nj; j++) db[j0 + j] += tot[j];
    }
}

void matmul_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
                     const float *w, int N, int K, int M, bool w_out_in)
{
    if (dx) { /* dx (N,K) += dy (N,M) . W^T */
        if (w_out_in)
            hlm_sgemm(false, false, N, K, M, 1.0f, dy, M, w, K, 1.0f, dx, K);
        else
            hlm_sgemm(false, true, N, K, M, 1.0f, dy, M, w, M, 1.0f, dx, K);
    }
    if (dw) {
        if (w_out_in) /* dW (M,K) += dy^T (M,N) . x (N,K) */
            hlm_sgemm(true, false, M, K, N, 1.0f, dy, M, x, K, 1.0f, dw, K);
        else /* dW (K,M) += x^T (K,N) . dy (N,M) */
            hlm_sgemm(true, false, K, M, N, 1.0f, x, K, dy, M, 1.0f, dw, M);
    }
    if (db && N > 0) column_sums_add(db, dy, N, M);
}

/* ---- LayerNorm, RMSNorm ------------------------------------------------------------------- */

/* One row of LayerNorm; the variance is taken around the mean (two passes over a row that is
 * in L1), which stays accurate when |mean| >> std. */
static inline void layernorm_row(float *restrict out, float *mean, float *rstd,
                                 const float *restrict x, const float *restrict w,
                                 const float *restrict b, int C, float eps)
{
    float s = 0.0f;
#pragma omp simd reduction(+ : s)
    for (int c = 0; c < C; c++) s += x[c];
    float m = s / (float)C;
    float v = 0.0f;
#pragma omp simd reduction(+ : v)
    for (int c = 0; c < C; c++) {
        float d = x[c] - m;
        v += d * d;
    }
    float r = 1.0f / sqrtf(v / (float)C + eps);
#pragma omp simd
    for (int c = 0; c < C; c++) out[c] = (x[c] - m) * r * w[c] + b[c];
    if (mean) *mean = m;
    if (rstd) *rstd = r;
}

void layernorm_forward(float *out, float *mean, float *rstd, const float *x, const float *w,
                       const float *b, int N, int C, float eps)
{
    /* one row (an inference decode step) is not worth waking the team */
#pragma omp parallel for schedule(static) if (N > 1)
    for (int i = 0; i < N; i++)
        layernorm_row(out + (size_t)i * C, mean ? mean + i : NULL, rstd ? rstd + i : NULL,
                      x + (size_t)i * C, w, b, C, eps);
}

/* res may be a or b (an in-place residual update): each element is read before it is written. */
void residual_layernorm_forward(float *res, float *out, float *mean, float *rstd, const float *a,
                                const float *b, const float *w, const float *bias, int N, int C,
                                float eps)
{
#pragma omp parallel for schedule(static) if (N > 1)
    for (int i = 0; i < N; i++) {
        float *r = res + (size_t)i * C;
        const float *ai = a + (size_t)i * C, *bi = b + (size_t)i * C;
#pragma omp simd
        for (int c = 0; c < C; c++) r[c] = ai[c] + bi[c];
        layernorm_row(out + (size_t)i * C, mean ? mean + i : NULL, rstd ? rstd + i : NULL, r, w,
                      bias, C, eps);
    }
}

/* xhat = (x - mean) rstd, g = dout . w:
 *   dx += rstd (g - mean(g) - xhat mean(g xhat)),  dw += dout xhat,  db += dout.
 * dw, db: per chunk of ROW_CHUNK rows a partial on the worker's stack, added to the total in
 * chunk order; schedule(static, 1) interleaves the chunks so the ordered adds do not serialize
 * the work. The total is added to dw, db once, so two calls from zero give exactly twice one. */
void layernorm_backward(float *dx, float *dw, float *db, const float *dout, const float *x,
                        const float *w, const float *mean, const float *rstd, int N, int C)
{
    if (N <= 0 || C <= 0) return;
    int nchunks = (N + ROW_CHUNK - 1) / ROW_CHUNK;
    float tot[2 * (size_t)C];
    memset(tot, 0, sizeof tot);
#pragma omp parallel for ordered schedule(static, 1)
    for (int k = 0; k < nchunks; k++) {
        float part[2 * (size_t)C];
        float *restrict pw = part, *restrict pb = part + C;
        memset(part, 0, sizeof part);
        int i1 = min_int(N, (k + 1) * ROW_CHUNK);
        for (int i = k * ROW_CHUNK; i < i1; i++) {
            const float *restrict g = dout + (size_t)i * C, *restrict xi = x + (size_t)i * C;
            float *restrict dxi = dx + (size_t)i * C;
            float m = mean[i], r = rstd[i], sg = 0.0f, sgx = 0.0f;
#pragma omp simd reduction(+ : sg, sgx)
            for (int c = 0; c < C; c++) {
                float xh = (xi[c] - m) * r, gw = g[c] * w[c];
                sg += gw;
                sgx += gw * xh;
                pw[c] += g[c] * xh;
                pb[c] += g[c];
            }
            float mg = sg / (float)C, mgx = sgx / (float)C;
#pragma omp simd
            for (int c = 0; c < C; c++) {
                float xh = (xi[c] - m) * r;
                dxi[c] += (g[c] * w[c] - mg - xh * mgx) * r;
            }
        }
#pragma omp ordered
#pragma omp simd
        for (int c = 0; c < 2 * C; c++) tot[c] += part[c];
    }
    if (dw)
#pragma omp simd
        for (int c = 0; c < C; c++) dw[c] += tot[c];
    if (db)
#pragma omp simd
        for (int c = 0; c < C; c++) db[c] += tot[C + c];
}

static inline void rmsnorm_row(float *restrict out, float *rstd, const float *restrict x,
                               const float *restrict w, int C, float eps)
{
    float s = 0.0f;
#pragma omp simd reduction(+ : s)
    for (int c = 0; c < C; c++) s += x[c] * x[c];
    float r = 1.0f / sqrtf(s / (float)C + eps);
#pragma omp simd
    for (int c = 0; c < C; c++) out[c] = x[c] * r * w[c];
    if (rstd) *rstd = r;
}

void rmsnorm_forward(float *out, float *rstd, const float *x, const float *w, int N, int C,
                     float eps)
{
#pragma omp parallel for schedule(static) if (N > 1)
    for (int i = 0; i < N; i++)
        rmsnorm_row(out + (size_t)i * C, rstd ? rstd + i : NULL, x + (size_t)i * C, w, C, eps);
}

void residual_rmsnorm_forward(float *res, float *out, float *rstd, const float *a, const float *b,
                              const float *w, int N, int C, float eps)
{
#pragma omp parallel for schedule(static)
    for (int i = 0; i < N; i++) {
        float *r = res + (size_t)i * C;
        const float *ai = a + (size_t)i * C, *bi = b + (size_t)i * C;
#pragma omp simd
        for (int c = 0; c < C; c++) r[c] = ai[c] + bi[c];
        rmsnorm_row(out + (size_t)i * C, rstd ? rstd + i : NULL, r, w, C, eps);
    }
}

/* xhat = x rstd, g = dout . w:  dx += rstd (g - xhat mean(g xhat)),  dw += dout xhat.
 * dw is reduced as in layernorm_backward. */
void rmsnorm_backward(float *dx, float *dw, const float *dout, const float *x, const float *w,
                      const float *rstd, int N, int C)
{
    if (N <= 0 || C <= 0) return;
    int nchunks = (N + ROW_CHUNK - 1) / ROW_CHUNK;
    float tot[C];
    memset(tot, 0, sizeof tot);
#pragma omp parallel for ordered schedule(static, 1)
    for (int k = 0; k < nchunks; k++) {
        float part[C];
        float *restrict pw = part;
        memset(part, 0, sizeof part);
        int i1 = min_int(N, (k + 1) * ROW_CHUNK);
        for (int i = k * ROW_CHUNK; i < i1; i++) {
            const float *restrict g = dout + (size_t)i * C, *restrict xi = x + (size_t)i * C;
            float *restrict dxi = dx + (size_t)i * C;
            float r = rstd[i], sgx = 0.0f;
#pragma omp simd reduction(+ : sgx)
            for (int c = 0; c < C; c++) {
                float xh = xi[c] * r;
                sgx += g[c] * w[c] * xh;
                pw[c] += g[c] * xh;
            }
            float mgx = sgx / (float)C;
#pragma omp simd
            for (int c = 0; c < C; c++) dxi[c] += (g[c] * w[c] - xi[c] * r * mgx) * r;
        }
#pragma omp ordered
#pragma omp simd
        for (int c = 0; c < C; c++) tot[c] += part[c];
    }
    if (dw)
#pragma omp simd
        for (int c = 0; c < C; c++) dw[c] += tot[c];
}

/* ---- GELU (tanh approximation) ------------------------------------------------------------ */

/* gelu(x) = 0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3)  (Hugging Face gelu_new,
 * PyTorch gelu(approximate='tanh')). With 0.5 (1 + tanh(u)) = sigmoid(2u) = s:
 *   gelu = x s,   gelu' = s + 2 x s (1 - s) u',   u' = sqrt(2/pi) (1 + 3 * 0.044715 x^2),
 * one exp per element and no cancellation in 1 + tanh for negative u. */
#define GELU_K 0.79788456080286535588f /* sqrt(2/pi) */
#define GELU_A 0.044715f

static void gelu_forward_block(float *out, const float *x, int n)
{
    int i = 0;
#ifdef __AVX512F__
    const __m512 k2 = _mm512_set1_ps(2.0f * GELU_K), a = _mm512_set1_ps(GELU_A);
    for (; i < n; i += 16) {
        __mmask16 mk = n - i >= 16 ? (__mmask16)0xFFFF : tail_mask(n - i);
        __m512 v = _mm512_maskz_loadu_ps(mk, x + i);
        __m512 u2 = _mm512_mul_ps(k2, _mm512_fmadd_ps(_mm512_mul_ps(a, v), _mm512_mul_ps(v, v), v));
        _mm512_mask_storeu_ps(out + i, mk, _mm512_mul_ps(v, sigmoid16(u2)));
    }
#endif
    for (; i < n; i++) {
        float v = x[i], u = GELU_K * (v + GELU_A * v * v * v);
        out[i] = v * sigmoid1(2.0f * u);
    }
}

static void gelu_backward_block(float *dx, const float *x, const float *dout, int n)
{
    int i = 0;
#ifdef __AVX512F__
    const __m512 k = _mm512_set1_ps(GELU_K), k2 = _mm512_set1_ps(2.0f * GELU_K),
                 a = _mm512_set1_ps(GELU_A), a3 = _mm512_set1_ps(3.0f * GELU_A),
                 one = _mm512_set1_ps(1.0f), two = _mm512_set1_ps(2.0f);
    for (; i < n; i += 16) {
        __mmask16 mk = n - i >= 16 ? (__mmask16)0xFFFF : tail_mask(n - i);
        __m512 v = _mm512_maskz_loadu_ps(mk, x + i), vv = _mm512_mul_ps(v, v);
        __m512 s = sigmoid16(_mm512_mul_ps(k2, _mm512_fmadd_ps(_mm512_mul_ps(a, v), vv, v)));
        __m512 du = _mm512_mul_ps(k, _mm512_fmadd_ps(a3, vv, one));
        __m512 t = _mm512_mul_ps(_mm512_mul_ps(_mm512_mul_ps(two, v), s),
                                 _mm512_mul_ps(_mm512_sub_ps(one, s), du));
        __m512 grad = _mm512_add_ps(s, t);
        __m512 d = _mm512_maskz_loadu_ps(mk, dx + i);
        _mm512_mask_storeu_ps(dx + i, mk,
                              _mm512_fmadd_ps(grad, _mm512_maskz_loadu_ps(mk, dout + i), d));
    }
#endif
    for (; i < n; i++) {
        float v = x[i];
        float s = sigmoid1(2.0f * GELU_K * (v + GELU_A * v * v * v));
        float du = GELU_K * (1.0f + 3.0f * GELU_A * v * v);
        float grad = s + 2.0f * v * s * ((1.0f - s) * du);
        dx[i] += grad * dout[i];
    }
}

void gelu_forward(float *out, const float *x, size_t n)
{
    size_t nblocks = (n + ELEM_BLOCK - 1) / ELEM_BLOCK;
#pragma omp parallel for schedule(static) if (nblocks > 1)
    for (size_t k = 0; k < nblocks; k++) {
        size_t i0 = k * ELEM_BLOCK;
        gelu_forward_block(out + i0, x + i0, (int)(n - i0 < ELEM_BLOCK ? n - i0 : ELEM_BLOCK));
    }
}

void gelu_backward(float *dx, const float *x, const float *dout, size_t n)
{
    size_t nblocks = (n + ELEM_BLOCK - 1) / ELEM_BLOCK;
#pragma omp parallel for schedule(static)
    for (size_t k = 0; k < nblocks; k++) {
        size_t i0 = k * ELEM_BLOCK;
        gelu_backward_block(dx + i0, x + i0, dout + i0,
                            (int)(n - i0 < ELEM_BLOCK ? n - i0 : ELEM_BLOCK));
    }
}

/* ---- SwiGLU --------------------------------------------------------------------------------- */

/* out = silu(g) u, silu(g) = g s, s = sigmoid(g);
 * dgate += dout u s (1 + g (1 - s)),  dup += dout g s. */
void swiglu_forward(float *out, const float *gu, int N, int F)
{
#pragma omp parallel for schedule(static) if (N > 1)
    for (int r = 0; r < N; r++) {
        const float *g = gu + (size_t)r * 2 * F, *u = g + F;
        float *o = out + (size_t)r * F;
        int i = 0;
#ifdef __AVX512F__
        for (; i < F; i += 16) {
            __mmask16 mk = F - i >= 16 ? (__mmask16)0xFFFF : tail_mask(F - i);
            __m512 gv = _mm512_maskz_loadu_ps(mk, g + i), uv = _mm512_maskz_loadu_ps(mk, u + i);
            _mm512_mask_storeu_ps(o + i, mk, _mm512_mul_ps(_mm512_mul_ps(gv, sigmoid16(gv)), uv));
        }
#endif
        for (; i < F; i++) o[i] = g[i] * sigmoid1(g[i]) * u[i];
    }
}

void swiglu_backward(float *dgu, const float *dout, const float *gu, int N, int F)
{
#pragma omp parallel for schedule(static)
    for (int r = 0; r < N; r++) {
        const float *g = gu + (size_t)r * 2 * F, *u = g + F, *d = dout + (size_t)r * F;
        float *dg = dgu + (size_t)r * 2 * F, *du = dg + F;
        int i = 0;
#ifdef __AVX512F__
        const __m512 one = _mm512_set1_ps(1.0f);
        for (; i < F; i += 16) {
            __mmask16 mk = F - i >= 16 ? (__mmask16)0xFFFF : tail_mask(F - i);
            __m512 gv = _mm512_maskz_loadu_ps(mk, g + i), uv = _mm512_maskz_loadu_ps(mk, u + i);
            __m512 dv = _mm512_maskz_loadu_ps(mk, d + i), s = sigmoid16(gv);
            __m512 dsilu = _mm512_mul_ps(s, _mm512_fmadd_ps(gv, _mm512_sub_ps(one, s), one));
            __m512 dgv = _mm512_mul_ps(_mm512_mul_ps(dv, uv), dsilu);
            __m512 duv = _mm512_mul_ps(dv, _mm512_mul_ps(gv, s));
            dgv = _mm512_add_ps(_mm512_maskz_loadu_ps(mk, dg + i), dgv);
            duv = _mm512_add_ps(_mm512_maskz_loadu_ps(mk, du + i), duv);
            _mm512_mask_storeu_ps(dg + i, mk, dgv);
            _mm512_mask_storeu_ps(du + i, mk, duv);
        }
#endif
        for (; i < F; i++) {
            float s = sigmoid1(g[i]);
            dg[i] += d[i] * u[i] * (s * (1.0f + g[i] * (1.0f - s)));
            du[i] += d[i] * (g[i] * s);
        }
    }
}

/* ---- softmax + cross-entropy ---------------------------------------------------------------- */

/* A row of V = 50257 floats is 200 KB: it comes from memory once (the max pass) and stays in L2
 * for the exp-sum and gradient passes, so the layer costs one read and one write of the logits.
 * Sums of exp are in float over many lanes (each term <= 1; ~V/64 terms per lane, relative error
 * ~1e-6 at worst), the loss in double. */

float vec_max(const float *x, int V)
{
    int j = 0;
#ifdef __AVX512F__
    __m512 m0 = _mm512_set1_ps(-INFINITY), m1 = m0, m2 = m0, m3 = m0;
    for (; j + 64 <= V; j += 64) {
        m0 = _mm512_max_ps(m0, _mm512_loadu_ps(x + j));
        m1 = _mm512_max_ps(m1, _mm512_loadu_ps(x + j + 16));
        m2 = _mm512_max_ps(m2, _mm512_loadu_ps(x + j + 32));
        m3 = _mm512_max_ps(m3, _mm512_loadu_ps(x + j + 48));
    }
    for (; j < V; j += 16) {
        __mmask16 mk = V - j >= 16 ? (__mmask16)0xFFFF : tail_mask(V - j);
        m0 = _mm512_max_ps(m0, _mm512_mask_loadu_ps(_mm512_set1_ps(-INFINITY), mk, x + j));
    }
    return _mm512_reduce_max_ps(_mm512_max_ps(_mm512_max_ps(m0, m1), _mm512_max_ps(m2, m3)));
#else
    float m = -INFINITY;
    for (; j < V; j++) m = x[j] > m ? x[j] : m;
    return m;
#endif
}

float vec_exp_sum(float *e, const float *x, float m, int V)
{
    int j = 0;
#ifdef __AVX512F__
    __m512 mv = _mm512_set1_ps(m), s0 = _mm512_setzero_ps(), s1 = s0;
    for (; j + 32 <= V; j += 32) {
        __m512 e0 = hlm_exp16(_mm512_sub_ps(_mm512_loadu_ps(x + j), mv));
        __m512 e1 = hlm_exp16(_mm512_sub_ps(_mm512_loadu_ps(x + j + 16), mv));
        if (e) {
            _mm512_storeu_ps(e + j, e0);
            _mm512_storeu_ps(e + j + 16, e1);
        }
        s0 = _mm512_add_ps(s0, e0);
        s1 = _mm512_add_ps(s1, e1);
    }
    for (; j < V; j += 16) {
        __mmask16 mk = V - j >= 16 ? (__mmask16)0xFFFF : tail_mask(V - j);
        __m512 e0 = hlm_exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(mk, x + j), mv));
        if (e) _mm512_mask_storeu_ps(e + j, mk, e0);
        s0 = _mm512_mask_add_ps(s0, mk, s0, e0);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
#else
    float s = 0.0f;
#pragma omp simd reduction(+ : s)
    for (j = 0; j < V; j++) {
        float v = expf(x[j] - m);
        if (e) e[j] = v;
        s += v;
    }
    return s;
#endif
}

/* Targets outside [0, V) are treated like -1. The model only passes -1 or valid ids; this keeps
 * a bad id from reading outside the row. */
static inline bool target_valid(int32_t t, int V) { return t >= 0 && t < V; }

double softmax_xent_forward_backward(float *logits, float *losses, const int32_t *targets, int N,
                                     int V, int n_valid, float loss_scale)
{
    float scale = n_valid > 0 ? loss_scale / (float)n_valid : 0.0f;
#pragma omp parallel for schedule(static)
    for (int i = 0; i < N; i++) {
        float *row = logits + (size_t)i * V;
        int32_t t = targets[i];
        if (!target_valid(t, V)) {
            memset(row, 0, (size_t)V * sizeof *row);
            losses[i] = 0.0f;
            continue;
        }
        float xt = row[t], m = vec_max(row, V);
        float sum = vec_exp_sum(row, row, m, V); /* row now holds exp(x - m) */
        losses[i] = (float)(log((double)sum) - ((double)xt - (double)m));
        float p_scale = scale / sum, et = row[t];
        int j = 0;
#ifdef __AVX512F__
        __m512 ps = _mm512_set1_ps(p_scale);
        for (; j + 16 <= V; j += 16)
            _mm512_storeu_ps(row + j, _mm512_mul_ps(_mm512_loadu_ps(row + j), ps));
#endif
#pragma omp simd
        for (int jj = j; jj < V; jj++) row[jj] *= p_scale;
        row[t] = et * p_scale - scale;
    }
    double total = 0.0; /* in row order: the same bits for any thread count */
    for (int i = 0; i < N; i++) total += losses[i];
    return total;
}

double softmax_xent_forward(const float *logits, float *losses, const int32_t *targets, int N,
                            int V)
{
#pragma omp parallel for schedule(static)
    for (int i = 0; i < N; i++) {
        const float *row = logits + (size_t)i * V;
        int32_t t = targets[i];
        if (!target_valid(t, V)) {
            losses[i] = 0.0f;
            continue;
        }
        float m = vec_max(row, V), sum = vec_exp_sum(NULL, row, m, V);
        losses[i] = (float)(log((double)sum) - ((double)row[t] - (double)m));
    }
    double total = 0.0;
    for (int i = 0; i < N; i++) total += losses[i];
    return total;
}
