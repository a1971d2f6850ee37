/* Attention and rotary embedding against independent references:
 * - attention_forward against a naive double-precision attention (the full T x T softmax);
 * - attention_backward against central finite differences of that double forward (small shapes)
 *   and against the analytic double backward (bigger shapes; the analytic backward itself is
 *   first checked against the finite differences);
 * - the accumulate convention, bitwise determinism across runs and thread counts;
 * - rope_table/rope_forward against Hugging Face's LlamaRotaryEmbedding + apply_rotary_pos_emb
 *   written out in double (with HF's float32 steps for the angles), rope_backward as the exact
 *   adjoint and as the finite-difference gradient.
 * Errors are measured as max |got - ref| / max |ref| over a tensor ("normalized error"). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "model/layers.h"

/* fp32 attention keeps a score s to about |s| 2^-24 times a few (a dot product of length hd, one
 * scale) and p = exp(s - lse) to that relative error; outputs are convex combinations (out) or
 * sums of such terms. Observed normalized errors: out up to 3.6e-6 (peaked softmax of the ramp
 * inputs, |s| ~ 30), lse up to 1.4e-6 (hd = 8200), gradients up to 8.4e-6 (hd = 8200). The
 * tolerances leave a margin of about 3x while any indexing, masking or scaling error gives
 * errors of order 1e-2 or more. */
#define TOL_FORWARD 1e-5
#define TOL_LSE 5e-6
/* The backward subtracts D_i from dp_ij (cancellation when p is peaked), so its fp32 error is a
 * few times the forward's. */
#define TOL_BACKWARD 5e-5
/* Central differences in double with step 1e-5: truncation O(h^2 f''') ~ 1e-9, rounding
 * ~1e-16 / 1e-5 ~ 1e-11 relative; the double analytic backward agrees to 1e-9 (observed 7e-10). */
#define FD_STEP 1e-5
#define TOL_FD_REF 1e-8

typedef struct {
    int B, T, H, KV, hd;
} shape;

static size_t qkv_len(shape s) { return (size_t)s.B * s.T * (s.H + 2 * s.KV) * s.hd; }
static size_t out_len(shape s) { return (size_t)s.B * s.T * s.H * s.hd; }
static size_t lse_len(shape s) { return (size_t)s.B * s.H * s.T; }

static uint64_t rng_state;
static double rng_uniform(void) /* [-1, 1) */
{
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (double)(z >> 11) / 9007199254740992.0 * 2.0 - 1.0;
}

static float *rand_floats(size_t n, double amp)
{
    float *x = malloc(n * sizeof *x);
    assert_non_null(x);
    for (size_t i = 0; i < n; i++) x[i] = (float)(amp * rng_uniform());
    return x;
}

static double *to_double(const float *x, size_t n)
{
    double *d = malloc(n * sizeof *d);
    assert_non_null(d);
    for (size_t i = 0; i < n; i++) d[i] = x[i];
    return d;
}

/* qkv with scores of standard deviation ~2 and, when ramp, keys growing along t: later keys
 * then raise the running max again and again, exercising the online rescaling. */
static float *rand_qkv(shape s, int ramp)
{
    float *qkv = rand_floats(qkv_len(s), 2.5);
    if (ramp) {
        size_t ld = (size_t)(s.H + 2 * s.KV) * s.hd;
        for (int b = 0; b < s.B; b++)
            for (int t = 0; t < s.T; t++)
                for (int c = s.H * s.hd; c < (s.H + s.KV) * s.hd; c++)
                    qkv[((size_t)b * s.T + t) * ld + c] *= 1.0f + 3.0f * (float)t / (float)s.T;
    }
    return qkv;
}

/* ---- double references --------------------------------------------------------------------- */

