/* The machine's fp32 FMA peak, measured: each thread runs independent chains of fused
 * multiply-adds on full-width vectors (enough chains to cover FMA latency x ports), and the
 * FLOP count over the wall time is the ceiling that MFU is quoted against. */
#include <stdint.h>
#ifdef __AVX512F__
#include <immintrin.h>
#endif
#ifdef _OPENMP
#include <omp.h>
#endif

#include "hyperlm/progress.h"
#include "train/peak.h"

/* FLOPs done by one call: 2 per lane per FMA. */
static double fma_burst(int64_t iters, float *sink)
{
#ifdef __AVX512F__
    /* 12 named accumulators (not an array) so they stay in registers: 12 independent chains
     * cover 4-cycle latency x 2 FMA ports with room to spare. */
    __m512 x = _mm512_set1_ps(0.999999f), y = _mm512_set1_ps(1e-7f);
    __m512 a0 = _mm512_set1_ps(0), a1 = _mm512_set1_ps(1), a2 = _mm512_set1_ps(2), a3 = _mm512_set1_ps(3);
    __m512 a4 = _mm512_set1_ps(4), a5 = _mm512_set1_ps(5), a6 = _mm512_set1_ps(6), a7 = _mm512_set1_ps(7);
    __m512 a8 = _mm512_set1_ps(8), a9 = _mm512_set1_ps(9), a10 = _mm512_set1_ps(10), a11 = _mm512_set1_ps(11);
    for (int64_t k = 0; k < iters; k++) {
        a0 = _mm512_fmadd_ps(a0, x, y); a1 = _mm512_fmadd_ps(a1, x, y);
        a2 = _mm512_fmadd_ps(a2, x, y); a3 = _mm512_fmadd_ps(a3, x, y);
        a4 = _mm512_fmadd_ps(a4, x, y); a5 = _mm512_fmadd_ps(a5, x, y);
        a6 = _mm512_fmadd_ps(a6, x, y); a7 = _mm512_fmadd_ps(a7, x, y);
        a8 = _mm512_fmadd_ps(a8, x, y); a9 = _mm512_fmadd_ps(a9, x, y);
        a10 = _mm512_fmadd_ps(a10, x, y); a11 = _mm512_fmadd_ps(a11, x, y);
    }
    __m512 s = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)),
                             _mm512_add_ps(_mm512_add_ps(a4, a5), _mm512_add_ps(a6, a7)));
    s = _mm512_add_ps(s, _mm512_add_ps(_mm512_add_ps(a8, a9), _mm512_add_ps(a10, a11)));
    *sink = _mm512_reduce_add_ps(s);
    return (double)iters * 12 * 16 * 2;
#else
    float a[12][8];
    for (int i = 0; i < 12; i++)
        for (int j = 0; j < 8; j++) a[i][j] = (float)i;
    for (int64_t k = 0; k < iters; k++)
        for (int i = 0; i < 12; i++)
            for (int j = 0; j < 8; j++) a[i][j] = a[i][j] * 0.999999f + 1e-7f;
    float s = 0;
    for (int i = 0; i < 12; i++)
        for (int j = 0; j < 8; j++) s += a[i][j];
    *sink = s;
    return (double)iters * 12 * 8 * 2;
#endif
}

/* Each thread's rate is its FLOPs over its own CPU time, and the peak is their sum: what the
 * threads reach when each has a core to itself. Over wall time, other load on the machine at
 * the moment of measuring would lower the peak and push MFU above 100% later. */
double hlm_measure_peak_gflops(int threads)
{
    double best = 0;
    volatile float keep = 0;
    for (int rep = 0; rep < 3; rep++) {
        double rate = 0;
#ifdef _OPENMP
#pragma omp parallel num_threads(threads > 0 ? threads : 1) reduction(+ : rate)
#endif
        {
            float sink;
            double t0 = hlm_thread_cpu_s();
            double flops = fma_burst(2000000, &sink);
            double dt = hlm_thread_cpu_s() - t0;
            if (dt > 0) rate += flops / dt;
            keep += sink * 0.0f;
        }
        if (rate > best) best = rate;
    }
    (void)keep;
    return best / 1e9;
}
