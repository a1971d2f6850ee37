/* libFuzzer target: GGUF model files from memory through the inference engine
 * (hlm_engine_from_gguf: the configuration from `<arch>.*`, the tensors mapped by name with their
 * shapes and types checked, the tokenizer from `tokenizer.ggml.*`, gpt2 or SentencePiece).
 * Invariants checked:
 *  - any input either gives an engine and a tokenizer or fails with a message; never a crash, an
 *    out-of-bounds read (ASan), a leak or undefined behaviour (a bad shape or type must be caught
 *    before a kernel reads the mapping);
 *  - an engine that opened runs: a prefill of up to 8 tokens taken from the input and one decode
 *    step give logits, and a token outside the vocabulary is refused. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fuzz_check.h"
#include "hyperlm/tokenizer.h"
#include "infer/engine.h"
#include "infer/gguf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hlm_error err;
    hlm_gguf_file *f = NULL;
    if (hlm_gguf_open_mem(data, size, "fuzz.gguf", &f, &err) != HLM_OK) return 0;
    hlm_engine *e = NULL;
    hlm_tokenizer *tok = NULL;
    hlm_status st = hlm_engine_from_gguf(f, 8, &e, &tok, &err);
    if (st != HLM_OK) {
        CHECK(e == NULL && tok == NULL && err.msg[0]);
        return 0;
    }
    int V = hlm_engine_config(e)->vocab_size;
    int32_t toks[8];
    int n = 0;
    for (size_t i = 0; i < size && n < 8; i += 97) toks[n++] = (int32_t)(data[i] % (unsigned)V);
    const float *lg = NULL;
    CHECK(hlm_engine_prefill(e, toks, n > 7 ? 7 : n, &lg, &err) == HLM_OK && lg);
    CHECK(hlm_engine_decode(e, toks[0], &lg, &err) == HLM_OK && lg);
    CHECK(hlm_engine_decode(e, V, &lg, &err) == HLM_ERR_RANGE);
    hlm_ids ids = {0};
    CHECK(hlm_tokenizer_encode(tok, "fuzz 퍼즈", 10, 1, &ids, &err) == HLM_OK);
    hlm_ids_free(&ids);
    hlm_tokenizer_free(tok);
    hlm_engine_free(e);
    return 0;
}
