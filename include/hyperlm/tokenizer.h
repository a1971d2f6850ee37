/* Byte-level BPE tokenizer (GPT-2 / cl100k / o200k family), and SentencePiece BPE vocabularies
 * read from GGUF files (infer/gguf_model.h; src/tokenizer/spm.c).
 *
 * Token ids: for tokenizers HyperLM trains, ids 0..255 are the 256 single bytes in GPT-2's
 * bytes_to_unicode order (id 0 is '!', as in OpenAI's rank files), then one id per merge in
 * merge order, then the special tokens. Loaded tokenizers keep the ids of their file.
 *
 * Two merge semantics, both exact:
 *  - tiktoken rank files: adjacent parts a,b may merge when the bytes a+b are a token; the pair
 *    whose merged token has the lowest rank merges first (tiktoken's byte_pair_merge).
 *  - tokenizer.json: only the listed merges apply, in list order (Hugging Face BPE).
 *
 * Text is split into pre-tokens by one of the three OpenAI patterns before BPE. Bytes that are
 * not part of well-formed UTF-8 are each one unit of the "other" class (neither letter, number nor
 * whitespace), so every byte string encodes and decode(encode(x)) == x.
 *
 * SentencePiece vocabularies (GGUF tokenizer.ggml.model "llama"): encoding is SentencePiece's BPE
 * (spaces as U+2581, a space in front, highest-score merges, bytes the vocabulary lacks as
 * <0xXX> pieces); user-defined pieces are always matched, control pieces ("<s>") only with
 * allow_special. A token's bytes are what it decodes to (U+2581 as ' ', <0xXX> as that byte);
 * hlm_tokenizer_decode drops the leading space that encoding put in front, so
 * decode(encode(x)) == x for text with no U+2581 in it (given the 256 byte pieces, which Llama's
 * vocabularies have; without one, characters needing it encode as <unk>), while the streaming
 * decoder emits every token's bytes (generation continues a prompt, where that space belongs). */
#ifndef HYPERLM_TOKENIZER_H
#define HYPERLM_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "hyperlm/buf.h"
#include "hyperlm/error.h"

typedef enum hlm_pattern {
    HLM_PATTERN_GPT2 = 0,  /* GPT-2 / r50k_base */
    HLM_PATTERN_CL100K = 1,
    HLM_PATTERN_O200K = 2,
    HLM_PATTERN_COUNT
} hlm_pattern;

/* "gpt2" (also "r50k"), "cl100k" (also "cl100k_base"), "o200k" (also "o200k_base"). */
hlm_status hlm_pattern_from_name(const char *name, hlm_pattern *out, hlm_error *err);
const char *hlm_pattern_name(hlm_pattern p);
/* The pattern as a regular expression (tiktoken's pat_str), for tokenizer.json. */
const char *hlm_pattern_regex(hlm_pattern p);

typedef struct hlm_tokenizer hlm_tokenizer;

/* Loads a Hugging Face tokenizer.json (byte-level BPE) or a tiktoken rank file (detected by
 * content). pattern < 0: taken from the file (tokenizer.json) or inferred from the file name /
 * vocabulary (rank files: gpt2, cl100k_base, o200k_base, with their special tokens). */
hlm_status hlm_tokenizer_load(const char *path, int pattern, hlm_tokenizer **out, hlm_error *err);
void hlm_tokenizer_free(hlm_tokenizer *tok);

/* Writes a Hugging Face tokenizer.json atomically. */
hlm_status hlm_tokenizer_save(const hlm_tokenizer *tok, const char *path, hlm_error *err);

/* Number of ids (largest id + 1, special tokens included). */
uint32_t hlm_tokenizer_vocab_size(const hlm_tokenizer *tok);
hlm_pattern hlm_tokenizer_pattern(const hlm_tokenizer *tok);
/* 1 if the tokenizer applies NFC normalization before pre-tokenization. */
int hlm_tokenizer_normalizes(const hlm_tokenizer *tok);

/* Bytes of one token (special tokens: their text). HLM_ERR_RANGE for an id with no token. */
hlm_status hlm_tokenizer_token_bytes(const hlm_tokenizer *tok, uint32_t id, const uint8_t **bytes,
                                     size_t *len, hlm_error *err);
