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

/* Activation quantization, the scalar rule lane by lane: amax as fmaxf from 0 (NaN skipped), the
 * same division and reciprocal, a NaN code 0, clamping to +-127, then roundf's half away from
 * zero as truncation plus one step of the sign where the dropped fraction is at least 1/2 (the
 * fraction t - trunc(t) is exact). So the codes, scales and sums are those of the scalar kernel. */
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c")
static inline __m512i code8_avx512(__m512 t)
{
    const __m512 sign = _mm512_castsi512_ps(_mm512_set1_epi32((int)0x80000000u));
    t = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(t, t, _CMP_ORD_Q), t);
    t = _mm512_min_ps(_mm512_max_ps(t, _mm512_set1_ps(-127.0f)), _mm512_set1_ps(127.0f));
    __m512 tr = _mm512_roundscale_ps(t, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    __m512 frac = _mm512_abs_ps(_mm512_sub_ps(t, tr));
    __mmask16 up = _mm512_cmp_ps_mask(frac, _mm512_set1_ps(0.5f), _CMP_GE_OQ);
    __m512 step = _mm512_or_ps(_mm512_and_ps(t, sign), _mm512_set1_ps(1.0f));
    return _mm512_cvttps_epi32(_mm512_mask_add_ps(tr, up, tr, step));
}

static void quantize_act_avx512(const float *x, hlm_q8_act *act)
{
    for (int64_t b = 0; b < act->n / 32; b++) {
        __m512 x0 = _mm512_loadu_ps(x + 32 * b), x1 = _mm512_loadu_ps(x + 32 * b + 16);
        __m512 m = _mm512_max_ps(_mm512_abs_ps(x0), _mm512_setzero_ps()); /* NaN lanes: 0 */
        m = _mm512_max_ps(_mm512_abs_ps(x1), m);                           /* NaN lanes: kept */
        float amax = _mm512_reduce_max_ps(m);
        float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        __m512i q0 = code8_avx512(_mm512_mul_ps(x0, _mm512_set1_ps(id)));
        __m512i q1 = code8_avx512(_mm512_mul_ps(x1, _mm512_set1_ps(id)));
        _mm_storeu_si128((__m128i *)(void *)(act->q + 32 * b), _mm512_cvtepi32_epi8(q0));
        _mm_storeu_si128((__m128i *)(void *)(act->q + 32 * b + 16), _mm512_cvtepi32_epi8(q1));
        act->d[b] = d;
        act->s[b] = d * (float)_mm512_reduce_add_epi32(_mm512_add_epi32(q0, q1));
    }
}
#pragma GCC pop_options

static const hlm_qkernel_table avx2_table = {
    qdot_q8_0_avx2, qdot_q4_0_avx2, qdot_q4_1_avx2, hlm_qdot_q5_0_scalar, hlm_qdot_q5_1_scalar,
    hlm_quantize_act_scalar,
};
static const hlm_qkernel_table avx512_table = {
    qdot_q8_0_avx512, qdot_q4_0_avx512, qdot_q4_1_avx512, hlm_qdot_q5_0_scalar, hlm_qdot_q5_1_scalar,
    quantize_act_avx512,
};
static const hlm_qkernel_table avx512_vnni_table = {
    qdot_q8_0_avx512_vnni, qdot_q4_0_avx512_vnni, qdot_q4_1_avx512_vnni,
    hlm_qdot_q5_0_scalar, hlm_qdot_q5_1_scalar, quantize_act_avx512,
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
