/* hlm_sgemm in BF16 mode (src/model/gemm.c).
 *
 * References, in double, written here without the library:
 * - bf16 rounding: frexp / nearbyint (ties to even under the default rounding mode) / ldexp,
 *   not the bit trick that gemm.c uses;
 * - the product on the bf16-ROUNDED inputs: the only difference left is fp32 accumulation inside
 *   oneDNN. Each of K fp32 additions rounds by at most 2^-24 of a partial sum bounded by
 *   S = sum_k |a_k b_k| (+ |beta c|), so a blocked or pairwise sum stays far below K * 6e-8 * S;
 *   the test allows 1e-5 * S (observed: a few 1e-7 * S);
 * - the product on the unrounded inputs: rounding each input to 8 significant bits changes it by
 *   at most 2^-8 relative (half an ulp of a 7-bit stored mantissa), a product by at most
 *   2^-7 + 2^-16, so the error is at most (2^-7 + 2^-16) S plus the accumulation term above.
 * Strides are padded and the padding holds NaN (A, B) or a sentinel (C) so that a wrong stride
 * shows; beta == 0 starts C as NaN (BLAS rule: C is not read).
 * Without native bf16 (no avx512_bf16, no AMX) the test prints "SKIPPED:" and passes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/gemm.h"

#include "xorshift.h"

/* Round to nearest even with 8 significant bits; subnormals are not used by these tests. */
static float ref_bf16(float x)
{
    if (isnan(x) || isinf(x) || x == 0.0f) return x;
    int e;
    double m = frexp(x, &e); /* x = m 2^e, 0.5 <= |m| < 1 */
    return (float)ldexp(nearbyint(m * 256.0), e - 8);
}

static float *falloc(size_t n)
{
    float *p = malloc((n ? n : 1) * sizeof *p);
    assert_non_null(p);
    return p;
}

/* A stored matrix (rows, cols) at row stride ld; the padding columns hold NaN. */
static float *stored(int rows, int cols, int ld)
{
    float *p = falloc((size_t)rows * ld);
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < ld; c++) p[(size_t)r * ld + c] = c < cols ? urand() : NAN;
    return p;
}

#define SENTINEL 12345.0f

/* Checks C = op(A) op(B) + beta C0 against both references on the rows that `step` selects
 * (every row when 1; big products check a sample to keep the double references quick). */
static void check_product(bool ta, bool tb, int M, int N, int K, int pad, float beta, int step)
{
    int a_rows = ta ? K : M, a_cols = ta ? M : K, b_rows = tb ? N : K, b_cols = tb ? K : N;
    int lda = a_cols + pad, ldb = b_cols + pad, ldc = N + 2 * pad + 1;
    float *A = stored(a_rows, a_cols, lda), *B = stored(b_rows, b_cols, ldb);
    float *C0 = falloc((size_t)M * ldc), *C = falloc((size_t)M * ldc);
    for (int i = 0; i < M; i++)
        for (int j = 0; j < ldc; j++)
            C0[(size_t)i * ldc + j] = j >= N ? SENTINEL : beta == 0.0f ? NAN : urand();
    memcpy(C, C0, (size_t)M * ldc * sizeof *C);

    hlm_gemm_set_precision(HLM_GEMM_BF16);
    hlm_sgemm(ta, tb, M, N, K, 1.0f, A, lda, B, ldb, beta, C, ldc);
    hlm_gemm_set_precision(HLM_GEMM_F32);

    double worst_rounded = 0.0, worst_exact = 0.0;
    for (int i = 0; i < M; i = i == M - 1 ? M : i + step < M ? i + step : M - 1) {
        for (int j = 0; j < N; j++) {
            double r = 0.0, x = 0.0, s = 0.0;
            for (int k = 0; k < K; k++) {
                float a = ta ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k];
                float b = tb ? B[(size_t)j * ldb + k] : B[(size_t)k * ldb + j];
                r += (double)ref_bf16(a) * ref_bf16(b);
                x += (double)a * b;
                s += fabs((double)a * b);
            }
            double c0 = beta == 0.0f ? 0.0 : (double)beta * C0[(size_t)i * ldc + j];
            r += c0, x += c0, s += fabs(c0) + 1e-30;
            double got = C[(size_t)i * ldc + j];
            double er = fabs(got - r) / s, ex = fabs(got - x) / s;
            if (!(er <= 1e-5) || !(ex <= ldexp(1.0, -7) + ldexp(1.0, -16) + 1e-5))
                fail_msg("ta %d tb %d %dx%dx%d beta %g: C[%d][%d] = %.9g, rounded ref %.9g, "
                         "exact %.9g, sum|ab| %.3g",
                         ta, tb, M, N, K, beta, i, j, got, r, x, s);
            worst_rounded = fmax(worst_rounded, er);
            worst_exact = fmax(worst_exact, ex);
        }
        for (int j = N; j < ldc; j++) assert_true(C[(size_t)i * ldc + j] == SENTINEL);
    }
    /* the product really ran in bf16: far closer to the rounded inputs than to the exact ones */
    assert_true(worst_rounded * 8 < worst_exact);
    if (M * (double)N * K > 1e8)
        printf("  %dx%dx%d ta %d tb %d beta %g: max error / sum|ab| %.2g vs bf16-rounded inputs, "
               "%.2g vs exact inputs\n",
               M, N, K, ta, tb, beta, worst_rounded, worst_exact);
    free(A), free(B), free(C0), free(C);
}

