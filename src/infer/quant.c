/* GGML/GGUF block formats: quantization, dequantization, the scalar dot-product kernels (the
 * reference every SIMD kernel is tested against), kernel choice, and the matrix products.
 *
 * Byte-exactness with gguf-py (tests/fixtures/quant, tools/gen_quant_fixtures.py) rests on doing
 * the same fp32 operations in the same order: scale in fp32, inverse 1/d in fp32, code from
 * x * id (+ offset) with each operation rounded separately, scale rounded to fp16 last. This file
 * is compiled with -std=c11, under which gcc does not contract a * b + c into an fma
 * (-ffp-contract=off); a contracted multiply-add would change some codes by one. */
#include "infer/quant.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "infer/quant_kernels.h"

/* ---- types ----------------------------------------------------------------------------------- */

static const struct {
    hlm_qtype t;
    const char *name;
    int values, bytes;
} qtypes[] = {
    {HLM_QT_F32, "f32", 1, 4},
    {HLM_QT_F16, "f16", 1, 2},
    {HLM_QT_Q4_0, "q4_0", 32, (int)sizeof(hlm_block_q4_0)},
    {HLM_QT_Q4_1, "q4_1", 32, (int)sizeof(hlm_block_q4_1)},
    {HLM_QT_Q5_0, "q5_0", 32, (int)sizeof(hlm_block_q5_0)},
    {HLM_QT_Q5_1, "q5_1", 32, (int)sizeof(hlm_block_q5_1)},
    {HLM_QT_Q8_0, "q8_0", 32, (int)sizeof(hlm_block_q8_0)},
};
#define N_QTYPES (int)(sizeof qtypes / sizeof *qtypes)

/* GGML_QUANT_SIZES; a compiler that padded a block would break file compatibility */
_Static_assert(sizeof(hlm_block_q8_0) == 34, "Q8_0 block is 34 bytes");
_Static_assert(sizeof(hlm_block_q4_0) == 18, "Q4_0 block is 18 bytes");
_Static_assert(sizeof(hlm_block_q4_1) == 20, "Q4_1 block is 20 bytes");
_Static_assert(sizeof(hlm_block_q5_0) == 22, "Q5_0 block is 22 bytes");
_Static_assert(sizeof(hlm_block_q5_1) == 24, "Q5_1 block is 24 bytes");

static int qtype_index(hlm_qtype t)
{
    for (int i = 0; i < N_QTYPES; i++)
        if (qtypes[i].t == t) return i;
    return -1;
}

hlm_status hlm_qtype_from_name(const char *name, hlm_qtype *out, hlm_error *err)
{
    if (name)
        for (int i = 0; i < N_QTYPES; i++)
            if (!strcmp(name, qtypes[i].name)) {
                *out = qtypes[i].t;
                return HLM_OK;
            }
    return hlm_errorf(err, HLM_ERR_INVALID,
                      "quantization type: unknown '%s' (expected f32, f16, q8_0, q4_0, q4_1, q5_0 or q5_1)",
                      name ? name : "(null)");
}

const char *hlm_qtype_name(hlm_qtype t)
{
    int i = qtype_index(t);
    return i < 0 ? "?" : qtypes[i].name;
}

int hlm_qtype_block_values(hlm_qtype t)
{
    int i = qtype_index(t);
    return i < 0 ? 0 : qtypes[i].values;
}

int hlm_qtype_block_bytes(hlm_qtype t)
{
    int i = qtype_index(t);
    return i < 0 ? 0 : qtypes[i].bytes;
}

hlm_status hlm_qtype_row_bytes(hlm_qtype t, int64_t n, size_t *bytes, hlm_error *err)
{
    int i = qtype_index(t);
    if (i < 0) return hlm_errorf(err, HLM_ERR_INVALID, "quantization type: unknown type id %d", (int)t);
    if (n < 0 || n % qtypes[i].values)
        return hlm_errorf(err, HLM_ERR_INVALID,
                          "%s row: %lld values, expected a non-negative multiple of %d",
                          qtypes[i].name, (long long)n, qtypes[i].values);
    *bytes = (size_t)(n / qtypes[i].values) * (size_t)qtypes[i].bytes;
    return HLM_OK;
}

