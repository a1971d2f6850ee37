/* Quantized block formats and dot products (src/infer/quant.c, quant_x86.c).
 *
 * References:
 * - gguf-py (PyPI gguf 0.19.0, numpy): tests/fixtures/quant/<type>.bin, written by
 *   tools/gen_quant_fixtures.py, hold a row with random and edge-case blocks, gguf-py's quantized
 *   bytes and its dequantization. Quantization must give the same bytes, dequantization the same
 *   floats bit for bit (NaN where gguf-py has NaN: the block whose fp16 scale overflows).
 * - numpy's float32 -> float16 cast (f16.bin, ties and the subnormal range included), an
 *   independent ldexp decoding of all 65536 fp16 values, and the CPU's vcvtps2ph where present.
 * - the dot products: a double-precision sum over the dequantized weight row (itself checked
 *   against gguf-py) times the dequantized activation codes. The kernels compute each block's
 *   integer dot exactly, then sum fp32 terms t (d_w d_x dot, and m_w s_x for Q4_1/Q5_1) in some
 *   order; each term is two or three fp32 roundings from its exact value and a sum of k terms in
 *   any order adds at most (k - 1) u sum|t| (u = 2^-24). With nb blocks and at most 16 lanes the
 *   error is below (nb + 19) u S, S = sum of |terms| in double; the test allows 2 (nb + 19) u S
 *   for each kernel against the reference and twice that between kernels.
 * - activation quantization: the codes must equal Q8_0's (same rule), so the product's error
 *   against the f32 row is at most sum_b d_x[b] / 2 sum_i |w_i| plus the rounding above. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "infer/quant.h"
#include "model/gemm.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif

#define HLM_TEST_SEED 0x2545F4914F6CDD1Dull
#include "xorshift.h"
/* roughly normal, occasionally a large outlier (as real weights and activations have) */
static float wrand(void)
{
    float v = urand() + urand() + urand();
    return rnd() % 97 == 0 ? v * 8.0f : v;
}

static uint32_t bits(float f)
{
    uint32_t b;
    memcpy(&b, &f, 4);
    return b;
}

/* ---- fixtures -------------------------------------------------------------------------------- */

typedef struct {
    uint32_t type, n;
    float *x, *deq;
    uint8_t *quant;
    size_t quant_bytes;
    uint8_t *data;
} fixture;

