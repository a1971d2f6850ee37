/* A byte-level tokenizer of 260 tokens (256 bytes, the merges "th", "the", " t", and
 * <|endoftext|>) saved once as tmpdir/tokenizer.json, for models exported to GGUF in tests.
 * Include after tmpdir.h. */
#ifndef HLM_TESTS_TINY_TOKENIZER_H
#define HLM_TESTS_TINY_TOKENIZER_H

#include "hyperlm/tokenizer.h"
#include "tokenizer/bytelevel.h"
#include "tokenizer/tokenizer_internal.h"

static const char *tokenizer_path(void)
{
    static char path[400];
    if (path[0]) return path;
    snprintf(path, sizeof path, "%s/tokenizer.json", tmpdir);
    uint32_t t = (uint32_t)hlm_bytelevel_rank_of_byte('t'), h = (uint32_t)hlm_bytelevel_rank_of_byte('h');
    uint32_t e = (uint32_t)hlm_bytelevel_rank_of_byte('e'), sp = (uint32_t)hlm_bytelevel_rank_of_byte(' ');
    const uint32_t merges[3][2] = {{t, h}, {256, e}, {sp, t}};
    const char *specials[] = {"<|endoftext|>"};
    hlm_tokenizer *tok = NULL;
    hlm_error err = {0};
    assert_int_equal(hlm_tokenizer_from_merges(HLM_PATTERN_GPT2, 0, merges, 3, specials, 1, &tok, &err), HLM_OK);
    assert_int_equal(hlm_tokenizer_save(tok, path, &err), HLM_OK);
    hlm_tokenizer_free(tok);
    return path;
}

#endif