/* ---- fp16 ------------------------------------------------------------------------------------ */

uint16_t hlm_f32_to_f16(float f)
{
    uint32_t x;
    memcpy(&x, &f, sizeof x);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
    x &= 0x7FFFFFFFu;
    if (x >= 0x7F800000u) /* inf, or NaN kept quiet with the top of its payload */
        return sign | (x == 0x7F800000u ? 0x7C00u : (uint16_t)(0x7E00u | ((x >> 13) & 0x3FFu)));
    if (x >= 0x47800000u) return sign | 0x7C00u; /* >= 65536: past the last tie, infinity */
    uint32_t mant = (x & 0x7FFFFFu) | 0x800000u, e = x >> 23;
    uint32_t r, rem, half;
    if (e < 113) { /* below 2^-14: a subnormal half (or zero) of value mant * 2^(e - 150) */
        if (e < 102) return sign; /* below 2^-25: rounds to zero */
        uint32_t shift = 126 - e; /* 14..24 */
        r = mant >> shift;
        rem = mant & ((1u << shift) - 1);
        half = 1u << (shift - 1);
    } else {
        r = ((e - 112) << 10) | ((x >> 13) & 0x3FFu);
        rem = x & 0x1FFFu;
        half = 0x1000u;
    }
    if (rem > half || (rem == half && (r & 1u))) r++; /* a carry moves into the exponent, as it should */
    return sign | (uint16_t)r;
}

float hlm_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, e = (h >> 10) & 0x1Fu, m = h & 0x3FFu, x;
    if (e == 0x1F)
        x = sign | 0x7F800000u | (m << 13);
    else if (e != 0)
        x = sign | ((e + 112) << 23) | (m << 13);
    else if (m == 0)
        x = sign;
    else { /* subnormal: m * 2^-24, exact in fp32 */
        float v = (float)m * 0x1p-24f;
        memcpy(&x, &v, sizeof x);
        x |= sign;
    }
    float f;
    memcpy(&f, &x, sizeof f);
    return f;
}

/* ---- quantize / dequantize one block --------------------------------------------------------- */

static float inverse(float d) { return d != 0.0f ? 1.0f / d : 0.0f; }

/* the first element of largest magnitude, with its sign (numpy's argmax of abs) */
static float signed_absmax(const float *x)
{
    float best = x[0], amax = fabsf(x[0]);
    for (int i = 1; i < 32; i++)
        if (fabsf(x[i]) > amax) amax = fabsf(x[i]), best = x[i];
    return best;
}

static void min_max(const float *x, float *mn, float *mx)
{
    float lo = x[0], hi = x[0];
    for (int i = 1; i < 32; i++) {
        if (x[i] < lo) lo = x[i];
        if (x[i] > hi) hi = x[i];
    }
    *mn = lo, *mx = hi;
}

/* trunc(t) clipped to [0, top] (numpy: trunc, astype(uint8), clip). For finite inputs whose
 * scale's inverse is finite, t lies in [0, top + 1]; otherwise (NaN, infinite input, a scale so
 * small that 1/d overflows) the code is clamped rather than converted out of range, which C
 * leaves undefined (numpy's cast gives an unspecified value there too). */
static uint8_t code(float t, int top)
{
    if (!(t >= 0.0f)) return 0;
    return (uint8_t)(t >= (float)top ? top : (int)t);
}

/* round half away from zero into [-127, 127], NaN to 0 (same caveat as code()) */
static int8_t code8(float t)
{
    if (!(t == t)) return 0;
    return (int8_t)(t >= 127.0f ? 127 : t <= -127.0f ? -127 : (int)roundf(t));
}

static void quantize_q8_0(const float *x, hlm_block_q8_0 *b)
{
    float amax = 0.0f;
    for (int i = 0; i < 32; i++) amax = fmaxf(amax, fabsf(x[i]));
    float d = amax / 127.0f, id = inverse(d);
    for (int i = 0; i < 32; i++) b->q[i] = code8(x[i] * id);
    b->d = hlm_f32_to_f16(d);
}

