/* Pre-tokenization: splits text into the pieces that OpenAI's regular expressions produce
 * (gpt2/r50k, cl100k_base, o200k_base), exactly, without a regex engine: one hand-written matcher
 * per pattern that follows the same leftmost-first, backtracking semantics. See pretok.c for each
 * pattern and the proof sketch of equivalence for every alternative. */
#ifndef HLM_TOKENIZER_PRETOK_H
#define HLM_TOKENIZER_PRETOK_H

#include <stddef.h>
#include <stdint.h>

#include "hyperlm/tokenizer.h"

/* Returns the end (exclusive) of the piece that starts at pos; pos < len. Every byte is covered:
 * consecutive calls starting at 0 partition s[0..len). */
size_t hlm_pretok_next(hlm_pattern p, const uint8_t *s, size_t len, size_t pos);

#endif
