/* Layers (src/model/layers.c) and the gemm wrapper (src/model/gemm.c).
 *
 * References, all written here in double precision on the same (float) inputs:
 * - forward: the textbook formula of each layer (GELU with tanh, as PyTorch's
 *   gelu(approximate='tanh'); log-sum-exp for the cross-entropy);
 * - backward: central finite differences of L = sum(out * R), R fixed random, on the double
 *   forward, so each float gradient is checked against an independent numerical gradient and
 *   not against the same formula written twice.
 * Tolerances (check_close): |got - want| <= rtol |want| + atol max|want|. Float kernels round
 * each of up to C terms of a sum (relative 6e-8 each, growing like sqrt(C) to ~1e-6), the finite
 * differences (double, step 1e-4 relative to the input) are accurate to ~1e-8; so rtol = 1e-4
 * with atol = 1e-5 bounds rounding with a wide margin (observed errors use at most 8% of it)
 * while any wrong term of a formula gives errors of order 1e-1.
 * Also: the accumulate convention (backward twice gives twice one backward), the same bits
 * with 1, 2 and 3 threads, odd sizes that leave vector tails and cross the 64-row chunks and
 * 64-column tiles of the kernels, and special values (NaN, Inf, huge logits). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model/gemm.h"
#include "model/layers.h"

#include "xorshift.h"

static float *frand(size_t n, float a)
{
    float *p = malloc(n * sizeof *p);
    assert_non_null(p);
    for (size_t i = 0; i < n; i++) p[i] = a * urand(); /* uniform in [-a, a) */
    return p;
}
static float *fzero(size_t n)
{
    float *p = calloc(n ? n : 1, sizeof *p);
    assert_non_null(p);
    return p;
}
static float *fcopy(const float *s, size_t n)
{
    float *p = malloc(n * sizeof *p);
    assert_non_null(p);
    memcpy(p, s, n * sizeof *p);
    return p;
}
static double *dcopy(const float *s, size_t n)
{
    double *p = malloc((n ? n : 1) * sizeof *p);
    assert_non_null(p);
    for (size_t i = 0; i < n; i++) p[i] = s[i];
    return p;
}
static double *dalloc(size_t n)
{
    double *p = calloc(n ? n : 1, sizeof *p);
    assert_non_null(p);
    return p;
}

#define RTOL 1e-4
#define ATOL 1e-5

static void check_close_(const float *got, const double *want, size_t n, double rtol, double atol,
                         const char *what, int line)
{
    double scale = 0.0;
    for (size_t i = 0; i < n; i++) scale = fmax(scale, fabs(want[i]));
    for (size_t i = 0; i < n; i++) {
        double err = fabs((double)got[i] - want[i]);
        if (!(err <= rtol * fabs(want[i]) + atol * scale)) {
            fprintf(stderr, "line %d: %s[%zu] = %.9g, want %.9g (|err| %.3g, scale %.3g)\n", line,
                    what, i, got[i], want[i], err, scale);
            fail();
        }
    }
}
#define check_close(got, want, n, what) check_close_(got, want, n, RTOL, ATOL, what, __LINE__)

static void assert_same_bits(const float *a, const float *b, size_t n)
{
    assert_memory_equal(a, b, n * sizeof *a);
}
static void assert_doubled(const float *twice, const float *once, size_t n)
{
    for (size_t i = 0; i < n; i++) assert_true(twice[i] == 2.0f * once[i]);
}

/* Central difference dL/dp[k] for every k, p being one of the double inputs of obj. */
typedef double (*objective)(void *ctx);
static void fd_grad(double *grad, double *p, size_t n, objective obj, void *ctx)
{
    for (size_t k = 0; k < n; k++) {
        double save = p[k], h = 1e-4 * fmax(1e-2, fabs(save));
        p[k] = save + h;
        double lp = obj(ctx);
        p[k] = save - h;
        double lm = obj(ctx);
        p[k] = save;
        grad[k] = (lp - lm) / (2.0 * h);
    }
}

static double dot_r(const double *out, const double *r, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += out[i] * r[i];
    return s;
}

/* ---- gemm --------------------------------------------------------------------------------- */

/* C = alpha op(A) op(B) + beta C in double; A, B, C row-major with strides. */
static void ref_gemm(bool ta, bool tb, int M, int N, int K, double alpha, const float *A, int lda,
                     const float *B, int ldb, double beta, const float *C0, int ldc, double *C)
{
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double acc = 0.0;
            for (int k = 0; k < K; k++)
                acc += (double)(ta ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k]) *
                       (tb ? B[(size_t)j * ldb + k] : B[(size_t)k * ldb + j]);
            double c0 = beta == 0.0 ? 0.0 : beta * C0[(size_t)i * ldc + j];
            C[(size_t)i * N + j] = alpha * acc + c0;
        }
}

