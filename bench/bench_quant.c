/* Quantized matrix-vector products against f32 and against the memory bandwidth:
 *   bench_quant [--rows R] [--cols C] [--reps N] [--batch B]
 *
 * y = W x for W (R, C) (default 4096 x 4096) stored as f32 (hlm_sgemm: oneDNN's sgemm with N = 1,
 * what the model uses today), Q8_0, Q4_0 and Q4_1 (hlm_matvec_q with each available kernel), with
 * 1 and 2 threads; best of N runs (default 30) after a warm-up. GB/s counts the weight bytes read
 * per product (the activation row is small beside them); GFLOP/s counts 2 R C. With --batch B > 1
 * the Q rows time hlm_matmul_q on B activation rows instead (GFLOP/s over all of them).
 *
 * The bound: a streaming read (sum of 64-byte vectors) over a buffer of each matrix's size, read
 * the same way the product reads its weights (repeatedly, so from whatever cache level holds it)
 * and over 1 GiB (DRAM: more than any cache here). On a machine whose last-level cache holds the
 * weights (300 MB L3 here) the first is the relevant bound.
 *
 * No peer: llama.cpp (ggml's vec_dot kernels) is not installed here and takes about ten minutes
 * to build, so this bench prints our figures and the bandwidth bound only. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(__AVX512F__) || defined(__AVX2__)
#include <immintrin.h>
#endif

#include "infer/quant.h"
#include "model/gemm.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static float urand(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (float)((rng_state >> 40) & 0xFFFFFF) / 8388608.0f - 1.0f;
}

/* Sum of the buffer as 64-bit lanes: every byte is loaded once; the sum is printed nowhere but
 * returned so the loads are not optimized away. */
static uint64_t read_sum(const uint8_t *p, size_t bytes)
{
    uint64_t total = 0;
#pragma omp parallel reduction(+ : total)
    {
#pragma omp for schedule(static)
        for (size_t c = 0; c < bytes / 4096; c++) {
            const uint8_t *q = p + c * 4096;
#if defined(__AVX512F__)
            __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
            for (int i = 0; i < 4096; i += 256) {
                a0 = _mm512_add_epi64(a0, _mm512_load_si512((const void *)(q + i)));
                a1 = _mm512_add_epi64(a1, _mm512_load_si512((const void *)(q + i + 64)));
                a2 = _mm512_add_epi64(a2, _mm512_load_si512((const void *)(q + i + 128)));
                a3 = _mm512_add_epi64(a3, _mm512_load_si512((const void *)(q + i + 192)));
            }
            total += (uint64_t)_mm512_reduce_add_epi64(
                _mm512_add_epi64(_mm512_add_epi64(a0, a1), _mm512_add_epi64(a2, a3)));
#else
            uint64_t s[8] = {0};
            for (int i = 0; i < 4096; i += 64)
                for (int k = 0; k < 8; k++) {
                    uint64_t v;
                    memcpy(&v, q + i + 8 * k, 8);
                    s[k] += v;
                }
            for (int k = 0; k < 8; k++) total += s[k];
#endif
        }
    }
    return total;
}

static volatile uint64_t sink;

/* best GB/s of reading `bytes` (rounded down to 4 KiB) */
static double read_gbs(size_t bytes, int reps)
{
    bytes &= ~(size_t)4095;
    uint8_t *p = aligned_alloc(4096, bytes);
    if (!p) return 0.0;
    for (size_t i = 0; i < bytes; i++) p[i] = (uint8_t)i;
    sink += read_sum(p, bytes);
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        double t = now_s();
        sink += read_sum(p, bytes);
        t = now_s() - t;
        if (t < best) best = t;
    }
    free(p);
    return (double)bytes / best / 1e9;
}

typedef struct {
    const char *name, *kernel;
    int threads;
    double seconds, bytes, bound_gbs;
} result;