static void quantize_q4_0(const float *x, hlm_block_q4_0 *b)
{
    float d = signed_absmax(x) / -8.0f, id = inverse(d);
    uint8_t q[32];
    for (int i = 0; i < 32; i++) {
        float t = x[i] * id;
        q[i] = code(t + 8.5f, 15);
    }
    for (int j = 0; j < 16; j++) b->q[j] = (uint8_t)(q[j] | q[j + 16] << 4);
    b->d = hlm_f32_to_f16(d);
}

static void quantize_q4_1(const float *x, hlm_block_q4_1 *b)
{
    float mn, mx;
    min_max(x, &mn, &mx);
    float d = (mx - mn) / 15.0f, id = inverse(d);
    uint8_t q[32];
    for (int i = 0; i < 32; i++) {
        float t = (x[i] - mn) * id;
        q[i] = code(t + 0.5f, 15);
    }
    for (int j = 0; j < 16; j++) b->q[j] = (uint8_t)(q[j] | q[j + 16] << 4);
    b->d = hlm_f32_to_f16(d);
    b->m = hlm_f32_to_f16(mn);
}

static void pack5(const uint8_t *q, uint8_t *qs, uint8_t *qh)
{
    uint32_t h = 0;
    for (int i = 0; i < 32; i++) h |= (uint32_t)(q[i] >> 4) << i;
    for (int j = 0; j < 16; j++) qs[j] = (uint8_t)((q[j] & 0x0F) | (q[j + 16] & 0x0F) << 4);
    for (int k = 0; k < 4; k++) qh[k] = (uint8_t)(h >> (8 * k)); /* little-endian u32 */
}

static void quantize_q5_0(const float *x, hlm_block_q5_0 *b)
{
    float d = signed_absmax(x) / -16.0f, id = inverse(d);
    uint8_t q[32];
    for (int i = 0; i < 32; i++) {
        float t = x[i] * id;
        q[i] = code(t + 16.5f, 31);
    }
    pack5(q, b->q, b->qh);
    b->d = hlm_f32_to_f16(d);
}

static void quantize_q5_1(const float *x, hlm_block_q5_1 *b)
{
    float mn, mx;
    min_max(x, &mn, &mx);
    float d = (mx - mn) / 31.0f, id = inverse(d);
    uint8_t q[32];
    for (int i = 0; i < 32; i++) {
        float t = (x[i] - mn) * id;
        q[i] = code(t + 0.5f, 31);
    }
    pack5(q, b->q, b->qh);
    b->d = hlm_f32_to_f16(d);
    b->m = hlm_f32_to_f16(mn);
}

/* element i of a nibble block */
static inline int nib(const uint8_t *qs, int i) { return i < 16 ? qs[i] & 0x0F : qs[i - 16] >> 4; }

static inline int q5(const uint8_t *qs, const uint8_t *qh, int i)
{
    return nib(qs, i) | ((qh[i >> 3] >> (i & 7)) & 1) << 4;
}

static void dequantize_block(hlm_qtype t, const void *blk, float *y)
{
    switch (t) {
    case HLM_QT_Q8_0: {
        const hlm_block_q8_0 *b = blk;
        float d = hlm_f16_to_f32(b->d);
        for (int i = 0; i < 32; i++) y[i] = (float)b->q[i] * d;
        break;
    }
    case HLM_QT_Q4_0: {
        const hlm_block_q4_0 *b = blk;
        float d = hlm_f16_to_f32(b->d);
        for (int i = 0; i < 32; i++) y[i] = d * (float)(nib(b->q, i) - 8);
        break;
    }
    case HLM_QT_Q4_1: {
        const hlm_block_q4_1 *b = blk;
        float d = hlm_f16_to_f32(b->d), m = hlm_f16_to_f32(b->m);
        for (int i = 0; i < 32; i++) {
            float v = d * (float)nib(b->q, i);
            y[i] = v + m;
        }
        break;
    }
    case HLM_QT_Q5_0: {
        const hlm_block_q5_0 *b = blk;
        float d = hlm_f16_to_f32(b->d);
        for (int i = 0; i < 32; i++) y[i] = d * (float)(q5(b->q, b->qh, i) - 16);
        break;
    }
    case HLM_QT_Q5_1: {
        const hlm_block_q5_1 *b = blk;
        float d = hlm_f16_to_f32(b->d), m = hlm_f16_to_f32(b->m);
        for (int i = 0; i < 32; i++) {
            float v = d * (float)q5(b->q, b->qh, i);
            y[i] = v + m;
        }
        break;
    }
    default:
        break;
    }
}