static void test_gemm_orientations(void **state)
{
    (void)state;
    const int M = 7, N = 5, K = 13, pad = 3;
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            int lda = (ta ? M : K) + pad, ldb = (tb ? K : N) + pad, ldc = N + pad;
            float *A = frand((size_t)(ta ? K : M) * lda, 1.0f);
            float *B = frand((size_t)(tb ? N : K) * ldb, 1.0f);
            float *C = frand((size_t)M * ldc, 1.0f), *C0 = fcopy(C, (size_t)M * ldc);
            double *want = dalloc((size_t)M * N);
            ref_gemm(ta, tb, M, N, K, 0.5, A, lda, B, ldb, 2.0, C0, ldc, want);
            hlm_sgemm(ta, tb, M, N, K, 0.5f, A, lda, B, ldb, 2.0f, C, ldc);
            for (int i = 0; i < M; i++) {
                check_close(C + (size_t)i * ldc, want + (size_t)i * N, (size_t)N, "C");
                for (int j = N; j < ldc; j++) /* padding untouched */
                    assert_true(C[(size_t)i * ldc + j] == C0[(size_t)i * ldc + j]);
            }
            free(A), free(B), free(C), free(C0), free(want);
        }
}

/* beta = 0 must not read C (BLAS rule: it may hold NaN); K = 0 leaves beta * C. */
static void test_gemm_beta_zero_and_empty(void **state)
{
    (void)state;
    const int M = 4, N = 6, K = 9;
    float *A = frand((size_t)M * K, 1.0f), *B = frand((size_t)K * N, 1.0f);
    float *C = fzero((size_t)M * N);
    for (int i = 0; i < M * N; i++) C[i] = NAN;
    double *want = dalloc((size_t)M * N);
    ref_gemm(false, false, M, N, K, 1.0, A, K, B, N, 0.0, C, N, want);
    hlm_sgemm(false, false, M, N, K, 1.0f, A, K, B, N, 0.0f, C, N);
    check_close(C, want, (size_t)M * N, "C");
    for (int i = 0; i < M * N; i++) C[i] = 3.0f;
    hlm_sgemm(false, false, M, N, 0, 1.0f, A, K, B, N, 0.5f, C, N);
    for (int i = 0; i < M * N; i++) assert_true(C[i] == 1.5f);
    free(A), free(B), free(C), free(want);
}

static void test_threads(void **state)
{
    (void)state;
    int before = hlm_get_threads();
    hlm_set_threads(3);
#ifdef _OPENMP
    assert_int_equal(hlm_get_threads(), 3);
    hlm_set_threads(0);
    assert_int_equal(hlm_get_threads(), (int)sysconf(_SC_NPROCESSORS_ONLN));
#endif
    hlm_set_threads(before);
}

/* ---- embedding ---------------------------------------------------------------------------- */

typedef struct {
    int B, T, C;
    const int32_t *tok;
    double *wte, *wpe, *r;
} emb_ctx;

static void ref_embedding(double *out, const emb_ctx *e)
{
    for (int i = 0; i < e->B * e->T; i++)
        for (int c = 0; c < e->C; c++)
            out[(size_t)i * e->C + c] = e->wte[(size_t)e->tok[i] * e->C + c] +
                                        (e->wpe ? e->wpe[(size_t)(i % e->T) * e->C + c] : 0.0);
}
static double emb_obj(void *ctx)
{
    emb_ctx *e = ctx;
    size_t n = (size_t)e->B * e->T * e->C;
    double *out = dalloc(n);
    ref_embedding(out, e);
    double l = dot_r(out, e->r, n);
    free(out);
    return l;
}

