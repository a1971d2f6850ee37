/* AdamW with PyTorch's semantics (torch.optim.AdamW, decoupled weight decay, bias correction),
 * applied tensor by tensor so that weight decay follows hlm_tensor_info.decay, and global-norm
 * gradient clipping (torch.nn.utils.clip_grad_norm_). */
#ifndef HYPERLM_TRAIN_ADAMW_H
#define HYPERLM_TRAIN_ADAMW_H

#include <stddef.h>
#include <stdint.h>

#include "hyperlm/model.h"

typedef struct hlm_adamw {
    float beta1, beta2, eps, weight_decay;
    int decay_all; /* 1: decay biases, norms and embeddings too */
} hlm_adamw;

/* One update at 1-based step t with learning rate lr: for each parameter
 *   p -= lr * wd * p (decay tensors only); m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
 *   p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps). */
void hlm_adamw_step(const hlm_adamw *opt, float *params, const float *grads, float *m, float *v,
                    const hlm_tensor_info *tensors, int n_tensors, float lr, int64_t t);
/* The same update with every gradient multiplied by grad_scale first (bit-identical to
 * hlm_grad_clip followed by hlm_adamw_step, one pass over memory fewer). */
void hlm_adamw_step_scaled(const hlm_adamw *opt, float *params, const float *grads, float *m,
                           float *v, const hlm_tensor_info *tensors, int n_tensors, float lr,
                           int64_t t, float grad_scale);
/* The same update on the shard [lo, hi) of the flat parameter layout (ZeRO): params, grads, m
 * and v point at element lo of their arrays; tensors are cut at the shard's ends. Each element
 * gets the bits that hlm_adamw_step_scaled would give it. */
void hlm_adamw_step_shard(const hlm_adamw *opt, float *params, const float *grads, float *m, float *v,
                          const hlm_tensor_info *tensors, int n_tensors, float lr, int64_t t, float grad_scale,
                          size_t lo, size_t hi);
/* The factor hlm_grad_clip would scale by (1 when no clipping applies). */
float hlm_grad_clip_coef(double norm, double max_norm);
/* L2 norm of g (n) accumulated in double: sqrt(hlm_grad_sumsq). */
double hlm_grad_norm(const float *g, size_t n);
/* Sum of squares of g in double, fixed chunks added in a fixed order (the same bits for any
 * thread count). */
double hlm_grad_sumsq(const float *g, size_t n);
/* Scales g by max_norm / (norm + 1e-6) when norm > max_norm (PyTorch's clip_grad_norm_). */
void hlm_grad_clip(float *g, size_t n, double norm, double max_norm);

#endif