static void test_orientations_and_sizes(void **state)
{
    (void)state;
    static const int sizes[][4] = {{7, 13, 5, 1}, {67, 96, 130, 1}, {1024, 768, 2304, 37}};
    for (int s = 0; s < 3; s++)
        for (int t = 0; t < 4; t++)
            for (int b = 0; b < 2; b++)
                check_product(t & 1, t & 2, sizes[s][0], sizes[s][1], sizes[s][2], 3 + s,
                              (float)b, sizes[s][3]);
}

/* beta other than 0 and 1 (C scaled first, then accumulated), and one thread as well as two. */
static void test_other_beta_and_threads(void **state)
{
    (void)state;
    int threads = hlm_get_threads();
    check_product(false, true, 33, 70, 129, 2, 0.5f, 1);
    hlm_set_threads(1);
    check_product(true, false, 67, 96, 130, 1, 1.0f, 1);
    hlm_set_threads(threads);
    check_product(true, false, 67, 96, 130, 1, 1.0f, 1);
}

/* More distinct products than the primitive table holds: evictions, still right (and, under
 * ASan, nothing leaked). */
static void test_cache_eviction(void **state)
{
    (void)state;
    for (int n = 1; n <= 80; n++) check_product(n & 1, n & 2, n, 5 + n % 7, 3 + n % 11, 1, 1.0f, 1);
    for (int n = 1; n <= 8; n++) check_product(n & 1, n & 2, n, 5 + n % 7, 3 + n % 11, 1, 0.0f, 1);
}

/* Rounding of special values, seen through C = A . [1] with K = 1: through the vector
 * conversion (one stored row of 70, transposed A) and the scalar one (70 rows of one). */
