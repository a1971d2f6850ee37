/* The table of dot-product kernels, one per instruction set (quant.c: scalar; quant_x86.c: AVX2,
 * AVX-512, AVX-512 VNNI). Private to src/infer.
 *
 * A kernel computes sum over blocks b < nb of (weight block b) . (activation block b), the
 * activation given as its codes aq (32 nb), scales ad and ad * sum(codes) as (nb each). The
 * weight row w is nb consecutive blocks at any alignment. Invariant every kernel relies on:
 * activation codes lie in [-127, 127] (hlm_quantize_act never makes -128), so negating one never
 * overflows and a u8 x s8 pair product fits maddubs' int16 without saturation. */
#ifndef HYPERLM_INFER_QUANT_KERNELS_H
#define HYPERLM_INFER_QUANT_KERNELS_H

#include <stdint.h>

#include "infer/quant.h"

typedef float (*hlm_qdot_fn)(const void *w, const int8_t *aq, const float *ad, const float *as,
                             int64_t nb);

/* Fills act (bound, act->n values) from x: the same codes, scales and sums on every kernel. */
typedef void (*hlm_qact_fn)(const float *x, hlm_q8_act *act);

typedef struct hlm_qkernel_table {
    hlm_qdot_fn q8_0, q4_0, q4_1, q5_0, q5_1;
    hlm_qact_fn quantize_act;
} hlm_qkernel_table;

/* The current kernel set's dot product for t (NULL for a type without one), for callers that run
 * many rows against activations they quantized once (the inference engine). */
hlm_qdot_fn hlm_qdot_kernel(hlm_qtype t);

/* Scalar per-block kernels (quant.c): the reference, and the tails of the SIMD loops. */
float hlm_qdot_q8_0_scalar(const void *w, const int8_t *aq, const float *ad, const float *as, int64_t nb);
float hlm_qdot_q4_0_scalar(const void *w, const int8_t *aq, const float *ad, const float *as, int64_t nb);
float hlm_qdot_q4_1_scalar(const void *w, const int8_t *aq, const float *ad, const float *as, int64_t nb);
float hlm_qdot_q5_0_scalar(const void *w, const int8_t *aq, const float *ad, const float *as, int64_t nb);
void hlm_quantize_act_scalar(const float *x, hlm_q8_act *act);
float hlm_qdot_q5_1_scalar(const void *w, const int8_t *aq, const float *ad, const float *as, int64_t nb);

/* quant_x86.c: the table for k, or NULL when k is not compiled in or the CPU lacks it. */
const hlm_qkernel_table *hlm_qkernel_x86(hlm_qkernel k);

#endif
