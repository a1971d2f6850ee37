/* Quantized weights: GGML/GGUF block formats and the dot products that inference runs on them.
 *
 * Block formats (byte for byte those of GGUF; a row of n values is n/32 consecutive blocks;
 * fp16 is IEEE binary16, little-endian; "nibbles" are 16 bytes whose low halves hold elements
 * 0..15 and whose high halves hold elements 16..31 of the block):
 *   Q8_0  34 bytes: fp16 d, int8 q[32];            x = q * d,       d = amax / 127
 *   Q4_0  18 bytes: fp16 d, nibbles q in 0..15;    x = (q - 8) * d, d = (signed max) / -8
 *   Q4_1  20 bytes: fp16 d, fp16 m, nibbles;       x = q * d + m,   d = (max - min) / 15, m = min
 *   Q5_0  22 bytes: fp16 d, u32 qh (bit i = bit 4 of element i), nibbles; x = (q - 16) * d
 *   Q5_1  24 bytes: fp16 d, fp16 m, u32 qh, nibbles;                x = q * d + m
 * Quantization follows gguf-py's reference (the same arithmetic as ggml's *_ref C functions):
 * the scale is computed in fp32, the codes from its fp32 inverse, and only then is the scale
 * rounded to fp16 (round to nearest even, as numpy's float16). The enum values are GGML's type
 * ids, so a GGUF tensor's type maps to hlm_qtype by value.
 *
 * Dot products (llama.cpp's scheme, written here from the format definitions): the activation
 * row x is quantized once per product to 8 bits per 32-value block with an fp32 scale
 * (hlm_q8_act, our own layout: it never reaches a file), then each weight block contributes
 * d_w * d_x * (integer dot of the codes) (+ m_w * d_x * sum(x codes) for the _1 formats). The
 * integer dots are exact; results differ between kernels (scalar, AVX2, AVX-512, AVX-512 VNNI)
 * only by the order of the fp32 sums (bounds in docs/inference.md and tests/infer/test_quant.c).
 */
#ifndef HYPERLM_INFER_QUANT_H
#define HYPERLM_INFER_QUANT_H

#include <stddef.h>
#include <stdint.h>

#include "hyperlm/error.h"

#define HLM_QBLOCK 32 /* values per block of every format here */

typedef enum hlm_qtype {
    HLM_QT_F32 = 0,
    HLM_QT_F16 = 1,
    HLM_QT_Q4_0 = 2,
    HLM_QT_Q4_1 = 3,
    HLM_QT_Q5_0 = 6,
    HLM_QT_Q5_1 = 7,
    HLM_QT_Q8_0 = 8,
} hlm_qtype;

typedef struct hlm_block_q8_0 { uint16_t d; int8_t q[32]; } hlm_block_q8_0;
typedef struct hlm_block_q4_0 { uint16_t d; uint8_t q[16]; } hlm_block_q4_0;
typedef struct hlm_block_q4_1 { uint16_t d, m; uint8_t q[16]; } hlm_block_q4_1;
typedef struct hlm_block_q5_0 { uint16_t d; uint8_t qh[4]; uint8_t q[16]; } hlm_block_q5_0;
typedef struct hlm_block_q5_1 { uint16_t d, m; uint8_t qh[4]; uint8_t q[16]; } hlm_block_q5_1;

/* "q8_0" -> HLM_QT_Q8_0 etc. (also "f32", "f16"); NULL name or unknown: HLM_ERR_INVALID. */
hlm_status hlm_qtype_from_name(const char *name, hlm_qtype *out, hlm_error *err);
/* "q8_0", ...; "?" for a value that is not an hlm_qtype. */
const char *hlm_qtype_name(hlm_qtype t);
/* Values per block (32; 1 for f32/f16) and bytes per block; 0 for an unknown type. */
int hlm_qtype_block_values(hlm_qtype t);
int hlm_qtype_block_bytes(hlm_qtype t);
/* Bytes of a row of n values; HLM_ERR_INVALID when n is negative or not a multiple of the
 * block, or t unknown. */
hlm_status hlm_qtype_row_bytes(hlm_qtype t, int64_t n, size_t *bytes, hlm_error *err);

