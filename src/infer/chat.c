/* Chat templates (chat.h). Each family's rendering follows one reference template, which
 * tools/gen_chat_fixtures.py writes as Jinja and renders with jinja2 for the tests:
 *   chatml   the ChatML of Qwen / SmolLM2: every message, any role, as is.
 *   llama2   Meta's Llama-2-chat template: system folded into the first user turn inside
 *            <<SYS>>, contents stripped of surrounding whitespace, <s> before every [INST].
 *   llama3   Meta's Llama-3-Instruct template: contents trimmed, <|begin_of_text|> once.
 *   gemma    Google's Gemma 3 template: a system message becomes the prefix (content + "\n\n") of
 *            the first user turn, user contents trimmed, assistant turns as "model".
 *   phi3     llama.cpp's Phi-3 rendering: <|role|>\n content <|end|>\n for every message.
 *   mistral  Mistral's v1 format as llama.cpp writes it (Mistral's cookbook): " [INST] ",
 *            system as its content + "\n\n" inside the turn, " [/INST]", " " reply "</s>".
 *   zephyr   HuggingFaceH4/zephyr-7b-beta: <|role|>\n content </s>\n.
 * "Trimmed"/"stripped" is Python's str.strip() on ASCII whitespace (space, \t, \n, \v, \f, \r and
 * \x1c-\x1f); other Unicode spaces are kept. */
#include "infer/chat.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static const char *const names[HLM_CHAT_COUNT] = {"chatml", "llama2", "llama3", "gemma", "phi3", "mistral", "zephyr"};
static const char *const end_of_turn[HLM_CHAT_COUNT] = {"<|im_end|>", "</s>", "<|eot_id|>", "<end_of_turn>",
                                                         "<|end|>", "</s>", "</s>"};

const char *hlm_chat_template_name(hlm_chat_template t)
{
    return (unsigned)t < HLM_CHAT_COUNT ? names[t] : "?";
}

const char *hlm_chat_template_names(void) { return "chatml, llama2, llama3, gemma, phi3, mistral, zephyr"; }

hlm_status hlm_chat_template_from_name(const char *name, hlm_chat_template *out, hlm_error *err)
{
    for (int i = 0; i < HLM_CHAT_COUNT; i++)
        if (!strcmp(name, names[i])) {
            *out = (hlm_chat_template)i;
            return HLM_OK;
        }
    return hlm_errorf(err, HLM_ERR_INVALID, "unknown chat template '%s' (expected one of %s)", name,
                      hlm_chat_template_names());
}

const char *hlm_chat_end_of_turn(hlm_chat_template t)
{
    return (unsigned)t < HLM_CHAT_COUNT ? end_of_turn[t] : "";
}

static int has(const char *text, size_t len, const char *marker)
{
    return memmem(text, len, marker, strlen(marker)) != NULL;
}

hlm_status hlm_chat_template_detect(const char *text, size_t len, hlm_chat_template *out, hlm_error *err)
{
    hlm_chat_template t = HLM_CHAT_COUNT;
    if (has(text, len, "<|im_start|>"))
        t = HLM_CHAT_CHATML;
    else if (has(text, len, "<|start_header_id|>") && has(text, len, "<|end_header_id|>"))
        t = HLM_CHAT_LLAMA3;
    else if (has(text, len, "<start_of_turn>"))
        t = HLM_CHAT_GEMMA;
    else if (has(text, len, "<|assistant|>") && has(text, len, "<|end|>"))
        t = HLM_CHAT_PHI3;
    else if (has(text, len, "<|assistant|>") && has(text, len, "<|user|>"))
        t = HLM_CHAT_ZEPHYR;
    else if (has(text, len, "[INST]") && has(text, len, "<<SYS>>"))
        t = HLM_CHAT_LLAMA2;
    else if (has(text, len, "[INST]") && !has(text, len, "[SYSTEM_PROMPT]") && !has(text, len, "[AVAILABLE_TOOLS]"))
        t = HLM_CHAT_MISTRAL;
    if (t != HLM_CHAT_COUNT) {
        *out = t;
        return HLM_OK;
    }
    /* name the template by its first 60 bytes, on one line */
    char start[64];
    size_t n = 0;
    for (size_t i = 0; i < len && n < 60; i++) start[n++] = text[i] == '\n' || text[i] == '\r' ? ' ' : text[i];
    start[n] = 0;
    return hlm_errorf(err, HLM_ERR_INVALID,
                      "chat template not recognized (it starts '%s%s'); choose one with --chat-template (%s)", start,
                      len > n ? "..." : "", hlm_chat_template_names());
}