hlm_status hlm_quantize_row(hlm_qtype t, const float *x, void *out, int64_t n, hlm_error *err)
{
    size_t bytes;
    hlm_status st = hlm_qtype_row_bytes(t, n, &bytes, err);
    if (st) return st;
    if (n > 0 && (!x || !out))
        return hlm_errorf(err, HLM_ERR_INVALID, "%s quantize: NULL row", hlm_qtype_name(t));
    uint8_t *o = out;
    int bb = hlm_qtype_block_bytes(t);
    switch (t) {
    case HLM_QT_F32:
        if (n) memcpy(out, x, bytes);
        return HLM_OK;
    case HLM_QT_F16:
        for (int64_t i = 0; i < n; i++) {
            uint16_t h = hlm_f32_to_f16(x[i]);
            memcpy(o + 2 * i, &h, 2);
        }
        return HLM_OK;
    default:
        break;
    }
    /* blocks are built on the stack and copied: out has no alignment guarantee */
    for (int64_t b = 0; b < n / 32; b++) {
        union { hlm_block_q8_0 q8_0; hlm_block_q4_0 q4_0; hlm_block_q4_1 q4_1; hlm_block_q5_0 q5_0;
                hlm_block_q5_1 q5_1; } blk;
        const float *xb = x + 32 * b;
        switch (t) {
        case HLM_QT_Q8_0: quantize_q8_0(xb, &blk.q8_0); break;
        case HLM_QT_Q4_0: quantize_q4_0(xb, &blk.q4_0); break;
        case HLM_QT_Q4_1: quantize_q4_1(xb, &blk.q4_1); break;
        case HLM_QT_Q5_0: quantize_q5_0(xb, &blk.q5_0); break;
        case HLM_QT_Q5_1: quantize_q5_1(xb, &blk.q5_1); break;
        default: break;
        }
        memcpy(o + (size_t)b * bb, &blk, (size_t)bb);
    }
    return HLM_OK;
}

hlm_status hlm_dequantize_row(hlm_qtype t, const void *in, float *y, int64_t n, hlm_error *err)
{
    size_t bytes;
    hlm_status st = hlm_qtype_row_bytes(t, n, &bytes, err);
    if (st) return st;
    if (n > 0 && (!in || !y))
        return hlm_errorf(err, HLM_ERR_INVALID, "%s dequantize: NULL row", hlm_qtype_name(t));
    const uint8_t *p = in;
    int bb = hlm_qtype_block_bytes(t);
    switch (t) {
    case HLM_QT_F32:
        if (n) memcpy(y, in, bytes);
        return HLM_OK;
    case HLM_QT_F16:
        for (int64_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, p + 2 * i, 2);
            y[i] = hlm_f16_to_f32(h);
        }
        return HLM_OK;
    default:
        break;
    }
    for (int64_t b = 0; b < n / 32; b++) {
        union { hlm_block_q8_0 q8_0; hlm_block_q4_0 q4_0; hlm_block_q4_1 q4_1; hlm_block_q5_0 q5_0;
                hlm_block_q5_1 q5_1; } blk;
        memcpy(&blk, p + (size_t)b * bb, (size_t)bb);
        dequantize_block(t, &blk, y + 32 * b);
    }
    return HLM_OK;
}

/* ---- activations ----------------------------------------------------------------------------- */

