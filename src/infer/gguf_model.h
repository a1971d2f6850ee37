/* GGUF model files: a HyperLM GPT-2 or Llama model (and its byte-level BPE tokenizer) to a GGUF
 * file that follows llama.cpp's conventions, and a GGUF file back to an hlm_model + tokenizer
 * (docs/gguf.md, "Models").
 *
 * Invariants:
 * - Names and metadata keys are llama.cpp's (convert_hf_to_gguf.py / gguf-py's constants):
 *   `general.architecture` "llama" or "gpt2", `<arch>.*` hyperparameters, `token_embd.weight`,
 *   `blk.N.attn_q.weight`, ..., and `tokenizer.ggml.*` with model "gpt2" (import also reads
 *   "llama", SentencePiece).
 * - Matrices are written (out, in) row-major, i.e. GGML dims {in, out}: GPT-2's Conv1D (in, out)
 *   weights are transposed on export and back on import.
 * - Llama's q and k rows are permuted per head on export, as llama.cpp's converter does: our RoPE
 *   (src/model/rope.c, Hugging Face's rotate_half) rotates the pair (i, i + hd/2), GGML's "normal"
 *   RoPE the pair (2i, 2i + 1); row 2i of the file is our row i, row 2i + 1 our row hd/2 + i, with
 *   the same angle. Import undoes it. The f32 round trip is therefore bit-exact.
 * - Import dequantizes every tensor (F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1) to f32 into
 *   the model's parameters; the engine may re-quantize them for speed. */
#ifndef HYPERLM_INFER_GGUF_MODEL_H
#define HYPERLM_INFER_GGUF_MODEL_H

#include "hyperlm/error.h"
#include "hyperlm/model.h"
#include "hyperlm/tokenizer.h"
#include "infer/gguf.h"
#include "infer/quant.h"

/* Writes m to path (atomically). wtype: HLM_QT_F32, HLM_QT_F16 (2-D tensors f16), HLM_QT_Q8_0 or
 * HLM_QT_Q4_0 (2-D tensors whose rows are a multiple of 32 values; other 2-D tensors f16);
 * norms, biases and GPT-2's position embeddings stay f32 in every case, as llama.cpp's converter
 * keeps them. tokenizer_json: the model's Hugging Face tokenizer.json (byte-level BPE); its ids
 * must be below the model's vocab_size (ids without a token are written as "[PADn]", type
 * unused). name: general.name (NULL: "hyperlm"). */
hlm_status hlm_gguf_export(hlm_model *m, const char *tokenizer_json, hlm_qtype wtype, const char *name,
                           const char *path, hlm_error *err);

/* Reads a GGUF file with architecture "llama" or "gpt2" into a new model (gradients freed) and,
 * when tok is not NULL, its tokenizer: tokenizer.ggml.model "gpt2" (byte-level BPE: tokens,
 * merges, token types; the pre-tokenizer from tokenizer.ggml.pre, hlm_gguf_pattern_for_pre) or
 * "llama" (SentencePiece BPE: tokens, scores, token types, bos/eos/unknown/padding ids,
 * add_bos_token, add_space_prefix; src/tokenizer/spm.c). Malformed tokenizer metadata is an
 * HLM_ERR_FORMAT naming the key and what was expected. */
hlm_status hlm_gguf_import(const char *path, hlm_model **model, hlm_tokenizer **tok, hlm_error *err);

/* The parts of hlm_gguf_import, for readers that keep the file open (the inference engine runs
 * on the mapped tensors): the model configuration from `<arch>.*` metadata, and the tokenizer from
 * `tokenizer.ggml.*`. */
hlm_status hlm_gguf_read_config(const hlm_gguf_file *f, hlm_model_config *c, hlm_error *err);
hlm_status hlm_gguf_read_tokenizer(const hlm_gguf_file *f, hlm_tokenizer **tok, hlm_error *err);

/* The HyperLM pattern closest to llama.cpp's pre-tokenizer name: "llama-bpe", "llama3", "dbrx",
 * "smaug-bpe" -> cl100k; "gpt-4o" -> o200k; everything else (gpt-2, smollm, starcoder, default)
 * -> gpt2. *exact is 0 when llama.cpp's regex for that name differs from the pattern (smollm and
 * starcoder split digits one by one first; names not listed here). */
hlm_pattern hlm_gguf_pattern_for_pre(const char *pre, size_t len, int *exact);

/* 1 when path names a GGUF file (its first four bytes are "GGUF"). */
int hlm_gguf_is_file(const char *path);

#endif
