/* Models: GPT-2 (GPT-3's dense architecture is the same) and Llama-family decoder-only
 * transformers, in fp32 on the CPU.
 *
 * Invariants:
 * - All parameters live in one contiguous float array, all gradients in another of the same
 *   layout; hlm_tensor_info names each tensor with its Hugging Face name, so a checkpoint is the
 *   parameter array cut at those offsets, in the same orientation as Hugging Face stores it
 *   (GPT-2's Conv1D weights are (in, out); Llama's Linear weights are (out, in)).
 * - In Llama models q_proj, k_proj, v_proj are adjacent in memory, and so are gate_proj and
 *   up_proj, so each group is one (out, in) matrix and one matrix multiply.
 * - Backward passes accumulate into the gradient array; hlm_model_zero_grad clears it. */
#ifndef HYPERLM_MODEL_H
#define HYPERLM_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "hyperlm/error.h"

typedef enum hlm_arch { HLM_ARCH_GPT2 = 1, HLM_ARCH_LLAMA = 2 } hlm_arch;

typedef struct hlm_model_config {
    hlm_arch arch;
    int vocab_size;
    int max_seq;        /* n_positions / max_position_embeddings */
    int n_layer;
    int n_head;
    int n_kv_head;      /* grouped-query attention; == n_head for GPT-2 */
    int d_model;        /* n_embd / hidden_size */
    int d_ff;           /* n_inner (4 * d_model when null) / intermediate_size */
    int head_dim;       /* d_model / n_head */
    float norm_eps;     /* layer_norm_epsilon / rms_norm_eps */
    float rope_theta;   /* Llama only */
    int tie_embeddings; /* GPT-2: always 1; Llama: tie_word_embeddings */
    float init_std;     /* initializer_range */
    int bos_token_id;   /* -1 when unset */
    int eos_token_id;   /* -1 when unset */
} hlm_model_config;

/* Fills cfg from a preset name ("gpt2-124m", "gpt3-2.7b", "llama-1b", "tiny-gpt2", ...). */
hlm_status hlm_config_preset(const char *name, hlm_model_config *cfg, hlm_error *err);
/* Preset names, NULL-terminated. */
const char *const *hlm_config_preset_names(void);
/* Parses a Hugging Face config.json text (model_type gpt2 or llama); source names it in errors. */
hlm_status hlm_config_from_json(const char *json, size_t len, const char *source,
                                hlm_model_config *cfg, hlm_error *err);
/* A preset name, a config.json path, or a folder holding config.json. */
hlm_status hlm_config_resolve(const char *preset_or_path, hlm_model_config *cfg, hlm_error *err);
/* Checks the shape is consistent (heads divide d_model, kv heads divide heads, ...). */
hlm_status hlm_config_validate(const hlm_model_config *cfg, hlm_error *err);
/* Hugging Face config.json text for cfg (malloc'd, NUL-terminated); NULL on allocation failure. */
char *hlm_config_to_json(const hlm_model_config *cfg);

typedef struct hlm_tensor_info {
    char name[80];     /* Hugging Face name, e.g. "transformer.h.3.attn.c_attn.weight" */
    int ndim;          /* 1 or 2 */
    int64_t shape[2];  /* as Hugging Face stores it */
    size_t offset;     /* in floats, into the parameter (and gradient) array */
    size_t numel;
    int decay;         /* 1: AdamW weight decay applies (matrices); 0: biases, norms, embeddings */
} hlm_tensor_info;

/* The parameter table of cfg (malloc'd array into *out, count into *n). */
hlm_status hlm_config_tensors(const hlm_model_config *cfg, hlm_tensor_info **out, int *n,
                              hlm_error *err);
size_t hlm_config_num_params(const hlm_model_config *cfg);
/* Forward FLOPs per token at sequence length T, PaLM's convention (Chowdhery et al. 2022,
 * Appendix B: training 6N + 12LHQT): 2 * N_matmul + 4 * n_layer * n_head * head_dim * T, where
 * N_matmul counts the weights of every matrix multiply (the lm head included; embedding lookups,
 * norms and biases excluded) and attention (QK^T and AV) is counted over the full T, not the
 * causal half. Training is 3x this (forward + backward). */