static void fixture_load(const char *name, fixture *fx)
{
    const char *dir = getenv("HLM_FIXTURES");
    char path[512];
    snprintf(path, sizeof path, "%s/quant/%s.bin", dir ? dir : "tests/fixtures", name);
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("%s: cannot open (run tools/gen_quant_fixtures.py)", path);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    fx->data = malloc((size_t)size);
    assert_non_null(fx->data);
    assert_int_equal(fread(fx->data, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    assert_memory_equal(fx->data, "HLMQFIX1", 8);
    memcpy(&fx->type, fx->data + 8, 4);
    memcpy(&fx->n, fx->data + 12, 4);
    hlm_error err;
    if (hlm_qtype_row_bytes((hlm_qtype)fx->type, fx->n, &fx->quant_bytes, &err)) fail_msg("%s", err.msg);
    assert_int_equal((size_t)size, 16 + 8 * (size_t)fx->n + fx->quant_bytes);
    /* copies at natural alignment */
    fx->x = malloc(4 * (size_t)fx->n);
    fx->deq = malloc(4 * (size_t)fx->n);
    fx->quant = malloc(fx->quant_bytes);
    memcpy(fx->x, fx->data + 16, 4 * (size_t)fx->n);
    memcpy(fx->quant, fx->data + 16 + 4 * (size_t)fx->n, fx->quant_bytes);
    memcpy(fx->deq, fx->data + 16 + 4 * (size_t)fx->n + fx->quant_bytes, 4 * (size_t)fx->n);
}

static void fixture_free(fixture *fx)
{
    free(fx->x), free(fx->deq), free(fx->quant), free(fx->data);
}

static const char *const fixture_names[] = {"q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "f16"};
#define N_FIXTURES (int)(sizeof fixture_names / sizeof *fixture_names)

static void test_quantize_matches_gguf(void **state)
{
    (void)state;
    for (int k = 0; k < N_FIXTURES; k++) {
        fixture fx;
        fixture_load(fixture_names[k], &fx);
        assert_string_equal(hlm_qtype_name((hlm_qtype)fx.type), fixture_names[k]);
        uint8_t *out = malloc(fx.quant_bytes);
        hlm_error err;
        if (hlm_quantize_row((hlm_qtype)fx.type, fx.x, out, fx.n, &err)) fail_msg("%s", err.msg);
        int bb = hlm_qtype_block_bytes((hlm_qtype)fx.type);
        for (size_t i = 0; i < fx.quant_bytes; i++)
            if (out[i] != fx.quant[i])
                fail_msg("%s: byte %zu (block %zu) is 0x%02x, gguf-py has 0x%02x", fixture_names[k], i,
                         i / (size_t)bb, out[i], fx.quant[i]);
        free(out);
        fixture_free(&fx);
    }
}

static void test_dequantize_matches_gguf(void **state)
{
    (void)state;
    for (int k = 0; k < N_FIXTURES; k++) {
        fixture fx;
        fixture_load(fixture_names[k], &fx);
        float *y = malloc(4 * (size_t)fx.n);
        hlm_error err;
        if (hlm_dequantize_row((hlm_qtype)fx.type, fx.quant, y, fx.n, &err)) fail_msg("%s", err.msg);
        int nans = 0;
        for (uint32_t i = 0; i < fx.n; i++) {
            if (isnan(fx.deq[i]) && isnan(y[i])) {
                nans++;
                continue;
            }
            if (bits(y[i]) != bits(fx.deq[i]))
                fail_msg("%s: value %u is %.9g, gguf-py has %.9g", fixture_names[k], i, y[i], fx.deq[i]);
        }
        /* the fp16-overflow block: Q8_0 and Q4_1 (d = inf) make NaN from 0 * inf; others do not */
        if (!strcmp(fixture_names[k], "q8_0") || !strcmp(fixture_names[k], "q4_1")) assert_true(nans > 0);
        free(y);
        fixture_free(&fx);
    }
}

/* ---- fp16 ------------------------------------------------------------------------------------ */

static double f16_value(uint16_t h) /* from the definition, in double */
{
    int s = h >> 15, e = (h >> 10) & 31, m = h & 1023;
    double v = e == 0 ? ldexp(m, -24) : e == 31 ? (m ? NAN : INFINITY) : ldexp(1024 + m, e - 25);
    return s ? -v : v;
}

#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target("f16c"))) static uint16_t hw_f32_to_f16(float f)
{
    return (uint16_t)_cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}
#endif

static void test_f16(void **state)
{
    (void)state;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = hlm_f16_to_f32((uint16_t)h);
        double want = f16_value((uint16_t)h);
        if (isnan(want)) {
            assert_true(isnan(f));
            assert_int_equal(hlm_f32_to_f16(f), h | 0x0200); /* NaN comes back quiet */
        } else {
            if ((double)f != want || !signbit(f) != !signbit(want)) fail_msg("fp16 0x%04x -> %.9g, expected %.9g", h, f, want);
            assert_int_equal(hlm_f32_to_f16(f), h); /* every fp16 value round-trips */
        }
    }
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("f16c")) {
        for (int i = 0; i < 2000000; i++) {
            uint32_t b = rnd() << 16 ^ rnd();
            float f;
            memcpy(&f, &b, 4);
            if (isnan(f)) continue; /* signalling NaN payloads: hardware and numpy differ */
            uint16_t got = hlm_f32_to_f16(f), want = hw_f32_to_f16(f);
            if (got != want) fail_msg("f32 0x%08x -> fp16 0x%04x, vcvtps2ph gives 0x%04x", b, got, want);
        }
    }
#endif
}

/* ---- activations ----------------------------------------------------------------------------- */

static void test_act_codes_are_q8_0(void **state)
{
    (void)state;
    fixture fx;
    fixture_load("q8_0", &fx);
    void *buf = malloc(hlm_q8_act_bytes(fx.n, 1));
    hlm_q8_act a;
    hlm_q8_act_bind(&a, buf, fx.n, 1, 0);
    hlm_error err = {0};
    for (int k = HLM_QK_SCALAR; k <= HLM_QK_AVX512_VNNI; k++) {
        if (!hlm_qkernel_available((hlm_qkernel)k)) continue;
        assert_int_equal(hlm_qkernel_set((hlm_qkernel)k, &err), HLM_OK);
        memset(buf, 0x5A, hlm_q8_act_bytes(fx.n, 1));
        hlm_quantize_act(fx.x, &a);
    for (uint32_t b = 0; b < fx.n / 32; b++) {
        const uint8_t *blk = fx.quant + 34 * b;
        assert_memory_equal(a.q + 32 * b, blk + 2, 32);
        float amax = 0.0f;
        int sum = 0;
        for (int i = 0; i < 32; i++) amax = fmaxf(amax, fabsf(fx.x[32 * b + i])), sum += a.q[32 * b + i];
        assert_true(a.d[b] == amax / 127.0f);
        assert_true(a.s[b] == a.d[b] * (float)sum);
        uint16_t d16;
        memcpy(&d16, blk, 2);
        assert_int_equal(hlm_f32_to_f16(a.d[b]), d16); /* Q8_0 stores the same scale in fp16 */
    }
    }
    assert_int_equal(hlm_qkernel_set(HLM_QK_AUTO, &err), HLM_OK);
    free(buf);
    fixture_free(&fx);
}

/* Every kernel's activation quantization gives the scalar rule's codes, scales and sums bit for
 * bit, on blocks made to hit its edges: scale 1 with codes at exact halves (roundf rounds them
 * away from zero) and just below, values past the clamp, NaN (code 0, skipped by amax), an
 * infinity (scale inf, codes 0), zeros, subnormals, and random blocks. */
static void test_act_kernels_agree(void **state)
{
    (void)state;
    enum { NB = 12, N = NB * 32 };
    static float x[N];
    for (int i = 0; i < 32; i++) {
        x[i] = i == 0 ? 127.0f : (float)(i % 2 ? 1 : -1) * ((float)(i * 3 % 120) + 0.5f);
        x[32 + i] = i == 0 ? -127.0f : (float)(i % 2 ? 1 : -1) * nextafterf((float)(i * 3 % 120) + 0.5f, 0.0f);
        x[64 + i] = i == 5 ? NAN : urand() * 3.0f;
        x[96 + i] = i == 7 ? INFINITY : urand();
        x[128 + i] = 0.0f;
        x[160 + i] = urand() * 1e-40f;
        x[192 + i] = i == 9 ? -NAN : (i == 10 ? -INFINITY : urand());
    }
    for (int i = 224; i < N; i++) x[i] = wrand() * (float)(1 + i % 5);
    void *ref = malloc(hlm_q8_act_bytes(N, 1)), *got = malloc(hlm_q8_act_bytes(N, 1));
    hlm_q8_act a;
    hlm_error err = {0};
    assert_int_equal(hlm_qkernel_set(HLM_QK_SCALAR, &err), HLM_OK);
    memset(ref, 0, hlm_q8_act_bytes(N, 1));
    hlm_q8_act_bind(&a, ref, N, 1, 0);
    hlm_quantize_act(x, &a);
    assert_int_equal(a.q[1], 4);   /* 3.5 -> 4 */
    assert_int_equal(a.q[2], -7);  /* -6.5 -> -7 */
    assert_int_equal(a.q[33], 3);  /* just below 3.5 -> 3 */
    assert_int_equal(a.q[64 + 5], 0);
    for (int k = HLM_QK_AVX2; k <= HLM_QK_AVX512_VNNI; k++) {
        if (!hlm_qkernel_available((hlm_qkernel)k)) continue;
        assert_int_equal(hlm_qkernel_set((hlm_qkernel)k, &err), HLM_OK);
        memset(got, 0x5A, hlm_q8_act_bytes(N, 1));
        hlm_q8_act_bind(&a, got, N, 1, 0);
        hlm_quantize_act(x, &a);
        if (memcmp(ref, got, hlm_q8_act_bytes(N, 1)) != 0) fail_msg("kernel %s: activation codes differ", hlm_qkernel_name((hlm_qkernel)k));
    }
    assert_int_equal(hlm_qkernel_set(HLM_QK_AUTO, &err), HLM_OK);
    free(ref);
    free(got);
}

/* ---- kernels --------------------------------------------------------------------------------- */

static const hlm_qtype dot_types[] = {HLM_QT_Q8_0, HLM_QT_Q4_0, HLM_QT_Q4_1, HLM_QT_Q5_0, HLM_QT_Q5_1};
#define N_DOT_TYPES (int)(sizeof dot_types / sizeof *dot_types)

/* The double reference and S, the sum of the kernels' term magnitudes (see the header). */
static double ref_dot(hlm_qtype t, const void *w, const hlm_q8_act *a, double *S)
{
    int64_t n = a->n;
    float *wd = malloc(4 * (size_t)n);
    hlm_error err;
    if (hlm_dequantize_row(t, w, wd, n, &err)) fail_msg("%s", err.msg);
    int bb = hlm_qtype_block_bytes(t);
    int has_min = t == HLM_QT_Q4_1 || t == HLM_QT_Q5_1;
    double acc = 0.0, mag = 0.0;
    for (int64_t b = 0; b < n / 32; b++) {
        uint16_t h[2];
        memcpy(h, (const uint8_t *)w + (size_t)b * bb, 4);
        double dw = hlm_f16_to_f32(h[0]), m = has_min ? hlm_f16_to_f32(h[1]) : 0.0, qa = 0.0;
        for (int i = 0; i < 32; i++) {
            double x = (double)a->d[b] * a->q[32 * b + i];
            acc += (double)wd[32 * b + i] * x;
            double qw = dw != 0.0 ? ((double)wd[32 * b + i] - m) / dw : 0.0; /* the weight code */
            mag += fabs(dw * a->d[b] * qw * a->q[32 * b + i]);
            qa += a->q[32 * b + i];
        }
        mag += fabs(m * a->d[b] * qa);
    }
    free(wd);
    *S = mag;
    return acc;
}

static void check_kernels_on(hlm_qtype t, int64_t n, int misalign)
{
    size_t bytes;
    hlm_error err;
    if (hlm_qtype_row_bytes(t, n, &bytes, &err)) fail_msg("%s", err.msg);
    float *x = malloc(4 * (size_t)n), *w = malloc(4 * (size_t)n);
    for (int64_t i = 0; i < n; i++) x[i] = wrand(), w[i] = wrand() * 0.02f;
    if (n >= 64) /* a block of zeros and a constant block in the weights */
        for (int i = 0; i < 32; i++) w[i] = 0.0f, w[32 + i] = 0.5f;
    uint8_t *store = malloc(bytes + 1), *wq = store + misalign; /* GGUF data need not be aligned */
    if (hlm_quantize_row(t, w, wq, n, &err)) fail_msg("%s", err.msg);
    void *buf = malloc(hlm_q8_act_bytes(n, 1));
    hlm_q8_act a;
    hlm_q8_act_bind(&a, buf, n, 1, 0);
    hlm_quantize_act(x, &a);
    double S, want = ref_dot(t, wq, &a, &S);
    double tol = 2.0 * (double)(n / 32 + 19) * 0x1p-24 * S;
    float scalar = 0.0f;
    for (int k = HLM_QK_SCALAR; k <= HLM_QK_AVX512_VNNI; k++) {
        if (!hlm_qkernel_available((hlm_qkernel)k)) continue;
        if (hlm_qkernel_set((hlm_qkernel)k, &err)) fail_msg("%s", err.msg);
        float got;
        if (hlm_qdot(t, wq, &a, &got, &err)) fail_msg("%s", err.msg);
        if (k == HLM_QK_SCALAR) scalar = got;
        if (!(fabs(got - want) <= tol))
            fail_msg("%s n=%lld %s: %.9g, reference %.9g (|diff| %.3g > %.3g)", hlm_qtype_name(t),
                     (long long)n, hlm_qkernel_name((hlm_qkernel)k), got, want, fabs(got - want), tol);
        if (!(fabs((double)got - scalar) <= 2 * tol))
            fail_msg("%s n=%lld %s: %.9g, scalar kernel %.9g", hlm_qtype_name(t), (long long)n,
                     hlm_qkernel_name((hlm_qkernel)k), got, scalar);
    }
    assert_int_equal(hlm_qkernel_set(HLM_QK_AUTO, &err), HLM_OK);
    free(buf), free(store), free(x), free(w);
}

static void test_kernels(void **state)
{
    (void)state;
    int avail = 0;
    for (int k = HLM_QK_SCALAR; k <= HLM_QK_AVX512_VNNI; k++)
        if (hlm_qkernel_available((hlm_qkernel)k)) {
            print_message("kernel %s available\n", hlm_qkernel_name((hlm_qkernel)k));
            avail++;
        }
    assert_true(avail >= 1);
    /* block counts that exercise every tail: 1, 2, 3, 5 (past the 4-block step), many */
    const int64_t sizes[] = {32, 64, 96, 160, 256, 576, 1536, 4096 + 96};
    for (int t = 0; t < N_DOT_TYPES; t++)
        for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++)
            for (int mis = 0; mis < 2; mis++) check_kernels_on(dot_types[t], sizes[s], mis);
}

