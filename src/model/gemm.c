/* Matrix multiply over oneDNN's dnnl_sgemm (row-major), and the thread count that it and the
 * layers share (OpenMP: oneDNN is built on libgomp, so one pool serves both).
 *
 * dnnl_sgemm only fails on arguments that the model has already validated (negative sizes,
 * leading dimensions too small); if it ever does, a plain loop computes the same product so that
 * the library still never aborts.
 *
 * BF16 mode (hlm_gemm_set_precision): op(A) and op(B) are rounded into packed bf16 scratch
 * buffers (as stored: a transposed operand stays transposed and the matmul's memory descriptor
 * says so through its strides), then a oneDNN matmul primitive multiplies them into the fp32 C
 * at stride ldc, with a `sum` post-op when C accumulates. Invariants:
 *   - one engine and stream, created on first use; primitives in a small table keyed by
 *     everything their creation depends on (sizes, transpositions, ldc, accumulate or not, and
 *     the OpenMP thread count, which oneDNN uses to split the work when it creates a primitive);
 *   - the scratch buffers only grow; both they and the table are process-wide, so hlm_sgemm is
 *     called from one thread at a time (the model never calls it concurrently);
 *   - any oneDNN failure, a reference (slow) implementation, alpha != 1 or a CPU without native
 *     bf16 takes the fp32 path: the result is then exact fp32, never an abort or a message. */
#include "model/gemm.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#if defined(__AVX512BF16__) && defined(__AVX512F__)
#include <immintrin.h>
#endif

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

