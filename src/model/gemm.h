/* Matrix multiply: the one place the model calls into the BLAS engine (oneDNN's dnnl_sgemm,
 * chosen by measurement: docs/gemm.md). Row-major throughout.
 * C (M,N) = alpha * op(A) . op(B) + beta * C, op(A) (M,K), op(B) (K,N); lda/ldb/ldc are the row
 * strides of A, B, C as stored. Threads: whatever hlm_set_threads last set (OpenMP). */
#ifndef HYPERLM_MODEL_GEMM_H
#define HYPERLM_MODEL_GEMM_H

#include <stdbool.h>

void hlm_sgemm(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float *A,
               int lda, const float *B, int ldb, float beta, float *C, int ldc);
/* Sets the OpenMP thread count used by gemm and the layers (<= 0: all online CPUs). */
void hlm_set_threads(int n);
int hlm_get_threads(void);

#endif
