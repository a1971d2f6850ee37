/* AdamW (Loshchilov & Hutter 2019) in the exact operation order of torch.optim.AdamW's
 * single-tensor path, so that losses track PyTorch step for step:
 *   param *= 1 - lr*wd;  m = lerp(m, g, 1-b1);  v = v*b2 + (1-b2)*g*g;
 *   denom = sqrt(v) / sqrt(1 - b2^t) + eps;  param -= lr / (1 - b1^t) * m / denom. */
#include <math.h>

#include "train/adamw.h"

void hlm_adamw_step(const hlm_adamw *opt, float *params, const float *grads, float *m, float *v,
                    const hlm_tensor_info *tensors, int n_tensors, float lr, int64_t t)
{
    hlm_adamw_step_scaled(opt, params, grads, m, v, tensors, n_tensors, lr, t, 1.0f);
}

/* The update of n consecutive elements of one tensor; every caller runs this same loop, so a
 * shard's update is bit-identical to the same elements of a whole-array update. */
static void adamw_elements(float *p, const float *g, float *mt, float *vt, long n, float b1, float b2, float eps,
                           float keep, int decay, float step_size, float bc2_sqrt, float grad_scale)
{
#pragma omp parallel for schedule(static)
    for (long i = 0; i < n; i++) {
        float gi = grad_scale != 1.0f ? g[i] * grad_scale : g[i];
        float pi = decay ? p[i] * keep : p[i];
        /* torch.lerp(m, g, w) = m + w * (g - m) for w < 0.5 */
        float mi = mt[i] + (1.0f - b1) * (gi - mt[i]);
        float vi = vt[i] * b2 + (1.0f - b2) * gi * gi;
        float denom = sqrtf(vi) / bc2_sqrt + eps;
        mt[i] = mi;
        vt[i] = vi;
        p[i] = pi - step_size * (mi / denom);
    }
}

void hlm_adamw_step_scaled(const hlm_adamw *opt, float *params, const float *grads, float *m,
                           float *v, const hlm_tensor_info *tensors, int n_tensors, float lr,
                           int64_t t, float grad_scale)
{
    float b1 = opt->beta1, b2 = opt->beta2, eps = opt->eps;
    double bc1 = 1.0 - pow((double)b1, (double)t);
    double bc2 = 1.0 - pow((double)b2, (double)t);
    float step_size = (float)(lr / bc1);
    float bc2_sqrt = (float)sqrt(bc2);
    for (int ti = 0; ti < n_tensors; ti++) {
        const hlm_tensor_info *ten = &tensors[ti];
        float wd = (ten->decay || opt->decay_all) ? opt->weight_decay : 0.0f;
        size_t o = ten->offset;
        adamw_elements(params + o, grads + o, m + o, v + o, (long)ten->numel, b1, b2, eps, 1.0f - lr * wd,
                       wd != 0.0f, step_size, bc2_sqrt, grad_scale);
    }
}

void hlm_adamw_step_shard(const hlm_adamw *opt, float *params, const float *grads, float *m, float *v,
                          const hlm_tensor_info *tensors, int n_tensors, float lr, int64_t t, float grad_scale,
                          size_t lo, size_t hi)
{
    float b1 = opt->beta1, b2 = opt->beta2, eps = opt->eps;
    double bc1 = 1.0 - pow((double)b1, (double)t);
    double bc2 = 1.0 - pow((double)b2, (double)t);
    float step_size = (float)(lr / bc1);
    float bc2_sqrt = (float)sqrt(bc2);
    for (int ti = 0; ti < n_tensors; ti++) {
        const hlm_tensor_info *ten = &tensors[ti];
        size_t a = ten->offset > lo ? ten->offset : lo;
        size_t b = ten->offset + ten->numel < hi ? ten->offset + ten->numel : hi;
        if (a >= b) continue;
        float wd = (ten->decay || opt->decay_all) ? opt->weight_decay : 0.0f;
        size_t o = a - lo;
        adamw_elements(params + o, grads + o, m + o, v + o, (long)(b - a), b1, b2, eps, 1.0f - lr * wd, wd != 0.0f,
                       step_size, bc2_sqrt, grad_scale);
    }
}

double hlm_grad_norm(const float *g, size_t n) { return sqrt(hlm_grad_sumsq(g, n)); }

double hlm_grad_sumsq(const float *g, size_t n)
{
    /* Fixed chunks summed in a fixed order: the same bits for any thread count. */
    enum { CHUNK = 1 << 16 };
    size_t n_chunks = (n + CHUNK - 1) / CHUNK;
    double total = 0.0;
    double part[64];
    for (size_t base = 0; base < n_chunks; base += 64) {
        long cnt = (long)(n_chunks - base < 64 ? n_chunks - base : 64);
#pragma omp parallel for schedule(static)
        for (long c = 0; c < cnt; c++) {
            size_t lo = (base + (size_t)c) * CHUNK, hi = lo + CHUNK < n ? lo + CHUNK : n;
            double s = 0.0;
            for (size_t i = lo; i < hi; i++) s += (double)g[i] * g[i];
            part[c] = s;
        }
        for (long c = 0; c < cnt; c++) total += part[c];
    }
    return total;
}

float hlm_grad_clip_coef(double norm, double max_norm)
{
    if (!(max_norm > 0.0) || !(norm > max_norm)) return 1.0f;
    /* torch.nn.utils.clip_grad_norm_: coef = max_norm / (total_norm + 1e-6), clamped to 1 */
    return (float)(max_norm / (norm + 1e-6));
}

void hlm_grad_clip(float *g, size_t n, double norm, double max_norm)
{
    float coef = hlm_grad_clip_coef(norm, max_norm);
    if (coef == 1.0f) return;
    long len = (long)n;
#pragma omp parallel for schedule(static)
    for (long i = 0; i < len; i++) g[i] *= coef;
}