/* p (T) gets the probabilities of query i of head h (keys 0..i); returns lse. */
static double ref_probs(shape s, const double *qkv, int b, int h, int i, double *p)
{
    size_t ld = (size_t)(s.H + 2 * s.KV) * s.hd;
    int g = h / (s.H / s.KV);
    double scale = 1.0 / sqrt((double)s.hd), mx = -INFINITY;
    const double *q = qkv + ((size_t)b * s.T + i) * ld + (size_t)h * s.hd;
    for (int j = 0; j <= i; j++) {
        const double *k = qkv + ((size_t)b * s.T + j) * ld + (size_t)(s.H + g) * s.hd;
        double dot = 0;
        for (int d = 0; d < s.hd; d++) dot += q[d] * k[d];
        p[j] = scale * dot;
        if (p[j] > mx) mx = p[j];
    }
    double sum = 0;
    for (int j = 0; j <= i; j++) sum += exp(p[j] - mx);
    double lse = mx + log(sum);
    for (int j = 0; j <= i; j++) p[j] = exp(p[j] - lse);
    return lse;
}

static void ref_forward(shape s, const double *qkv, double *out, double *lse)
{
    size_t ld = (size_t)(s.H + 2 * s.KV) * s.hd;
    double *p = malloc((size_t)s.T * sizeof *p);
    for (int b = 0; b < s.B; b++)
        for (int h = 0; h < s.H; h++)
            for (int i = 0; i < s.T; i++) {
                int g = h / (s.H / s.KV);
                double l = ref_probs(s, qkv, b, h, i, p);
                if (lse) lse[((size_t)b * s.H + h) * s.T + i] = l;
                double *o = out + ((size_t)b * s.T + i) * s.H * s.hd + (size_t)h * s.hd;
                for (int d = 0; d < s.hd; d++) o[d] = 0;
                for (int j = 0; j <= i; j++) {
                    const double *v =
                        qkv + ((size_t)b * s.T + j) * ld + (size_t)(s.H + s.KV + g) * s.hd;
                    for (int d = 0; d < s.hd; d++) o[d] += p[j] * v[d];
                }
            }
    free(p);
}

/* dqkv (zeroed here) = gradient of sum(out * dout). */
static void ref_backward(shape s, const double *qkv, const double *dout, double *dqkv)
{
    size_t ld = (size_t)(s.H + 2 * s.KV) * s.hd;
    double scale = 1.0 / sqrt((double)s.hd);
    double *p = malloc((size_t)s.T * sizeof *p), *ds = malloc((size_t)s.T * sizeof *ds);
    memset(dqkv, 0, qkv_len(s) * sizeof *dqkv);
    for (int b = 0; b < s.B; b++)
        for (int h = 0; h < s.H; h++)
            for (int i = 0; i < s.T; i++) {
                int g = h / (s.H / s.KV);
                size_t koff = (size_t)(s.H + g) * s.hd, voff = koff + (size_t)s.KV * s.hd;
                ref_probs(s, qkv, b, h, i, p);
                const double *dO = dout + ((size_t)b * s.T + i) * s.H * s.hd + (size_t)h * s.hd;
                double D = 0;
                for (int j = 0; j <= i; j++) {
                    const double *v = qkv + ((size_t)b * s.T + j) * ld + voff;
                    double dp = 0;
                    for (int d = 0; d < s.hd; d++) dp += dO[d] * v[d];
                    ds[j] = dp;
                    D += p[j] * dp;
                }
                const double *q = qkv + ((size_t)b * s.T + i) * ld + (size_t)h * s.hd;
                double *dq = dqkv + ((size_t)b * s.T + i) * ld + (size_t)h * s.hd;
                for (int j = 0; j <= i; j++) {
                    double dsj = p[j] * (ds[j] - D) * scale;
                    const double *k = qkv + ((size_t)b * s.T + j) * ld + koff;
                    double *dk = dqkv + ((size_t)b * s.T + j) * ld + koff;
                    double *dv = dqkv + ((size_t)b * s.T + j) * ld + voff;
                    for (int d = 0; d < s.hd; d++) {
                        dq[d] += dsj * k[d];
                        dk[d] += dsj * q[d];
                        dv[d] += p[j] * dO[d];
                    }
                }
            }
    free(p);
    free(ds);
}