/* The fp32 product: dnnl_sgemm, or the loop when it refuses. */
static void sgemm_f32(bool trans_a, bool trans_b, int M, int N, int K, float alpha,
                      const float *A, int lda, const float *B, int ldb, float beta, float *C,
                      int ldc)
{
    dnnl_status_t st = dnnl_sgemm(trans_a ? 'T' : 'N', trans_b ? 'T' : 'N', M, N, K, alpha, A,
                                  lda, B, ldb, beta, C, ldc);
    if (st != dnnl_success)
        sgemm_loop(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

/* ---- bf16 mode ---------------------------------------------------------------------------- */

static hlm_gemm_precision gemm_precision = HLM_GEMM_F32;

void hlm_gemm_set_precision(hlm_gemm_precision p)
{
    gemm_precision = p == HLM_GEMM_BF16 ? HLM_GEMM_BF16 : HLM_GEMM_F32;
}

hlm_gemm_precision hlm_gemm_get_precision(void) { return gemm_precision; }

int hlm_gemm_bf16_supported(void)
{
    static int supported = -1;
    if (supported < 0) {
        /* oneDNN's own dispatch level: it honours ONEDNN_MAX_CPU_ISA as well as the CPU */
        dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
        supported = isa == dnnl_cpu_isa_avx512_core_bf16 || isa == dnnl_cpu_isa_avx512_core_amx;
    }
    return supported;
}

/* Round to nearest even; a NaN stays a (quiet) NaN, whose payload the carry would otherwise turn
 * into infinity. */
static uint16_t bf16_round(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    if ((u & 0x7FFFFFFFu) > 0x7F800000u) return (uint16_t)((u >> 16) | 0x0040u);
    u += 0x7FFFu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

static void bf16_convert_row(const float *src, uint16_t *dst, int n)
{
    int i = 0;
#if defined(__AVX512BF16__) && defined(__AVX512F__)
    /* same rounding as bf16_round, except that subnormal inputs become zero */
    for (; i + 32 <= n; i += 32) {
        __m512bh v = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(src + i + 16), _mm512_loadu_ps(src + i));
        _mm512_storeu_si512((void *)(dst + i), (__m512i)v);
    }
#endif
    for (; i < n; i++) dst[i] = bf16_round(src[i]);
}

/* src (rows, cols) at row stride ld -> dst packed (rows, cols). Memory-bound: worth threads only
 * on large matrices. */
static void bf16_convert(const float *src, int rows, int cols, int ld, uint16_t *dst)
{
#pragma omp parallel for schedule(static) if ((size_t)rows * (size_t)cols >= (1u << 16))
    for (int r = 0; r < rows; r++)
        bf16_convert_row(src + (size_t)r * ld, dst + (size_t)r * cols, cols);
}

#define BF16_CACHE 64

typedef struct {
    bool used, trans_a, trans_b, accumulate;
    int M, N, K, ldc, threads;
    uint64_t born;         /* insertion order: the oldest goes first */
    dnnl_primitive_t prim; /* NULL: creation failed for this key, take the fp32 path */
    dnnl_memory_t a, b, c; /* created without buffers; the handles are set at each call */
} bf16_prim;

static struct {
    int state; /* 0: not tried, 1: engine and stream ready, -1: unavailable */
    dnnl_engine_t engine;
    dnnl_stream_t stream;
    uint16_t *a16, *b16;
    size_t a_cap, b_cap; /* elements */
    float *c32;          /* hlm_bf16_packed_gemm's product */
    size_t c_cap;
    bf16_prim cache[BF16_CACHE];
    uint64_t clock;
} bf;

static void bf16_prim_destroy(bf16_prim *e)
{
    if (e->prim) dnnl_primitive_destroy(e->prim);
    if (e->a) dnnl_memory_destroy(e->a);
    if (e->b) dnnl_memory_destroy(e->b);
    if (e->c) dnnl_memory_destroy(e->c);
    memset(e, 0, sizeof *e);
}

static void bf16_cleanup(void)
{
    for (int i = 0; i < BF16_CACHE; i++) bf16_prim_destroy(&bf.cache[i]);
    free(bf.a16), free(bf.b16), free(bf.c32);
    if (bf.stream) dnnl_stream_destroy(bf.stream);
    if (bf.engine) dnnl_engine_destroy(bf.engine);
    memset(&bf, 0, sizeof bf);
    bf.state = -1;
}

static bool bf16_ready(void)
{
    if (bf.state == 0) {
        bf.state = -1;
        if (!hlm_gemm_bf16_supported() || dnnl_engine_create(&bf.engine, dnnl_cpu, 0)) return false;
        if (dnnl_stream_create(&bf.stream, bf.engine, dnnl_stream_default_flags)) {
            dnnl_engine_destroy(bf.engine);
            bf.engine = NULL;
            return false;
        }
        atexit(bf16_cleanup);
        bf.state = 1;
    }
    return bf.state == 1;
}

static bool bf16_reserve(uint16_t **buf, size_t *cap, size_t n)
{
    if (n <= *cap) return true;
    uint16_t *p = malloc(n * sizeof *p);
    if (!p) return false;
    free(*buf);
    *buf = p;
    *cap = n;
    return true;
}

static dnnl_primitive_t bf16_prim_create(bf16_prim *e)
{
    dnnl_memory_desc_t a_md, b_md, c_md;
    dnnl_dims_t ad = {e->M, e->K}, bd = {e->K, e->N}, cd = {e->M, e->N};
    /* packed as stored: op(A) (M,K) is A^T (K,M) row-major when transposed, likewise B */
    dnnl_dims_t as = {e->trans_a ? 1 : e->K, e->trans_a ? e->M : 1};
    dnnl_dims_t bs = {e->trans_b ? 1 : e->N, e->trans_b ? e->K : 1};
    dnnl_dims_t cs = {e->ldc, 1};
    if (dnnl_memory_desc_init_by_strides(&a_md, 2, ad, dnnl_bf16, as) ||
        dnnl_memory_desc_init_by_strides(&b_md, 2, bd, dnnl_bf16, bs) ||
        dnnl_memory_desc_init_by_strides(&c_md, 2, cd, dnnl_f32, cs))
        return NULL;
    dnnl_matmul_desc_t md;
    if (dnnl_matmul_desc_init(&md, &a_md, &b_md, NULL, &c_md)) return NULL;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t ops = NULL;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_t prim = NULL;
    bool ok = !dnnl_primitive_attr_create(&attr);
    if (ok && e->accumulate)
        ok = !dnnl_post_ops_create(&ops) && !dnnl_post_ops_append_sum(ops, 1.0f) &&
             !dnnl_primitive_attr_set_post_ops(attr, ops);
    ok = ok && !dnnl_primitive_desc_create(&pd, &md, attr, bf.engine, NULL);
    if (ok) { /* a reference implementation is far slower than fp32 sgemm */
        const char *impl = NULL;
        ok = !dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) && impl &&
             strncmp(impl, "ref", 3) != 0;
    }
    ok = ok && !dnnl_primitive_create(&prim, pd);
    ok = ok && !dnnl_memory_create(&e->a, &a_md, bf.engine, DNNL_MEMORY_NONE) &&
         !dnnl_memory_create(&e->b, &b_md, bf.engine, DNNL_MEMORY_NONE) &&
         !dnnl_memory_create(&e->c, &c_md, bf.engine, DNNL_MEMORY_NONE);
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (ops) dnnl_post_ops_destroy(ops);
    if (attr) dnnl_primitive_attr_destroy(attr);
    if (!ok && prim) {
        dnnl_primitive_destroy(prim);
        prim = NULL;
    }
    return prim;
}

/* The table entry for this product, created (or evicting the oldest) when missing; NULL when
 * oneDNN cannot run it. */
static bf16_prim *bf16_prim_get(bool trans_a, bool trans_b, int M, int N, int K, int ldc,
                                bool accumulate)
{
    int threads = hlm_get_threads();
    bf16_prim *slot = &bf.cache[0];
    for (int i = 0; i < BF16_CACHE; i++) {
        bf16_prim *e = &bf.cache[i];
        if (e->used && e->M == M && e->N == N && e->K == K && e->ldc == ldc &&
            e->trans_a == trans_a && e->trans_b == trans_b && e->accumulate == accumulate &&
            e->threads == threads)
            return e->prim ? e : NULL;
        if (!e->used ? slot->used : slot->used && e->born < slot->born) slot = e;
    }
    bf16_prim_destroy(slot);
    *slot = (bf16_prim){.used = true, .trans_a = trans_a, .trans_b = trans_b,
                        .accumulate = accumulate, .M = M, .N = N, .K = K, .ldc = ldc,
                        .threads = threads, .born = bf.clock++};
    slot->prim = bf16_prim_create(slot);
    if (!slot->prim) { /* keep the key: the next call with it goes straight to fp32 */
        bf16_prim_destroy(slot);
        *slot = (bf16_prim){.used = true, .trans_a = trans_a, .trans_b = trans_b,
                            .accumulate = accumulate, .M = M, .N = N, .K = K, .ldc = ldc,
                            .threads = threads, .born = bf.clock - 1};
        return NULL;
    }
    return slot;
}

/* C = op(A) op(B) + beta C in bf16 (alpha is 1); false, with C untouched, when it cannot (then
 * the caller computes it in fp32). */
/* B16: B already in bf16, packed as B would be with ldb = its row length (NULL: convert B). */
static bool sgemm_bf16(bool trans_a, bool trans_b, int M, int N, int K, const float *A, int lda,
                       const float *B, const uint16_t *B16, int ldb, float beta, float *C, int ldc)
{
    int a_rows = trans_a ? K : M, a_cols = trans_a ? M : K;
    int b_rows = trans_b ? N : K, b_cols = trans_b ? K : N;
    if (lda < a_cols || ldb < b_cols || ldc < N || !bf16_ready()) return false;
    if (!bf16_reserve(&bf.a16, &bf.a_cap, (size_t)M * K) ||
        (!B16 && !bf16_reserve(&bf.b16, &bf.b_cap, (size_t)K * N)))
        return false;
    bf16_prim *e = bf16_prim_get(trans_a, trans_b, M, N, K, ldc, beta != 0.0f);
    if (!e) return false;
    if (dnnl_memory_set_data_handle(e->a, bf.a16) || dnnl_memory_set_data_handle(e->b, B16 ? (void *)B16 : bf.b16) ||
        dnnl_memory_set_data_handle(e->c, C))
        return false;
    bf16_convert(A, a_rows, a_cols, lda, bf.a16);
    if (!B16) bf16_convert(B, b_rows, b_cols, ldb, bf.b16);
    bool scaled = beta != 0.0f && beta != 1.0f;
    if (scaled) /* the sum post-op adds C as it is */
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) C[(size_t)i * ldc + j] *= beta;
    dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, e->a}, {DNNL_ARG_WEIGHTS, e->b}, {DNNL_ARG_DST, e->c}};
    /* CPU primitives check their arguments before they write anything */
    if (!dnnl_primitive_execute(e->prim, bf.stream, 3, args) && !dnnl_stream_wait(bf.stream))
        return true;
    if (!scaled || !B) return false; /* (a bf16 B has no f32 fallback: the caller's) */
    sgemm_f32(trans_a, trans_b, M, N, K, 1.0f, A, lda, B, ldb, 1.0f, C, ldc); /* beta applied */
    return true;
}

