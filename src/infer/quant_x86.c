/* x86-64 dot-product kernels: AVX2 and AVX-512 (with and without VNNI), compiled with per-function
 * target options whatever -march says and chosen at run time (__builtin_cpu_supports), so one
 * binary runs everywhere and every path can be tested on a CPU that has it.
 *
 * AVX2 takes one 32-value block per 256-bit register: vpmaddubsw (u8 x s8 pairs into int16)
 * then vpmaddwd by ones (int16 pairs into int32), signed weights through vpsignb (|w| and x with
 * w's sign), then one fma per block with d_w * d_x. AVX-512 is quant_avx512.inc. Integer dots are
 * exact, so every kernel returns the scalar kernel's value up to the order of fp32 sums. */
#include "infer/quant_kernels.h"

#include <stdatomic.h>
#include <stddef.h>
#include <string.h>

/* The kernels need GCC's target pragmas (per-function ISA), which clang does not honour: a clang
 * build (the fuzz targets) runs the scalar kernels. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#include <cpuid.h>
#include <immintrin.h>

/* ---- AVX2 ------------------------------------------------------------------------------------ */
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")

static inline __m256i dot_s8s8_avx2(__m256i w, __m256i a)
{
    __m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(a, w));
    return _mm256_madd_epi16(p, _mm256_set1_epi16(1));
}

static inline __m256i dot_u8s8_avx2(__m256i w, __m256i a)
{
    return _mm256_madd_epi16(_mm256_maddubs_epi16(w, a), _mm256_set1_epi16(1));
}

/* 16 nibble bytes -> 32 codes in element order */
static inline __m256i unpack_nibbles_avx2(const uint8_t *q)
{
    __m128i x = _mm_loadu_si128((const __m128i *)q);
    __m256i y = _mm256_inserti128_si256(_mm256_castsi128_si256(x), _mm_srli_epi16(x, 4), 1);
    return _mm256_and_si256(y, _mm256_set1_epi8(0x0F));
}

static inline float half_at_avx2(const uint8_t *p)
{
    uint16_t h;
    memcpy(&h, p, 2);
    return _cvtsh_ss(h);
}

static inline float hsum256(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static float qdot_q8_0_avx2(const void *w, const int8_t *aq, const float *ad, const float *as,
                            int64_t nb)
{
    const uint8_t *p = w;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    int64_t b = 0;
    for (; b + 2 <= nb; b += 2) {
        const uint8_t *p0 = p + 34 * b;
        __m256i d0 = dot_s8s8_avx2(_mm256_loadu_si256((const __m256i *)(p0 + 2)),
                                   _mm256_loadu_si256((const __m256i *)(aq + 32 * b)));
        __m256i d1 = dot_s8s8_avx2(_mm256_loadu_si256((const __m256i *)(p0 + 36)),
                                   _mm256_loadu_si256((const __m256i *)(aq + 32 * b + 32)));
        acc0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(d0), _mm256_set1_ps(half_at_avx2(p0) * ad[b]), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(d1), _mm256_set1_ps(half_at_avx2(p0 + 34) * ad[b + 1]), acc1);
    }
    float sum = hsum256(_mm256_add_ps(acc0, acc1));
    return sum + hlm_qdot_q8_0_scalar(p + 34 * b, aq + 32 * b, ad + b, as ? as + b : NULL, nb - b);
}

static float qdot_q4_0_avx2(const void *w, const int8_t *aq, const float *ad, const float *as,
                            int64_t nb)
{
    const uint8_t *p = w;
    const __m256i eight = _mm256_set1_epi8(8);
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    int64_t b = 0;
    for (; b + 2 <= nb; b += 2) {
        const uint8_t *p0 = p + 18 * b;
        __m256i w0 = _mm256_sub_epi8(unpack_nibbles_avx2(p0 + 2), eight);
        __m256i w1 = _mm256_sub_epi8(unpack_nibbles_avx2(p0 + 20), eight);
        __m256i d0 = dot_s8s8_avx2(w0, _mm256_loadu_si256((const __m256i *)(aq + 32 * b)));
        __m256i d1 = dot_s8s8_avx2(w1, _mm256_loadu_si256((const __m256i *)(aq + 32 * b + 32)));
        acc0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(d0), _mm256_set1_ps(half_at_avx2(p0) * ad[b]), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(d1), _mm256_set1_ps(half_at_avx2(p0 + 18) * ad[b + 1]), acc1);
    }
    float sum = hsum256(_mm256_add_ps(acc0, acc1));
    return sum + hlm_qdot_q4_0_scalar(p + 18 * b, aq + 32 * b, ad + b, as ? as + b : NULL, nb - b);
}