/* max |got - ref| / max |ref| (or the absolute error when ref is all zero). */
static double norm_err(const float *got, const double *ref, size_t n)
{
    double e = 0, r = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - ref[i]);
        if (!(d <= e)) e = d; /* NaN wins */
        if (fabs(ref[i]) > r) r = fabs(ref[i]);
    }
    return r > 0 ? e / r : e;
}

static double norm_err_d(const double *got, const double *ref, size_t n)
{
    double e = 0, r = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs(got[i] - ref[i]);
        if (!(d <= e)) e = d;
        if (fabs(ref[i]) > r) r = fabs(ref[i]);
    }
    return r > 0 ? e / r : e;
}

static double max_abs_err(const float *got, const double *ref, size_t n)
{
    double e = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - ref[i]);
        if (!(d <= e)) e = d;
    }
    return e;
}

/* Shapes: T = 1, T below, at and past a block (16 .. 64 by hd), several blocks; hd from 1 to
 * large, through every tiling: contiguous copies (hd <= 128 both ways, 256 forward), the
 * backward without copies (256, 700: key blocks of 16 and 10) and operands read in place (the
 * forward from 700 on, the backward at 8200); hd not a multiple of 16 (1, 3, 700) or of 64
 * (80); H/KV = 1 (MHA), 2 (GQA) and 4 (MQA); B = 2 checks the batch stride. */
static const shape SHAPES[] = {
    {2, 1, 4, 4, 8},   {2, 5, 4, 2, 16},  {2, 67, 4, 1, 64}, {2, 130, 4, 2, 64},
    {2, 130, 4, 4, 16}, {1, 67, 4, 4, 8},  {1, 70, 2, 1, 3},  {1, 33, 2, 2, 1},
    {1, 90, 2, 1, 128}, {1, 66, 2, 1, 80}, {1, 40, 2, 1, 256}, {1, 21, 2, 2, 700},
    {1, 5, 2, 1, 8200},
};
#define N_SHAPES (sizeof SHAPES / sizeof SHAPES[0])

/* ---- attention tests ----------------------------------------------------------------------- */

static void test_forward_reference(void **state)
{
    (void)state;
    for (size_t si = 0; si < N_SHAPES; si++)
        for (int ramp = 0; ramp < 2; ramp++) {
            shape s = SHAPES[si];
            rng_state = 100 + si;
            float *qkv = rand_qkv(s, ramp);
            float *out = malloc(out_len(s) * sizeof *out), *lse = malloc(lse_len(s) * sizeof *lse);
            for (size_t i = 0; i < out_len(s); i++) out[i] = NAN; /* must all be overwritten */
            attention_forward(out, lse, qkv, s.B, s.T, s.H, s.KV, s.hd);
            double *qd = to_double(qkv, qkv_len(s));
            double *ro = malloc(out_len(s) * sizeof *ro), *rl = malloc(lse_len(s) * sizeof *rl);
            ref_forward(s, qd, ro, rl);
            double eo = norm_err(out, ro, out_len(s)), el = norm_err(lse, rl, lse_len(s));
            if (getenv("VERBOSE") || !(eo <= TOL_FORWARD && el <= TOL_LSE))
                fprintf(stderr, "B=%d T=%d H=%d KV=%d hd=%d ramp=%d: out err %.3g, lse err %.3g\n",
                        s.B, s.T, s.H, s.KV, s.hd, ramp, eo, el);
            assert_true(eo <= TOL_FORWARD);
            assert_true(el <= TOL_LSE);
            free(qkv), free(out), free(lse), free(qd), free(ro), free(rl);
        }
}

/* Our backward (dout = R) and the analytic double backward against central differences of
 * L(qkv) = sum(ref_forward(qkv) * R), every element of q, k and v. */