bool hlm_sgemm_bf16(bool trans_a, bool trans_b, int M, int N, int K, const float *A, int lda, const float *B,
                    int ldb, float beta, float *C, int ldc)
{
    if (M <= 0 || N <= 0 || K <= 0) return false;
    return sgemm_bf16(trans_a, trans_b, M, N, K, A, lda, B, NULL, ldb, beta, C, ldc);
}

/* ---- weights packed once (hlm_bf16_pack) ------------------------------------------------------ */

struct hlm_bf16_packed {
    int N, K, M;
    size_t bytes;
    dnnl_primitive_t prim;
    dnnl_memory_t a, w, c; /* w holds the packed weights; a and c get scratch at each call */
};

void hlm_bf16_packed_free(hlm_bf16_packed *p)
{
    if (!p) return;
    if (p->prim) dnnl_primitive_destroy(p->prim);
    if (p->a) dnnl_memory_destroy(p->a);
    if (p->w) dnnl_memory_destroy(p->w);
    if (p->c) dnnl_memory_destroy(p->c);
    free(p);
}

size_t hlm_bf16_packed_bytes(const hlm_bf16_packed *p) { return p ? p->bytes : 0; }

/* W (N, K) row-major f32 into the layout oneDNN's matmul chooses for (M, K) x (K, N) products:
 * plain weights make it repack them at every call, which costs more than the product. */
