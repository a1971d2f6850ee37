/* Causal self-attention with grouped-query heads, tiled with an online softmax: FlashAttention-2
 * (Dao 2023, "FlashAttention-2: Faster Attention with Better Parallelism and Work Partitioning"),
 * forward = its Algorithm 1, backward = its Algorithm 2, on CPU vectors instead of GPU warps.
 *
 * qkv (B,T,(H+2KV)*hd), rows [q (H*hd) | k (KV*hd) | v (KV*hd)]; query head h reads kv head
 * h / (H/KV). out (B,T,H*hd); lse (B,H,T). With s_ij = scale * (q_i . k_j) for keys j <= i:
 *   lse_i = log sum_j exp(s_ij),  p_ij = exp(s_ij - lse_i),  out_i = sum_j p_ij v_j.
 * Backward, with D_i = dout_i . out_i (= sum_j p_ij dp_ij):
 *   dp_ij = dout_i . v_j,  ds_ij = p_ij (dp_ij - D_i),
 *   dq_i += scale sum_j ds_ij k_j,  dk_j += scale sum_i ds_ij q_i,  dv_j += sum_i p_ij dout_i.
 *
 * Forward: one task per (b, h, block of bq queries). The block's queries are transposed once
 * (Qt, hd x bq) and each score tile is computed key-major, S^T = K_j Qt, so that 16 queries lie
 * along a vector: the running max m and sum l of 16 queries are one vector each, updated with
 * vertical max/add and no horizontal reductions. Tiles below the diagonal need no mask, and
 * their column maxima are taken from the registers of the product; diagonal tiles are masked in
 * a second pass. The output rows are the accumulator: O = alpha O + P^T V_j per key block
 * (alpha = exp(m_old - m_new)), divided by l at the end.
 *
 * Backward: one task per (b, kv head); key blocks outer. K_j and V_j are transposed (and K_j
 * copied) once and serve every query block of every query head of the group. Per (query block,
 * key block) tile: S = Q Kt, P = exp(scale S - lse) (lse is known: no max), dP = dO Vt,
 * dS = scale P (dP - D), dQ += dS K_j, then dV_j += P^T dO, dK_j += dS^T Q. A task owns dK, dV
 * of its kv head and dQ of its H/KV query heads: no two tasks write the same float, no atomics,
 * and every sum runs in an order fixed by the shapes alone, so the result is bitwise identical
 * for any thread count (forward likewise: one task computes each output row). The price: B*KV
 * tasks only, plenty for training shapes on a few cores (B*KV >= 16 is typical) but idle threads
 * when B*KV < threads; splitting further would need a second pass for dQ (7 products, not 5).
 *
 * Memory: each thread has one 64 KiB scratch array on its stack, holding the tiles and
 * contiguous copies of every operand that is streamed more than once (see "tiling"); bq and bk
 * follow from hd alone, so the rounding, too, depends on the shapes only. Nothing is allocated,
 * nothing O(T^2) exists.
 *
 * Kernel: one register tile (tile_kernel: up to MR = 6 rows x 64 columns, 24 accumulators, the
 * inner dimension streamed: 24 FMAs per 4 loads and 6 broadcasts) computes all seven products.
 * A is read by broadcast with any row and inner stride, which is how P^T and dS^T are read
 * without a copy. With AVX-512 the vector type is __m512; otherwise a 16-float struct with the
 * same blocking, so both paths share every index. No -ffast-math: exp is a Cephes-style
 * polynomial (about 1 ulp) under AVX-512, expf otherwise.
 *
 * Causal masking is exact: a score takes part iff key <= query. Tiles wholly above the diagonal
 * are skipped, and on the diagonal, work is trimmed to 16-lane granularity. */
#include <float.h>
#include <math.h>
#include <stddef.h>
#include <string.h>
#ifdef __AVX512F__
#include <immintrin.h>
#endif

#include "model/layers.h"
#include "model/vexp.h"

/* Forced inlining makes the register-tile variants fast, but in unoptimized (sanitizer) builds
 * it multiplies the code gcc must instrument until a compile takes minutes and gigabytes: there,
 * plain inline functions compiled once. */
#ifdef __OPTIMIZE__
#define INLINE static inline __attribute__((always_inline))
#else
#define INLINE static inline
#endif
#define MR 6                  /* rows of a register tile */
#define NV 4                  /* 16-float vectors per register-tile row: 64 columns */
#define TILE 64               /* query and key block size (at most; smaller for large hd) */
#define SCRATCH_FLOATS 16384  /* per-thread scratch: 64 KiB, on the stack */

static inline int min_int(int a, int b)
{
    return a < b ? a : b;
}

/* ---- 16-lane float vectors ---------------------------------------------------------------- */

#ifdef __AVX512F__
typedef __m512 vf;