/* ---- products -------------------------------------------------------------------------------- */

static void test_matvec_matmul(void **state)
{
    (void)state;
    const int64_t rows = 67, cols = 576, batch = 5;
    hlm_error err;
    float *W = malloc(4 * (size_t)(rows * cols)), *X = malloc(4 * (size_t)(batch * cols));
    for (int64_t i = 0; i < rows * cols; i++) W[i] = wrand() * 0.05f;
    for (int64_t i = 0; i < batch * cols; i++) X[i] = wrand();
    float *y1 = malloc(4 * (size_t)rows), *y2 = malloc(4 * (size_t)rows);
    float *Y = malloc(4 * (size_t)(rows * batch)), *deq = malloc(4 * (size_t)cols);
    void *abuf = malloc(hlm_q8_act_bytes(cols, 1));
    int threads = hlm_get_threads();
    for (int t = 0; t < N_DOT_TYPES; t++) {
        size_t rb;
        assert_int_equal(hlm_qtype_row_bytes(dot_types[t], cols, &rb, &err), HLM_OK);
        uint8_t *Wq = malloc(rb * (size_t)rows);
        for (int64_t r = 0; r < rows; r++)
            assert_int_equal(hlm_quantize_row(dot_types[t], W + r * cols, Wq + rb * r, cols, &err), HLM_OK);
        assert_int_equal(hlm_matmul_q(dot_types[t], Wq, rows, cols, X, batch, Y, &err), HLM_OK);
        for (int64_t b = 0; b < batch; b++) {
            /* threads split rows only: 1 and 2 threads give the same bits */
            hlm_set_threads(1);
            assert_int_equal(hlm_matvec_q(dot_types[t], Wq, rows, cols, X + b * cols, y1, &err), HLM_OK);
            hlm_set_threads(2);
            assert_int_equal(hlm_matvec_q(dot_types[t], Wq, rows, cols, X + b * cols, y2, &err), HLM_OK);
            assert_memory_equal(y1, y2, 4 * (size_t)rows);
            assert_memory_equal(y1, Y + b * rows, 4 * (size_t)rows); /* batched = one at a time */
            hlm_q8_act a;
            hlm_q8_act_bind(&a, abuf, cols, 1, 0);
            hlm_quantize_act(X + b * cols, &a);
            for (int64_t r = 0; r < rows; r++) {
                float d;
                assert_int_equal(hlm_qdot(dot_types[t], Wq + rb * r, &a, &d, &err), HLM_OK);
                assert_true(bits(d) == bits(y1[r]));
                /* against the unquantized activations: |x - d q| <= d / 2 per value */
                assert_int_equal(hlm_dequantize_row(dot_types[t], Wq + rb * r, deq, cols, &err), HLM_OK);
                double exact = 0.0, bound = 0.0, S;
                for (int64_t i = 0; i < cols; i++) exact += (double)deq[i] * X[b * cols + i];
                for (int64_t k = 0; k < cols / 32; k++) {
                    double wabs = 0.0;
                    for (int i = 0; i < 32; i++) wabs += fabs(deq[32 * k + i]);
                    bound += 0.5 * a.d[k] * wabs;
                }
                ref_dot(dot_types[t], Wq + rb * r, &a, &S);
                bound += 2.0 * (double)(cols / 32 + 19) * 0x1p-24 * S;
                if (!(fabs(y1[r] - exact) <= bound))
                    fail_msg("%s row %lld: %.9g, f32 activations give %.9g (bound %.3g)",
                             hlm_qtype_name(dot_types[t]), (long long)r, y1[r], exact, bound);
            }
        }
        free(Wq);
    }
    hlm_set_threads(threads);
    free(abuf), free(deq), free(Y), free(y1), free(y2), free(W), free(X);
}

