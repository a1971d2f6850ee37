/* Matrix multiply: the one place the model calls into the BLAS engine (oneDNN's dnnl_sgemm,
 * chosen by measurement: docs/gemm.md). Row-major throughout.
 * C (M,N) = alpha * op(A) . op(B) + beta * C, op(A) (M,K), op(B) (K,N); lda/ldb/ldc are the row
 * strides of A, B, C as stored. Threads: whatever hlm_set_threads last set (OpenMP). */
#ifndef HYPERLM_MODEL_GEMM_H
#define HYPERLM_MODEL_GEMM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

void hlm_sgemm(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float *A,
               int lda, const float *B, int ldb, float beta, float *C, int ldc);

/* Precision of hlm_sgemm, process-wide (default F32). BF16 rounds op(A) and op(B) to bfloat16
 * (round to nearest even; subnormal inputs may flush to zero, as the hardware conversion does)
 * and multiplies them on oneDNN's bf16 matmul (AMX where present) with fp32 accumulation into the
 * fp32 C: mixed precision, the callers keep fp32 everything. alpha != 1, or any failure of oneDNN,
 * takes the fp32 path. BF16 mode keeps process-wide scratch and a cache of primitives, so
 * hlm_sgemm must be called from one thread at a time (the model never calls it concurrently). */
typedef enum hlm_gemm_precision { HLM_GEMM_F32 = 0, HLM_GEMM_BF16 = 1 } hlm_gemm_precision;
void hlm_gemm_set_precision(hlm_gemm_precision p);
hlm_gemm_precision hlm_gemm_get_precision(void);
/* One product C = op(A) op(B) + beta C in bf16 by BF16 mode's rules, whatever the process-wide
 * precision (the inference engine's prefill over quantized weights). false, with C untouched,
 * when it cannot (no native bf16, empty shapes, oneDNN failure): the caller then uses hlm_sgemm.
 * Same thread rule as BF16 mode. */
bool hlm_sgemm_bf16(bool trans_a, bool trans_b, int M, int N, int K, const float *A, int lda, const float *B,
                    int ldb, float beta, float *C, int ldc);

/* Weights multiplied in bf16 from a copy packed once in oneDNN's own layout (the inference
 * engine's batched decode over quantized weights). hlm_bf16_pack: W (N, K) row-major f32 for
 * products of at most M rows; NULL when it cannot (no native bf16, out of memory). */
typedef struct hlm_bf16_packed hlm_bf16_packed;
hlm_bf16_packed *hlm_bf16_pack(const float *W, int N, int K, int M);
void hlm_bf16_packed_free(hlm_bf16_packed *p);
size_t hlm_bf16_packed_bytes(const hlm_bf16_packed *p);
/* C (n, N) = A (n, K) W^T + beta C, n <= M, beta 0 or 1 (the rows past n are computed on zeros
 * and dropped). false, with C untouched, when it cannot. Same thread rule as BF16 mode. */
bool hlm_bf16_packed_gemm(const hlm_bf16_packed *p, int n, const float *A, int lda, float beta, float *C, int ldc);

/* 1 when this CPU runs oneDNN bf16 matmuls natively (avx512_bf16 or AMX), else 0; where it is 0,
 * BF16 mode computes in fp32 (emulated bf16 would be slower than fp32 and gain nothing). */
int hlm_gemm_bf16_supported(void);

/* Sets the OpenMP thread count used by gemm and the layers (<= 0: all online CPUs). */
void hlm_set_threads(int n);
int hlm_get_threads(void);

#endif
