/* Quantized weights repacked for AMX int8 tiles (qpack.h). The packing is plain C; the product
 * is compiled with GCC's per-function target options and runs only where hlm_qpack_supported
 * says so (clang builds, the fuzz targets, have none of it). */
#include "infer/qpack.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>


#define GROUP 16 /* output rows per tile (N) */

struct hlm_qpack {
    hlm_qtype t;
    int rows, cols, nb, groups;
    size_t block_bytes; /* one group's block: codes and scales, a multiple of 64 */
    size_t code_bytes;  /* 256 (nibbles) or 512 */
    uint8_t *data;
};

int hlm_qpack_type_ok(hlm_qtype t) { return t == HLM_QT_Q4_0 || t == HLM_QT_Q4_1 || t == HLM_QT_Q8_0; }

size_t hlm_qpack_bytes(const hlm_qpack *p)
{
    return p ? (size_t)p->groups * (size_t)p->nb * p->block_bytes : 0;
}

void hlm_qpack_free(hlm_qpack *p)
{
    if (!p) return;
    free(p->data);
    free(p);
}

/* Code k (0..31) of a weight block, as stored in the tile: 0..15 for the 4-bit types, the signed
 * code for Q8_0. */
static int block_code(hlm_qtype t, const uint8_t *blk, int k)
{
    if (t == HLM_QT_Q8_0) return (int8_t)blk[2 + k];
    const uint8_t *qs = blk + (t == HLM_QT_Q4_1 ? 4 : 2);
    return k < 16 ? qs[k] & 15 : qs[k - 16] >> 4;
}

/* One group's block b from the rows r0.. (fewer than GROUP at the end: the rest stay zero). */
static int pack_block(const hlm_qpack *p, const uint8_t *W, size_t row_bytes, int r0, int b, uint8_t *out)
{
    int bb = hlm_qtype_block_bytes(p->t);
    int nr = p->rows - r0 < GROUP ? p->rows - r0 : GROUP;
    uint16_t *d = (uint16_t *)(void *)(out + p->code_bytes), *m = d + GROUP;
    for (int n = 0; n < nr; n++) {
        const uint8_t *blk = W + (size_t)(r0 + n) * row_bytes + (size_t)b * (size_t)bb;
        memcpy(&d[n], blk, 2);
        if (p->t == HLM_QT_Q4_1) memcpy(&m[n], blk + 2, 2);
        if (p->t == HLM_QT_Q4_0) {
            float v = -8.0f * hlm_f16_to_f32(d[n]);
            m[n] = hlm_f32_to_f16(v);
            if (hlm_f16_to_f32(m[n]) != v) return -1; /* overflow: not exact in fp16 */
        }
        /* tile byte i: input row i / 64 holds inputs 4 (i / 64) .. + 3 of output n = i % 64 / 4 */
        for (int k = 0; k < HLM_QBLOCK; k++) {
            int i = (k / 4) * 64 + n * 4 + k % 4, c = block_code(p->t, blk, k);
            if (p->t == HLM_QT_Q8_0) out[i] = (uint8_t)(int8_t)c;
            else if (i < 256) out[i] |= (uint8_t)c;
            else out[i - 256] |= (uint8_t)(c << 4);
        }
    }
    return 0;
}

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#include <cpuid.h>
#include <immintrin.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <unistd.h>

#define ARCH_REQ_XCOMP_PERM 0x1023 /* Linux: ask for a dynamically enabled xsave feature */
#define XFEATURE_XTILEDATA 18

int hlm_qpack_supported(void)
{
    static _Atomic int cached = -1;
    int v = atomic_load(&cached);
    if (v >= 0) return v;
    unsigned a, b, c, d;
    v = 0;
    if (__get_cpuid_count(7, 0, &a, &b, &c, &d)) {
        int avx512 = (b >> 16 & 1) && (b >> 17 & 1) && (b >> 30 & 1) && (b >> 31 & 1); /* F DQ BW VL */
        int amx = (d >> 24 & 1) && (d >> 25 & 1);                                          /* TILE INT8 */
        int f16c = __get_cpuid(1, &a, &b, &c, &d) && (c >> 29 & 1);
        v = avx512 && amx && f16c && syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0;
    }
    atomic_store(&cached, v);
    return v;
}

#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c,amx-tile,amx-int8")