/* Row layout in the buffer: q (n bytes), d (n/32 floats), s (n/32 floats); the row stride,
 * 40 n/32 bytes, keeps the floats 8-byte aligned when the buffer is (malloc's is). */
size_t hlm_q8_act_bytes(int64_t n, int64_t rows) { return (size_t)rows * (size_t)(n / 32) * 40u; }

void hlm_q8_act_bind(hlm_q8_act *act, void *buf, int64_t n, int64_t rows, int64_t row)
{
    (void)rows;
    uint8_t *base = (uint8_t *)buf + (size_t)row * (size_t)(n / 32) * 40u;
    act->n = n;
    act->q = (int8_t *)base;
    act->d = (float *)(void *)(base + n);
    act->s = act->d + n / 32;
}

static const hlm_qkernel_table *table_of(hlm_qkernel k);

void hlm_quantize_act(const float *x, hlm_q8_act *act) { table_of(hlm_qkernel_get())->quantize_act(x, act); }

void hlm_quantize_act_scalar(const float *x, hlm_q8_act *act)
{
    for (int64_t b = 0; b < act->n / 32; b++) {
        const float *xb = x + 32 * b;
        int8_t *q = act->q + 32 * b;
        float amax = 0.0f;
        for (int i = 0; i < 32; i++) amax = fmaxf(amax, fabsf(xb[i]));
        float d = amax / 127.0f, id = inverse(d);
        int sum = 0;
        for (int i = 0; i < 32; i++) {
            q[i] = code8(xb[i] * id);
            sum += q[i];
        }
        act->d[b] = d;
        act->s[b] = d * (float)sum;
    }
}

/* ---- scalar kernels -------------------------------------------------------------------------- */

/* Blocks are read through memcpy: a GGUF tensor need not be 2-byte aligned. */
float hlm_qdot_q8_0_scalar(const void *w, const int8_t *aq, const float *ad, const float *as,
                           int64_t nb)
{
    (void)as;
    float acc = 0.0f;
    for (int64_t b = 0; b < nb; b++) {
        hlm_block_q8_0 blk;
        memcpy(&blk, (const uint8_t *)w + 34 * b, sizeof blk);
        const int8_t *a = aq + 32 * b;
        int32_t dot = 0;
        for (int i = 0; i < 32; i++) dot += blk.q[i] * a[i];
        acc += hlm_f16_to_f32(blk.d) * ad[b] * (float)dot;
    }
    return acc;
}

float hlm_qdot_q4_0_scalar(const void *w, const int8_t *aq, const float *ad, const float *as,
                           int64_t nb)
{
    (void)as;
    float acc = 0.0f;
    for (int64_t b = 0; b < nb; b++) {
        hlm_block_q4_0 blk;
        memcpy(&blk, (const uint8_t *)w + 18 * b, sizeof blk);
        const int8_t *a = aq + 32 * b;
        int32_t dot = 0;
        for (int j = 0; j < 16; j++)
            dot += ((blk.q[j] & 0x0F) - 8) * a[j] + ((blk.q[j] >> 4) - 8) * a[j + 16];
        acc += hlm_f16_to_f32(blk.d) * ad[b] * (float)dot;
    }
    return acc;
}

float hlm_qdot_q4_1_scalar(const void *w, const int8_t *aq, const float *ad, const float *as,
                           int64_t nb)
{
    float acc = 0.0f;
    for (int64_t b = 0; b < nb; b++) {
        hlm_block_q4_1 blk;
        memcpy(&blk, (const uint8_t *)w + 20 * b, sizeof blk);
        const int8_t *a = aq + 32 * b;
        int32_t dot = 0;
        for (int j = 0; j < 16; j++) dot += (blk.q[j] & 0x0F) * a[j] + (blk.q[j] >> 4) * a[j + 16];
        acc += hlm_f16_to_f32(blk.d) * ad[b] * (float)dot + hlm_f16_to_f32(blk.m) * as[b];
    }
    return acc;
}

