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
 * Forward: one task per (b, h, block of up to 64 queries). The block's queries are transposed once
 * (Qt, hd x bq) and each score tile is computed key-major, S^T = K_j Qt, so that 16 queries lie
 * along a vector: the running max m and sum l of 16 queries are one vector each, updated with
 * vertical max/add and no horizontal reductions. The output rows are the accumulator:
 * O = alpha O + P^T V per key block (alpha = exp(m_old - m_new)), divided by l at the end.
 *
 * Backward: one task per (b, kv head); key blocks outer. K_j and V_j are transposed once and serve
 * every query block of every query head of the group. Per (query block, key block) tile:
 * S = Q Kt, P = exp(scale S - lse) (lse is known: no max), dP = dO Vt, dS = scale P (dP - D),
 * dQ += dS K_j, and once per tile dV_j += P^T dO, dK_j += dS^T Q. A task owns dK, dV of its kv
 * head and dQ of its H/KV query heads: no two tasks write the same float, no atomics, and every
 * sum runs in an order fixed by the shapes alone, so the result is bitwise identical for any
 * thread count (forward likewise: one task computes each output row). The price: only B*KV
 * tasks, plenty for training shapes on CPUs (B*KV >= 16 is typical) but idle threads when
 * B*KV < threads.
 *
 * Memory: each thread has one 64 KiB scratch array on its stack; for large hd the tiles shrink so
 * that it fits, down to one row, which is then used in place instead of transposed. Nothing is
 * allocated, nothing O(T^2) exists.
 *
 * Kernel: one register-tile routine (tile_madd: up to MR rows x 64 columns, the inner dimension
 * streamed) computes all seven products. A is read by broadcast with any row and inner stride,
 * which is how P^T and dS^T are read without a copy. With AVX-512 the vector type is __m512;
 * otherwise a 16-float struct with the same blocking, so both paths share every index. No
 * -ffast-math: exp is a Cephes-style polynomial (about 1 ulp) under AVX-512, expf otherwise.
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

#define INLINE static inline __attribute__((always_inline))
#define MR 4                  /* rows of a register tile */
#define NV 4                  /* 16-float vectors per register-tile row: 64 columns */
#define TILE 64               /* query and key block size (at most; smaller for large hd) */
#define SCRATCH_FLOATS 16384  /* per-thread scratch: 64 KiB */

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
/* e^x (Cephes expf): x = n ln2 + r, |r| <= ln2/2, e^r = 1 + r + r^2 P(r), times 2^n by scalef,
 * which also underflows gracefully. x is clamped to [-104, 88.72]: -inf gives 0 (e^-104 is below
 * the least subnormal), and NaN passes through (min/max return their second operand on NaN). */
INLINE vf vf_exp(vf x)
{
    x = _mm512_min_ps(_mm512_set1_ps(88.72283f), x);
    x = _mm512_max_ps(_mm512_set1_ps(-104.0f), x);
    vf n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    vf r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    vf p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    vf y = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), r);
    y = _mm512_add_ps(y, _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(y, n);
}
#else
typedef struct {
    float f[16];
} vf;
#define VF_MAP(expr)                                                                               \
    vf r_;                                                                                         \
    for (int l_ = 0; l_ < 16; l_++) r_.f[l_] = (expr);                                             \
    return r_

