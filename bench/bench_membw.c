/* Memory read bandwidth, the bound of token generation:
 *   bench_membw [--threads T] [--bytes N] [--reps R]
 *
 * Sums a buffer of N bytes (default 1 GiB: far more than any cache here, so it streams from DRAM)
 * as floats, split into one contiguous slice per thread (T threads, default 2), and prints one
 * JSON line {threads, bytes, gb_per_s} with the best of R passes (default 5) after one untimed
 * pass. A decode step reads every weight once, so bytes per token / this figure is the shortest
 * a step can take when the weights come from DRAM (bench/infer_llamacpp.sh divides by it). With
 * a smaller --bytes the buffer stays in cache and the figure is that level's read bandwidth. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(__AVX512F__) || defined(__AVX__)
#include <immintrin.h>
#endif
#ifdef _OPENMP
#include <omp.h>
#endif

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Sum of n floats (n a multiple of 64, p 64-byte aligned); four independent accumulators so the
 * adds do not serialize on their latency and the loads are the limit. */
static float sum_floats(const float *p, size_t n)
{
#if defined(__AVX512F__)
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (size_t i = 0; i < n; i += 64) {
        a0 = _mm512_add_ps(a0, _mm512_load_ps(p + i));
        a1 = _mm512_add_ps(a1, _mm512_load_ps(p + i + 16));
        a2 = _mm512_add_ps(a2, _mm512_load_ps(p + i + 32));
        a3 = _mm512_add_ps(a3, _mm512_load_ps(p + i + 48));
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
#elif defined(__AVX__)
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (size_t i = 0; i < n; i += 32) {
        a0 = _mm256_add_ps(a0, _mm256_load_ps(p + i));
        a1 = _mm256_add_ps(a1, _mm256_load_ps(p + i + 8));
        a2 = _mm256_add_ps(a2, _mm256_load_ps(p + i + 16));
        a3 = _mm256_add_ps(a3, _mm256_load_ps(p + i + 24));
    }
    float t[8];
    _mm256_storeu_ps(t, _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
    return t[0] + t[1] + t[2] + t[3] + t[4] + t[5] + t[6] + t[7];
#else
    float a[8] = {0};
    for (size_t i = 0; i < n; i += 8)
        for (int k = 0; k < 8; k++) a[k] += p[i + k];
    return a[0] + a[1] + a[2] + a[3] + a[4] + a[5] + a[6] + a[7];
#endif
}

/* One pass over the buffer by `threads` threads; returns its seconds, the sum in *total. */
static double pass(const float *buf, size_t n, int threads, double *total)
{
    double t0 = now_s(), s = 0;
#pragma omp parallel num_threads(threads) reduction(+ : s)
    {
        int id = 0, nt = 1;
#ifdef _OPENMP
        id = omp_get_thread_num();
        nt = omp_get_num_threads();
#endif
        size_t chunks = n / 64, lo = chunks * (size_t)id / (size_t)nt, hi = chunks * (size_t)(id + 1) / (size_t)nt;
        s += sum_floats(buf + lo * 64, (hi - lo) * 64);
    }
    *total = s;
    return now_s() - t0;
}

int main(int argc, char **argv)
{
    int threads = 2, reps = 5;
    size_t bytes = (size_t)1 << 30;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) {
            fprintf(stderr, "usage: bench_membw [--threads T] [--bytes N] [--reps R]\n");
            return 2;
        }
        i++;
        if (!strcmp(a, "--threads")) threads = atoi(v);
        else if (!strcmp(a, "--bytes")) bytes = (size_t)strtoull(v, NULL, 10);
        else if (!strcmp(a, "--reps")) reps = atoi(v);
        else {
            fprintf(stderr, "bench_membw: unknown flag '%s'\n", a);
            return 2;
        }
    }
    if (threads < 1 || reps < 1 || bytes < 4096) {
        fprintf(stderr, "bench_membw: need --threads >= 1, --reps >= 1, --bytes >= 4096\n");
        return 2;
    }
    size_t n = bytes / sizeof(float) / 64 * 64;
    float *buf = aligned_alloc(64, n * sizeof(float));
    if (!buf) {
        fprintf(stderr, "bench_membw: out of memory for %zu bytes\n", n * sizeof(float));
        return 1;
    }
    /* Written by the threads that read it, so each slice's pages sit on their node. */
#pragma omp parallel for num_threads(threads) schedule(static)
    for (size_t i = 0; i < n; i++) buf[i] = 1.0f;
    double total = 0, best = 1e30;
    pass(buf, n, threads, &total);
    for (int r = 0; r < reps; r++) {
        double t = pass(buf, n, threads, &total);
        if (t < best) best = t;
    }
    if (total < 0) fprintf(stderr, "impossible sum %g\n", total); /* keeps the loads alive */
    printf("{\"threads\": %d, \"bytes\": %zu, \"gb_per_s\": %.2f}\n", threads, n * sizeof(float),
           (double)(n * sizeof(float)) / best / 1e9);
    free(buf);
    return 0;
}