/* The 64-byte tile configuration of LDTILECFG (palette 1). */
typedef struct tilecfg {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} tilecfg;

/* Tiles (AMX tiles are not renamed, so each block in flight needs its own): 0..3 the int32
 * products (n x 16) of two pairs of blocks, one pair scaled while the next one's products run;
 * 4, 5 the activation codes of a pair's blocks (n x 32 bytes); 6, 7 their weight codes (8 x 64
 * bytes). */
static void tiles_configure(int n)
{
    tilecfg cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette = 1;
    for (int i = 0; i < 4; i++) cfg.rows[i] = (uint8_t)n, cfg.colsb[i] = 64;
    for (int i = 4; i < 6; i++) cfg.rows[i] = (uint8_t)n, cfg.colsb[i] = 32;
    for (int i = 6; i < 8; i++) cfg.rows[i] = 8, cfg.colsb[i] = 64;
    _tile_loadconfig(&cfg);
}

/* 256 nibble bytes -> the 512 code bytes of a weight tile */
static inline __attribute__((always_inline)) void unpack_codes(const uint8_t *blk, uint8_t *codes)
{
    const __m512i low = _mm512_set1_epi8(0x0F);
    for (int j = 0; j < 4; j++) {
        __m512i v = _mm512_load_si512((const void *)(blk + 64 * j));
        _mm512_store_si512((void *)(codes + 64 * j), _mm512_and_si512(v, low));
        _mm512_store_si512((void *)(codes + 256 + 64 * j), _mm512_and_si512(_mm512_srli_epi16(v, 4), low));
    }
}

/* The integer products of block b into prod (tiles C, A, W: immediates). */
#define TILE_BLOCK(C, A, W, four, acts, b, stride, wc, prod)                                                  \
    do {                                                                                                     \
        _tile_zero(C);                                                                                       \
        _tile_loadd(A, (acts) + 32 * (size_t)(b), (stride));                                                 \
        _tile_loadd(W, (wc), 64);                                                                            \
        if (four) _tile_dpbsud(C, A, W);                                                                     \
        else _tile_dpbssd(C, A, W);                                                                          \
        _tile_stored(C, (prod), 64);                                                                         \
    } while (0)

/* acc[m] += prod[m] d_w d_x[m][b] (+ m_w s_x[m][b]) for m < n <= M. */
static inline __attribute__((always_inline)) void scale_block(const hlm_qpack *p, const uint8_t *blk, int b,
                                                            const uint8_t *acts, size_t stride, int n, const int M,
                                                            const int32_t *prod, __m512 *acc)
{
    const int four = p->t != HLM_QT_Q8_0;
    const uint8_t *sc = blk + p->code_bytes;
    __m512 dw = _mm512_cvtph_ps(_mm256_load_si256((const __m256i *)(const void *)sc));
    __m512 mw = four ? _mm512_cvtph_ps(_mm256_load_si256((const __m256i *)(const void *)(sc + 32))) : _mm512_setzero_ps();
#pragma GCC unroll 16
    for (int m = 0; m < M; m++) {
        if (m >= n) break;
        const float *ad = (const float *)(const void *)(acts + (size_t)m * stride + (size_t)p->cols);
        __m512 s = _mm512_mul_ps(dw, _mm512_set1_ps(ad[b]));
        acc[m] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_load_si512((const void *)(prod + 16 * m))), s, acc[m]);
        if (four) acc[m] = _mm512_fmadd_ps(mw, _mm512_set1_ps(ad[p->nb + b]), acc[m]);
    }
}

/* The products of blocks b and b + 1 (weights at blk) into tiles C0, C1 and out to prod. */
#define ISSUE_PAIR(C0, C1, blk, b, codes, prod)                                                             \
    do {                                                                                                     \
        const uint8_t *w0_ = (blk), *w1_ = (blk) + bb;                                                       \
        if (four) {                                                                                          \
            unpack_codes(w0_, (codes));                                                                      \
            unpack_codes(w1_, (codes) + 512);                                                                \
            w0_ = (codes), w1_ = (codes) + 512;                                                              \
        }                                                                                                    \
        TILE_BLOCK(C0, 4, 6, four, acts, (b), stride, w0_, (prod));                                          \
        TILE_BLOCK(C1, 5, 7, four, acts, (b) + 1, stride, w1_, (prod) + 256);                                \
    } while (0)