static void test_rounding(void **state)
{
    (void)state;
    const float one = 1.0f, u = 0x1p-8f;
    const float in[] = {
        1.0f, 1.0f + u,           /* tie: to the even 1.0 */
        1.0f + 3 * u,             /* tie between 1 + 2^-7 (odd) and 1 + 2^-6 (even) */
        1.0f + u + 0x1p-20f,      /* just above the tie: up */
        1.0f + u - 0x1p-23f,      /* just below: down */
        -(1.0f + u), -(1.0f + 3 * u), 3.0f, -0.5f, 0x1.fep127f /* largest bf16 */,
        FLT_MAX /* above the last tie: to infinity */, INFINITY, -INFINITY, NAN, -NAN, 0.0f,
        1e-30f, 123456.789f, -7.77e20f, 0x1.ff8p0f /* tie to 2.0 */};
    const int nin = (int)(sizeof in / sizeof in[0]), n = 70;
    float A[70], want[70], C[70];
    for (int i = 0; i < n; i++) {
        A[i] = i < nin ? in[i] : urand() * 1000.0f;
        want[i] = ref_bf16(A[i]);
    }
    /* NaNs whose payload is only in the low 16 bits, which a carry would turn into infinity */
    const uint32_t nan_bits[2] = {0x7F800001u, 0xFF80FFFFu};
    for (int i = 0; i < 2; i++) {
        memcpy(&A[nin + i], &nan_bits[i], sizeof A[0]);
        want[nin + i] = NAN;
    }
    assert_true(want[1] == 1.0f && want[2] == 1.0f + 4 * u && want[3] == 1.0f + 2 * u);
    assert_true(want[4] == 1.0f && want[10] == INFINITY && want[19] == 2.0f);
    hlm_gemm_set_precision(HLM_GEMM_BF16);
    for (int trans = 0; trans < 2; trans++) {
        for (int i = 0; i < n; i++) C[i] = NAN;
        if (trans) /* A^T stored as one row of n: op(A) (n,1) */
            hlm_sgemm(true, false, n, 1, 1, 1.0f, A, n, &one, 1, 0.0f, C, 1);
        else
            hlm_sgemm(false, false, n, 1, 1, 1.0f, A, 1, &one, 1, 0.0f, C, 1);
        for (int i = 0; i < n; i++) {
            if (isnan(want[i]))
                assert_true(isnan(C[i]));
            else if (C[i] != want[i])
                fail_msg("trans %d: bf16(%a) = %a, want %a", trans, A[i], C[i], want[i]);
        }
    }
    hlm_gemm_set_precision(HLM_GEMM_F32);
}

/* Back to F32: bit for bit the result of before; alpha != 1 in BF16 mode is fp32 too. */
static void test_switch_back(void **state)
{
    (void)state;
    const int M = 67, N = 96, K = 130;
    float *A = stored(M, K, K), *B = stored(K, N, N);
    float *c0 = falloc((size_t)M * N), *c1 = falloc((size_t)M * N), *c2 = falloc((size_t)M * N);
    assert_int_equal(hlm_gemm_get_precision(), HLM_GEMM_F32);
    hlm_sgemm(false, false, M, N, K, 1.0f, A, K, B, N, 0.0f, c0, N);
    hlm_gemm_set_precision(HLM_GEMM_BF16);
    assert_int_equal(hlm_gemm_get_precision(), HLM_GEMM_BF16);
    hlm_sgemm(false, false, M, N, K, 1.0f, A, K, B, N, 0.0f, c1, N);
    assert_true(memcmp(c0, c1, (size_t)M * N * sizeof *c0) != 0);
    hlm_sgemm(false, false, M, N, K, 0.5f, A, K, B, N, 0.0f, c1, N); /* alpha != 1: fp32 */
    hlm_gemm_set_precision(HLM_GEMM_F32);
    hlm_sgemm(false, false, M, N, K, 0.5f, A, K, B, N, 0.0f, c2, N);
    assert_memory_equal(c1, c2, (size_t)M * N * sizeof *c1);
    hlm_sgemm(false, false, M, N, K, 1.0f, A, K, B, N, 0.0f, c2, N);
    assert_memory_equal(c0, c2, (size_t)M * N * sizeof *c0);
    free(A), free(B), free(c0), free(c1), free(c2);
}

int main(void)
{
    if (!hlm_gemm_bf16_supported()) {
        printf("SKIPPED: no bf16 on this CPU\n");
        return 0;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rounding),
        cmocka_unit_test(test_switch_back),
        cmocka_unit_test(test_orientations_and_sizes),
        cmocka_unit_test(test_other_beta_and_threads),
        cmocka_unit_test(test_cache_eviction),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