static void test_embedding(void **state)
{
    (void)state;
    /* C = 70: two channel tiles, the second partial; tokens repeat */
    const int B = 2, T = 3, C = 70, V = 5, maxT = 4, N = B * T;
    const int32_t tok[6] = {3, 1, 3, 0, 3, 4};
    float *wte = frand((size_t)V * C, 1.0f), *wpe = frand((size_t)maxT * C, 1.0f);
    float *R = frand((size_t)N * C, 1.0f), *out = fzero((size_t)N * C);
    emb_ctx e = {B, T, C, tok, dcopy(wte, (size_t)V * C), dcopy(wpe, (size_t)maxT * C),
                 dcopy(R, (size_t)N * C)};
    double *want = dalloc((size_t)N * C);
    for (int with_pos = 0; with_pos < 2; with_pos++) {
        emb_ctx ec = e;
        if (!with_pos) ec.wpe = NULL;
        embedding_forward(out, tok, wte, with_pos ? wpe : NULL, B, T, C);
        ref_embedding(want, &ec);
        for (size_t i = 0; i < (size_t)N * C; i++) assert_true(out[i] == (float)want[i]);

        float *dwte = fzero((size_t)V * C), *dwpe = fzero((size_t)maxT * C);
        embedding_backward(dwte, with_pos ? dwpe : NULL, R, tok, B, T, C);
        double *g = dalloc((size_t)V * C);
        fd_grad(g, ec.wte, (size_t)V * C, emb_obj, &ec);
        check_close(dwte, g, (size_t)V * C, "dwte");
        if (with_pos) {
            fd_grad(g, ec.wpe, (size_t)maxT * C, emb_obj, &ec);
            /* rows t >= T get no gradient: compared as zeros */
            check_close(dwpe, g, (size_t)maxT * C, "dwpe");
        } else {
            for (size_t i = 0; i < (size_t)maxT * C; i++) assert_true(dwpe[i] == 0.0f);
        }
        /* accumulate: a second call adds the same again */
        float *once = fcopy(dwte, (size_t)V * C);
        embedding_backward(dwte, NULL, R, tok, B, T, C);
        double *w2 = dalloc((size_t)V * C);
        for (size_t i = 0; i < (size_t)V * C; i++) w2[i] = 2.0 * once[i];
        check_close_(dwte, w2, (size_t)V * C, 1e-6, 0.0, "dwte twice", __LINE__);
        free(dwte), free(dwpe), free(g), free(once), free(w2);
    }
    free(wte), free(wpe), free(R), free(out), free(want), free(e.wte), free(e.wpe), free(e.r);
}

/* ---- matmul ------------------------------------------------------------------------------- */

typedef struct {
    int N, K, M;
    bool out_in;
    double *x, *w, *b, *r;
} mm_ctx;

static void ref_matmul(double *y, const mm_ctx *m)
{
    for (int i = 0; i < m->N; i++)
        for (int j = 0; j < m->M; j++) {
            double acc = m->b ? m->b[j] : 0.0;
            for (int k = 0; k < m->K; k++)
                acc += m->x[(size_t)i * m->K + k] *
                       (m->out_in ? m->w[(size_t)j * m->K + k] : m->w[(size_t)k * m->M + j]);
            y[(size_t)i * m->M + j] = acc;
        }
}
static double mm_obj(void *ctx)
{
    mm_ctx *m = ctx;
    size_t n = (size_t)m->N * m->M;
    double *y = dalloc(n);
    ref_matmul(y, m);
    double l = dot_r(y, m->r, n);
    free(y);
    return l;
}

static void matmul_case(int N, int K, int M, bool out_in, bool bias, bool fd)
{
    size_t nx = (size_t)N * K, nw = (size_t)K * M, ny = (size_t)N * M;
    float *x = frand(nx, 1.0f), *w = frand(nw, 1.0f), *b = bias ? frand((size_t)M, 1.0f) : NULL;
    float *R = frand(ny, 1.0f), *y = frand(ny, 1.0f); /* y garbage: forward overwrites */
    mm_ctx m = {N, K, M, out_in, dcopy(x, nx), dcopy(w, nw), bias ? dcopy(b, (size_t)M) : NULL,
                dcopy(R, ny)};
    double *want = dalloc(ny);
    matmul_forward(y, x, w, b, N, K, M, out_in);
    ref_matmul(want, &m);
    check_close(y, want, ny, "y");

    float *dx = fzero(nx), *dw = fzero(nw), *db = fzero((size_t)M);
    matmul_backward(dx, dw, bias ? db : NULL, R, x, w, N, K, M, out_in);
    if (fd) {
        double *g = dalloc(nx + nw);
        fd_grad(g, m.x, nx, mm_obj, &m);
        check_close(dx, g, nx, "dx");
        fd_grad(g, m.w, nw, mm_obj, &m);
        check_close(dw, g, nw, "dw");
        if (bias) {
            fd_grad(g, m.b, (size_t)M, mm_obj, &m);
            check_close(db, g, (size_t)M, "db");
        }
        free(g);
    }
    /* accumulate: twice from zero. The gemm may add C between blocks of K, so dx, dw are
     * compared to a relative 1e-6; the bias gradient is added once, so it doubles exactly. */
    float *dx1 = fcopy(dx, nx), *dw1 = fcopy(dw, nw), *db1 = fcopy(db, (size_t)M);
    matmul_backward(dx, dw, bias ? db : NULL, R, x, w, N, K, M, out_in);
    double *t = dalloc(nx + nw);
    for (size_t i = 0; i < nx; i++) t[i] = 2.0 * dx1[i];
    check_close_(dx, t, nx, 1e-6, 1e-7, "dx twice", __LINE__);
    for (size_t i = 0; i < nw; i++) t[i] = 2.0 * dw1[i];
    check_close_(dw, t, nw, 1e-6, 1e-7, "dw twice", __LINE__);
    assert_doubled(db, db1, (size_t)M);
    /* NULL gradients are skipped */
    float *dx2 = fcopy(dx, nx);
    matmul_backward(dx2, NULL, NULL, R, x, w, N, K, M, out_in);
    matmul_backward(NULL, NULL, NULL, R, x, w, N, K, M, out_in);
    free(x), free(w), free(b), free(R), free(y), free(want), free(dx), free(dw), free(db);
    free(dx1), free(dw1), free(db1), free(dx2), free(t);
    free(m.x), free(m.w), free(m.b), free(m.r);
}