INLINE vf vf_set1(float x) { VF_MAP(x); }
INLINE vf vf_load(const float *p) { VF_MAP(p[l_]); }
INLINE vf vf_loadn(const float *p, int n) { VF_MAP(l_ < n ? p[l_] : 0.0f); }
INLINE void vf_store(float *p, vf v) { memcpy(p, v.f, sizeof v.f); }
INLINE void vf_storen(float *p, vf v, int n)
{
    for (int l = 0; l < 16 && l < n; l++) p[l] = v.f[l];
}
INLINE vf vf_add(vf a, vf b) { VF_MAP(a.f[l_] + b.f[l_]); }
INLINE vf vf_sub(vf a, vf b) { VF_MAP(a.f[l_] - b.f[l_]); }
INLINE vf vf_mul(vf a, vf b) { VF_MAP(a.f[l_] * b.f[l_]); }
INLINE vf vf_div(vf a, vf b) { VF_MAP(a.f[l_] / b.f[l_]); }
INLINE vf vf_fma(vf a, vf b, vf c) { VF_MAP(a.f[l_] * b.f[l_] + c.f[l_]); }
INLINE vf vf_max(vf a, vf b) { VF_MAP(a.f[l_] > b.f[l_] ? a.f[l_] : b.f[l_]); }
INLINE vf vf_keep_range(vf v, int lo, int hi, float fill) { VF_MAP(l_ >= lo && l_ < hi ? v.f[l_] : fill); }
INLINE float vf_sum(vf v)
{
    float s = 0.0f;
    for (int l = 0; l < 16; l++) s += v.f[l];
    return s;
}
INLINE vf vf_exp(vf x) { VF_MAP(expf(x.f[l_])); }
#endif

/* ---- register tiles ------------------------------------------------------------------------ */

/* acc[r][v] += sum_{k<K} A[r*ars + k*aks] * B[k*ldb + 16v + lane] for r < mr, v < nv. The last
 * vector of each B row has nlast (1..16) lanes; the others read as 0. mr, nv are constants at
 * every call site, so the loops unroll and acc lives in registers. */
INLINE void tile_madd(vf acc[MR][NV], int mr, int nv, int nlast, int K, const float *A,
                      ptrdiff_t ars, ptrdiff_t aks, const float *B, ptrdiff_t ldb)
{
    for (int k = 0; k < K; k++) {
        const float *b = B + k * ldb;
        vf bv[NV];
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++) {
            if (v < nv - 1) bv[v] = vf_load(b + 16 * v);
            else if (v == nv - 1) bv[v] = vf_loadn(b + 16 * v, nlast);
        }
        const float *a = A + k * aks;
#pragma GCC unroll 4
        for (int r = 0; r < MR; r++) {
            if (r >= mr) break;
            vf ar = vf_set1(a[r * ars]);
#pragma GCC unroll 4
            for (int v = 0; v < NV; v++)
                if (v < nv) acc[r][v] = vf_fma(ar, bv[v], acc[r][v]);
        }
    }
}

INLINE void tile_zero(vf acc[MR][NV], int mr, int nv)
{
    for (int r = 0; r < mr; r++)
        for (int v = 0; v < nv; v++) acc[r][v] = vf_set1(0.0f);
}

/* C[r][0 .. 16(nv-1)+nlast) = cscale[r] * C[r] + sum_k A[r*ars + k*aks] B[k*ldb + .];
 * cscale NULL means 1. */
INLINE void tile_update(int mr, int nv, int nlast, float *C, ptrdiff_t ldc, const float *cscale,
                        int K, const float *A, ptrdiff_t ars, ptrdiff_t aks, const float *B,
                        ptrdiff_t ldb)
{
    vf acc[MR][NV];
    for (int r = 0; r < mr; r++)
        for (int v = 0; v < nv; v++) {
            const float *c = C + r * ldc + 16 * v;
            acc[r][v] = v < nv - 1 ? vf_load(c) : vf_loadn(c, nlast);
            if (cscale) acc[r][v] = vf_mul(acc[r][v], vf_set1(cscale[r]));
        }
    tile_madd(acc, mr, nv, nlast, K, A, ars, aks, B, ldb);
    for (int r = 0; r < mr; r++)
        for (int v = 0; v < nv; v++) {
            float *c = C + r * ldc + 16 * v;
            if (v < nv - 1) vf_store(c, acc[r][v]);
            else vf_storen(c, acc[r][v], nlast);
        }
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
    default: rows_update(4, C, ldc, cscale, K, A, ars, aks, B, ldb, ncols); break;
    }
}