#define SCALE_PAIR(blk, b, prod)                                                                             \
    do {                                                                                                     \
        scale_block(p, (blk), (b), acts, stride, n, M, (prod), acc);                                         \
        scale_block(p, (blk) + bb, (b) + 1, acts, stride, n, M, (prod) + 256, acc);                          \
    } while (0)

/* One group of 16 output rows against n <= M activation rows; M a constant (8 or 16) so that the
 * accumulators stay in registers. Pairs of blocks alternate between tiles 0, 1 and 2, 3 so that
 * a pair's products run while the one before is scaled. codes: 4 x 512 bytes, prod: 4 x 256
 * int32, 64-byte aligned. */
static inline __attribute__((always_inline)) void group_product(const hlm_qpack *p, int g, const uint8_t *acts,
                                                              int n, const int M, float beta, float *Y, int ldy,
                                                              uint8_t *codes, int32_t *prod)
{
    const int four = p->t != HLM_QT_Q8_0;
    const size_t stride = (size_t)p->nb * 40u; /* one activation row: codes, d, s */
    const size_t bb = p->block_bytes;
    __m512 acc[16];
#pragma GCC unroll 16
    for (int m = 0; m < M; m++) acc[m] = _mm512_setzero_ps();
    const uint8_t *blk = p->data + (size_t)g * (size_t)p->nb * bb;
    int pairs = p->nb / 2;
    if (pairs) ISSUE_PAIR(0, 1, blk, 0, codes, prod);
    for (int q = 0; q < pairs; q += 2) {
        const uint8_t *b0 = blk + (size_t)(2 * q) * bb, *b1 = b0 + 2 * bb, *b2 = b1 + 2 * bb;
        if (q + 1 < pairs) ISSUE_PAIR(2, 3, b1, 2 * q + 2, codes + 1024, prod + 512);
        SCALE_PAIR(b0, 2 * q, prod);
        if (q + 1 >= pairs) break;
        if (q + 2 < pairs) ISSUE_PAIR(0, 1, b2, 2 * q + 4, codes, prod);
        SCALE_PAIR(b1, 2 * q + 2, prod + 512);
    }
    if (p->nb % 2) {
        int b = p->nb - 1;
        const uint8_t *w = blk + (size_t)b * bb, *wc = w;
        if (four) {
            unpack_codes(w, codes);
            wc = codes;
        }
        TILE_BLOCK(0, 4, 6, four, acts, b, stride, wc, prod);
        scale_block(p, w, b, acts, stride, n, M, prod, acc);
    }
    int r0 = g * GROUP, nr = p->rows - r0 < GROUP ? p->rows - r0 : GROUP;
    __mmask16 mask = (__mmask16)((1u << nr) - 1u);
#pragma GCC unroll 16
    for (int m = 0; m < M; m++) {
        if (m >= n) break;
        float *y = Y + (size_t)m * (size_t)ldy + r0;
        __m512 v = beta != 0.0f ? _mm512_add_ps(_mm512_maskz_loadu_ps(mask, y), acc[m]) : acc[m];
        _mm512_mask_storeu_ps(y, mask, v);
    }
}

/* The parts' groups as one loop: one fork and join for Llama's q, k, v (or gate and up). */
static void qpack_gemm_amx(const hlm_qpack *const *ps, float *const *Ys, int count, const void *acts, int n,
                           float beta, int ldy)
{
    int first[HLM_QPACK_MAX_PARTS + 1] = {0};
    long work = 0;
    for (int j = 0; j < count; j++) {
        first[j + 1] = first[j] + ps[j]->groups;
        work += (long)ps[j]->rows * ps[j]->cols * n;
    }
    (void)work;
    const size_t stride = (size_t)ps[0]->nb * 40u;
#pragma omp parallel if (work >= (1 << 16))
    {
        _Alignas(64) uint8_t codes[4 * 512];
        _Alignas(64) int32_t prod[4 * 16 * 16];
        tiles_configure(n < 16 ? n : 16);
        /* dynamic: on a machine shared with clients and HTTP threads, a thread that loses its
         * core mid-product would otherwise hold the other at the barrier for its whole share */
#pragma omp for schedule(dynamic, 2)
        for (int gg = 0; gg < first[count]; gg++) {
            int j = 0;
            while (gg >= first[j + 1]) j++;
            const hlm_qpack *p = ps[j];
            int g = gg - first[j];
            /* past 16 rows, chunks of 16 against the group's weights, which stay in L1 */
            for (int m0 = 0; m0 < n; m0 += 16) {
                const uint8_t *a = (const uint8_t *)acts + (size_t)m0 * stride;
                float *y = Ys[j] + (size_t)m0 * (size_t)ldy;
                int rows = n - m0 < 16 ? n - m0 : 16;
                if (rows <= 8) group_product(p, g, a, rows, 8, beta, y, ldy, codes, prod);
                else group_product(p, g, a, rows, 16, beta, y, ldy, codes, prod);
            }
        }
        _tile_release();
    }
}

