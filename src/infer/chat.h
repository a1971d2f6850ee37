/* Chat templates: a conversation (role, content messages) rendered into the prompt text that a
 * chat model was trained on, for the common template families, written out by hand rather than
 * by running the model's Jinja template (docs/inference.md "Chat templates").
 *
 * Invariants:
 * - The rendering of each family equals, byte for byte, what the family's reference Jinja
 *   template gives (tools/gen_chat_fixtures.py, tests/fixtures/chat/cases.json), the beginning-
 *   of-sequence text included where the template writes it (<s>, <|begin_of_text|>, <bos>), so
 *   the prompt is encoded with special tokens allowed and no BOS is added separately.
 * - The rendering of a conversation with add_generation_prompt is a prefix of the rendering of
 *   the same conversation with the assistant's reply added (whitespace-free at its ends), which
 *   lets a chat keep its KV cache from one turn to the next.
 * - Detection reads a template's distinctive markers only (as llama.cpp's llm_chat_detect_template
 *   does); it never runs the template. */
#ifndef HYPERLM_INFER_CHAT_H
#define HYPERLM_INFER_CHAT_H

#include <stddef.h>
#include <stdint.h>

#include "hyperlm/buf.h"
#include "hyperlm/error.h"
#include "infer/gguf.h"

typedef enum hlm_chat_template {
    HLM_CHAT_CHATML = 0, /* <|im_start|>role\n...<|im_end|>\n: Qwen, SmolLM, many fine-tunes */
    HLM_CHAT_LLAMA2,     /* <s>[INST] <<SYS>>\n...\n<</SYS>>\n\n... [/INST] ... </s> */
    HLM_CHAT_LLAMA3,     /* <|begin_of_text|><|start_header_id|>role<|end_header_id|>\n\n...<|eot_id|> */
    HLM_CHAT_GEMMA,      /* <bos><start_of_turn>user\n...<end_of_turn>\n, assistant as "model" */
    HLM_CHAT_PHI3,       /* <|user|>\n...<|end|>\n */
    HLM_CHAT_MISTRAL,    /* Mistral v1: <s> [INST] ... [/INST] ...</s> */
    HLM_CHAT_ZEPHYR,     /* <|user|>\n...</s>\n (HuggingFaceH4/zephyr-7b-beta) */
    HLM_CHAT_COUNT
} hlm_chat_template;

typedef struct hlm_chat_message {
    const char *role; /* "system", "user", "assistant" (chatml, llama3, phi3, zephyr take any) */
    const char *content;
} hlm_chat_message;

const char *hlm_chat_template_name(hlm_chat_template t);
/* The names of all templates, comma-separated, for messages and --help. */
const char *hlm_chat_template_names(void);
hlm_status hlm_chat_template_from_name(const char *name, hlm_chat_template *out, hlm_error *err);
/* The template from the text of a Jinja chat template (GGUF tokenizer.chat_template, Hugging
 * Face tokenizer_config.json's chat_template). HLM_ERR_INVALID naming the start of the text when
 * no family is recognized. */
hlm_status hlm_chat_template_detect(const char *text, size_t len, hlm_chat_template *out, hlm_error *err);
/* The text that ends a turn (<|im_end|>, </s>, <|eot_id|>, <end_of_turn>, <|end|>): a model that
 * has it as one token stops there. */
const char *hlm_chat_end_of_turn(hlm_chat_template t);

/* Appends the rendering of msgs[0..n) to out, then the start of the assistant's turn when
 * add_generation_prompt. HLM_ERR_INVALID for a conversation the template cannot express (llama2,
 * gemma, mistral: roles must alternate user / assistant after an optional first system message). */
hlm_status hlm_chat_render(hlm_chat_template t, const hlm_chat_message *msgs, size_t n,
                           int add_generation_prompt, hlm_buf *out, hlm_error *err);

/* What generation needs from a GGUF file's tokenizer metadata. */
typedef struct hlm_gguf_chat_info {
    int32_t eos_id;     /* tokenizer.ggml.eos_token_id; -1 when absent */
    int32_t eot_id;     /* tokenizer.ggml.eot_token_id; -1 when absent */
    char *template_text; /* tokenizer.chat_template (malloc'd, NUL-terminated); NULL when absent */
} hlm_gguf_chat_info;

hlm_status hlm_gguf_read_chat_info(const hlm_gguf_file *f, hlm_gguf_chat_info *info, hlm_error *err);
/* The same from a file's path (the file is opened and closed again). */
hlm_status hlm_gguf_read_chat_info_path(const char *path, hlm_gguf_chat_info *info, hlm_error *err);
void hlm_gguf_chat_info_free(hlm_gguf_chat_info *info);

#endif