static void test_matmul(void **state)
{
    (void)state;
    for (int out_in = 0; out_in < 2; out_in++)
        for (int bias = 0; bias < 2; bias++) {
            matmul_case(7, 13, 5, out_in, bias, true);
            matmul_case(67, 96, 130, out_in, bias, false); /* forward at gemm-kernel sizes */
        }
}

/* ---- LayerNorm ---------------------------------------------------------------------------- */

typedef struct {
    int N, C;
    double eps, *x, *w, *b, *r;
} norm_ctx;

static void ref_layernorm(double *out, double *mean, double *rstd, const norm_ctx *n)
{
    for (int i = 0; i < n->N; i++) {
        const double *x = n->x + (size_t)i * n->C;
        double m = 0.0, v = 0.0;
        for (int c = 0; c < n->C; c++) m += x[c];
        m /= n->C;
        for (int c = 0; c < n->C; c++) v += (x[c] - m) * (x[c] - m);
        double r = 1.0 / sqrt(v / n->C + n->eps);
        for (int c = 0; c < n->C; c++)
            out[(size_t)i * n->C + c] = (x[c] - m) * r * n->w[c] + n->b[c];
        if (mean) mean[i] = m;
        if (rstd) rstd[i] = r;
    }
}
static double ln_obj(void *ctx)
{
    norm_ctx *n = ctx;
    size_t sz = (size_t)n->N * n->C;
    double *out = dalloc(sz);
    ref_layernorm(out, NULL, NULL, n);
    double l = dot_r(out, n->r, sz);
    free(out);
    return l;
}

/* xscale 1e-3: variance ~ eps, so eps matters; offset: |mean| >> std in row 1 */
static void layernorm_case(float xscale, float offset)
{
    const int N = 5, C = 37;
    const float eps = 1e-5f;
    size_t nx = (size_t)N * C;
    float *x = frand(nx, 2.0f * xscale), *w = frand((size_t)C, 1.0f), *b = frand((size_t)C, 1.0f);
    for (int i = 0; i < C; i++) x[C + i] += offset;
    float *R = frand(nx, 1.0f), *out = fzero(nx);
    float *mean = fzero((size_t)N), *rstd = fzero((size_t)N);
    norm_ctx n = {N, C, eps, dcopy(x, nx), dcopy(w, (size_t)C), dcopy(b, (size_t)C), dcopy(R, nx)};
    double *want = dalloc(nx), *wm = dalloc((size_t)N), *wr = dalloc((size_t)N);
    layernorm_forward(out, mean, rstd, x, w, b, N, C, eps);
    ref_layernorm(want, wm, wr, &n);
    check_close(out, want, nx, "out");
    check_close(mean, wm, (size_t)N, "mean");
    check_close(rstd, wr, (size_t)N, "rstd");

    float *dx = fzero(nx), *dw = fzero((size_t)C), *db = fzero((size_t)C);
    layernorm_backward(dx, dw, db, R, x, w, mean, rstd, N, C);
    double *g = dalloc(nx);
    fd_grad(g, n.x, nx, ln_obj, &n);
    check_close(dx, g, nx, "dx");
    fd_grad(g, n.w, (size_t)C, ln_obj, &n);
    check_close(dw, g, (size_t)C, "dw");
    fd_grad(g, n.b, (size_t)C, ln_obj, &n);
    check_close(db, g, (size_t)C, "db");

    /* accumulate: each gradient is added once per call, so twice from zero is exactly double */
    float *dx1 = fcopy(dx, nx), *dw1 = fcopy(dw, (size_t)C), *db1 = fcopy(db, (size_t)C);
    layernorm_backward(dx, dw, db, R, x, w, mean, rstd, N, C);
    assert_doubled(dx, dx1, nx);
    assert_doubled(dw, dw1, (size_t)C);
    assert_doubled(db, db1, (size_t)C);

    /* fused residual: res = a + b exactly, then the same LayerNorm; res may be a itself */
    float *a = frand(nx, 1.0f), *bb = frand(nx, 1.0f), *res = fzero(nx), *out2 = fzero(nx);
    float *mean2 = fzero((size_t)N), *rstd2 = fzero((size_t)N);
    residual_layernorm_forward(res, out2, mean2, rstd2, a, bb, w, b, N, C, eps);
    for (size_t i = 0; i < nx; i++) assert_true(res[i] == a[i] + bb[i]);
    layernorm_forward(out, mean, rstd, res, w, b, N, C, eps);
    assert_same_bits(out2, out, nx);
    assert_same_bits(mean2, mean, (size_t)N);
    assert_same_bits(rstd2, rstd, (size_t)N);
    residual_layernorm_forward(a, out2, mean2, rstd2, a, bb, w, b, N, C, eps);
    assert_same_bits(a, res, nx);
    assert_same_bits(out2, out, nx);

    free(x), free(w), free(b), free(R), free(out), free(mean), free(rstd), free(want), free(wm);
    free(wr), free(dx), free(dw), free(db), free(g), free(dx1), free(dw1), free(db1), free(a);
    free(bb), free(res), free(out2), free(mean2), free(rstd2);
    free(n.x), free(n.w), free(n.b), free(n.r);
}