/* ---- rendering ---- */

static int is_space(unsigned char c) { return c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1c && c <= 0x1f); }

typedef struct span {
    const char *p;
    size_t n;
} span;

static span trimmed(const char *s)
{
    size_t n = strlen(s), a = 0;
    while (a < n && is_space((unsigned char)s[a])) a++;
    while (n > a && is_space((unsigned char)s[n - 1])) n--;
    return (span){s + a, n - a};
}

/* Appends the NULL-terminated list of strings. */
static hlm_status put(hlm_buf *out, hlm_error *err, ...)
{
    va_list ap;
    va_start(ap, err);
    const char *s;
    hlm_status st = HLM_OK;
    while (!st && (s = va_arg(ap, const char *)) != NULL) st = hlm_buf_append(out, s, strlen(s));
    va_end(ap);
    return st ? hlm_errorf(err, HLM_ERR_NOMEM, "out of memory") : HLM_OK;
}

static hlm_status put_span(hlm_buf *out, span s, hlm_error *err)
{
    return hlm_buf_append(out, s.p, s.n) ? hlm_errorf(err, HLM_ERR_NOMEM, "out of memory") : HLM_OK;
}

#define PUT(...) put(out, err, __VA_ARGS__, (const char *)NULL)

/* The families whose turns must alternate: after an optional first system message, user at even
 * positions and assistant at odd ones. */
static hlm_status check_alternation(hlm_chat_template t, const hlm_chat_message *msgs, size_t n, hlm_error *err)
{
    size_t first = n > 0 && !strcmp(msgs[0].role, "system") ? 1 : 0;
    for (size_t i = first; i < n; i++) {
        const char *want = (i - first) % 2 == 0 ? "user" : "assistant";
        if (strcmp(msgs[i].role, want))
            return hlm_errorf(err, HLM_ERR_INVALID,
                              "chat template %s: message %zu has role '%s' where '%s' was expected (after an optional "
                              "first system message, roles alternate user/assistant)",
                              names[t], i + 1, msgs[i].role, want);
    }
    return HLM_OK;
}

