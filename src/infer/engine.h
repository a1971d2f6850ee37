/* The inference engine: a GPT-2 or Llama model run one token at a time over a KV cache, with
 * weight matrices in f32 or quantized to Q8_0 / Q4_0 (src/infer/quant.h).
 *
 * Invariants:
 * - The engine reads the parameters of an hlm_model: embeddings, positions, norms and biases
 *   always stay f32 there; the weight matrices are either read in place (f32) or copied once into
 *   quantized rows of K = in_features values, oriented (out, in) (GPT-2's Conv1D (in, out)
 *   matrices are transposed first). A matrix whose K is not a multiple of 32 stays f32, and so
 *   does a tied lm head (it is the embedding).
 * - The KV cache holds, per layer, K and V as (ctx, n_kv_head, head_dim) f32, K after RoPE.
 *   Positions 0..pos-1 are filled; prefill and decode append at pos and never move earlier
 *   entries, so the logits at a position do not depend on how the sequence was split into calls.
 * - Every check (token in the vocabulary, room in the context) happens before the cache changes:
 *   a call that fails leaves the engine as it was. */
#ifndef HYPERLM_INFER_ENGINE_H
#define HYPERLM_INFER_ENGINE_H

#include <stdint.h>

#include "hyperlm/error.h"
#include "hyperlm/model.h"
#include "infer/quant.h"

typedef struct hlm_engine hlm_engine;

/* Builds an engine over m, which must outlive it and not change. wtype: HLM_QT_F32, HLM_QT_Q8_0
 * or HLM_QT_Q4_0. ctx: cache length in positions (0: the model's max_seq; at most max_seq). */
hlm_status hlm_engine_create(const hlm_model *m, hlm_qtype wtype, int ctx, hlm_engine **out,
                             hlm_error *err);
/* The same over a checkpoint folder (config.json + model.safetensors), which the engine owns. */
hlm_status hlm_engine_load(const char *dir, hlm_qtype wtype, int ctx, hlm_engine **out,
                           hlm_error *err);
void hlm_engine_free(hlm_engine *e);

const hlm_model_config *hlm_engine_config(const hlm_engine *e);
hlm_qtype hlm_engine_wtype(const hlm_engine *e);
int hlm_engine_ctx(const hlm_engine *e);
int hlm_engine_pos(const hlm_engine *e); /* positions in the cache */
/* Number of weight matrices held quantized, and of those left f32 (K not a multiple of 32, or a
 * tied head); both count fused matrices (Llama's qkv, gate|up) once. */
void hlm_engine_matrix_counts(const hlm_engine *e, int *quantized, int *kept_f32);
/* Bytes of weights the engine reads per token (quantized copies plus the f32 ones). */
size_t hlm_engine_weight_bytes(const hlm_engine *e);
/* Empties the cache (pos = 0). */
void hlm_engine_reset(hlm_engine *e);

/* Runs tokens[0..n) at positions pos..pos+n-1 with matrix products over the n rows, appends them
 * to the cache, and points *logits (vocab_size floats, valid until the next call) at the logits of
 * the last one. HLM_ERR_RANGE: a token outside the vocabulary, or pos + n > ctx. */
hlm_status hlm_engine_prefill(hlm_engine *e, const int32_t *tokens, int n, const float **logits,
                              hlm_error *err);
/* The same, with the logits of every position: *logits points at (n, vocab_size) floats, row i
 * the logits after tokens[i], valid until the next call (for scoring: perplexity, tasks). */
hlm_status hlm_engine_prefill_all(hlm_engine *e, const int32_t *tokens, int n, const float **logits,
                                  hlm_error *err);
/* One token at position pos, with matrix-vector products. */
hlm_status hlm_engine_decode(hlm_engine *e, int32_t token, const float **logits, hlm_error *err);

#endif