static void test_backward_finite_differences(void **state)
{
    (void)state;
    static const shape fd_shapes[] = {{1, 9, 4, 2, 8}, {2, 5, 2, 1, 4}, {1, 17, 2, 2, 3},
                                      {1, 20, 4, 1, 5}};
    for (size_t si = 0; si < sizeof fd_shapes / sizeof fd_shapes[0]; si++) {
        shape s = fd_shapes[si];
        rng_state = 200 + si;
        size_t nq = qkv_len(s), no = out_len(s);
        float *qkv = rand_qkv(s, 0), *R = rand_floats(no, 1.0);
        float *out = malloc(no * sizeof *out), *lse = malloc(lse_len(s) * sizeof *lse);
        float *dqkv = calloc(nq, sizeof *dqkv);
        attention_forward(out, lse, qkv, s.B, s.T, s.H, s.KV, s.hd);
        attention_backward(dqkv, R, qkv, out, lse, s.B, s.T, s.H, s.KV, s.hd);

        double *x = to_double(qkv, nq), *Rd = to_double(R, no);
        double *o = malloc(no * sizeof *o), *fd = malloc(nq * sizeof *fd);
        double *an = malloc(nq * sizeof *an);
        for (size_t e = 0; e < nq; e++) {
            double x0 = x[e], L[2];
            for (int sgn = 0; sgn < 2; sgn++) {
                x[e] = x0 + (sgn ? -FD_STEP : FD_STEP);
                ref_forward(s, x, o, NULL);
                L[sgn] = 0;
                for (size_t i = 0; i < no; i++) L[sgn] += o[i] * Rd[i];
            }
            x[e] = x0;
            fd[e] = (L[0] - L[1]) / (2 * FD_STEP);
        }
        ref_backward(s, x, Rd, an);
        double e_ref = norm_err_d(an, fd, nq), e_ours = norm_err(dqkv, fd, nq);
        if (getenv("VERBOSE") || !(e_ref <= TOL_FD_REF && e_ours <= TOL_BACKWARD))
            fprintf(stderr, "FD B=%d T=%d H=%d KV=%d hd=%d: reference err %.3g, ours %.3g\n", s.B,
                    s.T, s.H, s.KV, s.hd, e_ref, e_ours);
        assert_true(e_ref <= TOL_FD_REF);
        assert_true(e_ours <= TOL_BACKWARD);
        free(qkv), free(R), free(out), free(lse), free(dqkv);
        free(x), free(Rd), free(o), free(fd), free(an);
    }
}

/* dq, dk, dv separately against the analytic double backward, every shape. */
static void test_backward_reference(void **state)
{
    (void)state;
    for (size_t si = 0; si < N_SHAPES; si++) {
        shape s = SHAPES[si];
        rng_state = 300 + si;
        size_t nq = qkv_len(s), no = out_len(s);
        float *qkv = rand_qkv(s, (int)(si & 1)), *dout = rand_floats(no, 1.0);
        float *out = malloc(no * sizeof *out), *lse = malloc(lse_len(s) * sizeof *lse);
        float *dqkv = calloc(nq, sizeof *dqkv);
        attention_forward(out, lse, qkv, s.B, s.T, s.H, s.KV, s.hd);
        attention_backward(dqkv, dout, qkv, out, lse, s.B, s.T, s.H, s.KV, s.hd);
        double *x = to_double(qkv, nq), *dd = to_double(dout, no);
        double *ref = malloc(nq * sizeof *ref);
        ref_backward(s, x, dd, ref);
        /* Split by part: q, k and v gradients have different magnitudes. */
        size_t ld = (size_t)(s.H + 2 * s.KV) * s.hd, rows = (size_t)s.B * s.T;
        size_t part[4] = {0, (size_t)s.H * s.hd, (size_t)(s.H + s.KV) * s.hd, ld};
        for (int pi = 0; pi < 3; pi++) {
            size_t w = part[pi + 1] - part[pi];
            float *g = malloc(rows * w * sizeof *g);
            double *r = malloc(rows * w * sizeof *r);
            for (size_t n = 0; n < rows; n++)
                for (size_t c = 0; c < w; c++) {
                    g[n * w + c] = dqkv[n * ld + part[pi] + c];
                    r[n * w + c] = ref[n * ld + part[pi] + c];
                }
            double e = norm_err(g, r, rows * w);
            if (getenv("VERBOSE") || !(e <= TOL_BACKWARD))
                fprintf(stderr, "B=%d T=%d H=%d KV=%d hd=%d: d%c err %.3g\n", s.B, s.T, s.H, s.KV,
                        s.hd, "qkv"[pi], e);
            assert_true(e <= TOL_BACKWARD);
            free(g), free(r);
        }
        free(qkv), free(dout), free(out), free(lse), free(dqkv), free(x), free(dd), free(ref);
    }
}