/* Looks up a token (regular or special) by its exact bytes; returns 1 and sets *id if found.
 * SentencePiece vocabularies: by the piece as the vocabulary spells it ("▁the", "<0x0A>", "<s>"). */
int hlm_tokenizer_token_id(const hlm_tokenizer *tok, const void *bytes, size_t len, uint32_t *id);
size_t hlm_tokenizer_special_count(const hlm_tokenizer *tok);
/* i-th special token: its text and id. */
void hlm_tokenizer_special(const hlm_tokenizer *tok, size_t i, const char **text, uint32_t *id);

/* The token that a text should start with, when the vocabulary asks for one (GGUF
 * tokenizer.ggml.add_bos_token, true for Llama's SentencePiece vocabularies): returns 1 and sets
 * *id. Encoding never adds it: a caller that starts a sequence (generation) puts it first. */
int hlm_tokenizer_bos(const hlm_tokenizer *tok, uint32_t *id);

/* Appends the ids of text[0..len) to out. allow_special: special-token text maps to its id;
 * otherwise it is encoded as plain text (tiktoken's encode_ordinary). Never fails on any bytes
 * except for memory. Thread-safe: a tokenizer is read-only after loading. */
hlm_status hlm_tokenizer_encode(const hlm_tokenizer *tok, const void *text, size_t len,
                                int allow_special, hlm_ids *out, hlm_error *err);

/* Encodes n documents with n_threads threads (<= 0: all CPUs); outs[i] receives document i. */
hlm_status hlm_tokenizer_encode_batch(const hlm_tokenizer *tok, const char *const *texts,
                                      const size_t *lens, size_t n, int allow_special,
                                      int n_threads, hlm_ids *outs, hlm_error *err);

/* Appends the bytes of ids to out. HLM_ERR_RANGE naming the position and id if one is invalid.
 * SentencePiece: without the leading space of the first token (see above). */
hlm_status hlm_tokenizer_decode(const hlm_tokenizer *tok, const uint32_t *ids, size_t n,
                                hlm_buf *out, hlm_error *err);

/* Streaming decoder: push ids one at a time; only whole UTF-8 characters come out. Bytes that
 * can no longer become a valid character are emitted as they are (decode is lossless). */
typedef struct hlm_decoder {
    const hlm_tokenizer *tok;
    uint8_t pending[4];
    size_t n_pending;
} hlm_decoder;

void hlm_decoder_init(hlm_decoder *d, const hlm_tokenizer *tok);
hlm_status hlm_decoder_push(hlm_decoder *d, uint32_t id, hlm_buf *out, hlm_error *err);
/* Emits whatever is pending (an incomplete character at the end of the stream). */
hlm_status hlm_decoder_flush(hlm_decoder *d, hlm_buf *out, hlm_error *err);

/* ---- training ---- */

typedef struct hlm_bpe_train_opts {
    uint32_t vocab_size;        /* total ids: 256 bytes + merges + specials */
    hlm_pattern pattern;
    int normalize;              /* NFC before pre-tokenization (default 1) */
    const char *const *specials;
    size_t n_specials;
    int n_threads;              /* <= 0: all CPUs */
    uint64_t min_frequency;     /* merges of pairs seen fewer times are not made (default 2) */
} hlm_bpe_train_opts;

void hlm_bpe_train_opts_default(hlm_bpe_train_opts *o);

typedef struct hlm_bpe_trainer hlm_bpe_trainer;

hlm_status hlm_bpe_trainer_new(const hlm_bpe_train_opts *opts, hlm_bpe_trainer **out, hlm_error *err);
/* Counts the pre-tokens of n documents (in parallel). May be called many times. */
hlm_status hlm_bpe_trainer_feed(hlm_bpe_trainer *t, const char *const *texts, const size_t *lens,
                                size_t n, hlm_error *err);
/* Learns the merges and builds the tokenizer. Deterministic for the same input and options. */
hlm_status hlm_bpe_trainer_finish(hlm_bpe_trainer *t, hlm_tokenizer **out, hlm_error *err);
void hlm_bpe_trainer_free(hlm_bpe_trainer *t);

#endif
