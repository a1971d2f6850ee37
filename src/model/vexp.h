/* Vectorized exp shared by the model's kernels (layers.c, attention.c). */
#ifndef HYPERLM_MODEL_VEXP_H
#define HYPERLM_MODEL_VEXP_H

#ifdef __AVX512F__
#include <immintrin.h>

/* exp(x) for 16 floats, within 1.01 ulp of the exact value wherever the result is a normal float
 * (measured over [-87, 88.7]): x = n ln2 + r, |r| <= ln2/2, exp(r) by Cephes' expf polynomial,
 * then scalef(p, n) = p * 2^n, which rounds overflow to Inf and underflow through the denormals
 * to 0 correctly. The clamps keep r finite for x = +-Inf (scalef then
 * gives Inf or 0); max/min return their second operand when either is NaN, so NaN passes. */
static inline __m512 hlm_exp16(__m512 x)
{
    x = _mm512_max_ps(_mm512_set1_ps(-104.0f), x);
    x = _mm512_min_ps(_mm512_set1_ps(89.0f), x);
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), r);
    p = _mm512_add_ps(p, _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(p, n);
}
#endif

#endif