hlm_bf16_packed *hlm_bf16_pack(const float *W, int N, int K, int M)
{
    if (N <= 0 || K <= 0 || M <= 0 || !bf16_ready()) return NULL;
    hlm_bf16_packed *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->N = N, p->K = K, p->M = M;
    dnnl_memory_desc_t a_md, w_any, c_md, user_md;
    dnnl_dims_t ad = {M, K}, wd = {K, N}, cd = {M, N}, us = {1, K};
    dnnl_matmul_desc_t md;
    dnnl_primitive_desc_t pd = NULL, rpd = NULL;
    dnnl_primitive_t reorder = NULL;
    dnnl_memory_t user = NULL;
    bool ok = !dnnl_memory_desc_init_by_tag(&a_md, 2, ad, dnnl_bf16, dnnl_ab) &&
              !dnnl_memory_desc_init_by_tag(&w_any, 2, wd, dnnl_bf16, dnnl_format_tag_any) &&
              !dnnl_memory_desc_init_by_tag(&c_md, 2, cd, dnnl_f32, dnnl_ab) &&
              !dnnl_memory_desc_init_by_strides(&user_md, 2, wd, dnnl_f32, us) &&
              !dnnl_matmul_desc_init(&md, &a_md, &w_any, NULL, &c_md) &&
              !dnnl_primitive_desc_create(&pd, &md, NULL, bf.engine, NULL);
    if (ok) {
        const char *impl = NULL;
        ok = !dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) && impl && strncmp(impl, "ref", 3) != 0;
    }
    const dnnl_memory_desc_t *w_md = ok ? dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0) : NULL;
    ok = ok && w_md && !dnnl_primitive_create(&p->prim, pd) &&
         !dnnl_memory_create(&p->w, w_md, bf.engine, DNNL_MEMORY_ALLOCATE) &&
         !dnnl_memory_create(&p->a, &a_md, bf.engine, DNNL_MEMORY_NONE) &&
         !dnnl_memory_create(&p->c, &c_md, bf.engine, DNNL_MEMORY_NONE) &&
         !dnnl_memory_create(&user, &user_md, bf.engine, (void *)W) &&
         !dnnl_reorder_primitive_desc_create(&rpd, &user_md, bf.engine, w_md, bf.engine, NULL) &&
         !dnnl_primitive_create(&reorder, rpd);
    if (ok) {
        dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, user}, {DNNL_ARG_TO, p->w}};
        ok = !dnnl_primitive_execute(reorder, bf.stream, 2, args) && !dnnl_stream_wait(bf.stream);
        p->bytes = dnnl_memory_desc_get_size(w_md);
    }
    if (reorder) dnnl_primitive_destroy(reorder);
    if (rpd) dnnl_primitive_desc_destroy(rpd);
    if (user) dnnl_memory_destroy(user);
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (!ok) {
        hlm_bf16_packed_free(p);
        return NULL;
    }
    return p;
}

