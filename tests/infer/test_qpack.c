/* Quantized weights packed for AMX int8 tiles (src/infer/qpack.c).
 *
 * Reference: a double-precision sum over blocks of each block's exact terms, computed here from
 * the weight blocks and the activation codes (quantization itself is held to gguf-py in
 * test_quant.c). The packed product computes, per block, an exact integer dot, then fp32 terms
 * d_w d_x dot and m_w s_x (Q4_0: m_w = -8 d_w, so the terms are those of d_w q_w, not of
 * d_w (q_w - 8)); each is within 2 roundings of its exact value and the block sum adds at most
 * (nb - 1) u sum|t| (u = 2^-24), so the test allows 2 (nb + 19) u S with S the sum of the
 * terms' magnitudes in double, the bound test_quant.c uses for the dot products. Exact checks: a
 * row's result is the same bits whatever the number of rows beside it; beta = 1 adds the old
 * value with one rounding; columns past the matrix's rows are never written. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "infer/qpack.h"
#include "infer/quant.h"

#define MAXN 40 /* rows of the largest product tested: two chunks of 16 and a part */
#define BUFN 48 /* its activation buffer: hlm_qpack_act_rows(40) */

#include "xorshift.h"
static float wrand(void)
{
    float v = urand() + urand() + urand();
    return rnd() % 97 == 0 ? v * 8.0f : v;
}

/* The reference value and the magnitude S of dot(weight row w, activation a). */
static void reference(hlm_qtype t, const uint8_t *w, const hlm_q8_act *a, double *val, double *mag)
{
    int bb = hlm_qtype_block_bytes(t);
    *val = *mag = 0.0;
    for (int64_t b = 0; b < a->n / 32; b++) {
        const uint8_t *blk = w + b * bb;
        uint16_t h;
        memcpy(&h, blk, 2);
        double d = hlm_f16_to_f32(h), m = 0.0;
        if (t == HLM_QT_Q4_1) {
            memcpy(&h, blk + 2, 2);
            m = hlm_f16_to_f32(h);
        }
        if (t == HLM_QT_Q4_0) m = -8.0 * d;
        long dot = 0;
        for (int k = 0; k < 32; k++) {
            int q;
            if (t == HLM_QT_Q8_0) q = (int8_t)blk[2 + k];
            else {
                const uint8_t *qs = blk + (t == HLM_QT_Q4_1 ? 4 : 2);
                q = k < 16 ? qs[k] & 15 : qs[k - 16] >> 4;
            }
            dot += (long)q * a->q[32 * b + k];
        }
        double t1 = d * a->d[b] * (double)dot, t2 = m * a->s[b];
        *val += t1 + t2;
        *mag += fabs(t1) + fabs(t2);
    }
}