static void test_layernorm(void **state)
{
    (void)state;
    layernorm_case(1.0f, 100.0f);
    layernorm_case(1e-3f, 0.0f);
}

/* ---- RMSNorm ------------------------------------------------------------------------------ */

static void ref_rmsnorm(double *out, double *rstd, const norm_ctx *n)
{
    for (int i = 0; i < n->N; i++) {
        const double *x = n->x + (size_t)i * n->C;
        double s = 0.0;
        for (int c = 0; c < n->C; c++) s += x[c] * x[c];
        double r = 1.0 / sqrt(s / n->C + n->eps);
        for (int c = 0; c < n->C; c++) out[(size_t)i * n->C + c] = x[c] * r * n->w[c];
        if (rstd) rstd[i] = r;
    }
}
static double rms_obj(void *ctx)
{
    norm_ctx *n = ctx;
    size_t sz = (size_t)n->N * n->C;
    double *out = dalloc(sz);
    ref_rmsnorm(out, NULL, n);
    double l = dot_r(out, n->r, sz);
    free(out);
    return l;
}

/* xscale 1e-3: mean(x^2) ~ eps, so eps matters */
static void rmsnorm_case(float xscale)
{
    const int N = 5, C = 37;
    const float eps = 1e-6f;
    size_t nx = (size_t)N * C;
    float *x = frand(nx, 2.0f * xscale), *w = frand((size_t)C, 1.0f);
    float *R = frand(nx, 1.0f), *out = fzero(nx), *rstd = fzero((size_t)N);
    norm_ctx n = {N, C, eps, dcopy(x, nx), dcopy(w, (size_t)C), NULL, dcopy(R, nx)};
    double *want = dalloc(nx), *wr = dalloc((size_t)N);
    rmsnorm_forward(out, rstd, x, w, N, C, eps);
    ref_rmsnorm(want, wr, &n);
    check_close(out, want, nx, "out");
    check_close(rstd, wr, (size_t)N, "rstd");

    float *dx = fzero(nx), *dw = fzero((size_t)C);
    rmsnorm_backward(dx, dw, R, x, w, rstd, N, C);
    double *g = dalloc(nx);
    fd_grad(g, n.x, nx, rms_obj, &n);
    check_close(dx, g, nx, "dx");
    fd_grad(g, n.w, (size_t)C, rms_obj, &n);
    check_close(dw, g, (size_t)C, "dw");

    float *dx1 = fcopy(dx, nx), *dw1 = fcopy(dw, (size_t)C);
    rmsnorm_backward(dx, dw, R, x, w, rstd, N, C);
    assert_doubled(dx, dx1, nx);
    assert_doubled(dw, dw1, (size_t)C);

    float *a = frand(nx, 1.0f), *bb = frand(nx, 1.0f), *res = fzero(nx), *out2 = fzero(nx);
    float *rstd2 = fzero((size_t)N);
    residual_rmsnorm_forward(res, out2, rstd2, a, bb, w, N, C, eps);
    for (size_t i = 0; i < nx; i++) assert_true(res[i] == a[i] + bb[i]);
    rmsnorm_forward(out, rstd, res, w, N, C, eps);
    assert_same_bits(out2, out, nx);
    assert_same_bits(rstd2, rstd, (size_t)N);
    residual_rmsnorm_forward(bb, out2, rstd2, a, bb, w, N, C, eps); /* res is b */
    assert_same_bits(bb, res, nx);
    assert_same_bits(out2, out, nx);

    free(x), free(w), free(R), free(out), free(rstd), free(want), free(wr), free(dx), free(dw);
    free(g), free(dx1), free(dw1), free(a), free(bb), free(res), free(out2), free(rstd2);
    free(n.x), free(n.w), free(n.r);
}