static float qdot_q4_1_avx2(const void *w, const int8_t *aq, const float *ad, const float *as,
                            int64_t nb)
{
    const uint8_t *p = w;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    float mins = 0.0f;
    int64_t b = 0;
    for (; b + 2 <= nb; b += 2) {
        const uint8_t *p0 = p + 20 * b;
        __m256i d0 = dot_u8s8_avx2(unpack_nibbles_avx2(p0 + 4), _mm256_loadu_si256((const __m256i *)(aq + 32 * b)));
        __m256i d1 = dot_u8s8_avx2(unpack_nibbles_avx2(p0 + 24), _mm256_loadu_si256((const __m256i *)(aq + 32 * b + 32)));
        acc0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(d0), _mm256_set1_ps(half_at_avx2(p0) * ad[b]), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(d1), _mm256_set1_ps(half_at_avx2(p0 + 20) * ad[b + 1]), acc1);
        mins += half_at_avx2(p0 + 2) * as[b] + half_at_avx2(p0 + 22) * as[b + 1];
    }
    float sum = hsum256(_mm256_add_ps(acc0, acc1)) + mins;
    return sum + hlm_qdot_q4_1_scalar(p + 20 * b, aq + 32 * b, ad + b, as + b, nb - b);
}

#pragma GCC pop_options

/* ---- AVX-512 --------------------------------------------------------------------------------- */
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c")
#define SUFFIX avx512
#define DOT_U8S8(u, s) _mm512_madd_epi16(_mm512_maddubs_epi16((u), (s)), _mm512_set1_epi16(1))
#include "infer/quant_avx512.inc"
#undef DOT_U8S8
#undef SUFFIX
#pragma GCC pop_options

#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma,f16c")
#define SUFFIX avx512_vnni
#define DOT_U8S8(u, s) _mm512_dpbusd_epi32(_mm512_setzero_si512(), (u), (s))
#include "infer/quant_avx512.inc"
#undef DOT_U8S8
#undef SUFFIX
#pragma GCC pop_options

static const hlm_qkernel_table avx2_table = {
    qdot_q8_0_avx2, qdot_q4_0_avx2, qdot_q4_1_avx2, hlm_qdot_q5_0_scalar, hlm_qdot_q5_1_scalar,
};
static const hlm_qkernel_table avx512_table = {
    qdot_q8_0_avx512, qdot_q4_0_avx512, qdot_q4_1_avx512, hlm_qdot_q5_0_scalar, hlm_qdot_q5_1_scalar,
};
static const hlm_qkernel_table avx512_vnni_table = {
    qdot_q8_0_avx512_vnni, qdot_q4_0_avx512_vnni, qdot_q4_1_avx512_vnni,
    hlm_qdot_q5_0_scalar, hlm_qdot_q5_1_scalar,
};

/* F16C (CPUID leaf 1, ECX bit 29), asked of the CPU directly: clang's __builtin_cpu_supports
 * does not know the name. */
static int has_f16c(void)
{
    unsigned a, b, c, d;
    return __get_cpuid(1, &a, &b, &c, &d) && (c & (1u << 29));
}

/* What the CPU supports, asked once: CPUID traps to the hypervisor in a VM (microseconds), and
 * the engine asks for its kernels at every matrix product. Bits: 1 AVX2, 2 AVX-512, 4 VNNI. */
static int cpu_features(void)
{
    static _Atomic int cached = -1;
    int f = atomic_load(&cached);
    if (f >= 0) return f;
    __builtin_cpu_init();
    int avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && has_f16c();
    int avx512 = avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                 __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
    int vnni = avx512 && __builtin_cpu_supports("avx512vnni");
    f = avx2 | avx512 << 1 | vnni << 2;
    atomic_store(&cached, f);
    return f;
}

const hlm_qkernel_table *hlm_qkernel_x86(hlm_qkernel k)
{
    int f = cpu_features();
    switch (k) {
    case HLM_QK_AVX2: return f & 1 ? &avx2_table : NULL;
    case HLM_QK_AVX512: return f & 2 ? &avx512_table : NULL;
    case HLM_QK_AVX512_VNNI: return f & 4 ? &avx512_vnni_table : NULL;
    default: return NULL;
    }
}

#else

const hlm_qkernel_table *hlm_qkernel_x86(hlm_qkernel k)
{
    (void)k;
    return NULL;
}

#endif