/* fp16 <-> fp32. to_f16 rounds to nearest even (overflow to infinity, subnormals kept, NaN stays
 * NaN), as numpy's float32 -> float16 cast does. */
uint16_t hlm_f32_to_f16(float f);
float hlm_f16_to_f32(uint16_t h);

/* x (n floats) -> out (hlm_qtype_row_bytes(t, n) bytes); and back. n must be a multiple of the
 * block (HLM_ERR_INVALID otherwise). Every hlm_qtype is supported. */
hlm_status hlm_quantize_row(hlm_qtype t, const float *x, void *out, int64_t n, hlm_error *err);
hlm_status hlm_dequantize_row(hlm_qtype t, const void *in, float *y, int64_t n, hlm_error *err);

/* ---- activations and dot products ---------------------------------------------------------- */

/* A quantized activation row (n a multiple of 32), structure of arrays so that SIMD kernels load
 * codes of several blocks at once: for block b, x[32b + i] ~= d[b] * q[32b + i] with
 * d[b] = amax / 127 in fp32 and q = round-half-away(x / d) in [-127, 127] (the codes are those of
 * Q8_0; only the scale stays fp32), and s[b] = d[b] * sum_i q[32b + i]. */
typedef struct hlm_q8_act {
    int64_t n;
    int8_t *q; /* n */
    float *d;  /* n / 32 */
    float *s;  /* n / 32 */
} hlm_q8_act;

/* Bytes of the buffer that holds rows activation rows of n values (n a multiple of 32). */
size_t hlm_q8_act_bytes(int64_t n, int64_t rows);
/* Points act at the row-th row inside buf (hlm_q8_act_bytes(n, rows) bytes, any alignment). */
void hlm_q8_act_bind(hlm_q8_act *act, void *buf, int64_t n, int64_t rows, int64_t row);
/* Fills act (already bound, act->n values) from x. */
void hlm_quantize_act(const float *x, hlm_q8_act *act);

/* Kernel sets for the dot products, best first. AVX-512 needs AVX512F/BW/VL (+ VNNI for the
 * vpdpbusd variant); AVX2 needs AVX2, FMA and F16C; all are compiled in on x86-64 and chosen at
 * run time from what the CPU supports. */
typedef enum hlm_qkernel {
    HLM_QK_AUTO = -1, /* the best available */
    HLM_QK_SCALAR = 0,
    HLM_QK_AVX2 = 1,
    HLM_QK_AVX512 = 2,
    HLM_QK_AVX512_VNNI = 3,
} hlm_qkernel;

const char *hlm_qkernel_name(hlm_qkernel k);
int hlm_qkernel_available(hlm_qkernel k); /* 1 when compiled in and supported by this CPU */
/* Process-wide choice used by the dot and matrix products (default AUTO). Choosing one that is
 * not available: HLM_ERR_INVALID, choice unchanged. */
hlm_status hlm_qkernel_set(hlm_qkernel k, hlm_error *err);
hlm_qkernel hlm_qkernel_get(void); /* the kernel in use (never AUTO) */

/* Types with a dot-product kernel: Q8_0, Q4_0, Q4_1, Q5_0, Q5_1 (Q5_* scalar on every path). */
int hlm_qtype_has_dot(hlm_qtype t);

/* dot(weight row w of type t, activation row) over act->n values, with the current kernel. */
hlm_status hlm_qdot(hlm_qtype t, const void *w, const hlm_q8_act *act, float *out, hlm_error *err);

/* y[r] = dot(W row r, x), W (rows, cols) stored as rows quantized rows of type t; x (cols).
 * OpenMP over rows (hlm_set_threads). cols a multiple of 32. */
hlm_status hlm_matvec_q(hlm_qtype t, const void *W, int64_t rows, int64_t cols, const float *x,
                        float *y, hlm_error *err);
/* Y (batch, rows) = X (batch, cols) . W^T: the batched form for prefill; each weight row is
 * read once from memory for all batch rows. */
hlm_status hlm_matmul_q(hlm_qtype t, const void *W, int64_t rows, int64_t cols, const float *X,
                        int64_t batch, float *Y, hlm_error *err);

#endif