float hlm_qdot_q5_0_scalar(const void *w, const int8_t *aq, const float *ad, const float *as,
                           int64_t nb)
{
    (void)as;
    float acc = 0.0f;
    for (int64_t b = 0; b < nb; b++) {
        hlm_block_q5_0 blk;
        memcpy(&blk, (const uint8_t *)w + 22 * b, sizeof blk);
        const int8_t *a = aq + 32 * b;
        int32_t dot = 0;
        for (int i = 0; i < 32; i++) dot += (q5(blk.q, blk.qh, i) - 16) * a[i];
        acc += hlm_f16_to_f32(blk.d) * ad[b] * (float)dot;
    }
    return acc;
}

float hlm_qdot_q5_1_scalar(const void *w, const int8_t *aq, const float *ad, const float *as,
                           int64_t nb)
{
    float acc = 0.0f;
    for (int64_t b = 0; b < nb; b++) {
        hlm_block_q5_1 blk;
        memcpy(&blk, (const uint8_t *)w + 24 * b, sizeof blk);
        const int8_t *a = aq + 32 * b;
        int32_t dot = 0;
        for (int i = 0; i < 32; i++) dot += q5(blk.q, blk.qh, i) * a[i];
        acc += hlm_f16_to_f32(blk.d) * ad[b] * (float)dot + hlm_f16_to_f32(blk.m) * as[b];
    }
    return acc;
}

static const hlm_qkernel_table scalar_table = {
    hlm_qdot_q8_0_scalar, hlm_qdot_q4_0_scalar, hlm_qdot_q4_1_scalar,
    hlm_qdot_q5_0_scalar, hlm_qdot_q5_1_scalar, hlm_quantize_act_scalar,
};

/* ---- kernel choice --------------------------------------------------------------------------- */

static const char *const qkernel_names[] = {"scalar", "avx2", "avx512", "avx512-vnni"};

const char *hlm_qkernel_name(hlm_qkernel k)
{
    return k >= HLM_QK_SCALAR && k <= HLM_QK_AVX512_VNNI ? qkernel_names[k] : k == HLM_QK_AUTO ? "auto" : "?";
}

static const hlm_qkernel_table *table_of(hlm_qkernel k)
{
    if (k == HLM_QK_SCALAR) return &scalar_table;
    if (k < HLM_QK_SCALAR || k > HLM_QK_AVX512_VNNI) return NULL;
    return hlm_qkernel_x86(k);
}

int hlm_qkernel_available(hlm_qkernel k) { return table_of(k) != NULL; }

static hlm_qkernel best_kernel(void)
{
    for (int k = HLM_QK_AVX512_VNNI; k > HLM_QK_SCALAR; k--)
        if (table_of((hlm_qkernel)k)) return (hlm_qkernel)k;
    return HLM_QK_SCALAR;
}

/* -2: not chosen yet (resolved on first use; every thread resolves to the same value) */
static _Atomic int current_kernel = -2;

hlm_status hlm_qkernel_set(hlm_qkernel k, hlm_error *err)
{
    if (k == HLM_QK_AUTO) k = best_kernel();
    if (!table_of(k))
        return hlm_errorf(err, HLM_ERR_INVALID, "quantized kernels: '%s' is not available on this CPU or build",
                          hlm_qkernel_name(k));
    atomic_store(&current_kernel, (int)k);
    return HLM_OK;
}

hlm_qkernel hlm_qkernel_get(void)
{
    int k = atomic_load(&current_kernel);
    if (k == -2) {
        k = (int)best_kernel();
        atomic_store(&current_kernel, k);
    }
    return (hlm_qkernel)k;
}

hlm_qdot_fn hlm_qdot_kernel(hlm_qtype t)
{
    const hlm_qkernel_table *tab = table_of(hlm_qkernel_get());
    switch (t) {
    case HLM_QT_Q8_0: return tab->q8_0;
    case HLM_QT_Q4_0: return tab->q4_0;
    case HLM_QT_Q4_1: return tab->q4_1;
    case HLM_QT_Q5_0: return tab->q5_0;
    case HLM_QT_Q5_1: return tab->q5_1;
    default: return NULL;
    }
}

