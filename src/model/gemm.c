/* Matrix multiply over oneDNN's dnnl_sgemm (row-major), and the thread count that it and the
 * layers share (OpenMP: oneDNN is built on libgomp, so one pool serves both).
 *
 * dnnl_sgemm only fails on arguments that the model has already validated (negative sizes,
 * leading dimensions too small); if it ever does, a plain loop computes the same product so that
 * the library still never aborts. */
#include "model/gemm.h"

#include <unistd.h>

#include <dnnl.h>
#ifdef _OPENMP
#include <omp.h>
#endif

/* The reference product: correct for any strides, slow. beta == 0 does not read C (BLAS rule:
 * C may hold garbage or NaN then). */
static void sgemm_loop(bool trans_a, bool trans_b, int M, int N, int K, float alpha,
                       const float *A, int lda, const float *B, int ldb, float beta, float *C,
                       int ldc)
{
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double acc = 0.0;
            for (int k = 0; k < K; k++) {
                float a = trans_a ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k];
                float b = trans_b ? B[(size_t)j * ldb + k] : B[(size_t)k * ldb + j];
                acc += (double)a * b;
            }
            float *c = &C[(size_t)i * ldc + j];
            *c = (float)(alpha * acc) + (beta == 0.0f ? 0.0f : beta * *c);
        }
}

void hlm_sgemm(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float *A,
               int lda, const float *B, int ldb, float beta, float *C, int ldc)
{
    if (M <= 0 || N <= 0) return;
    if (K <= 0) { /* empty sum: C = beta * C; dnnl wants lda >= 1 even here */
        sgemm_loop(trans_a, trans_b, M, N, 0, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    dnnl_status_t st = dnnl_sgemm(trans_a ? 'T' : 'N', trans_b ? 'T' : 'N', M, N, K, alpha, A,
                                  lda, B, ldb, beta, C, ldc);
    if (st != dnnl_success)
        sgemm_loop(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void hlm_set_threads(int n)
{
    if (n <= 0) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        n = cpus > 0 ? (int)cpus : 1;
    }
#ifdef _OPENMP
    omp_set_num_threads(n);
#endif
}

int hlm_get_threads(void)
{
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}
