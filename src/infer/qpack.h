/* Quantized weights repacked for AMX int8 tiles: the batched decode of the server (2..16 rows a
 * step) over the quantized blocks themselves.
 *
 * The quantized dot products (quant.h) run one weight row against one activation row: with 16
 * sequences each weight block is unpacked and reduced 16 times. Here a copy made once holds 16
 * output rows by 32 inputs per block, the codes already in the tile layout of TDPBSUD/TDPBSSD
 * (Intel SDM: B is K/4 rows of N groups of 4 consecutive inputs), so one tile product serves every
 * activation row. Per block the int32 tile is scaled in fp32 by d_w * d_x and the _1 formats add
 * m_w * s_x, the same terms as the dot products': results equal hlm_qdot's up to the order of
 * fp32 sums, whatever the number of rows, and a row's result never depends on the other rows.
 *
 * Layout: for each group of 16 output rows (the last padded with zero codes and scales), for each
 * block of 32 inputs, 64-byte aligned:
 *   Q4_0, Q4_1: 256 bytes of codes 0..15, tile byte i in the low nibble of byte i and tile byte
 *               256 + i in its high nibble; 16 fp16 d; 16 fp16 m (Q4_0: m = -8 d, exact in fp16
 *               unless it overflows, which hlm_qpack_new refuses). 320 bytes, 0.625 a weight as
 *               in the file.
 *   Q8_0:       512 bytes of codes -127..127 in tile order; 16 fp16 d; 32 bytes of padding.
 */
#ifndef HYPERLM_INFER_QPACK_H
#define HYPERLM_INFER_QPACK_H

#include <stddef.h>

#include "infer/quant.h"

typedef struct hlm_qpack hlm_qpack;

/* 1 when the CPU has AMX-TILE, AMX-INT8 and AVX-512 and Linux lets this process use tile data
 * (asked once); 0 otherwise, and in builds without GCC's target options (clang). */
int hlm_qpack_supported(void);
/* 1 for the types with a packed form: Q4_0, Q4_1, Q8_0. */
int hlm_qpack_type_ok(hlm_qtype t);

/* The packed copy of W, rows quantized rows of cols values (cols a multiple of 32) of type t
 * stored consecutively. NULL with err set when the CPU cannot run it, t has no packed form, a
 * Q4_0 scale overflows fp16 as -8 d, or memory runs out. */
hlm_qpack *hlm_qpack_new(hlm_qtype t, const void *W, int rows, int cols, hlm_error *err);
void hlm_qpack_free(hlm_qpack *p);
size_t hlm_qpack_bytes(const hlm_qpack *p);

/* Activation rows the buffer of a product of n rows must hold: n up to 16, else n rounded up to a
 * multiple of 16 (the last chunk's tile reads 16 rows; what the rows past n hold only reaches
 * products that are dropped, but they must be readable). */
int hlm_qpack_act_rows(int n);

/* Y[i * ldy + r] = dot(W row r, activation row i) (+ the old value when beta is 1), for i < n
 * (n >= 1), r < rows. acts: hlm_qpack_act_rows(n) activation rows of the matrix's cols, laid out
 * by hlm_q8_act_bind(.., acts, cols, n, i), the first n quantized. OpenMP over groups of 16
 * output rows; past 16 rows, each group runs chunks of 16 rows while its weights stay in L1, so
 * the matrix is read from memory once whatever n is. */
void hlm_qpack_gemm(const hlm_qpack *p, const void *acts, int n, float beta, float *Y, int ldy);

/* The same for up to HLM_QPACK_MAX_PARTS matrices of the same cols against the same activations,
 * part j into Ys[j] (each row i at Ys[j] + i * ldy), in one parallel loop (Llama's q, k, v or
 * gate and up: one fork and join). Parts of different cols, or a count out of range: nothing. */
#define HLM_QPACK_MAX_PARTS 3
void hlm_qpack_gemm_parts(const hlm_qpack *const *ps, float *const *Ys, int count, const void *acts, int n,
                          float beta, int ldy);

#endif