/* Backward adds: from G0, one call gives G0 + g; from zero, two calls give 2g (up to the
 * rounding of the additions: relative 1e-6). */
static void test_backward_accumulates(void **state)
{
    (void)state;
    shape s = {2, 70, 4, 2, 32};
    rng_state = 400;
    size_t nq = qkv_len(s), no = out_len(s);
    float *qkv = rand_qkv(s, 0), *dout = rand_floats(no, 1.0), *g0 = rand_floats(nq, 1.0);
    float *out = malloc(no * sizeof *out), *lse = malloc(lse_len(s) * sizeof *lse);
    float *once = calloc(nq, sizeof *once), *twice = calloc(nq, sizeof *twice);
    float *from_g0 = malloc(nq * sizeof *from_g0);
    memcpy(from_g0, g0, nq * sizeof *g0);
    attention_forward(out, lse, qkv, s.B, s.T, s.H, s.KV, s.hd);
    attention_backward(once, dout, qkv, out, lse, s.B, s.T, s.H, s.KV, s.hd);
    attention_backward(twice, dout, qkv, out, lse, s.B, s.T, s.H, s.KV, s.hd);
    attention_backward(twice, dout, qkv, out, lse, s.B, s.T, s.H, s.KV, s.hd);
    attention_backward(from_g0, dout, qkv, out, lse, s.B, s.T, s.H, s.KV, s.hd);
    double *want2 = malloc(nq * sizeof *want2), *want_g0 = malloc(nq * sizeof *want_g0);
    for (size_t i = 0; i < nq; i++) {
        want2[i] = 2.0 * once[i];
        want_g0[i] = (double)g0[i] + once[i];
    }
    assert_true(norm_err(twice, want2, nq) <= 1e-6);
    assert_true(norm_err(from_g0, want_g0, nq) <= 1e-6);
    free(qkv), free(dout), free(g0), free(out), free(lse), free(once), free(twice);
    free(from_g0), free(want2), free(want_g0);
}

/* Same bits on every run and for every thread count: each output element is computed by one
 * task in an order fixed by the shapes. */
static void test_deterministic(void **state)
{
    (void)state;
    static const shape det_shapes[] = {{2, 150, 4, 2, 64}, {1, 80, 4, 4, 128}};
    for (size_t si = 0; si < sizeof det_shapes / sizeof det_shapes[0]; si++) {
        shape s = det_shapes[si];
        rng_state = 500 + si;
        size_t nq = qkv_len(s), no = out_len(s), nl = lse_len(s);
        float *qkv = rand_qkv(s, 1), *dout = rand_floats(no, 1.0);
        float *out[2], *lse[2], *dqkv[2];
        for (int r = 0; r < 2; r++) {
            out[r] = malloc(no * sizeof(float));
            lse[r] = malloc(nl * sizeof(float));
            dqkv[r] = malloc(nq * sizeof(float));
        }
#ifdef _OPENMP
        int saved = omp_get_max_threads();
        static const int threads[] = {1, 2, 3, 2};
#else
        static const int threads[] = {1, 1};
#endif
        for (size_t run = 0; run < sizeof threads / sizeof threads[0]; run++) {
#ifdef _OPENMP
            omp_set_num_threads(threads[run]);
#endif
            int r = run > 0;
            memset(dqkv[r], 0, nq * sizeof(float));
            attention_forward(out[r], lse[r], qkv, s.B, s.T, s.H, s.KV, s.hd);
            attention_backward(dqkv[r], dout, qkv, out[r], lse[r], s.B, s.T, s.H, s.KV, s.hd);
            if (r) {
                assert_memory_equal(out[0], out[1], no * sizeof(float));
                assert_memory_equal(lse[0], lse[1], nl * sizeof(float));
                assert_memory_equal(dqkv[0], dqkv[1], nq * sizeof(float));
            }
        }
#ifdef _OPENMP
        omp_set_num_threads(saved);
#endif
        for (int r = 0; r < 2; r++) free(out[r]), free(lse[r]), free(dqkv[r]);
        free(qkv), free(dout);
    }
}

