/* The inference engine: a GPT-2 or Llama model run over a KV cache, for one sequence or a batch of
 * sequences, with weight matrices in f32 or a GGUF block format (src/infer/quant.h).
 *
 * Sources of weights:
 * - a checkpoint folder in f32 (hlm_engine_load): model.safetensors memory-mapped, read in place;
 * - an hlm_model (the training engine's f32 parameters): matrices are read in place (f32) or
 *   copied once into quantized rows (Q8_0 / Q4_0), oriented (out, in); GPT-2's Conv1D (in, out)
 *   matrices are transposed first. A matrix whose K is not a multiple of 32 stays f32. A tied
 *   lm head is quantized like the other matrices (as llama.cpp runs a tied token_embd).
 * - a GGUF file (hlm_engine_open_gguf), memory-mapped: matrices stored F32, Q8_0, Q4_0, Q4_1,
 *   Q5_0 or Q5_1 are run from the mapping as they are, F16/BF16 ones are converted to f32 once.
 *   Llama's q and k rows are in GGML's order there (each head's pairs interleaved, see
 *   gguf_model.h), so the engine rotates the pairs (2i, 2i+1) for that source; attention scores
 *   are the same because q and k are permuted alike.
 *
 * Invariants:
 * - The KV cache holds, per layer and sequence, K and V as (ctx, n_kv_head, head_dim) f32, K
 *   after RoPE. Positions 0..pos-1 of a sequence are filled; calls append at pos and never move
 *   earlier entries, so a sequence can be cut back (hlm_engine_seq_truncate) and continued.
 * - Every check (token in the vocabulary, sequence index, room in the context) happens before
 *   the cache changes: a call that fails leaves the engine as it was.
 * - Prefill from an empty cache runs the training engine's attention (FlashAttention-2 tiles);
 *   other calls score each row against the cache directly. Quantized matrices multiply many rows
 *   by dequantizing tiles to f32 for the gemm, and few rows (decode) by the quantized dot
 *   products over 8-bit activations; the two paths agree to quantization error, not bitwise. */
#ifndef HYPERLM_INFER_ENGINE_H
#define HYPERLM_INFER_ENGINE_H

#include <stdint.h>

#include "hyperlm/error.h"
#include "hyperlm/model.h"
#include "hyperlm/tokenizer.h"
#include "infer/gguf.h"
#include "infer/quant.h"

typedef struct hlm_engine hlm_engine;

/* Builds an engine over m, which must outlive it and not change. wtype: HLM_QT_F32, HLM_QT_Q8_0
 * or HLM_QT_Q4_0. ctx: cache length in positions (0: the model's max_seq; at most max_seq). */
hlm_status hlm_engine_create(const hlm_model *m, hlm_qtype wtype, int ctx, hlm_engine **out,
                             hlm_error *err);
/* The same over a checkpoint folder (config.json + model.safetensors). f32: the engine runs on
 * the file's mapping (f16/bf16 tensors converted once). A quantized wtype reads the model, and
 * releases its f32 parameters once the engine has its copies (only norms, biases and embeddings
 * are kept in f32). */
hlm_status hlm_engine_load(const char *dir, hlm_qtype wtype, int ctx, hlm_engine **out,
                           hlm_error *err);
/* Over a GGUF file (architecture llama or gpt2), memory-mapped for the engine's lifetime; the
 * weights run in their stored types. tok (NULL: not wanted) receives the file's tokenizer. */
hlm_status hlm_engine_open_gguf(const char *path, int ctx, hlm_engine **out, hlm_tokenizer **tok,
                                hlm_error *err);
/* The same over a GGUF file already open (from a file or memory), which the engine takes over:
 * it is closed with the engine, or at once when this fails. */
hlm_status hlm_engine_from_gguf(hlm_gguf_file *f, int ctx, hlm_engine **out, hlm_tokenizer **tok,
                                hlm_error *err);
/* Either of the two, a GGUF file or a checkpoint folder. wtype HLM_ENGINE_STORED: a GGUF file runs
 * in its stored types (hlm_engine_open_gguf), a checkpoint in f32; another wtype: the weights are
 * read to f32 and quantized to it as hlm_engine_load does (a GGUF file is dequantized first). */
#define HLM_ENGINE_STORED ((hlm_qtype)-1)
hlm_status hlm_engine_open(const char *path, hlm_qtype wtype, int ctx, hlm_engine **out,
                           hlm_tokenizer **tok, hlm_error *err);
void hlm_engine_free(hlm_engine *e);

const hlm_model_config *hlm_engine_config(const hlm_engine *e);
/* The type most matrices run in (a GGUF file: the most common stored type among the matrices). */
hlm_qtype hlm_engine_wtype(const hlm_engine *e);
/* The mapped GGUF file the engine runs on (its metadata: chat template, special tokens), or NULL
 * when the weights came from elsewhere. */