int main(int argc, char **argv)
{
    int64_t R = 4096, C = 4096, batch = 1;
    int reps = 30;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--rows") && i + 1 < argc) R = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--cols") && i + 1 < argc) C = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--batch") && i + 1 < argc) batch = atoll(argv[++i]);
        else {
            fprintf(stderr, "usage: bench_quant [--rows R] [--cols C] [--reps N] [--batch B]\n");
            return 2;
        }
    }
    if (R <= 0 || C <= 0 || C % 32 || reps <= 0 || batch <= 0) {
        fprintf(stderr, "bench_quant: rows > 0, cols a positive multiple of 32, reps > 0, batch > 0\n");
        return 2;
    }
    float *W = malloc(sizeof(float) * (size_t)(R * C)), *X = malloc(sizeof(float) * (size_t)(C * batch));
    float *Y = malloc(sizeof(float) * (size_t)(R * batch));
    if (!W || !X || !Y) return 1;
    for (int64_t i = 0; i < R * C; i++) W[i] = urand() * 0.05f;
    for (int64_t i = 0; i < C * batch; i++) X[i] = urand();

    printf("# y = W x, W %lld x %lld%s; best of %d runs\n\n", (long long)R, (long long)C,
           batch > 1 ? "" : "", reps);
    if (batch > 1) printf("(Q types: hlm_matmul_q on %lld activation rows)\n\n", (long long)batch);
    double dram[3] = {0};
    for (int th = 1; th <= 2; th++) {
        hlm_set_threads(th);
        dram[th] = read_gbs((size_t)1 << 30, 5);
    }

    result res[64];
    int nres = 0;
    const hlm_qtype types[] = {HLM_QT_F32, HLM_QT_Q8_0, HLM_QT_Q4_0, HLM_QT_Q4_1};
    hlm_error err;
    for (size_t ti = 0; ti < sizeof types / sizeof *types; ti++) {
        hlm_qtype t = types[ti];
        size_t rb;
        if (hlm_qtype_row_bytes(t, C, &rb, &err)) return fprintf(stderr, "%s\n", err.msg), 1;
        size_t bytes = rb * (size_t)R;
        uint8_t *Wq = NULL;
        if (t != HLM_QT_F32) {
            Wq = malloc(bytes);
            if (!Wq) return 1;
            for (int64_t r = 0; r < R; r++)
                if (hlm_quantize_row(t, W + r * C, Wq + rb * (size_t)r, C, &err))
                    return fprintf(stderr, "%s\n", err.msg), 1;
        }
        for (int th = 1; th <= 2; th++) {
            hlm_set_threads(th);
            double bound = read_gbs(bytes, 20);
            for (int k = HLM_QK_SCALAR; k <= HLM_QK_AVX512_VNNI; k++) {
                if (t == HLM_QT_F32 && k != HLM_QK_SCALAR) break;
                if (t != HLM_QT_F32 && hlm_qkernel_set((hlm_qkernel)k, &err)) continue;
                double best = 1e30;
                for (int r = -1; r < reps; r++) {
                    double s = now_s();
                    if (t == HLM_QT_F32)
                        hlm_sgemm(false, true, (int)batch, (int)R, (int)C, 1.0f, X, (int)C, W, (int)C,
                                  0.0f, Y, (int)R);
                    else if (hlm_matmul_q(t, Wq, R, C, X, batch, Y, &err))
                        return fprintf(stderr, "%s\n", err.msg), 1;
                    s = now_s() - s;
                    if (r >= 0 && s < best) best = s;
                }
                res[nres++] = (result){hlm_qtype_name(t), t == HLM_QT_F32 ? "oneDNN sgemm" : hlm_qkernel_name((hlm_qkernel)k),
                                       th, best, (double)bytes, bound};
            }
        }
        free(Wq);
    }
    hlm_qkernel_set(HLM_QK_AUTO, &err);

    printf("| type | kernel | threads | weight MB | us/product | GB/s | GFLOP/s | read bound GB/s (same size) | %% of bound |\n");
    printf("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    for (int i = 0; i < nres; i++) {
        double gbs = res[i].bytes / res[i].seconds / 1e9;
        printf("| %s | %s | %d | %.1f | %.0f | %.1f | %.1f | %.1f | %.0f%% |\n", res[i].name, res[i].kernel,
               res[i].threads, res[i].bytes / 1e6, res[i].seconds * 1e6, gbs,
               2.0 * (double)R * (double)C * (double)batch / res[i].seconds / 1e9, res[i].bound_gbs,
               100.0 * gbs / res[i].bound_gbs);
    }
    printf("\nDRAM streaming read (1 GiB): %.1f GB/s with 1 thread, %.1f GB/s with 2\n", dram[1], dram[2]);
    free(W), free(X), free(Y);
    return 0;
}
