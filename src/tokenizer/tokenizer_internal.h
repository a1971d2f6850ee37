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

#endif