static void test_rmsnorm(void **state)
{
    (void)state;
    rmsnorm_case(1.0f);
    rmsnorm_case(1e-3f);
}

/* ---- GELU --------------------------------------------------------------------------------- */

static double ref_gelu(double x)
{
    return 0.5 * x * (1.0 + tanh(sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
}

typedef struct {
    size_t n;
    double *x, *r;
} ew_ctx;
static double gelu_obj(void *ctx)
{
    ew_ctx *e = ctx;
    double l = 0.0;
    for (size_t i = 0; i < e->n; i++) l += ref_gelu(e->x[i]) * e->r[i];
    return l;
}

static void test_gelu(void **state)
{
    (void)state;
    /* 5000 > one 4096-element task, and a 16-lane tail */
    const size_t n = 5003;
    float *x = frand(n, 6.0f), *R = frand(n, 1.0f), *out = fzero(n), *dx = fzero(n);
    x[0] = 0.0f, x[1] = -12.0f, x[2] = 12.0f, x[3] = 1e-20f, x[4] = -30.0f;
    double *want = dalloc(n);
    gelu_forward(out, x, n);
    for (size_t i = 0; i < n; i++) want[i] = ref_gelu(x[i]);
    /* exp within 2 ulp and ~5 more roundings: relative 2e-6 at most; the absolute part covers
     * the far negative tail, where PyTorch's float tanh itself returns 0 */
    check_close_(out, want, n, 2e-6, 1e-9, "gelu", __LINE__);

    gelu_backward(dx, x, R, n);
    /* finite differences over the first 300 elements (each element's derivative independently
     * of the others: the layer is element-wise, so L = sum R gelu(x) splits) */
    const size_t nf = 300;
    ew_ctx e = {nf, dcopy(x, nf), dcopy(R, nf)};
    double *g = dalloc(nf);
    fd_grad(g, e.x, nf, gelu_obj, &e);
    check_close(dx, g, nf, "dx");
    float *dx1 = fcopy(dx, n);
    gelu_backward(dx, x, R, n);
    assert_doubled(dx, dx1, n);

    /* special values: NaN stays NaN, +Inf -> +Inf, -Inf -> NaN (as PyTorch: -Inf * 0) */
    float sx[3] = {NAN, INFINITY, -INFINITY}, so[3];
    gelu_forward(so, sx, 3);
    assert_true(isnan(so[0]));
    assert_true(so[1] == INFINITY);
    assert_true(isnan(so[2]));
    float sd[3] = {0}, ones[3] = {1, 1, 1};
    gelu_backward(sd, sx, ones, 3);
    assert_true(isnan(sd[0]));

    free(x), free(R), free(out), free(dx), free(want), free(g), free(dx1), free(e.x), free(e.r);
}

/* ---- SwiGLU ------------------------------------------------------------------------------- */

typedef struct {
    int N, F;
    double *gu, *r;
} sw_ctx;
static void ref_swiglu(double *out, const sw_ctx *s)
{
    for (int i = 0; i < s->N; i++)
        for (int j = 0; j < s->F; j++) {
            double g = s->gu[(size_t)i * 2 * s->F + j], u = s->gu[(size_t)i * 2 * s->F + s->F + j];
            out[(size_t)i * s->F + j] = g / (1.0 + exp(-g)) * u;
        }
}
static double sw_obj(void *ctx)
{
    sw_ctx *s = ctx;
    size_t n = (size_t)s->N * s->F;
    double *out = dalloc(n);
    ref_swiglu(out, s);
    double l = dot_r(out, s->r, n);
    free(out);
    return l;
}

static void test_swiglu(void **state)
{
    (void)state;
    const int N = 3, F = 37;
    size_t ngu = (size_t)N * 2 * F, no = (size_t)N * F;
    float *gu = frand(ngu, 5.0f), *R = frand(no, 1.0f), *out = fzero(no), *dgu = fzero(ngu);
    sw_ctx s = {N, F, dcopy(gu, ngu), dcopy(R, no)};
    double *want = dalloc(no);
    swiglu_forward(out, gu, N, F);
    ref_swiglu(want, &s);
    check_close_(out, want, no, 2e-6, 1e-9, "swiglu", __LINE__);
    swiglu_backward(dgu, R, gu, N, F);
    double *g = dalloc(ngu);
    fd_grad(g, s.gu, ngu, sw_obj, &s);
    check_close(dgu, g, ngu, "dgu");
    float *d1 = fcopy(dgu, ngu);
    swiglu_backward(dgu, R, gu, N, F);
    assert_doubled(dgu, d1, ngu);
    free(gu), free(R), free(out), free(dgu), free(want), free(g), free(d1), free(s.gu), free(s.r);
}

/* ---- softmax + cross-entropy -------------------------------------------------------------- */

typedef struct {
    int N, V, n_valid;
    double scale, *logits;
    const int32_t *tgt;
} xent_ctx;
/* loss_scale * mean over valid rows of (logsumexp(row) - row[target]); per-row losses too. */
static double ref_xent(const xent_ctx *x, double *losses)
{
    double total = 0.0;
    for (int i = 0; i < x->N; i++) {
        const double *row = x->logits + (size_t)i * x->V;
        double l = 0.0;
        if (x->tgt[i] != -1) {
            double m = -INFINITY, s = 0.0;
            for (int j = 0; j < x->V; j++) m = fmax(m, row[j]);
            for (int j = 0; j < x->V; j++) s += exp(row[j] - m);
            l = m + log(s) - row[x->tgt[i]];
        }
        if (losses) losses[i] = l;
        total += l;
    }
    return total;
}
static double xent_obj(void *ctx)
{
    xent_ctx *x = ctx;
    return x->scale * ref_xent(x, NULL) / x->n_valid;
}

static void xent_case(int N, int V, const int32_t *tgt, float spread, float loss_scale, bool fd)
{
    size_t n = (size_t)N * V;
    float *logits = frand(n, spread);
    logits[0] += 20000.0f; /* a huge logit: exp without max-subtraction would overflow */
    int n_valid = 0;
    for (int i = 0; i < N; i++) n_valid += tgt[i] != -1;
    xent_ctx xc = {N, V, n_valid, loss_scale, dcopy(logits, n), tgt};
    double *wl = dalloc((size_t)N);
    double want_total = ref_xent(&xc, wl);

    float *losses = fzero((size_t)N), *losses2 = fzero((size_t)N);
    double total = softmax_xent_forward(logits, losses2, tgt, N, V);
    float *grad = fcopy(logits, n);
    double total2 = softmax_xent_forward_backward(grad, losses, tgt, N, V, n_valid, loss_scale);
    /* the loss is log-sum-exp minus a logit: float terms of size ~|logit|, so an absolute 1e-6
     * of the largest loss plus a relative 1e-5 */
    check_close_(losses, wl, (size_t)N, 1e-5, 1e-6, "loss", __LINE__);
    assert_true(fabs(total - want_total) <= 1e-5 * fabs(want_total) + 1e-5);
    assert_true(total2 == total);                    /* same sums, same order */
    assert_same_bits(losses, losses2, (size_t)N);

    /* analytic gradient in double: loss_scale / n_valid (softmax - onehot) */
    double *wg = dalloc(n);
    for (int i = 0; i < N; i++) {
        if (tgt[i] == -1) continue;
        const double *row = xc.logits + (size_t)i * V;
        double m = -INFINITY, s = 0.0;
        for (int j = 0; j < V; j++) m = fmax(m, row[j]);
        for (int j = 0; j < V; j++) s += exp(row[j] - m);
        for (int j = 0; j < V; j++)
            wg[(size_t)i * V + j] = loss_scale / n_valid * (exp(row[j] - m) / s - (j == tgt[i]));
    }
    for (int i = 0; i < N; i++) /* ignored rows: zero gradient, zero loss */
        if (tgt[i] == -1) {
            assert_true(losses[i] == 0.0f);
            for (int j = 0; j < V; j++) assert_true(grad[(size_t)i * V + j] == 0.0f);
        }
    check_close_(grad, wg, n, 1e-5, 1e-7, "dlogits", __LINE__);
    if (fd) {
        double *g = dalloc(n);
        fd_grad(g, xc.logits, n, xent_obj, &xc);
        check_close(grad, g, n, "dlogits (finite differences)");
        free(g);
    }
    free(logits), free(losses), free(losses2), free(grad), free(wl), free(wg), free(xc.logits);
}

static void test_softmax_xent(void **state)
{
    (void)state;
    const int32_t t_small[4] = {3, -1, 0, 36};
    xent_case(4, 37, t_small, 3.0f, 1.0f, true);
    const int32_t t_big[6] = {1002, 5, -1, 0, 777, -1};
    xent_case(6, 1003, t_big, 8.0f, 0.37f, false); /* 4-accumulator loop and a tail */

    /* loss_scale multiplies the gradient: by a power of two exactly, as every step scales */
    const int N = 3, V = 1003;
    const int32_t t[3] = {7, -1, 1000};
    float *l = frand((size_t)N * V, 4.0f);
    float *g1 = fcopy(l, (size_t)N * V), *g8 = fcopy(l, (size_t)N * V);
    float loss[3];
    softmax_xent_forward_backward(g1, loss, t, N, V, 2, 1.0f);
    softmax_xent_forward_backward(g8, loss, t, N, V, 2, 8.0f);
    for (size_t i = 0; i < (size_t)N * V; i++) assert_true(g8[i] == 8.0f * g1[i]);

    /* NaN in a row makes that row's loss and gradient NaN; other rows are unaffected */
    float *g = fcopy(l, (size_t)N * V);
    g[10] = NAN;
    double total = softmax_xent_forward_backward(g, loss, t, N, V, 2, 1.0f);
    assert_true(isnan(loss[0]) && isnan(total) && isnan(g[7]));
    assert_true(!isnan(loss[2]) && !isnan(g[2 * V + 5]));
    /* no valid target: all zero, no division by zero */
    const int32_t none[3] = {-1, -1, -1};
    memcpy(g, l, (size_t)N * V * sizeof *g);
    assert_true(softmax_xent_forward_backward(g, loss, none, N, V, 0, 1.0f) == 0.0);
    for (size_t i = 0; i < (size_t)N * V; i++) assert_true(g[i] == 0.0f);
    free(l), free(g1), free(g8), free(g);
}

/* ---- thread-count independence ------------------------------------------------------------ */

/* Every output of every layer with 1, 2 and 3 threads: the same bits. Sizes cross the 64-row
 * chunks (N = 200) and the 64-column tiles (C = 70, M = 130). */
typedef struct {
    float *o[8];
    size_t n[8];
    int count;
} outputs;

static void run_all(outputs *res, int threads)
{
    hlm_set_threads(threads);
    rng_state = 12345;
    const int N = 200, C = 70, M = 130, V = 11, T = 50;
    size_t nx = (size_t)N * C;
    float *x = frand(nx, 2.0f), *w = frand((size_t)C, 1.0f), *b = frand((size_t)C, 1.0f);
    float *dout = frand(nx, 1.0f), *out = fzero(nx);
    float *mean = fzero((size_t)N), *rstd = fzero((size_t)N);
    int32_t tok[200];
    for (int i = 0; i < N; i++) tok[i] = (int32_t)(rnd() % V);

    float *dx = fzero(nx), *dw = fzero((size_t)C), *db = fzero((size_t)C);
    layernorm_forward(out, mean, rstd, x, w, b, N, C, 1e-5f);
    layernorm_backward(dx, dw, db, dout, x, w, mean, rstd, N, C);
    float *rdx = fzero(nx), *rdw = fzero((size_t)C);
    rmsnorm_forward(out, rstd, x, w, N, C, 1e-5f);
    rmsnorm_backward(rdx, rdw, dout, x, w, rstd, N, C);
    float *dwte = fzero((size_t)V * C), *dwpe = fzero((size_t)T * C);
    embedding_backward(dwte, dwpe, dout, tok, N / T, T, C);
    float *dy = frand((size_t)N * M, 1.0f), *dbias = fzero((size_t)M);
    matmul_backward(NULL, NULL, dbias, dy, NULL, NULL, N, C, M, false);

    float *o[8] = {dx, dw, db, rdx, rdw, dwte, dwpe, dbias};
    size_t n[8] = {nx, (size_t)C, (size_t)C, nx, (size_t)C, (size_t)V * C, (size_t)T * C,
                   (size_t)M};
    memcpy(res->o, o, sizeof o);
    memcpy(res->n, n, sizeof n);
    res->count = 8;
    free(x), free(w), free(b), free(dout), free(out), free(mean), free(rstd), free(dy);
}

static void test_thread_independence(void **state)
{
    (void)state;
    int before = hlm_get_threads();
    outputs ref, other;
    run_all(&ref, 1);
    for (int threads = 2; threads <= 3; threads++) {
        run_all(&other, threads);
        for (int k = 0; k < ref.count; k++) {
            assert_same_bits(ref.o[k], other.o[k], ref.n[k]);
            free(other.o[k]);
        }
    }
    for (int k = 0; k < ref.count; k++) free(ref.o[k]);
    hlm_set_threads(before);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gemm_orientations),
        cmocka_unit_test(test_gemm_beta_zero_and_empty),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_embedding),
        cmocka_unit_test(test_matmul),
        cmocka_unit_test(test_layernorm),
        cmocka_unit_test(test_rmsnorm),
        cmocka_unit_test(test_gelu),
        cmocka_unit_test(test_swiglu),
        cmocka_unit_test(test_softmax_xent),
        cmocka_unit_test(test_thread_independence),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