INLINE __mmask16 first_lanes(int n)
{
    return n >= 16 ? (__mmask16)0xFFFF : n <= 0 ? (__mmask16)0 : (__mmask16)((1u << n) - 1u);
}
typedef __mmask16 vmask; /* the first n lanes */
INLINE vmask vf_mask(int n) { return first_lanes(n); }
INLINE vf vf_loadm(const float *p, vmask k) { return _mm512_maskz_loadu_ps(k, p); }
INLINE void vf_storem(float *p, vf v, vmask k) { _mm512_mask_storeu_ps(p, k, v); }
INLINE vf vf_set1(float x) { return _mm512_set1_ps(x); }
INLINE vf vf_load(const float *p) { return _mm512_loadu_ps(p); }
/* The first n lanes of p (any n; lanes >= n are 0 and their memory is not touched). */
INLINE vf vf_loadn(const float *p, int n) { return _mm512_maskz_loadu_ps(first_lanes(n), p); }
INLINE void vf_store(float *p, vf v) { _mm512_storeu_ps(p, v); }
INLINE void vf_storen(float *p, vf v, int n) { _mm512_mask_storeu_ps(p, first_lanes(n), v); }
INLINE vf vf_add(vf a, vf b) { return _mm512_add_ps(a, b); }
INLINE vf vf_sub(vf a, vf b) { return _mm512_sub_ps(a, b); }
INLINE vf vf_mul(vf a, vf b) { return _mm512_mul_ps(a, b); }
INLINE vf vf_div(vf a, vf b) { return _mm512_div_ps(a, b); }
INLINE vf vf_fma(vf a, vf b, vf c) { return _mm512_fmadd_ps(a, b, c); }
INLINE vf vf_max(vf a, vf b) { return _mm512_max_ps(a, b); }
/* Lanes in [lo, hi) keep v; the others become fill. */
INLINE vf vf_keep_range(vf v, int lo, int hi, float fill)
{
    __mmask16 k = (__mmask16)(first_lanes(hi) & ~first_lanes(lo));
    return _mm512_mask_blend_ps(k, _mm512_set1_ps(fill), v);
}
INLINE float vf_sum(vf v) { return _mm512_reduce_add_ps(v); }
/* e^x within 1.01 ulp (vexp.h); attention only takes it of values <= 0. */
INLINE vf vf_exp(vf x) { return hlm_exp16(x); }
#else
typedef struct {
    float f[16];
} vf;
#define VF_MAP(expr)                                                                               \
    vf r_;                                                                                         \
    for (int l_ = 0; l_ < 16; l_++) r_.f[l_] = (expr);                                             \
    return r_

typedef int vmask; /* the first n lanes */
INLINE vmask vf_mask(int n) { return n; }
INLINE vf vf_set1(float x) { VF_MAP(x); }
INLINE vf vf_load(const float *p) { VF_MAP(p[l_]); }
INLINE vf vf_loadn(const float *p, int n) { VF_MAP(l_ < n ? p[l_] : 0.0f); }
INLINE void vf_store(float *p, vf v) { memcpy(p, v.f, sizeof v.f); }
INLINE void vf_storen(float *p, vf v, int n)
{
    for (int l = 0; l < 16 && l < n; l++) p[l] = v.f[l];
}
INLINE vf vf_loadm(const float *p, vmask n) { return vf_loadn(p, n); }
INLINE void vf_storem(float *p, vf v, vmask n) { vf_storen(p, v, n); }
INLINE vf vf_add(vf a, vf b) { VF_MAP(a.f[l_] + b.f[l_]); }
INLINE vf vf_sub(vf a, vf b) { VF_MAP(a.f[l_] - b.f[l_]); }
INLINE vf vf_mul(vf a, vf b) { VF_MAP(a.f[l_] * b.f[l_]); }
INLINE vf vf_div(vf a, vf b) { VF_MAP(a.f[l_] / b.f[l_]); }
INLINE vf vf_fma(vf a, vf b, vf c) { VF_MAP(a.f[l_] * b.f[l_] + c.f[l_]); }
INLINE vf vf_max(vf a, vf b) { VF_MAP(a.f[l_] > b.f[l_] ? a.f[l_] : b.f[l_]); }
INLINE vf vf_keep_range(vf v, int lo, int hi, float fill)
{
    VF_MAP(l_ >= lo && l_ < hi ? v.f[l_] : fill);
}
INLINE float vf_sum(vf v)
{
    float s = 0.0f;
    for (int l = 0; l < 16; l++) s += v.f[l];
    return s;
}
INLINE vf vf_exp(vf x) { VF_MAP(expf(x.f[l_])); }
#endif

/* ---- register tiles ------------------------------------------------------------------------ */

/* The register tile. C[r][0 .. 16(nv-1)+nlast) for r < mr becomes
 *   (load_c ? cscale[r] * C[r] : 0) + sum_{k<K} A[r*ars + k*aks] * B[k*ldb + .]
 * (cscale NULL means 1). The last vector of each B and C row has nlast (1..16) lanes; lanes past
 * it are neither read nor written. mr and nv are constants at every call site, so the dead
 * accumulators vanish; they are named variables, not an array, because gcc -O2 keeps an array
 * of vectors in memory and stores it back on every iteration. */
#define TILE_ACC_INIT(r, v)                                                                        \
    vf c##r##v = vf_set1(0.0f);                                                                    \
    if (load_c && r < mr && v < nv) {                                                              \
        const float *p_ = C + r * ldc + 16 * v;                                                    \
        c##r##v = vf_mul(v < nv - 1 ? vf_load(p_) : vf_loadm(p_, klast),                           \
                         vf_set1(cscale ? cscale[r] : 1.0f));                                      \
    }