/* Calls CALL(mr, nv) with both as constants; mr in 1..MR, nv in 1..NV. */
#define DISPATCH_MR_NV(mr, nv, CALL)                                                               \
    switch ((mr) * 4 + (nv) - 5) {                                                                 \
    case 0: CALL(1, 1); break;                                                                     \
    case 1: CALL(1, 2); break;                                                                     \
    case 2: CALL(1, 3); break;                                                                     \
    case 3: CALL(1, 4); break;                                                                     \
    case 4: CALL(2, 1); break;                                                                     \
    case 5: CALL(2, 2); break;                                                                     \
    case 6: CALL(2, 3); break;                                                                     \
    case 7: CALL(2, 4); break;                                                                     \
    case 8: CALL(3, 1); break;                                                                     \
    case 9: CALL(3, 2); break;                                                                     \
    case 10: CALL(3, 3); break;                                                                    \
    case 11: CALL(3, 4); break;                                                                    \
    case 12: CALL(4, 1); break;                                                                    \
    case 13: CALL(4, 2); break;                                                                    \
    case 14: CALL(4, 3); break;                                                                    \
    default: CALL(4, 4); break;                                                                    \
    }

/* dst[c*ldd + r] = src[r*lds + c] for r < rows, c < cols. */
static void transpose(float *dst, ptrdiff_t ldd, const float *src, ptrdiff_t lds, int rows,
                      int cols)
{
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) dst[c * ldd + r] = src[r * lds + c];
}

/* Largest block <= TILE of which `per` floats each (plus `fixed`) fit the scratch; a multiple of
 * 16 when at least 16, so that vectors stay whole. 0 when not even one fits. */
static int block_fitting(int per, int fixed)
{
    int n = (SCRATCH_FLOATS - fixed) / per;
    if (n > TILE) n = TILE;
    if (n >= 16) n -= n % 16;
    return n;
}

/* ---- forward ------------------------------------------------------------------------------- */

/* st rows [0, mr) cols [16*vs, ...) = raw dot products of mr keys with the block's queries. */
INLINE void fwd_scores(int mr, int nv, int nlast, int hd, const float *k, ptrdiff_t ld,
                       const float *qt, ptrdiff_t ldqt, float *st)
{
    vf acc[MR][NV];
    tile_zero(acc, mr, nv);
    tile_madd(acc, mr, nv, nlast, hd, k, ld, 1, qt, ldqt);
    for (int r = 0; r < mr; r++)
        for (int v = 0; v < nv; v++) vf_store(st + r * TILE + 16 * v, acc[r][v]);
}

/* Queries [i0, i0 + nq) of head h in batch row b. Scratch: m, l, alpha (TILE each), the score
 * tile st (TILE keys x TILE queries, key-major) and Qt (hd x bq) unless bq == 1. */
