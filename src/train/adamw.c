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
        float keep = 1.0f - lr * wd;
        float *p = params + ten->offset, *mt = m + ten->offset, *vt = v + ten->offset;
        const float *g = grads + ten->offset;
        long n = (long)ten->numel;
#pragma omp parallel for schedule(static)
        for (long i = 0; i < n; i++) {
            float gi = grad_scale != 1.0f ? g[i] * grad_scale : g[i];
            float pi = wd != 0.0f ? p[i] * keep : p[i];
            /* torch.lerp(m, g, w) = m + w * (g - m) for w < 0.5 */
            float mi = mt[i] + (1.0f - b1) * (gi - mt[i]);
            float vi = vt[i] * b2 + (1.0f - b2) * gi * gi;
            float denom = sqrtf(vi) / bc2_sqrt + eps;
            mt[i] = mi;
            vt[i] = vi;
            p[i] = pi - step_size * (mi / denom);
        }
    }
}

double hlm_grad_norm(const float *g, size_t n)
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
    return sqrt(total);
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