int hlm_qtype_has_dot(hlm_qtype t)
{
    return t == HLM_QT_Q8_0 || t == HLM_QT_Q4_0 || t == HLM_QT_Q4_1 || t == HLM_QT_Q5_0 ||
           t == HLM_QT_Q5_1;
}

/* ---- products -------------------------------------------------------------------------------- */

static hlm_status check_product(const char *what, hlm_qtype t, int64_t rows, int64_t cols,
                                const void *W, const void *x, const void *y, hlm_error *err)
{
    if (!hlm_qtype_has_dot(t))
        return hlm_errorf(err, HLM_ERR_INVALID,
                          "%s: weight type %s has no quantized dot product (expected q8_0, q4_0, q4_1, q5_0 or q5_1)",
                          what, hlm_qtype_name(t));
    if (cols <= 0 || cols % 32 || rows < 0)
        return hlm_errorf(err, HLM_ERR_INVALID,
                          "%s: %lld x %lld %s matrix, expected columns a positive multiple of 32",
                          what, (long long)rows, (long long)cols, hlm_qtype_name(t));
    if (rows > 0 && (!W || !x || !y)) return hlm_errorf(err, HLM_ERR_INVALID, "%s: NULL operand", what);
    return HLM_OK;
}

hlm_status hlm_qdot(hlm_qtype t, const void *w, const hlm_q8_act *act, float *out, hlm_error *err)
{
    hlm_status st = check_product("quantized dot", t, 1, act ? act->n : 0, w, act, out, err);
    if (st) return st;
    *out = hlm_qdot_kernel(t)(w, act->q, act->d, act->s, act->n / 32);
    return HLM_OK;
}

hlm_status hlm_matvec_q(hlm_qtype t, const void *W, int64_t rows, int64_t cols, const float *x,
                        float *y, hlm_error *err)
{
    return hlm_matmul_q(t, W, rows, cols, x, 1, y, err);
}

hlm_status hlm_matmul_q(hlm_qtype t, const void *W, int64_t rows, int64_t cols, const float *X,
                        int64_t batch, float *Y, hlm_error *err)
{
    hlm_status st = check_product("quantized matmul", t, rows, cols, W, X, Y, err);
    if (st) return st;
    if (batch < 0)
        return hlm_errorf(err, HLM_ERR_INVALID, "quantized matmul: batch %lld, expected >= 0", (long long)batch);
    if (rows == 0 || batch == 0) return HLM_OK;
    void *buf = malloc(hlm_q8_act_bytes(cols, batch));
    if (!buf)
        return hlm_errorf(err, HLM_ERR_NOMEM, "quantized matmul: no memory for %lld activation rows of %lld",
                          (long long)batch, (long long)cols);
    hlm_qdot_fn fn = hlm_qdot_kernel(t);
    size_t row_bytes = (size_t)(cols / 32) * (size_t)hlm_qtype_block_bytes(t);
    int64_t nb = cols / 32;
    /* threads pay off once the matrix is past a few L2-sized rows' worth of work */
    int par = rows * cols >= (1 << 16);
    (void)par; /* unused where OpenMP is off (the fuzz build) */
#pragma omp parallel if (par)
    {
#pragma omp for schedule(static)
        for (int64_t b = 0; b < batch; b++) {
            hlm_q8_act a;
            hlm_q8_act_bind(&a, buf, cols, batch, b);
            hlm_quantize_act(X + b * cols, &a);
        }
        /* outer loop over weight rows: each is read from memory once, then from L1 per batch row */
#pragma omp for schedule(static)
        for (int64_t r = 0; r < rows; r++) {
            const uint8_t *wr = (const uint8_t *)W + (size_t)r * row_bytes;
            for (int64_t b = 0; b < batch; b++) {
                hlm_q8_act a;
                hlm_q8_act_bind(&a, buf, cols, batch, b);
                Y[b * rows + r] = fn(wr, a.q, a.d, a.s, nb);
            }
        }
    }
    free(buf);
    return HLM_OK;
}