hlm_status hlm_chat_render(hlm_chat_template t, const hlm_chat_message *msgs, size_t n,
                           int add_generation_prompt, hlm_buf *out, hlm_error *err)
{
    hlm_status st = HLM_OK;
    switch (t) {
    case HLM_CHAT_CHATML:
        for (size_t i = 0; !st && i < n; i++)
            st = PUT("<|im_start|>", msgs[i].role, "\n", msgs[i].content, "<|im_end|>\n");
        if (!st && add_generation_prompt) st = PUT("<|im_start|>assistant\n");
        return st;
    case HLM_CHAT_LLAMA2: {
        if ((st = check_alternation(t, msgs, n, err))) return st;
        size_t first = n > 0 && !strcmp(msgs[0].role, "system") ? 1 : 0;
        for (size_t i = first; !st && i < n; i++) {
            if (!strcmp(msgs[i].role, "user")) {
                st = PUT("<s>[INST] ");
                if (!st && i == 1 && first) {
                    /* the template strips "<<SYS>>\n" + system + "\n<</SYS>>\n\n" + user as a whole */
                    hlm_buf joined = {0};
                    st = put(&joined, err, "<<SYS>>\n", msgs[0].content, "\n<</SYS>>\n\n", msgs[i].content,
                             (const char *)NULL);
                    if (!st) st = hlm_buf_terminate(&joined) ? hlm_errorf(err, HLM_ERR_NOMEM, "out of memory") : HLM_OK;
                    if (!st) st = put_span(out, trimmed((const char *)joined.data), err);
                    hlm_buf_free(&joined);
                } else if (!st) {
                    st = put_span(out, trimmed(msgs[i].content), err);
                }
                if (!st) st = PUT(" [/INST]");
            } else {
                st = PUT(" ");
                if (!st) st = put_span(out, trimmed(msgs[i].content), err);
                if (!st) st = PUT(" </s>");
            }
        }
        return st;
    }
    case HLM_CHAT_LLAMA3:
        for (size_t i = 0; !st && i < n; i++) {
            st = PUT(i == 0 ? "<|begin_of_text|>" : "", "<|start_header_id|>", msgs[i].role, "<|end_header_id|>\n\n");
            if (!st) st = put_span(out, trimmed(msgs[i].content), err);
            if (!st) st = PUT("<|eot_id|>");
        }
        if (!st && add_generation_prompt) st = PUT("<|start_header_id|>assistant<|end_header_id|>\n\n");
        return st;
    case HLM_CHAT_GEMMA: {
        if ((st = check_alternation(t, msgs, n, err))) return st;
        size_t first = n > 0 && !strcmp(msgs[0].role, "system") ? 1 : 0;
        st = PUT("<bos>");
        for (size_t i = first; !st && i < n; i++) {
            int user = !strcmp(msgs[i].role, "user");
            st = PUT("<start_of_turn>", user ? "user" : "model", "\n");
            if (!st && i == first && first) st = PUT(msgs[0].content, "\n\n");
            if (!st) st = put_span(out, trimmed(msgs[i].content), err);
            if (!st) st = PUT("<end_of_turn>\n");
        }
        if (!st && add_generation_prompt) st = PUT("<start_of_turn>model\n");
        return st;
    }
    case HLM_CHAT_PHI3:
        for (size_t i = 0; !st && i < n; i++) st = PUT("<|", msgs[i].role, "|>\n", msgs[i].content, "<|end|>\n");
        if (!st && add_generation_prompt) st = PUT("<|assistant|>\n");
        return st;
    case HLM_CHAT_MISTRAL: {
        if ((st = check_alternation(t, msgs, n, err))) return st;
        st = PUT("<s>");
        int inside = 0;
        for (size_t i = 0; !st && i < n; i++) {
            if (!inside) {
                st = PUT(" [INST] ");
                inside = 1;
            }
            if (st) break;
            if (!strcmp(msgs[i].role, "system")) {
                st = PUT(msgs[i].content, "\n\n");
            } else if (!strcmp(msgs[i].role, "user")) {
                st = PUT(msgs[i].content, " [/INST]");
            } else {
                st = PUT(" ", msgs[i].content, "</s>");
                inside = 0;
            }
        }
        return st;
    }
    case HLM_CHAT_ZEPHYR:
        for (size_t i = 0; !st && i < n; i++) st = PUT("<|", msgs[i].role, "|>\n", msgs[i].content, "</s>\n");
        if (!st && add_generation_prompt) st = PUT("<|assistant|>\n");
        return st;
    default:
        return hlm_errorf(err, HLM_ERR_INVALID, "chat template %d: not a template", (int)t);
    }
}

/* ---- GGUF metadata ---- */

hlm_status hlm_gguf_read_chat_info(const hlm_gguf_file *f, hlm_gguf_chat_info *info, hlm_error *err)
{
    memset(info, 0, sizeof *info);
    info->eos_id = info->eot_id = -1;
    int32_t id;
    hlm_status st = HLM_OK;
    if (hlm_gguf_find(f, "tokenizer.ggml.eos_token_id")) {
        if ((st = hlm_gguf_get_i32(f, "tokenizer.ggml.eos_token_id", &id, err))) return st;
        info->eos_id = id;
    }
    if (hlm_gguf_find(f, "tokenizer.ggml.eot_token_id")) {
        if ((st = hlm_gguf_get_i32(f, "tokenizer.ggml.eot_token_id", &id, err))) return st;
        info->eot_id = id;
    }
    if (hlm_gguf_find(f, "tokenizer.chat_template")) {
        hlm_gguf_str s;
        if ((st = hlm_gguf_get_str(f, "tokenizer.chat_template", &s, err))) return st;
        info->template_text = malloc(s.len + 1);
        if (!info->template_text) return hlm_errorf(err, HLM_ERR_NOMEM, "out of memory");
        memcpy(info->template_text, s.ptr, s.len);
        info->template_text[s.len] = 0;
    }
    return HLM_OK;
}

hlm_status hlm_gguf_read_chat_info_path(const char *path, hlm_gguf_chat_info *info, hlm_error *err)
{
    memset(info, 0, sizeof *info);
    info->eos_id = info->eot_id = -1;
    hlm_gguf_file *f = NULL;
    hlm_status st = hlm_gguf_open(path, &f, err);
    if (!st) st = hlm_gguf_read_chat_info(f, info, err);
    hlm_gguf_close(f);
    return st;
}

void hlm_gguf_chat_info_free(hlm_gguf_chat_info *info)
{
    free(info->template_text);
    info->template_text = NULL;
}