/* ---- bad input ------------------------------------------------------------------------------- */

static void test_bad_input(void **state)
{
    (void)state;
    float x[64] = {0}, y[64];
    uint8_t q[128];
    hlm_error err;
    assert_int_equal(hlm_quantize_row(HLM_QT_Q4_0, x, q, 33, &err), HLM_ERR_INVALID);
    assert_non_null(strstr(err.msg, "multiple of 32"));
    assert_non_null(strstr(err.msg, "q4_0"));
    assert_int_equal(hlm_dequantize_row(HLM_QT_Q8_0, q, y, 48, &err), HLM_ERR_INVALID);
    assert_non_null(strstr(err.msg, "48 values"));
    assert_int_equal(hlm_quantize_row(HLM_QT_Q8_0, x, q, -32, &err), HLM_ERR_INVALID);
    assert_int_equal(hlm_quantize_row((hlm_qtype)5, x, q, 32, &err), HLM_ERR_INVALID);
    assert_non_null(strstr(err.msg, "unknown type id 5"));
    assert_int_equal(hlm_quantize_row(HLM_QT_Q8_0, NULL, q, 32, &err), HLM_ERR_INVALID);
    size_t bytes;
    assert_int_equal(hlm_qtype_row_bytes(HLM_QT_Q4_1, 96, &bytes, &err), HLM_OK);
    assert_int_equal(bytes, 60);
    assert_int_equal(hlm_qtype_row_bytes(HLM_QT_F16, 3, &bytes, &err), HLM_OK); /* f16: any n */
    assert_int_equal(bytes, 6);

    hlm_qtype t;
    assert_int_equal(hlm_qtype_from_name("q4_1", &t, &err), HLM_OK);
    assert_int_equal(t, HLM_QT_Q4_1);
    assert_int_equal(hlm_qtype_from_name("q3_k", &t, &err), HLM_ERR_INVALID);
    assert_non_null(strstr(err.msg, "q3_k"));
    assert_int_equal(hlm_qtype_from_name(NULL, &t, &err), HLM_ERR_INVALID);

    float out[4];
    assert_int_equal(hlm_matvec_q(HLM_QT_Q8_0, q, 2, 48, x, out, &err), HLM_ERR_INVALID);
    assert_non_null(strstr(err.msg, "multiple of 32"));
    assert_int_equal(hlm_matvec_q(HLM_QT_F16, q, 1, 32, x, out, &err), HLM_ERR_INVALID);
    assert_non_null(strstr(err.msg, "f16"));
    assert_int_equal(hlm_matmul_q(HLM_QT_Q4_0, q, 1, 32, x, -1, out, &err), HLM_ERR_INVALID);
    assert_int_equal(hlm_matvec_q(HLM_QT_Q4_0, NULL, 1, 32, x, out, &err), HLM_ERR_INVALID);
    assert_int_equal(hlm_matvec_q(HLM_QT_Q4_0, q, 0, 32, x, out, &err), HLM_OK); /* no rows: nothing */

    assert_int_equal(hlm_qkernel_set((hlm_qkernel)9, &err), HLM_ERR_INVALID);
    assert_int_not_equal(hlm_qkernel_get(), (hlm_qkernel)9);
    assert_int_equal(hlm_qkernel_set(HLM_QK_SCALAR, &err), HLM_OK);
    assert_int_equal(hlm_qkernel_get(), HLM_QK_SCALAR);
    assert_int_equal(hlm_qkernel_set(HLM_QK_AUTO, &err), HLM_OK);
    assert_int_not_equal(hlm_qkernel_get(), HLM_QK_AUTO);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quantize_matches_gguf), cmocka_unit_test(test_dequantize_matches_gguf),
        cmocka_unit_test(test_f16),                   cmocka_unit_test(test_act_codes_are_q8_0), cmocka_unit_test(test_act_kernels_agree),
        cmocka_unit_test(test_kernels),               cmocka_unit_test(test_matvec_matmul),
        cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