double hlm_config_flops_per_token(const hlm_model_config *cfg, int T);

typedef struct hlm_model hlm_model;

/* Allocates parameters (zero), gradients (zero) and, lazily, activations. */
hlm_status hlm_model_create(const hlm_model_config *cfg, hlm_model **out, hlm_error *err);
void hlm_model_free(hlm_model *m);
const hlm_model_config *hlm_model_config_of(const hlm_model *m);
/* GPT-2's scheme: N(0, init_std) for weights and embeddings, residual output projections scaled
 * by 1/sqrt(2 * n_layer), biases zero, norm weights one. Deterministic in seed. */
void hlm_model_init_weights(hlm_model *m, uint64_t seed);
float *hlm_model_params(hlm_model *m);
float *hlm_model_grads(hlm_model *m);
size_t hlm_model_num_params(const hlm_model *m);
/* Length in floats of the parameter and gradient arrays (parameters plus alignment padding): the
 * size of any array of the same layout, such as AdamW's moments. */
size_t hlm_model_array_floats(const hlm_model *m);
const hlm_tensor_info *hlm_model_tensors(const hlm_model *m, int *n);
const hlm_tensor_info *hlm_model_find_tensor(const hlm_model *m, const char *name);

/* Forward over tokens (B, T) (T <= max_seq). With targets (B, T) it returns the mean
 * cross-entropy over targets != -1 in *loss and keeps what backward needs; without targets the
 * logits (B, T, V) are available from hlm_model_logits. */
hlm_status hlm_model_forward(hlm_model *m, const int32_t *tokens, const int32_t *targets, int B,
                             int T, float *loss, hlm_error *err);
const float *hlm_model_logits(const hlm_model *m);
/* Backward of the last forward (which had targets): gradients of loss_scale * loss are added to
 * the gradient array (loss_scale = 1/accum for gradient accumulation). */
hlm_status hlm_model_backward(hlm_model *m, float loss_scale, hlm_error *err);
void hlm_model_zero_grad(hlm_model *m);
/* Gradient readiness during hlm_model_backward, for overlapping gradient communication with the
 * rest of the backward pass: fn(ctx, ready_from) is called on the calling thread, outside any
 * parallel region, each time every gradient at offsets >= ready_from is final for this backward
 * (after the lm head and final norm, after each layer from the last to the first, and with 0 at
 * the end: a tied embedding receives gradients first and last). ready_from decreases. fn NULL:
 * no calls (the default). */
typedef void (*hlm_grad_ready_fn)(void *ctx, size_t ready_from);
void hlm_model_set_grad_ready(hlm_model *m, hlm_grad_ready_fn fn, void *ctx);
/* Gradient groups: the ranges of the flat layout that backward finishes one at a time, in
 * ascending order: embeddings [0, first layer), each layer, and the head (final norm and an untied
 * lm head) up to the array's end. Writes count + 1 bounds into bounds (n_layer + 3 entries at
 * most) and returns the count. */
int hlm_model_grad_groups(const hlm_model *m, size_t *bounds);
/* Gradient storage outside the model's array (ZeRO stage 2): with fn set, backward asks
 * fn(ctx, lo, hi) for each group [lo, hi) before adding into it, and the gradient of offset o
 * lives at the returned pointer [o - lo]; the caller zeroes it and must return the same storage
 * when a group is asked for twice in one backward (a tied embedding is written first and last).
 * fn returning NULL makes backward fail (out of memory). fn NULL: the model's array (default). */
typedef float *(*hlm_grad_storage_fn)(void *ctx, size_t lo, size_t hi);
void hlm_model_set_grad_storage(hlm_model *m, hlm_grad_storage_fn fn, void *ctx);
/* Frees the model's gradient array (then hlm_model_grads is NULL, hlm_model_zero_grad does
 * nothing, and backward needs a storage function). */
void hlm_model_free_grads(hlm_model *m);
/* Bytes of activations held for a (B, T) training step. */
size_t hlm_model_activation_bytes(const hlm_model_config *cfg, int B, int T);

#endif
