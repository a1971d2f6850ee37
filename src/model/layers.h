/* Layers: each a forward/backward pair, shapes in the comment. N = B * T rows.
 *
 * Conventions (every function here):
 * - Backward functions ADD into every gradient they produce (dx, dw, db, ...): the caller zeroes
 *   activation gradients once per step and parameter gradients once per optimizer step, which is
 *   what gradient accumulation, tied embeddings and residual branches need.
 * - Forward outputs are overwritten. Inputs are never modified unless the name says in-place.
 * - Parallel over rows with OpenMP (the runtime oneDNN uses); omp_* calls are guarded by _OPENMP.
 * - No allocation; no errors: the model checks shapes before calling. */
#ifndef HYPERLM_MODEL_LAYERS_H
#define HYPERLM_MODEL_LAYERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Token (+ learned position) embedding.
 * out (B,T,C) = wte[tokens[b,t]] + (wpe ? wpe[t] : 0); wte (V,C), wpe (maxT,C) or NULL. */
void embedding_forward(float *out, const int32_t *tokens, const float *wte, const float *wpe,
                       int B, int T, int C);
void embedding_backward(float *dwte, float *dwpe, const float *dout, const int32_t *tokens,
                        int B, int T, int C);

/* y (N,M) = x (N,K) . W + b. W is (K,M) when w_out_in is false (GPT-2 Conv1D) and (M,K) when
 * true (nn.Linear, tied lm_head); b (M) or NULL. */
void matmul_forward(float *y, const float *x, const float *w, const float *b, int N, int K, int M,
                    bool w_out_in);
/* dx (N,K) += dy . W^T; dw += x^T . dy (in W's orientation); db (M) += column sums of dy.
 * dx, dw or db may be NULL to skip it. */
void matmul_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
                     const float *w, int N, int K, int M, bool w_out_in);

/* LayerNorm over C: out = (x - mean) * rstd * w + b; mean, rstd (N) saved for backward. */
void layernorm_forward(float *out, float *mean, float *rstd, const float *x, const float *w,
                       const float *b, int N, int C, float eps);
void layernorm_backward(float *dx, float *dw, float *db, const float *dout, const float *x,
                        const float *w, const float *mean, const float *rstd, int N, int C);

/* Fused residual + LayerNorm: res = a + b (N,C) then out = layernorm(res). */
void residual_layernorm_forward(float *res, float *out, float *mean, float *rstd, const float *a,
                                const float *b, const float *w, const float *bias, int N, int C,
                                float eps);

/* RMSNorm over C (Llama): out = x * rstd * w, rstd = 1/sqrt(mean(x^2) + eps). */
void rmsnorm_forward(float *out, float *rstd, const float *x, const float *w, int N, int C,
                     float eps);
void rmsnorm_backward(float *dx, float *dw, const float *dout, const float *x, const float *w,
                      const float *rstd, int N, int C);
/* Fused residual + RMSNorm: res = a + b then out = rmsnorm(res). */
void residual_rmsnorm_forward(float *res, float *out, float *rstd, const float *a, const float *b,
                              const float *w, int N, int C, float eps);

/* GELU, tanh approximation (Hugging Face "gelu_new", GPT-2). x, out (n). */
void gelu_forward(float *out, const float *x, size_t n);
void gelu_backward(float *dx, const float *x, const float *dout, size_t n);

/* SwiGLU (Llama MLP): gu (N, 2F) holds [gate | up] per row; out (N,F) = silu(gate) * up. */
void swiglu_forward(float *out, const float *gu, int N, int F);
void swiglu_backward(float *dgu, const float *dout, const float *gu, int N, int F);

/* Rotary position embedding, Hugging Face's rotate_half convention: within each head, pairs
 * (i, i + hd/2) rotate by angle t * theta^(-2i/hd). Applied in place to the q and k parts of
 * qkv (B,T,(H + 2*KV)*hd), laid out [q (H*hd) | k (KV*hd) | v (KV*hd)] per row; v untouched.
 * cos_sin: table (maxT, hd/2, 2) from rope_table. Backward rotates dq, dk back, in place. */
void rope_table(float *cos_sin, int max_T, int hd, float theta);
void rope_forward(float *qkv, const float *cos_sin, int B, int T, int H, int KV, int hd);
void rope_backward(float *dqkv, const float *cos_sin, int B, int T, int H, int KV, int hd);

/* Causal self-attention with grouped-query heads, tiled with an online softmax (FlashAttention):
 * memory beyond q, k, v, out is O(B*H*T), never O(T^2).
 * qkv (B,T,(H + 2*KV)*hd) as above; query head h uses kv head h / (H/KV); scale 1/sqrt(hd).
 * out (B,T,H*hd); lse (B,H,T) = log-sum-exp of each query's scaled scores, for backward.
 * Backward recomputes the probabilities from lse; dqkv (B,T,(H+2*KV)*hd) is ADDED to. */
void attention_forward(float *out, float *lse, const float *qkv, int B, int T, int H, int KV,
                       int hd);
void attention_backward(float *dqkv, const float *dout, const float *qkv, const float *out,
                        const float *lse, int B, int T, int H, int KV, int hd);

/* Softmax building blocks (AVX-512 with the vexp.h polynomial where available): the largest of
 * x[0..V) (-inf when V = 0), and the sum of exp(x[j] - m), storing each exp in e when e is not
 * NULL (e may be x). */
float vec_max(const float *x, int V);
float vec_exp_sum(float *e, const float *x, float m, int V);

/* Fused softmax + cross-entropy. logits (N,V) are overwritten with d(loss_scale * mean loss) /
 * dlogits; losses (N) get each row's loss (0 where targets[i] == -1, which are ignored).
 * n_valid = number of targets != -1 (the mean's denominator). Returns the sum of losses. */
double softmax_xent_forward_backward(float *logits, float *losses, const int32_t *targets, int N,
                                     int V, int n_valid, float loss_scale);
/* Loss only (logits untouched): sum of per-row losses over valid targets. */
double softmax_xent_forward(const float *logits, float *losses, const int32_t *targets, int N,
                            int V);

#endif