#pragma GCC pop_options

#else

int hlm_qpack_supported(void) { return 0; }

static void qpack_gemm_amx(const hlm_qpack *const *ps, float *const *Ys, int count, const void *acts, int n,
                           float beta, int ldy)
{
    (void)ps, (void)Ys, (void)count, (void)acts, (void)n, (void)beta, (void)ldy;
}

#endif

hlm_qpack *hlm_qpack_new(hlm_qtype t, const void *W, int rows, int cols, hlm_error *err)
{
    if (!hlm_qpack_supported()) {
        hlm_errorf(err, HLM_ERR_INVALID, "packed int8 weights: this CPU or OS has no AMX int8 tiles");
        return NULL;
    }
    if (!hlm_qpack_type_ok(t)) {
        hlm_errorf(err, HLM_ERR_INVALID, "packed int8 weights: no packed form of %s (q4_0, q4_1, q8_0 have one)",
                   hlm_qtype_name(t));
        return NULL;
    }
    if (rows < 1 || cols < HLM_QBLOCK || cols % HLM_QBLOCK != 0) {
        hlm_errorf(err, HLM_ERR_INVALID, "packed int8 weights: a %d x %d matrix, expected columns a multiple of %d",
                   rows, cols, HLM_QBLOCK);
        return NULL;
    }
    hlm_qpack *p = calloc(1, sizeof *p);
    if (!p) {
        hlm_errorf(err, HLM_ERR_NOMEM, "packed int8 weights: out of memory");
        return NULL;
    }
    p->t = t, p->rows = rows, p->cols = cols, p->nb = cols / HLM_QBLOCK;
    p->groups = (rows + GROUP - 1) / GROUP;
    p->code_bytes = t == HLM_QT_Q8_0 ? 512 : 256;
    p->block_bytes = t == HLM_QT_Q8_0 ? 576 : 320;
    size_t bytes = hlm_qpack_bytes(p), row_bytes = (size_t)p->nb * (size_t)hlm_qtype_block_bytes(t);
    p->data = aligned_alloc(64, bytes);
    if (!p->data) {
        free(p);
        hlm_errorf(err, HLM_ERR_NOMEM, "packed int8 weights: out of memory for %zu bytes (%d x %d)", bytes, rows, cols);
        return NULL;
    }
    memset(p->data, 0, bytes);
    int bad = 0;
#pragma omp parallel for schedule(static) reduction(| : bad)
    for (int g = 0; g < p->groups; g++)
        for (int b = 0; b < p->nb; b++)
            bad |= pack_block(p, W, row_bytes, g * GROUP, b, p->data + ((size_t)g * (size_t)p->nb + (size_t)b) * p->block_bytes);
    if (bad) {
        hlm_qpack_free(p);
        hlm_errorf(err, HLM_ERR_INVALID, "packed int8 weights: a q4_0 scale times -8 overflows fp16");
        return NULL;
    }
    return p;
}

int hlm_qpack_act_rows(int n) { return n <= GROUP ? n : (n + GROUP - 1) / GROUP * GROUP; }

void hlm_qpack_gemm(const hlm_qpack *p, const void *acts, int n, float beta, float *Y, int ldy)
{
    hlm_qpack_gemm_parts(&p, &Y, 1, acts, n, beta, ldy);
}

void hlm_qpack_gemm_parts(const hlm_qpack *const *ps, float *const *Ys, int count, const void *acts, int n,
                          float beta, int ldy)
{
    if (n < 1 || count < 1 || count > HLM_QPACK_MAX_PARTS) return;
    for (int j = 1; j < count; j++)
        if (ps[j]->cols != ps[0]->cols) return;
    qpack_gemm_amx(ps, Ys, count, acts, n, beta, ldy);
}