static void fwd_block(float *out, float *lse, const float *qkv, int b, int h, int i0, int nq,
                      int bq, int T, int H, int KV, int hd, float scale, float *scratch)
{
    ptrdiff_t ld = (ptrdiff_t)(H + 2 * KV) * hd, ldo = (ptrdiff_t)H * hd;
    int g = h / (H / KV);
    const float *q = qkv + (ptrdiff_t)b * T * ld + (ptrdiff_t)h * hd;
    const float *k = qkv + (ptrdiff_t)b * T * ld + (ptrdiff_t)(H + g) * hd;
    const float *v = k + (ptrdiff_t)KV * hd;
    float *o = out + (ptrdiff_t)b * T * ldo + (ptrdiff_t)h * hd;
    float *m = scratch, *l = m + TILE, *alpha = l + TILE, *st = alpha + TILE;
    const float *qt = q + i0 * ld;
    ptrdiff_t ldqt = 1;
    if (bq > 1) {
        float *buf = st + TILE * TILE;
        transpose(buf, bq, q + i0 * ld, ld, nq, hd);
        qt = buf;
        ldqt = bq;
    }
    /* -FLT_MAX, not -inf, so that exp(m_old - m_new) is 0 or 1, never NaN, in unused lanes. */
    for (int c = 0; c < TILE; c++) {
        m[c] = -FLT_MAX;
        l[c] = 0.0f;
    }
    for (int r = 0; r < nq; r++) memset(o + (i0 + r) * ldo, 0, sizeof(float) * (size_t)hd);
    int nvq = (nq + 15) / 16, nlastq = nq - 16 * (nvq - 1), i1 = i0 + nq;

    for (int j0 = 0; j0 < i1; j0 += TILE) {
        int nk = min_int(TILE, i1 - j0);
        /* S^T = K_j Qt; a key row group skips the query vectors wholly before its first key. */
        for (int kr0 = 0; kr0 < nk; kr0 += MR) {
            int mr = min_int(MR, nk - kr0);
            int vs = j0 + kr0 > i0 ? (j0 + kr0 - i0) / 16 : 0, nv = nvq - vs;
            const float *kp = k + (j0 + kr0) * ld;
            float *sp = st + kr0 * TILE + 16 * vs;
#define CALL(mr_, nv_) fwd_scores(mr_, nv_, nlastq, hd, kp, ld, qt + 16 * vs, ldqt, sp)
            DISPATCH_MR_NV(mr, nv, CALL)
#undef CALL
        }
        /* Online softmax, 16 queries at a time: keys past the vector's last query are skipped;
         * lanes with key > query, or past the block, become -inf (p = 0). */
        vf vscale = vf_set1(scale);
        for (int vq = 0; vq < nvq; vq++) {
            int kend = min_int(nk, i0 - j0 + 16 * vq + 16), hi = nq - 16 * vq;
            if (kend <= 0) continue;
            vf m_old = vf_load(m + 16 * vq), m_new = m_old;
            for (int c = 0; c < kend; c++) {
                float *sp = st + c * TILE + 16 * vq;
                vf s = vf_keep_range(vf_mul(vf_load(sp), vscale), j0 + c - i0 - 16 * vq, hi,
                                     -INFINITY);
                vf_store(sp, s);
                m_new = vf_max(m_new, s);
            }
            vf al = vf_exp(vf_sub(m_old, m_new));
            vf sum = vf_mul(vf_load(l + 16 * vq), al);
            for (int c = 0; c < kend; c++) {
                float *sp = st + c * TILE + 16 * vq;
                vf p = vf_exp(vf_sub(vf_load(sp), m_new));
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
            rows_update_n(mr, o + (i0 + r0) * ldo, ldo, alpha + r0, K, st + r0, 1, TILE,
                          v + j0 * ld, ld, hd);
        }
    }
    for (int r = 0; r < nq; r++) {
        float *orow = o + (i0 + r) * ldo;
        vf vl = vf_set1(l[r]);
        for (int d = 0; d < hd; d += 16) vf_storen(orow + d, vf_div(vf_loadn(orow + d, hd - d), vl), hd - d);
        lse[((ptrdiff_t)b * H + h) * T + i0 + r] = m[r] + logf(l[r]);
    }
}

void attention_forward(float *out, float *lse, const float *qkv, int B, int T, int H, int KV,
                       int hd)
{
    /* Scratch: m, l, alpha, st, then Qt (hd x bq); bq = 1 reads q in place. */
    int bq = block_fitting(hd, 3 * TILE + TILE * TILE);
    if (bq < 1) bq = 1;
    int nqb = (T + bq - 1) / bq;
    long ntasks = (long)B * H * nqb;
    float scale = 1.0f / sqrtf((float)hd);
#pragma omp parallel
    {
        float scratch[SCRATCH_FLOATS];
        /* Longest blocks (last queries) first, for the dynamic schedule's balance. */
#pragma omp for schedule(dynamic, 1)
        for (long t = 0; t < ntasks; t++) {
            int qb = nqb - 1 - (int)(t % nqb);
            long bh = t / nqb;
            int i0 = qb * bq;
            fwd_block(out, lse, qkv, (int)(bh / H), (int)(bh % H), i0, min_int(bq, T - i0), bq,
                      T, H, KV, hd, scale, scratch);
        }
    }
}

/* ---- backward ------------------------------------------------------------------------------ */

/* Query rows [r0, r0 + mr) against keys [j0, j0 + ncols) of a key block of nk keys: writes the
 * rows of P and dS (row stride bk, relative row r0 - i0, zero up to nk) and adds dS K_j to dQ. */
INLINE void bwd_rows(int mr, int nv, int r0, int i0, int j0, int ncols, int nk, int hd,
                     float scale, const float *q, float *dq, ptrdiff_t ld, const float *o,
                     const float *dout, ptrdiff_t ldo, const float *lse, const float *k,
                     const float *kt, const float *vt, ptrdiff_t ldt, float *P, float *dS, int bk)
{
    int nlast = ncols - 16 * (nv - 1), nvk = (nk + 15) / 16;
    vf acc[MR][NV];
    tile_zero(acc, mr, nv);
    tile_madd(acc, mr, nv, nlast, hd, q + r0 * ld, ld, 1, kt, ldt);
    vf vscale = vf_set1(scale), zero = vf_set1(0.0f);
    for (int r = 0; r < mr; r++) {
        vf vlse = vf_set1(lse[r0 + r]);
        int valid = min_int(ncols, r0 + r - j0 + 1);
        float *prow = P + (r0 - i0 + r) * bk;
        for (int v = 0; v < nvk; v++) {
            vf p = zero;
            if (v < nv) {
                vf s = vf_sub(vf_mul(acc[r][v], vscale), vlse);
                p = vf_exp(vf_keep_range(s, 0, valid - 16 * v, -INFINITY));
            }
            vf_storen(prow + 16 * v, p, nk - 16 * v);
        }
    }
    tile_zero(acc, mr, nv);
    tile_madd(acc, mr, nv, nlast, hd, dout + r0 * ldo, ldo, 1, vt, ldt);
    for (int r = 0; r < mr; r++) {
        const float *orow = o + (r0 + r) * ldo, *dorow = dout + (r0 + r) * ldo;
        vf dsum = zero;
        for (int d = 0; d < hd; d += 16)
            dsum = vf_fma(vf_loadn(dorow + d, hd - d), vf_loadn(orow + d, hd - d), dsum);
        vf D = vf_set1(vf_sum(dsum));
        const float *prow = P + (r0 - i0 + r) * bk;
        float *dsrow = dS + (r0 - i0 + r) * bk;
        for (int v = 0; v < nvk; v++) {
            vf ds = zero;
            if (v < nv)
                ds = vf_mul(vf_mul(vf_loadn(prow + 16 * v, nk - 16 * v), vf_sub(acc[r][v], D)),
                            vscale);
            vf_storen(dsrow + 16 * v, ds, nk - 16 * v);
        }
    }
    rows_update(mr, dq + r0 * ld, ld, NULL, ncols, dS + (r0 - i0) * bk, bk, 1, k, ld, hd);
}

/* All of kv head g in batch row b: dK, dV of the head and dQ of its H/KV query heads. Scratch:
 * Kt, Vt (hd x bk each, unless bk == 1: then K, V rows are read in place), P and dS
 * (TILE queries x bk keys each). */
static void bwd_group(float *dqkv, const float *dout, const float *qkv, const float *out,
                      const float *lse, int b, int g, int bk, int T, int H, int KV, int hd,
                      float scale, float *scratch)
{
    ptrdiff_t ld = (ptrdiff_t)(H + 2 * KV) * hd, ldo = (ptrdiff_t)H * hd;
    ptrdiff_t row0 = (ptrdiff_t)b * T * ld, koff = (ptrdiff_t)(H + g) * hd;
    ptrdiff_t voff = koff + (ptrdiff_t)KV * hd;
    const float *k = qkv + row0 + koff, *v = qkv + row0 + voff;
    float *dk = dqkv + row0 + koff, *dv = dqkv + row0 + voff;
    float *P = scratch, *dS = P + TILE * bk, *ktbuf = dS + TILE * bk, *vtbuf = ktbuf + hd * bk;
    int group = H / KV;

    for (int j0 = 0; j0 < T; j0 += bk) {
        int nk = min_int(bk, T - j0);
        const float *kt = k + j0 * ld, *vt = v + j0 * ld;
        ptrdiff_t ldt = 1;
        if (bk > 1) {
            transpose(ktbuf, bk, k + j0 * ld, ld, nk, hd);
            transpose(vtbuf, bk, v + j0 * ld, ld, nk, hd);
            kt = ktbuf;
            vt = vtbuf;
            ldt = bk;
        }
        for (int h = g * group; h < (g + 1) * group; h++) {
            const float *q = qkv + row0 + (ptrdiff_t)h * hd;
            float *dq = dqkv + row0 + (ptrdiff_t)h * hd;
            const float *o = out + (ptrdiff_t)b * T * ldo + (ptrdiff_t)h * hd;
            const float *dO = dout + (ptrdiff_t)b * T * ldo + (ptrdiff_t)h * hd;
            const float *L = lse + ((ptrdiff_t)b * H + h) * T;
            for (int i0 = j0; i0 < T; i0 += TILE) {
                int nq = min_int(TILE, T - i0);
                for (int r0 = i0; r0 < i0 + nq; r0 += MR) {
                    int mr = min_int(MR, i0 + nq - r0), ncols = min_int(nk, r0 + mr - j0);
                    int nv = (ncols + 15) / 16;
#define CALL(mr_, nv_)                                                                             \
    bwd_rows(mr_, nv_, r0, i0, j0, ncols, nk, hd, scale, q, dq, ld, o, dO, ldo, L, k + j0 * ld, kt, \
             vt, ldt, P, dS, bk)
                    DISPATCH_MR_NV(mr, nv, CALL)
#undef CALL
                }
                /* dV_j += P^T dO, dK_j += dS^T Q; queries before a key row group's first key
                 * contribute nothing and are skipped. */
                for (int c0 = 0; c0 < nk; c0 += MR) {
                    int mr = min_int(MR, nk - c0);
                    int qs = j0 + c0 > i0 ? j0 + c0 - i0 : 0;
                    if (qs >= nq) continue;
                    rows_update_n(mr, dv + (j0 + c0) * ld, ld, NULL, nq - qs, P + qs * bk + c0, 1,
                                  bk, dO + (i0 + qs) * ldo, ldo, hd);
                    rows_update_n(mr, dk + (j0 + c0) * ld, ld, NULL, nq - qs, dS + qs * bk + c0,
                                  1, bk, q + (i0 + qs) * ld, ld, hd);
                }
            }
        }
    }
}

void attention_backward(float *dqkv, const float *dout, const float *qkv, const float *out,
                        const float *lse, int B, int T, int H, int KV, int hd)
{
    /* Scratch: P, dS (TILE x bk), then Kt, Vt (hd x bk) unless bk == 1. */
    int bk = block_fitting(2 * hd + 2 * TILE, 0);
    if (bk < 1) bk = 1;
    long ntasks = (long)B * KV;
    float scale = 1.0f / sqrtf((float)hd);
#pragma omp parallel
    {
        float scratch[SCRATCH_FLOATS];
#pragma omp for schedule(dynamic, 1)
        for (long t = 0; t < ntasks; t++)
            bwd_group(dqkv, dout, qkv, out, lse, (int)(t / KV), (int)(t % KV), bk, T, H, KV, hd,
                      scale, scratch);
    }
}
