/* Internal constructors shared by the trainer and the loaders. */
#ifndef HLM_TOKENIZER_INTERNAL_H
#define HLM_TOKENIZER_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "hyperlm/tokenizer.h"

/* Builds a tokenizer in HyperLM's id layout: ids 0..255 are the bytes in GPT-2 order
 * (hlm_bytelevel_byte_of_rank), id 256+i is merge i = merges[i][0] followed by merges[i][1]
 * (both ids < 256+i), then the special tokens in order. Merge semantics: Hugging Face (only the
 * listed merges, in list order). normalize: NFC before pre-tokenization. */
hlm_status hlm_tokenizer_from_merges(hlm_pattern pattern, int normalize, const uint32_t (*merges)[2],
                                     size_t n_merges, const char *const *specials, size_t n_specials,
                                     hlm_tokenizer **out, hlm_error *err);

/* llama.cpp's token types (tokenizer.ggml.token_type; 0 "undefined" counts as normal). */
enum {
    HLM_SPM_NORMAL = 1, HLM_SPM_UNKNOWN = 2, HLM_SPM_CONTROL = 3, HLM_SPM_USER_DEFINED = 4, HLM_SPM_UNUSED = 5,
    HLM_SPM_BYTE = 6
};

/* A SentencePiece vocabulary as a GGUF file holds it (tokenizer.ggml.model "llama"). */
typedef struct hlm_spm_vocab {
    size_t n;
    const char *const *pieces; /* piece i: lens[i] bytes (not NUL-terminated), U+2581 for spaces */
    const size_t *lens;
    const float *scores;
    const int32_t *types;      /* HLM_SPM_*, or NULL: all normal */
    int64_t bos, unk;          /* ids, -1: none (unk: then the first token of type unknown) */
    int add_bos;               /* texts start with bos (hlm_tokenizer_bos) */
    int add_space_prefix;      /* a space is put in front of the text before encoding */
} hlm_spm_vocab;

/* Builds a SentencePiece BPE tokenizer (spm.c). Errors (HLM_ERR_FORMAT) name the array and the
 * index as "<what>.tokens[i]", "<what>.scores[i]", "<what>.token_type[i]": what is the GGUF key
 * prefix, e.g. "model.gguf: tokenizer.ggml". */
hlm_status hlm_tokenizer_from_spm(const hlm_spm_vocab *v, const char *what, hlm_tokenizer **out, hlm_error *err);

#endif