const hlm_gguf_file *hlm_engine_gguf(const hlm_engine *e);
int hlm_engine_ctx(const hlm_engine *e);
int hlm_engine_pos(const hlm_engine *e); /* positions in sequence 0's cache */
/* Number of weight matrices held quantized, and of those left f32 (K not a multiple of 32, or a
 * tied head); both count fused matrices (Llama's qkv, gate|up) once. */
void hlm_engine_matrix_counts(const hlm_engine *e, int *quantized, int *kept_f32);
/* Bytes of weights the engine reads per token (quantized copies plus the f32 ones). */
size_t hlm_engine_weight_bytes(const hlm_engine *e);
/* Quantized matrices multiply many rows (prefill) after dequantizing tiles; on by default, the
 * product then runs in bf16 with fp32 sums (oneDNN, AMX or AVX512-BF16) where the CPU has it,
 * which costs less accuracy than the weights' own quantization (docs/inference.md). Off: fp32. */
void hlm_engine_set_bf16_prefill(hlm_engine *e, int on);
/* Copies of the quantized matrices laid out for batched decode (several sequences a step), which
 * is what lets a server's throughput grow with the number of sequences. kinds: HLM_PACK_INT8,
 * HLM_PACK_BF16 or both; a matrix gets the first that applies:
 * - HLM_PACK_INT8 (Q4_0, Q4_1, Q8_0, where the CPU has AMX int8: hlm_qpack): products of 2 to 16
 *   rows run as int8 tile products over the quantized codes, the same sums as the dot products
 *   (up to the order of fp32 additions); as many bytes as the quantized matrix.
 * - HLM_PACK_BF16 (any quantized type, where the CPU has native bf16): a bf16 copy packed in
 *   oneDNN's layout; products of 6 to 16 rows run as bf16 gemms of the dequantized weights, 2
 *   bytes per weight.
 * Other row counts keep their paths. *bytes: the memory the copies take (0 where the CPU has
 * neither). */
#define HLM_PACK_INT8 1
#define HLM_PACK_BF16 2
hlm_status hlm_engine_pack_weights(hlm_engine *e, int kinds, size_t *bytes, hlm_error *err);
/* Empties sequence 0's cache (pos = 0). */
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

/* ---- several sequences ------------------------------------------------------------------------
 * The calls above work on sequence 0. An engine holds n_seq sequences (1 at creation), each with
 * its own cache of ctx positions; a decode step can advance many of them at once, so that every
 * weight matrix is read from memory once per step for all of them. */

/* Makes room for n_seq sequences (>= 1), all empty afterwards. HLM_ERR_NOMEM leaves the engine
 * with its previous sequences, emptied. */
hlm_status hlm_engine_set_seqs(hlm_engine *e, int n_seq, hlm_error *err);
int hlm_engine_seqs(const hlm_engine *e);
int hlm_engine_seq_pos(const hlm_engine *e, int seq); /* -1 for a seq out of range */
/* Keeps the first pos positions of seq (0 empties it); pos above the current length: no change. */
void hlm_engine_seq_truncate(hlm_engine *e, int seq, int pos);
/* hlm_engine_prefill on sequence seq. */
hlm_status hlm_engine_prefill_seq(hlm_engine *e, int seq, const int32_t *tokens, int n,
                                  const float **logits, hlm_error *err);
/* Prompts for n distinct sequences in one pass (every weight matrix read once for all their
 * rows): lens[i] tokens of tokens (concatenated, prompt i after prompt i-1) go to seqs[i] at its
 * next positions. *logits points at (n, vocab_size) floats, row i after the last token of prompt
 * i. Errors as hlm_engine_decode_batch's, plus HLM_ERR_INVALID for a length below 1. */
hlm_status hlm_engine_prefill_batch(hlm_engine *e, const int *seqs, const int32_t *tokens, const int *lens, int n,
                                    const float **logits, hlm_error *err);
/* One token for each of n distinct sequences: tokens[i] goes to seqs[i] at its next position.
 * *logits points at (n, vocab_size) floats, row i for seqs[i], valid until the next call.
 * HLM_ERR_INVALID: a sequence out of range or named twice; HLM_ERR_RANGE: a full sequence or a
 * token outside the vocabulary. */
hlm_status hlm_engine_decode_batch(hlm_engine *e, const int *seqs, const int32_t *tokens, int n,
                                   const float **logits, hlm_error *err);

/* ---- embeddings -------------------------------------------------------------------------------
 * The embedding of tokens[0..n) (for /v1/embeddings): the final hidden states (after the model's
 * final norm: what the lm head reads; the head itself is not run) averaged over the n positions,
 * then scaled to unit L2 length (an all-zero average stays zero), d_model floats into out. The
 * tokens run on sequence seq from position 0: whatever seq held is discarded, and seq is empty
 * afterwards; other sequences are untouched. Errors as hlm_engine_prefill_seq's, with the
 * context counted from 0 (HLM_ERR_RANGE: a token outside the vocabulary, or n > ctx); a call
 * refused by those checks leaves seq as it was. */
hlm_status hlm_engine_embed(hlm_engine *e, int seq, const int32_t *tokens, int n, float *out,
                            hlm_error *err);

#endif