#define TILE_ROW_FMA(r)                                                                            \
    if (r < mr) {                                                                                  \
        vf a_ = vf_set1(a[r * ars]);                                                               \
        c##r##0 = vf_fma(a_, b0, c##r##0);                                                         \
        if (nv > 1) c##r##1 = vf_fma(a_, b1, c##r##1);                                             \
        if (nv > 2) c##r##2 = vf_fma(a_, b2, c##r##2);                                             \
        if (nv > 3) c##r##3 = vf_fma(a_, b3, c##r##3);                                             \
    }
#define TILE_ACC_STORE(r, v)                                                                       \
    if (r < mr && v < nv) {                                                                        \
        float *p_ = C + r * ldc + 16 * v;                                                          \
        if (v < nv - 1) vf_store(p_, c##r##v);                                                     \
        else vf_storem(p_, c##r##v, klast);                                                        \
    }
#define TILE_COLMAX(v)                                                                             \
    {                                                                                              \
        vf m_ = vf_max(vf_load(colmax + 16 * v), c0##v);                                           \
        if (mr > 1) m_ = vf_max(m_, c1##v);                                                        \
        if (mr > 2) m_ = vf_max(m_, c2##v);                                                        \
        if (mr > 3) m_ = vf_max(m_, c3##v);                                                        \
        if (mr > 4) m_ = vf_max(m_, c4##v);                                                        \
        if (mr > 5) m_ = vf_max(m_, c5##v);                                                        \
        vf_store(colmax + 16 * v, m_);                                                             \
    }
#define TILE_FOR_ROW(X, r) X(r, 0) X(r, 1) X(r, 2) X(r, 3)
#define TILE_FOR_ALL(X)                                                                            \
    TILE_FOR_ROW(X, 0) TILE_FOR_ROW(X, 1) TILE_FOR_ROW(X, 2) TILE_FOR_ROW(X, 3)                    \
    TILE_FOR_ROW(X, 4) TILE_FOR_ROW(X, 5)

INLINE void tile_kernel(int mr, int nv, int nlast, int K, const float *A, ptrdiff_t ars,
                        ptrdiff_t aks, const float *B, ptrdiff_t ldb, float *C, ptrdiff_t ldc,
                        int load_c, const float *cscale, float *colmax)
{
    vmask klast = vf_mask(nlast);
    TILE_FOR_ALL(TILE_ACC_INIT)
    vf zero = vf_set1(0.0f);
    for (int k = 0; k < K; k++) {
        const float *b = B + k * ldb, *a = A + k * aks;
        vf b0 = nv > 1 ? vf_load(b) : vf_loadm(b, klast);
        vf b1 = nv > 2 ? vf_load(b + 16) : nv == 2 ? vf_loadm(b + 16, klast) : zero;
        vf b2 = nv > 3 ? vf_load(b + 32) : nv == 3 ? vf_loadm(b + 32, klast) : zero;
        vf b3 = nv == 4 ? vf_loadm(b + 48, klast) : zero;
        TILE_ROW_FMA(0)
        TILE_ROW_FMA(1)
        TILE_ROW_FMA(2)
        TILE_ROW_FMA(3)
        TILE_ROW_FMA(4)
        TILE_ROW_FMA(5)
    }
    TILE_FOR_ALL(TILE_ACC_STORE)
    /* colmax[16v + lane] = max(colmax, column of the tile), while the tile is in registers. */
    if (colmax) {
        TILE_COLMAX(0)
        if (nv > 1) TILE_COLMAX(1)
        if (nv > 2) TILE_COLMAX(2)
        if (nv > 3) TILE_COLMAX(3)
    }
}

INLINE void tile_update(int mr, int nv, int nlast, float *C, ptrdiff_t ldc, const float *cscale,
                        int K, const float *A, ptrdiff_t ars, ptrdiff_t aks, const float *B,
                        ptrdiff_t ldb)
{
    tile_kernel(mr, nv, nlast, K, A, ars, aks, B, ldb, C, ldc, 1, cscale, NULL);
}

/* tile_update over ncols columns (any width), 64 at a time. */
INLINE void rows_update(int mr, float *C, ptrdiff_t ldc, const float *cscale, int K,
                        const float *A, ptrdiff_t ars, ptrdiff_t aks, const float *B,
                        ptrdiff_t ldb, int ncols)
{
    for (int c0 = 0; c0 < ncols; c0 += 16 * NV) {
        int w = min_int(16 * NV, ncols - c0), nv = (w + 15) / 16, nlast = w - 16 * (nv - 1);
        switch (nv) {
        case 1: tile_update(mr, 1, nlast, C + c0, ldc, cscale, K, A, ars, aks, B + c0, ldb); break;
        case 2: tile_update(mr, 2, nlast, C + c0, ldc, cscale, K, A, ars, aks, B + c0, ldb); break;
        case 3: tile_update(mr, 3, nlast, C + c0, ldc, cscale, K, A, ars, aks, B + c0, ldb); break;
        default: tile_update(mr, 4, nlast, C + c0, ldc, cscale, K, A, ars, aks, B + c0, ldb); break;
        }
    }
}

/* C (mr x ncols) = cscale * C + A (mr x K) B (K x ncols), for any mr in 1..MR. */
static void rows_update_n(int mr, float *C, ptrdiff_t ldc, const float *cscale, int K,
                          const float *A, ptrdiff_t ars, ptrdiff_t aks, const float *B,
                          ptrdiff_t ldb, int ncols)
{
    switch (mr) {
    case 1: rows_update(1, C, ldc, cscale, K, A, ars, aks, B, ldb, ncols); break;
    case 2: rows_update(2, C, ldc, cscale, K, A, ars, aks, B, ldb, ncols); break;
    case 3: rows_update(3, C, ldc, cscale, K, A, ars, aks, B, ldb, ncols); break;
    case 4: rows_update(4, C, ldc, cscale, K, A, ars, aks, B, ldb, ncols); break;
    case 5: rows_update(5, C, ldc, cscale, K, A, ars, aks, B, ldb, ncols); break;
    default: rows_update(6, C, ldc, cscale, K, A, ars, aks, B, ldb, ncols); break;
    }
}

/* Calls CALL(mr, nv) with both as constants; mr in 1..MR, nv in 1..NV. */
#define DISPATCH_NV(mr_, nv, CALL)                                                                 \
    switch (nv) {                                                                                  \
    case 1: CALL(mr_, 1); break;                                                                   \
    case 2: CALL(mr_, 2); break;                                                                   \
    case 3: CALL(mr_, 3); break;                                                                   \
    default: CALL(mr_, 4); break;                                                                  \
    }
#define DISPATCH_MR_NV(mr, nv, CALL)                                                               \
    switch (mr) {                                                                                  \
    case 1: DISPATCH_NV(1, nv, CALL) break;                                                        \
    case 2: DISPATCH_NV(2, nv, CALL) break;                                                        \
    case 3: DISPATCH_NV(3, nv, CALL) break;                                                        \
    case 4: DISPATCH_NV(4, nv, CALL) break;                                                        \
    case 5: DISPATCH_NV(5, nv, CALL) break;                                                        \
    default: DISPATCH_NV(6, nv, CALL) break;                                                       \
    }

/* C (mr x 16(nv-1)+nlast) = A B, colmax as in tile_kernel: the score products. One instance per
 * (mr, nv), here only, to keep the code (and its compile) small. */
static void tile_product(int mr, int nv, int nlast, int K, const float *A, ptrdiff_t ars,
                         ptrdiff_t aks, const float *B, ptrdiff_t ldb, float *C, ptrdiff_t ldc,
                         float *colmax)
{
#define CALL(mr_, nv_) tile_kernel(mr_, nv_, nlast, K, A, ars, aks, B, ldb, C, ldc, 0, NULL, colmax)
    DISPATCH_MR_NV(mr, nv, CALL)
#undef CALL
}

#ifdef __AVX512F__
/* One block of at most 16 x 16, in registers (unpack, shuffle within 128-bit lanes, then
 * twice across them). Lanes outside rows x cols are neither read nor written. */
static void transpose16(float *dst, ptrdiff_t ldd, const float *src, ptrdiff_t lds, int rows,
                        int cols)
{
    __m512 r[16], t[16];
    __mmask16 kc = first_lanes(cols);
    for (int i = 0; i < 16; i++)
        r[i] = i < rows ? _mm512_maskz_loadu_ps(kc, src + i * lds) : _mm512_setzero_ps();
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int b = 0; b < 16; b += 4) {
        r[b] = _mm512_shuffle_ps(t[b], t[b + 2], 0x44);
        r[b + 1] = _mm512_shuffle_ps(t[b], t[b + 2], 0xEE);
        r[b + 2] = _mm512_shuffle_ps(t[b + 1], t[b + 3], 0x44);
        r[b + 3] = _mm512_shuffle_ps(t[b + 1], t[b + 3], 0xEE);
    }
    for (int b = 0; b < 16; b += 8)
        for (int i = 0; i < 4; i++) {
            t[b + i] = _mm512_shuffle_f32x4(r[b + i], r[b + 4 + i], 0x88);
            t[b + 4 + i] = _mm512_shuffle_f32x4(r[b + i], r[b + 4 + i], 0xDD);
        }
    __mmask16 kr = first_lanes(rows);
    for (int i = 0; i < 8; i++) {
        if (i < cols)
            _mm512_mask_storeu_ps(dst + i * ldd, kr, _mm512_shuffle_f32x4(t[i], t[8 + i], 0x88));
        if (i + 8 < cols)
            _mm512_mask_storeu_ps(dst + (i + 8) * ldd, kr,
                                  _mm512_shuffle_f32x4(t[i], t[8 + i], 0xDD));
    }
}
#endif

/* dst[c*ldd + r] = src[r*lds + c] for r < rows, c < cols. */
static void transpose(float *dst, ptrdiff_t ldd, const float *src, ptrdiff_t lds, int rows,
                      int cols)
{
#ifdef __AVX512F__
    for (int r = 0; r < rows; r += 16)
        for (int c = 0; c < cols; c += 16)
            transpose16(dst + c * ldd + r, ldd, src + r * lds + c, lds, min_int(16, rows - r),
                        min_int(16, cols - c));
#else
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) dst[c * ldd + r] = src[r * lds + c];
#endif
}

/* Asks for rows [0, n) of w floats each, ld apart, to be brought into L2 ahead of use: rows of
 * qkv are 9 KiB or more apart, and 4 cache lines each are too short a stream for the hardware
 * prefetchers to pick up in time. */
static inline void prefetch_rows(const float *p, ptrdiff_t ld, int n, int w)
{
    for (int r = 0; r < n; r++)
        for (int c = 0; c < w; c += 16) __builtin_prefetch(p + r * ld + c, 0, 2);
}

/* rows [0, n) of w floats: dst (ldd apart) = src (lds apart). */
static void copy_rows(float *dst, ptrdiff_t ldd, const float *src, ptrdiff_t lds, int n, int w)
{
    for (int r = 0; r < n; r++) memcpy(dst + r * ldd, src + r * lds, sizeof(float) * (size_t)w);
}

/* ---- tiling -------------------------------------------------------------------------------- */

/* Block sizes for one call, from hd alone. Every operand that a register tile streams more than
 * once is a contiguous copy: rows of qkv and out are (H+2KV)*hd and H*hd floats apart, multiples
 * of 1 KiB for the usual hd, so a block of such rows falls into a few L1 sets and evicts itself
 * (GPT-2's qkv rows are 9 KiB apart: any number of them share 16 of L1's 64 sets). Measured: the
 * copies made the forward 15% and the backward 10% faster at hd = 64. When even the smallest
 * blocks cannot be copied (hd in the thousands), operands are read in place. */
typedef struct {
    int bq, bk; /* queries and keys per block */
    int copies; /* 1: the copies below exist; 0: read in place */
} tiling;

static const int BLOCKS[] = {64, 48, 32, 16};
#define N_BLOCKS (int)(sizeof BLOCKS / sizeof BLOCKS[0])

/* Forward scratch: m, l, alpha (TILE each), score tile st (bk x TILE), Qt (hd x bq),
 * V_j (bk x hd). */
static long fwd_floats(int hd, int bq, int bk)
{
    return 3L * TILE + (long)bk * TILE + (long)hd * bq + (long)hd * bk;
}

/* Backward scratch: P, dS (bq x bk), Kt, Vt (hd x bk), K_j (bk x hd), Q_i, dO_i (bq x hd). dK_j and
 * dV_j are updated in place: once per tile, no reuse within it. */
static long bwd_floats(int hd, int bq, int bk)
{
    return 2L * bq * bk + 3L * hd * bk + 2L * hd * bq;
}

/* The fitting (bq, bk) with the largest min(bq, bk), then the largest bq * bk, then the largest
 * bk (wider score tiles; measured best for the backward at hd = 64: 32 x 48 over 48 x 32). */
static tiling choose_tiling(int hd, long (*floats)(int, int, int))
{
    tiling t = {0, 0, 0};
    for (int i = 0; i < N_BLOCKS; i++)
        for (int j = 0; j < N_BLOCKS; j++) {
            int bq = BLOCKS[i], bk = BLOCKS[j];
            if (floats(hd, bq, bk) > SCRATCH_FLOATS) continue;
            int lo = min_int(bq, bk), tlo = min_int(t.bq, t.bk);
            if (lo > tlo || (lo == tlo && bq * bk > t.bq * t.bk) ||
                (lo == tlo && bq * bk == t.bq * t.bk && bk > t.bk))
                t = (tiling){bq, bk, 1};
        }
    return t;
}

/* ---- forward ------------------------------------------------------------------------------- */

/* Queries [i0, i0 + nq) of head h in batch row b (nq <= tl.bq). */
static void fwd_block(float *out, float *lse, const float *qkv, int b, int h, int i0, int nq,
                      tiling tl, int T, int H, int KV, int hd, float scale, float *scratch)
{
    ptrdiff_t ld = (ptrdiff_t)(H + 2 * KV) * hd, ldo = (ptrdiff_t)H * hd;
    int g = h / (H / KV), bk = tl.bk;
    const float *q = qkv + (ptrdiff_t)b * T * ld + (ptrdiff_t)h * hd;
    const float *k = qkv + (ptrdiff_t)b * T * ld + (ptrdiff_t)(H + g) * hd;
    const float *v = k + (ptrdiff_t)KV * hd;
    float *o = out + (ptrdiff_t)b * T * ldo + (ptrdiff_t)h * hd;
    float *m = scratch, *l = m + TILE, *alpha = l + TILE, *st = alpha + TILE;
    float *qtbuf = tl.copies ? st + bk * TILE : NULL, *vbuf = tl.copies ? qtbuf + hd * tl.bq : NULL;
    /* Qt (hd x nq) and V_j are copies, or (huge hd, nq = 1) the q row and v rows in place. */
    const float *qt = q + i0 * ld;
    ptrdiff_t ldqt = 1, ldvb = ld;
    if (tl.copies) {
        transpose(qtbuf, tl.bq, q + i0 * ld, ld, nq, hd);
        qt = qtbuf;
        ldqt = tl.bq;
        ldvb = hd;
    }
    /* -FLT_MAX, not -inf, so that exp(m_old - m_new) is 0 or 1, never NaN, in unused lanes. */
    for (int c = 0; c < TILE; c++) {
        m[c] = -FLT_MAX;
        l[c] = 0.0f;
    }
    for (int r = 0; r < nq; r++) memset(o + (i0 + r) * ldo, 0, sizeof(float) * (size_t)hd);
    int nvq = (nq + 15) / 16, nlastq = nq - 16 * (nvq - 1), i1 = i0 + nq;

    for (int j0 = 0; j0 < i1; j0 += bk) {
        int nk = min_int(bk, i1 - j0);
        if (j0 + bk < i1) {
            prefetch_rows(k + (j0 + bk) * ld, ld, min_int(bk, i1 - j0 - bk), hd);
            prefetch_rows(v + (j0 + bk) * ld, ld, min_int(bk, i1 - j0 - bk), hd);
        }
        const float *vb = v + j0 * ld;
        if (tl.copies) {
            copy_rows(vbuf, hd, vb, ld, nk, hd);
            vb = vbuf;
        }
        /* S^T = K_j Qt; a key row group skips the query vectors wholly before its first key.
         * A tile with no key past its first query needs no mask: its column maxima are taken
         * while the register tiles are computed, and the softmax is one pass. */
        int unmasked = j0 + nk - 1 <= i0;
        float colmax[16 * NV];
        for (int c = 0; c < 16 * NV; c++) colmax[c] = -INFINITY;
        for (int kr0 = 0; kr0 < nk; kr0 += MR) {
            int mr = min_int(MR, nk - kr0);
            int vs = j0 + kr0 > i0 ? (j0 + kr0 - i0) / 16 : 0, nv = nvq - vs;
            const float *kp = k + (j0 + kr0) * ld;
            float *sp = st + kr0 * TILE + 16 * vs;
            tile_product(mr, nv, nlastq, hd, kp, ld, 1, qt + 16 * vs, ldqt, sp, TILE,
                         unmasked ? colmax : NULL);
        }
        /* Online softmax, 16 queries at a time. Masked tiles: lanes with key > query, or past
         * the block, become -inf (p = 0); keys past the vector's last query are skipped, except
         * that a P^T V row group of MR queries may straddle two vectors, and reads keys up to
         * its own last query. Either way m_new = max(m_old, scale * s) and
         * p = exp(scale * s - m_new) to the same bits (a positive scale preserves order). */
        vf vscale = vf_set1(scale);
        for (int vq = 0; vq < nvq; vq++) {
            int kend = min_int(nk, i0 - j0 + 16 * vq + 15 + MR), hi = nq - 16 * vq;
            if (kend <= 0) continue;
            vf m_old = vf_load(m + 16 * vq), m_new = m_old;
            if (unmasked) {
                m_new = vf_max(m_old, vf_mul(vf_load(colmax + 16 * vq), vscale));
            } else {
                for (int c = 0; c < kend; c++) {
                    float *sp = st + c * TILE + 16 * vq;
                    vf s = vf_keep_range(vf_mul(vf_load(sp), vscale), j0 + c - i0 - 16 * vq, hi,
                                         -INFINITY);
                    vf_store(sp, s);
                    m_new = vf_max(m_new, s);
                }
            }
            vf al = vf_exp(vf_sub(m_old, m_new));
            vf sum = vf_mul(vf_load(l + 16 * vq), al);
            vf pscale = unmasked ? vscale : vf_set1(1.0f);
            for (int c = 0; c < kend; c++) {
                float *sp = st + c * TILE + 16 * vq;
                vf p = vf_exp(vf_sub(vf_mul(vf_load(sp), pscale), m_new));
                vf_store(sp, p);
                sum = vf_add(sum, p);
            }
            vf_store(m + 16 * vq, m_new);
            vf_store(l + 16 * vq, sum);
            vf_store(alpha + 16 * vq, al);
        }
        /* O = alpha O + P^T V_j, reading P^T from the key-major tile by stride. */
        for (int r0 = 0; r0 < nq; r0 += MR) {
            int mr = min_int(MR, nq - r0), K = min_int(nk, i0 + r0 + mr - j0);
            if (K <= 0) continue;
            rows_update_n(mr, o + (i0 + r0) * ldo, ldo, alpha + r0, K, st + r0, 1, TILE, vb, ldvb,
                          hd);
        }
    }
    for (int r = 0; r < nq; r++) {
        float *orow = o + (i0 + r) * ldo;
        vf vl = vf_set1(l[r]);
        for (int d = 0; d < hd; d += 16)
            vf_storen(orow + d, vf_div(vf_loadn(orow + d, hd - d), vl), hd - d);
        lse[((ptrdiff_t)b * H + h) * T + i0 + r] = m[r] + logf(l[r]);
    }
}

void attention_forward(float *out, float *lse, const float *qkv, int B, int T, int H, int KV,
                       int hd)
{
    tiling tl = choose_tiling(hd, fwd_floats);
    if (!tl.copies) tl = (tiling){1, TILE, 0}; /* needs 3 TILE + TILE * TILE floats */
    int nqb = (T + tl.bq - 1) / tl.bq;
    long ntasks = (long)B * H * nqb;
    float scale = 1.0f / sqrtf((float)hd);
#pragma omp parallel
    {
        float scratch[SCRATCH_FLOATS];
        /* Score-tile lanes past a block's last query are computed on and never used (each lane
         * is one query); zeroed once so that they are at least initialized. */
        memset(scratch, 0, sizeof scratch);
        /* Longest blocks (last queries) first, for the dynamic schedule's balance. */
#pragma omp for schedule(dynamic, 1)
        for (long t = 0; t < ntasks; t++) {
            int qb = nqb - 1 - (int)(t % nqb);
            long bh = t / nqb;
            int i0 = qb * tl.bq;
            fwd_block(out, lse, qkv, (int)(bh / H), (int)(bh % H), i0, min_int(tl.bq, T - i0), tl,
                      T, H, KV, hd, scale, scratch);
        }
    }
}

/* ---- backward ------------------------------------------------------------------------------ */

/* Operands of one (query block, key block) tile: pointer and row stride of each. */
typedef struct {
    const float *q, *dout, *o, *lse, *k, *kt, *vt;
    ptrdiff_t ldq, lddout, ldo, ldk, ldt;
    float *dq, *P, *dS;
    ptrdiff_t lddq;
} bwd_operands;

/* Query rows [r0, r0 + mr) (relative to the block) against keys [0, ncols) of a key block of nk
 * keys starting at absolute position j0; the block starts at absolute query i0. Writes rows of P
 * and dS (stride bk, zero up to nk) and adds dS K_j to dQ. S and dP land in the P and dS rows
 * first and become P and dS in place. D_i is recomputed for every key block: hd FMAs per row,
 * under 1% of the tile, where keeping it would take B*H*T floats we have no room for. */
static void bwd_rows(int mr, int nv, int r0, int i0, int j0, int ncols, int nk, int hd, int bk,
                     float scale, const bwd_operands *op)
{
    int nlast = ncols - 16 * (nv - 1), nvk = (nk + 15) / 16;
    float *P0 = op->P + r0 * bk, *dS0 = op->dS + r0 * bk;
    tile_product(mr, nv, nlast, hd, op->q + r0 * op->ldq, op->ldq, 1, op->kt, op->ldt, P0, bk,
                 NULL);
    tile_product(mr, nv, nlast, hd, op->dout + r0 * op->lddout, op->lddout, 1, op->vt, op->ldt,
                 dS0, bk, NULL);
    vf vscale = vf_set1(scale), zero = vf_set1(0.0f);
    for (int r = 0; r < mr; r++) {
        const float *orow = op->o + (r0 + r) * op->ldo, *dorow = op->dout + (r0 + r) * op->lddout;
        vf dsum = zero;
        int d = 0;
        for (; d + 16 <= hd; d += 16) dsum = vf_fma(vf_load(dorow + d), vf_load(orow + d), dsum);
        if (d < hd) dsum = vf_fma(vf_loadn(dorow + d, hd - d), vf_loadn(orow + d, hd - d), dsum);
        vf D = vf_set1(vf_sum(dsum)), vlse = vf_set1(op->lse[r0 + r]);
        int valid = min_int(ncols, i0 + r0 + r - j0 + 1);
        float *prow = P0 + r * bk, *dsrow = dS0 + r * bk;
        for (int v = 0; v < nvk; v++) {
            vf p = zero, ds = zero;
            if (v < nv) {
                vf s = vf_sub(vf_mul(vf_loadn(prow + 16 * v, ncols - 16 * v), vscale), vlse);
                p = vf_exp(vf_keep_range(s, 0, valid - 16 * v, -INFINITY));
                ds = vf_mul(vf_mul(p, vf_sub(vf_loadn(dsrow + 16 * v, ncols - 16 * v), D)),
                            vscale);
            }
            vf_storen(prow + 16 * v, p, nk - 16 * v);
            vf_storen(dsrow + 16 * v, ds, nk - 16 * v);
        }
    }
    rows_update_n(mr, op->dq + r0 * op->lddq, op->lddq, NULL, ncols, dS0, bk, 1, op->k, op->ldk,
                  hd);
}

/* All of kv head g in batch row b: dK, dV of the head and dQ of its H/KV query heads. */
static void bwd_group(float *dqkv, const float *dout, const float *qkv, const float *out,
                      const float *lse, int b, int g, tiling tl, int T, int H, int KV, int hd,
                      float scale, float *scratch)
{
    ptrdiff_t ld = (ptrdiff_t)(H + 2 * KV) * hd, ldo = (ptrdiff_t)H * hd;
    ptrdiff_t row0 = (ptrdiff_t)b * T * ld, koff = (ptrdiff_t)(H + g) * hd;
    ptrdiff_t voff = koff + (ptrdiff_t)KV * hd;
    const float *k = qkv + row0 + koff, *v = qkv + row0 + voff;
    float *dk = dqkv + row0 + koff, *dv = dqkv + row0 + voff;
    int bq = tl.bq, bk = tl.bk, group = H / KV;
    float *P = scratch, *dS = P + bq * bk, *ktbuf = NULL, *vtbuf = NULL;
    if (bk > 1) {
        ktbuf = dS + bq * bk;
        vtbuf = ktbuf + hd * bk;
    }
    float *kbuf = NULL, *qbuf = NULL, *dobuf = NULL;
    if (tl.copies) {
        kbuf = vtbuf + hd * bk;
        qbuf = kbuf + bk * hd;
        dobuf = qbuf + bq * hd;
    }
    bwd_operands op;

    for (int j0 = 0; j0 < T; j0 += bk) {
        int nk = min_int(bk, T - j0);
        /* Kt, Vt are transposed copies, or (bk == 1) the k, v rows in place. */
        op.kt = k + j0 * ld;
        op.vt = v + j0 * ld;
        op.ldt = 1;
        op.k = k + j0 * ld;
        op.ldk = ld;
        if (bk > 1) {
            transpose(ktbuf, bk, k + j0 * ld, ld, nk, hd);
            transpose(vtbuf, bk, v + j0 * ld, ld, nk, hd);
            op.kt = ktbuf;
            op.vt = vtbuf;
            op.ldt = bk;
        }
        if (tl.copies) {
            copy_rows(kbuf, hd, k + j0 * ld, ld, nk, hd);
            op.k = kbuf;
            op.ldk = hd;
        }
        for (int h = g * group; h < (g + 1) * group; h++) {
            const float *q = qkv + row0 + (ptrdiff_t)h * hd;
            float *dq = dqkv + row0 + (ptrdiff_t)h * hd;
            const float *o = out + (ptrdiff_t)b * T * ldo + (ptrdiff_t)h * hd;
            const float *dO = dout + (ptrdiff_t)b * T * ldo + (ptrdiff_t)h * hd;
            for (int i0 = j0; i0 < T; i0 += bq) {
                int nq = min_int(bq, T - i0);
                if (i0 + bq < T) {
                    int nq_next = min_int(bq, T - i0 - bq);
                    prefetch_rows(q + (i0 + bq) * ld, ld, nq_next, hd);
                    prefetch_rows(dq + (i0 + bq) * ld, ld, nq_next, hd);
                    prefetch_rows(dO + (i0 + bq) * ldo, ldo, nq_next, hd);
                    prefetch_rows(o + (i0 + bq) * ldo, ldo, nq_next, hd);
                }
                op.q = q + i0 * ld;
                op.ldq = ld;
                op.dout = dO + i0 * ldo;
                op.lddout = ldo;
                if (tl.copies) {
                    copy_rows(qbuf, hd, op.q, ld, nq, hd);
                    copy_rows(dobuf, hd, op.dout, ldo, nq, hd);
                    op.q = qbuf;
                    op.ldq = hd;
                    op.dout = dobuf;
                    op.lddout = hd;
                }
                op.o = o + i0 * ldo;
                op.ldo = ldo;
                op.lse = lse + ((ptrdiff_t)b * H + h) * T + i0;
                op.dq = dq + i0 * ld;
                op.lddq = ld;
                op.P = P;
                op.dS = dS;
                for (int r0 = 0; r0 < nq; r0 += MR) {
                    int mr = min_int(MR, nq - r0), ncols = min_int(nk, i0 + r0 + mr - j0);
                    int nv = (ncols + 15) / 16;
                    bwd_rows(mr, nv, r0, i0, j0, ncols, nk, hd, bk, scale, &op);
                }
                /* dV_j += P^T dO, dK_j += dS^T Q; queries before a key row group's first key
                 * contribute nothing and are skipped. */
                for (int c0 = 0; c0 < nk; c0 += MR) {
                    int mr = min_int(MR, nk - c0);
                    int qs = j0 + c0 > i0 ? j0 + c0 - i0 : 0;
                    if (qs >= nq) continue;
                    rows_update_n(mr, dv + (j0 + c0) * ld, ld, NULL, nq - qs, P + qs * bk + c0, 1,
                                  bk, op.dout + qs * op.lddout, op.lddout, hd);
                    rows_update_n(mr, dk + (j0 + c0) * ld, ld, NULL, nq - qs, dS + qs * bk + c0,
                                  1, bk, op.q + qs * op.ldq, op.ldq, hd);
                }
            }
        }
    }
}

void attention_backward(float *dqkv, const float *dout, const float *qkv, const float *out,
                        const float *lse, int B, int T, int H, int KV, int hd)
{
    tiling tl = choose_tiling(hd, bwd_floats);
    if (!tl.copies) {
        /* Huge hd: P, dS (TILE x bk) and Kt, Vt (hd x bk); bk == 1 reads k, v in place. */
        tl.bq = TILE;
        tl.bk = SCRATCH_FLOATS / (2 * hd + 2 * TILE);
        if (tl.bk >= 16) tl.bk -= tl.bk % 16;
        if (tl.bk < 1) tl.bk = 1;
    }
    long ntasks = (long)B * KV;
    float scale = 1.0f / sqrtf((float)hd);
#pragma omp parallel
    {
        float scratch[SCRATCH_FLOATS];
#pragma omp for schedule(dynamic, 1)
        for (long t = 0; t < ntasks; t++)
            bwd_group(dqkv, dout, qkv, out, lse, (int)(t / KV), (int)(t % KV), tl, T, H, KV, hd,
                      scale, scratch);
    }
}