bool hlm_bf16_packed_gemm(const hlm_bf16_packed *p, int n, const float *A, int lda, float beta, float *C, int ldc)
{
    if (!p || n < 1 || n > p->M || (beta != 0.0f && beta != 1.0f)) return false;
    size_t M = (size_t)p->M, K = (size_t)p->K, N = (size_t)p->N;
    if (!bf16_reserve(&bf.a16, &bf.a_cap, M * K)) return false;
    if (M * N > bf.c_cap) {
        float *c = malloc(sizeof *c * M * N);
        if (!c) return false;
        free(bf.c32);
        bf.c32 = c;
        bf.c_cap = M * N;
    }
    for (int i = 0; i < n; i++) bf16_convert_row(A + (size_t)i * lda, bf.a16 + (size_t)i * K, (int)K);
    memset(bf.a16 + (size_t)n * K, 0, sizeof *bf.a16 * (M - (size_t)n) * K); /* the padding rows */
    if (dnnl_memory_set_data_handle(p->a, bf.a16) || dnnl_memory_set_data_handle(p->c, bf.c32)) return false;
    dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, p->a}, {DNNL_ARG_WEIGHTS, p->w}, {DNNL_ARG_DST, p->c}};
    if (dnnl_primitive_execute(p->prim, bf.stream, 3, args) || dnnl_stream_wait(bf.stream)) return false;
    for (int i = 0; i < n; i++) {
        float *dst = C + (size_t)i * ldc;
        const float *src = bf.c32 + (size_t)i * N;
        if (beta != 0.0f)
            for (size_t j = 0; j < N; j++) dst[j] += src[j];
        else
            memcpy(dst, src, sizeof *dst * N);
    }
    return true;
}

void hlm_sgemm(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float *A,
               int lda, const float *B, int ldb, float beta, float *C, int ldc)
{
    if (M <= 0 || N <= 0) return;
    if (K <= 0) { /* empty sum: C = beta * C; dnnl wants lda >= 1 even here */
        sgemm_loop(trans_a, trans_b, M, N, 0, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    if (gemm_precision == HLM_GEMM_BF16 && alpha == 1.0f &&
        sgemm_bf16(trans_a, trans_b, M, N, K, A, lda, B, NULL, ldb, beta, C, ldc))
        return;
    sgemm_f32(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
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