/* ---- rope ---------------------------------------------------------------------------------- */

/* HF's angle, in its float32 steps: inv_freq = 1.0 / (base ** (arange(0, dim, 2).float() / dim))
 * then position * inv_freq. pow and the division are rounded once to float, as a correctly
 * rounded float32 operation would be (the division via double is exact then: 53 >= 2*24 + 2). */
static float hf_angle(int t, int i, int hd, float theta)
{
    float e = (float)(2 * i) / (float)hd;
    float p = (float)pow((double)theta, (double)e);
    float inv = (float)(1.0 / (double)p);
    return (float)t * inv;
}

static void test_rope_table(void **state)
{
    (void)state;
    static const struct {
        int hd;
        float theta;
    } cases[] = {{64, 10000.0f}, {128, 10000.0f}, {128, 500000.0f}, {6, 10000.0f}};
    int max_T = 4096;
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        int hd = cases[ci].hd, half = hd / 2;
        float theta = cases[ci].theta;
        float *cs = malloc((size_t)max_T * half * 2 * sizeof *cs);
        rope_table(cs, max_T, hd, theta);
        double worst_hf = 0, worst_exact = 0;
        for (int t = 0; t < max_T; t++)
            for (int i = 0; i < half; i++) {
                const float *e = cs + ((size_t)t * half + i) * 2;
                /* HF's float32 angle: cosf/sinf are within 1 ulp of the true cos/sin of it. */
                double a = hf_angle(t, i, hd, theta);
                double d = fmax(fabs(e[0] - cos(a)), fabs(e[1] - sin(a)));
                if (d > worst_hf) worst_hf = d;
                /* The exact angle t * theta^(-2i/hd): the float32 angle is off by about
                 * t * 2^-23 relative to it. */
                double ax = t * pow((double)theta, -2.0 * i / hd);
                double dx = fmax(fabs(e[0] - cos(ax)), fabs(e[1] - sin(ax)));
                assert_true(dx <= 2.4e-7 * (t + 2));
                if (dx > worst_exact) worst_exact = dx;
            }
        if (worst_hf > 6e-8)
            fprintf(stderr, "rope table hd=%d: err vs HF float32 %.3g\n", hd, worst_hf);
        assert_true(worst_hf <= 6e-8); /* 1 ulp of values in [0.5, 1] */
        free(cs);
    }
}

/* HF apply_rotary_pos_emb in double on the table's values: x*cos + rotate_half(x)*sin. */
static void ref_rope(const double *x, double *y, const float *cs, shape s, int transpose)
{
    size_t ld = (size_t)(s.H + 2 * s.KV) * s.hd;
    int half = s.hd / 2;
    memcpy(y, x, qkv_len(s) * sizeof *y);
    for (int b = 0; b < s.B; b++)
        for (int t = 0; t < s.T; t++)
            for (int h = 0; h < s.H + s.KV; h++) {
                size_t off = ((size_t)b * s.T + t) * ld + (size_t)h * s.hd;
                for (int i = 0; i < half; i++) {
                    const float *e = cs + ((size_t)t * half + i) * 2;
                    double c = e[0], sn = e[1];
                    if (transpose) sn = -sn;
                    double x1 = x[off + i], x2 = x[off + i + half];
                    y[off + i] = x1 * c - x2 * sn;
                    y[off + i + half] = x2 * c + x1 * sn;
                }
            }
}