static void check_type(hlm_qtype t, int rows, int cols)
{
    size_t rb;
    hlm_error err = {0};
    assert_int_equal(hlm_qtype_row_bytes(t, cols, &rb, &err), HLM_OK);
    uint8_t *W = malloc(rb * (size_t)rows);
    float *x = malloc(sizeof(float) * (size_t)cols * MAXN);
    assert_non_null(W);
    assert_non_null(x);
    for (int r = 0; r < rows; r++) {
        for (int c = 0; c < cols; c++) x[c] = wrand() * 0.05f;
        assert_int_equal(hlm_quantize_row(t, x, W + (size_t)r * rb, cols, &err), HLM_OK);
    }
    hlm_qpack *p = hlm_qpack_new(t, W, rows, cols, &err);
    assert_non_null(p);
    assert_true(hlm_qpack_bytes(p) >= rb * (size_t)rows);

    int ldy = rows + 5, nb = cols / 32;
    void *buf = malloc(hlm_q8_act_bytes(cols, BUFN));
    float *Y = malloc(sizeof(float) * (size_t)ldy * MAXN);
    float *Y1 = malloc(sizeof(float) * (size_t)ldy * MAXN);
    float *alone = malloc(sizeof(float) * (size_t)ldy);
    assert_non_null(buf);
    assert_non_null(Y);
    assert_non_null(Y1);
    assert_non_null(alone);
    for (int i = 0; i < cols * MAXN; i++) x[i] = wrand();
    hlm_q8_act acts[MAXN];
    double worst = 0.0;
    static const int ns[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 31, 32, 33, 40};
    for (size_t ni = 0; ni < sizeof ns / sizeof *ns; ni++) {
        int n = ns[ni];
        /* the rows past n that a chunk's tile reads hold garbage: it must not reach the result */
        memset(buf, 0x7F, hlm_q8_act_bytes(cols, BUFN));
        assert_true(hlm_qpack_act_rows(n) <= BUFN);
        for (int i = 0; i < n; i++) {
            hlm_q8_act_bind(&acts[i], buf, cols, n, i);
            hlm_quantize_act(x + (size_t)i * cols, &acts[i]);
        }
        for (int i = 0; i < ldy * n; i++) Y[i] = 1.5f;
        hlm_qpack_gemm(p, buf, n, 0.0f, Y, ldy);
        for (int i = 0; i < n; i++)
            for (int r = 0; r < ldy; r++) {
                float got = Y[(size_t)i * ldy + r];
                if (r >= rows) {
                    assert_true(got == 1.5f); /* past the matrix: untouched */
                    continue;
                }
                double ref, mag;
                reference(t, W + (size_t)r * rb, &acts[i], &ref, &mag);
                double tol = 2.0 * (nb + 19) * ldexp(mag, -24) + 1e-30;
                if (fabs(got - ref) > tol)
                    fail_msg("%s %dx%d n=%d row %d col %d: %.9g, reference %.9g, allowed %.3g", hlm_qtype_name(t), rows,
                             cols, n, i, r, got, ref, tol);
                if (fabs(got - ref) / tol > worst) worst = fabs(got - ref) / tol;
            }
        /* row 0 is the same bits with any number of rows beside it */
        if (n == 1) memcpy(alone, Y, sizeof(float) * (size_t)rows);
        else assert_memory_equal(alone, Y, sizeof(float) * (size_t)rows);
        /* beta = 1: the old value plus the product, one rounding */
        for (int i = 0; i < ldy * n; i++) Y1[i] = 0.25f * (float)(i % 7);
        hlm_qpack_gemm(p, buf, n, 1.0f, Y1, ldy);
        for (int i = 0; i < n; i++)
            for (int r = 0; r < ldy; r++) {
                size_t o = (size_t)i * ldy + r;
                float want = r < rows ? 0.25f * (float)(o % 7) + Y[o] : 0.25f * (float)(o % 7);
                assert_true(Y1[o] == want);
            }
    }
    printf("%s %d x %d: n = 1..40 within %.2f of the allowed error\n", hlm_qtype_name(t), rows, cols, worst);
    free(alone);
    free(Y1);
    free(Y);
    free(buf);
    hlm_qpack_free(p);
    free(x);
    free(W);
}

static int skip_without_amx(void)
{
    if (hlm_qpack_supported()) return 0;
    hlm_error err = {0};
    uint8_t W[18] = {0};
    assert_null(hlm_qpack_new(HLM_QT_Q4_0, W, 1, 32, &err));
    assert_non_null(strstr(err.msg, "AMX"));
    printf("SKIPPED: no AMX int8 tiles on this CPU or OS\n");
    return 1;
}

static void test_products(void **state)
{
    (void)state;
    if (skip_without_amx()) skip();
    hlm_qtype types[] = {HLM_QT_Q4_0, HLM_QT_Q4_1, HLM_QT_Q8_0};
    for (int i = 0; i < 3; i++) {
        check_type(types[i], 16, 32);
        check_type(types[i], 37, 96);
        check_type(types[i], 300, 576);
    }
}

/* Several parts in one loop give each part's own product, bit for bit; parts of different widths
 * are refused (nothing written). */
