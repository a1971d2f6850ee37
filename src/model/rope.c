/* Rotary position embedding (Su et al. 2021, "RoFormer"), in Hugging Face's rotate_half layout:
 * within each head the pair (x[i], x[i + hd/2]) rotates by angle t * inv_freq[i].
 *
 * The table repeats LlamaRotaryEmbedding (rope_type "default") step by step in float32, so that
 * the angles are the very floats PyTorch computes and cos/sin agree to about 1 ulp:
 *   inv_freq = 1.0 / (base ** (arange(0, dim, 2).float() / dim))    all float32
 *   freqs    = position (float) * inv_freq                          one float32 product
 *   cos, sin = freqs.cos(), freqs.sin()                             float32
 * and apply_rotary_pos_emb computes q * cos + rotate_half(q) * sin as two rounded products and a
 * rounded sum; FP contraction is off (gcc in ISO C mode; the pragma for clang), so we do too. */
#include <math.h>

#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

#include "model/layers.h"

/* cos_sin (max_T, hd/2, 2): [t][i][0] = cos, [t][i][1] = sin. */
void rope_table(float *cos_sin, int max_T, int hd, float theta)
{
    int half = hd / 2;
    for (int i = 0; i < half; i++) {
        float exponent = (float)(2 * i) / (float)hd;
        float inv_freq = 1.0f / powf(theta, exponent);
        for (int t = 0; t < max_T; t++) {
            float angle = (float)t * inv_freq;
            float *cs = cos_sin + ((size_t)t * half + i) * 2;
            cs[0] = cosf(angle);
            cs[1] = sinf(angle);
        }
    }
}

/* Rotates n_heads heads of width hd starting at x (one row, one position) by the row of the
 * table for that position; sign = +1 forward, -1 for the transpose (rotation by -angle). */
static void rotate_heads(float *x, const float *cs, int n_heads, int hd, float sign)
{
    int half = hd / 2;
    for (int h = 0; h < n_heads; h++) {
        float *a = x + (size_t)h * hd, *b = a + half;
        for (int i = 0; i < half; i++) {
            float c = cs[2 * i], s = sign * cs[2 * i + 1];
            float x1 = a[i], x2 = b[i];
            a[i] = x1 * c - x2 * s;
            b[i] = x2 * c + x1 * s;
        }
    }
}

/* qkv (B,T,(H+2*KV)*hd), rows laid out [q (H*hd) | k (KV*hd) | v (KV*hd)]; q and k rotate in
 * place, v is untouched. The rotation is orthogonal, so backward is the rotation by -angle. */
static void rope_apply(float *qkv, const float *cos_sin, int B, int T, int H, int KV, int hd,
                       float sign)
{
    size_t row = (size_t)(H + 2 * KV) * hd;
    long N = (long)B * T;
#pragma omp parallel for schedule(static) if (N > 1)
    for (long n = 0; n < N; n++) {
        const float *cs = cos_sin + (size_t)(n % T) * (size_t)(hd / 2) * 2;
        rotate_heads(qkv + (size_t)n * row, cs, H + KV, hd, sign);
    }
}

void rope_forward(float *qkv, const float *cos_sin, int B, int T, int H, int KV, int hd)
{
    rope_apply(qkv, cos_sin, B, T, H, KV, hd, 1.0f);
}

/* dqkv holds d(loss)/d(rotated q, k); afterwards d(loss)/d(q, k) before rotation. The transpose
 * of [c -s; s c] is [c s; -s c]: x1' = x1*c + x2*s, x2' = x2*c - x1*s. */
void rope_backward(float *dqkv, const float *cos_sin, int B, int T, int H, int KV, int hd)
{
    rope_apply(dqkv, cos_sin, B, T, H, KV, hd, -1.0f);
}