static void test_rope_apply(void **state)
{
    (void)state;
    static const shape shapes[] = {{2, 37, 4, 2, 16}, {1, 9, 3, 1, 128}, {2, 5, 2, 2, 2}};
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        shape s = shapes[si];
        rng_state = 600 + si;
        int max_T = s.T + 7, half = s.hd / 2;
        size_t n = qkv_len(s), ld = (size_t)(s.H + 2 * s.KV) * s.hd;
        float *cs = malloc((size_t)max_T * half * 2 * sizeof *cs);
        rope_table(cs, max_T, s.hd, 10000.0f);
        float *x = rand_floats(n, 1.0), *y = rand_floats(n, 1.0);
        float *rx = malloc(n * sizeof *rx), *ry = malloc(n * sizeof *ry);
        memcpy(rx, x, n * sizeof *x);
        memcpy(ry, y, n * sizeof *y);
        rope_forward(rx, cs, s.B, s.T, s.H, s.KV, s.hd);
        rope_backward(ry, cs, s.B, s.T, s.H, s.KV, s.hd);

        /* Forward against the reference: each output is two rounded products and a rounded
         * sum of values <= 1 in magnitude, so within 3 half-ulps of 1 (1.8e-7). */
        double *xd = to_double(x, n), *yd = to_double(y, n), *ref = malloc(n * sizeof *ref);
        ref_rope(xd, ref, cs, s, 0);
        assert_true(max_abs_err(rx, ref, n) <= 1.8e-7);
        ref_rope(yd, ref, cs, s, 1);
        assert_true(max_abs_err(ry, ref, n) <= 1.8e-7);
        /* v is untouched, bit for bit. */
        for (size_t r = 0; r < (size_t)s.B * s.T; r++) {
            size_t v0 = r * ld + (size_t)(s.H + s.KV) * s.hd;
            assert_memory_equal(rx + v0, x + v0, (size_t)s.KV * s.hd * sizeof(float));
            assert_memory_equal(ry + v0, y + v0, (size_t)s.KV * s.hd * sizeof(float));
        }
        /* Adjoint: <rope(x), y> = <x, rope_backward(y)>; both sums of n terms <= 1 with
         * per-term errors ~1e-7. */
        double a = 0, b = 0, mag = 0;
        for (size_t i = 0; i < n; i++) {
            a += (double)rx[i] * y[i];
            b += (double)x[i] * ry[i];
            mag += fabs((double)x[i] * y[i]);
        }
        assert_true(fabs(a - b) <= 1e-6 * mag);
        /* rope_backward is the gradient of L(x) = <ref_rope(x), y>: central differences in
         * double (L is linear, so they are exact up to rounding, ~1e-10). */
        double *o = malloc(n * sizeof *o);
        for (size_t e = 0; e < n; e += 3) {
            double x0 = xd[e], L[2];
            for (int sgn = 0; sgn < 2; sgn++) {
                xd[e] = x0 + (sgn ? -1e-3 : 1e-3);
                ref_rope(xd, o, cs, s, 0);
                L[sgn] = 0;
                for (size_t i = 0; i < n; i++) L[sgn] += o[i] * yd[i];
            }
            xd[e] = x0;
            assert_true(fabs((L[0] - L[1]) / 2e-3 - ry[e]) <= 1e-6);
        }
        free(cs), free(x), free(y), free(rx), free(ry), free(xd), free(yd), free(ref), free(o);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forward_reference),
        cmocka_unit_test(test_backward_finite_differences),
        cmocka_unit_test(test_backward_reference),
        cmocka_unit_test(test_backward_accumulates),
        cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_rope_table),
        cmocka_unit_test(test_rope_apply),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