static void test_parts(void **state)
{
    (void)state;
    if (skip_without_amx()) skip();
    enum { C = 96, N = 5 };
    int rows[3] = {40, 16, 7};
    hlm_error err = {0};
    size_t rb;
    assert_int_equal(hlm_qtype_row_bytes(HLM_QT_Q4_1, C, &rb, &err), HLM_OK);
    float x[C * N];
    for (int i = 0; i < C * N; i++) x[i] = wrand();
    void *buf = malloc(hlm_q8_act_bytes(C, N));
    assert_non_null(buf);
    for (int i = 0; i < N; i++) {
        hlm_q8_act a;
        hlm_q8_act_bind(&a, buf, C, N, i);
        hlm_quantize_act(x + i * C, &a);
    }
    hlm_qpack *ps[3];
    uint8_t *W[3];
    enum { LD = 63 };
    static float one[N * LD], all[N * LD];
    for (int i = 0; i < N * LD; i++) one[i] = all[i] = -2.0f;
    float *ys[3];
    for (int j = 0, off = 0; j < 3; off += rows[j], j++) {
        W[j] = malloc(rb * (size_t)rows[j]);
        assert_non_null(W[j]);
        for (int r = 0; r < rows[j]; r++) {
            float w[C];
            for (int c = 0; c < C; c++) w[c] = wrand();
            assert_int_equal(hlm_quantize_row(HLM_QT_Q4_1, w, W[j] + (size_t)r * rb, C, &err), HLM_OK);
        }
        ps[j] = hlm_qpack_new(HLM_QT_Q4_1, W[j], rows[j], C, &err);
        assert_non_null(ps[j]);
        hlm_qpack_gemm(ps[j], buf, N, 0.0f, one + off, LD);
        ys[j] = all + off;
    }
    hlm_qpack_gemm_parts((const hlm_qpack *const *)ps, ys, 3, buf, N, 0.0f, LD);
    assert_memory_equal(one, all, sizeof one);
    /* a part of other width: refused whole */
    float w64[64];
    for (int c = 0; c < 64; c++) w64[c] = wrand();
    uint8_t W64[40];
    assert_int_equal(hlm_quantize_row(HLM_QT_Q4_1, w64, W64, 64, &err), HLM_OK);
    hlm_qpack *odd = hlm_qpack_new(HLM_QT_Q4_1, W64, 1, 64, &err);
    assert_non_null(odd);
    const hlm_qpack *mixed[2] = {ps[0], odd};
    for (int i = 0; i < N * LD; i++) all[i] = -2.0f;
    hlm_qpack_gemm_parts(mixed, ys, 2, buf, N, 0.0f, LD);
    for (int i = 0; i < N * LD; i++) assert_true(all[i] == -2.0f);
    hlm_qpack_free(odd);
    for (int j = 0; j < 3; j++) {
        hlm_qpack_free(ps[j]);
        free(W[j]);
    }
    free(buf);
}

static void test_refusals(void **state)
{
    (void)state;
    if (skip_without_amx()) skip();
    hlm_error err = {0};
    /* a Q4_0 block whose scale is 9000: -8 d = -72000 is past fp16's 65504 */
    float x[32];
    for (int k = 0; k < 32; k++) x[k] = k == 3 ? -72000.0f : 1.0f;
    uint8_t W[18];
    assert_int_equal(hlm_quantize_row(HLM_QT_Q4_0, x, W, 32, &err), HLM_OK);
    assert_null(hlm_qpack_new(HLM_QT_Q4_0, W, 1, 32, &err));
    assert_non_null(strstr(err.msg, "overflows fp16"));
    assert_null(hlm_qpack_new(HLM_QT_Q5_0, W, 1, 32, &err));
    assert_non_null(strstr(err.msg, "q5_0"));
    assert_null(hlm_qpack_new(HLM_QT_Q4_0, W, 1, 48, &err));
    assert_non_null(strstr(err.msg, "multiple of 32"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_products),
        cmocka_unit_test(test_parts),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
