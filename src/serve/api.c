/* The server's request parser (api.h): bytes → cJSON → a validated hlm_api_request.
 *
 * Three passes, each for a reason:
 *   1. the raw body must be well-formed UTF-8 (cJSON copies bytes as they come, so a string
 *      with a stray byte would reach the tokenizer and the logs);
 *   2. cJSON parses it, then a lexical pass over the same bytes holds the text to RFC 8259
 *      where cJSON is lenient: it takes raw control bytes inside strings and any byte <= ' '
 *      as whitespace, numbers such as 01 and 1., and it decodes "\u0000" into a NUL that cuts
 *      the C string short (so "a\u0000b" would silently become "a");
 *   3. one pass over the object's keys, each dispatched through a table that says for which
 *      endpoints the key exists; then the checks that involve more than one key.
 *
 * Invariants: every value stored in the request has been checked (ranges, token ids below
 * vocab_size); every string in it is NUL-free UTF-8; everything it points to is owned by it,
 * and its counts (n_inputs, n_messages, n_stop) only ever cover what has been allocated, so
 * hlm_api_request_free is right at any point of a failed parse. */
#include "serve/api.h"

#include <cjson/cJSON.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text/unicode.h"

#define API_MAX_INPUTS 64 /* texts or token arrays in one "prompt" / "input" */
#define API_MAX_N 16
#define API_MAX_LOGPROBS 5      /* completions' "logprobs", OpenAI's limit */
#define API_MAX_TOP_LOGPROBS 20 /* chat's "top_logprobs", OpenAI's limit */

typedef struct api_ctx {
    hlm_api_request *r;
    hlm_api_error *e;
    int vocab_size;
    /* keys whose meaning depends on other keys, checked once the whole object is read */
    const char *max_tokens_key; /* "max_tokens" or "max_completion_tokens", whichever came */
    int stream_options_given, logprobs_given, top_logprobs_given, best_of_given;
} api_ctx;

/* ---- errors ---------------------------------------------------------------------------- */

/* The longest prefix of s[0..len) that does not end inside a UTF-8 sequence: the error's
 * fields are cut to their arrays' sizes and must stay valid UTF-8 for the JSON reply. */
static size_t utf8_whole_prefix(const char *s, size_t len)
{
    size_t i = len, cont = 0;
    while (i > 0 && cont < 3 && ((unsigned char)s[i - 1] & 0xC0) == 0x80) {
        i--;
        cont++;
    }
    if (i == 0) return len;
    unsigned char lead = (unsigned char)s[i - 1];
    size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
    return i - 1 + need <= len ? len : i - 1;
}

static void copy_cut(char *dst, size_t cap, const char *src)
{
    size_t n = strlen(src);
    if (n >= cap) n = utf8_whole_prefix(src, cap - 1);
    memcpy(dst, src, n);
    dst[n] = 0;
}

static hlm_status fail(api_ctx *c, const char *param, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static hlm_status fail(api_ctx *c, const char *param, const char *fmt, ...)
{
    char msg[1024]; /* larger than message[]: copy_cut then ends it on a character boundary */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    c->e->status = 400;
    c->e->type = "invalid_request_error";
    copy_cut(c->e->param, sizeof c->e->param, param);
    copy_cut(c->e->message, sizeof c->e->message, msg);
    return HLM_ERR_INVALID;
}

static hlm_status out_of_memory(api_ctx *c)
{
    c->e->status = 500;
    c->e->type = "server_error";
    c->e->param[0] = 0;
    snprintf(c->e->message, sizeof c->e->message, "The server ran out of memory while reading the request");
    return HLM_ERR_NOMEM;
}

/* A user's string quoted in a message, shortened so that the message keeps its point. */
typedef struct clipped {
    char s[52];
} clipped;

static clipped clip(const char *s)
{
    clipped c;
    size_t n = strlen(s);
    if (n < 48) {
        memcpy(c.s, s, n + 1);
        return c;
    }
    n = utf8_whole_prefix(s, 44);
    memcpy(c.s, s, n);
    memcpy(c.s + n, "...", 4);
    return c;
}

/* The shortest decimal form that reads back as v, so that a message never says "2 is greater
 * than the maximum of 2" about 2.0000001. */
typedef struct numtext {
    char s[40];
} numtext;

static numtext num(double v)
{
    numtext t;
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(t.s, sizeof t.s, "%.*g", prec, v);
        if (strtod(t.s, NULL) == v) break;
    }
    return t;
}

/* A parameter's JSON path ("messages[1].content[0].type"). Paths longer than the error's param
 * field are cut when copied there, so PATH_CAP only needs to hold what a message quotes. */
#define PATH_CAP 160

static void pathf(char *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void pathf(char *out, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out, PATH_CAP, fmt, ap);
    va_end(ap);
}

/* ---- values ---------------------------------------------------------------------------- */

static hlm_status dup_string(api_ctx *c, const char *s, char **out)
{
    *out = strdup(s);
    return *out ? HLM_OK : out_of_memory(c);
}

static hlm_status get_string(api_ctx *c, const cJSON *v, const char *name, char **out)
{
    if (!cJSON_IsString(v)) return fail(c, name, "'%s' must be a string", name);
    free(*out);
    *out = NULL;
    return dup_string(c, v->valuestring, out);
}

static hlm_status get_bool(api_ctx *c, const cJSON *v, const char *name, int *out)
{
    if (!cJSON_IsBool(v)) return fail(c, name, "'%s' must be a boolean", name);
    *out = cJSON_IsTrue(v);
    return HLM_OK;
}

/* A JSON number in [lo, hi], or (lo, hi] when lo_open. */
static hlm_status get_real(api_ctx *c, const cJSON *v, const char *name, double lo, double hi, int lo_open, float *out)
{
    if (!cJSON_IsNumber(v)) return fail(c, name, "'%s' must be a number", name);
    double x = v->valuedouble; /* cJSON gives inf for 1e999 */
    if (!isfinite(x)) return fail(c, name, "'%s' must be a finite number", name);
    if (lo_open && x <= lo) return fail(c, name, "'%s' must be greater than %s, got %s", name, num(lo).s, num(x).s);
    if (x < lo) return fail(c, name, "'%s': %s is less than the minimum of %s", name, num(x).s, num(lo).s);
    if (x > hi) return fail(c, name, "'%s': %s is greater than the maximum of %s", name, num(x).s, num(hi).s);
    *out = (float)x;
    return HLM_OK;
}

/* A JSON number with no fraction, in [lo, hi] (both exact in a double). The range is checked
 * on the double, so the conversion to int64 is always defined. */
static hlm_status get_int(api_ctx *c, const cJSON *v, const char *name, int64_t lo, int64_t hi, int64_t *out)
{
    double x = cJSON_IsNumber(v) ? v->valuedouble : 0.5;
    if (!isfinite(x) || x != floor(x)) return fail(c, name, "'%s' must be an integer", name);
    if (x < (double)lo)
        return fail(c, name, "'%s': %s is less than the minimum of %s", name, num(x).s, num((double)lo).s);
    if (x > (double)hi)
        return fail(c, name, "'%s': %s is greater than the maximum of %s", name, num(x).s, num((double)hi).s);
    *out = (int64_t)x;
    return HLM_OK;
}

static hlm_status get_int32(api_ctx *c, const cJSON *v, const char *name, int lo, int hi, int *out)
{
    int64_t x = 0;
    hlm_status st = get_int(c, v, name, lo, hi, &x);
    if (!st) *out = (int)x;
    return st;
}

/* The refusal of v at path, which is not a token id: an integer in [0, vocab_size). */
static hlm_status bad_token_id(api_ctx *c, const cJSON *v, const char *path)
{
    double x = cJSON_IsNumber(v) ? v->valuedouble : 0.5;
    if (!isfinite(x) || x != floor(x)) return fail(c, path, "'%s' must be an integer token id", path);
    return fail(c, path, "'%s': %s is not a token id of this model (expected 0 to %d)", path, num(x).s,
                c->vocab_size - 1);
}

/* The number of items of an array or object, counted up to cap (the caller's limit + 1 is
 * enough to say "too many" without walking a huge array). */
static size_t count_items(const cJSON *v, size_t cap)
{
    size_t n = 0;
    for (const cJSON *e = v->child; e && n < cap; e = e->next) n++;
    return n;
}

/* ---- inputs: prompt, input, tokens ----------------------------------------------------- */

static hlm_status alloc_inputs(api_ctx *c, size_t n)
{
    c->r->inputs = calloc(n, sizeof *c->r->inputs);
    if (!c->r->inputs) return out_of_memory(c);
    c->r->n_inputs = (int)n;
    return HLM_OK;
}

/* An array of token ids into in; an empty array only where empty_ok (ids is allocated even
 * then, so that text == NULL always comes with ids != NULL). */
static hlm_status parse_ids(api_ctx *c, const cJSON *arr, const char *path, int empty_ok, hlm_api_input *in)
{
    size_t n = count_items(arr, INT_MAX);
    if (n == 0 && !empty_ok) return fail(c, path, "'%s' must not be an empty array", path);
    if (n == INT_MAX) return fail(c, path, "'%s' has too many token ids", path);
    in->ids = malloc((n ? n : 1) * sizeof *in->ids);
    if (!in->ids) return out_of_memory(c);
    int i = 0;
    for (const cJSON *e = arr->child; e; e = e->next, i++) {
        double x = cJSON_IsNumber(e) ? e->valuedouble : -1;
        if (x >= 0 && x < (double)c->vocab_size && x == floor(x)) {
            in->ids[i] = (int32_t)x;
            in->n_ids = i + 1;
            continue;
        }
        char elem[PATH_CAP]; /* the path only for the message: prompts can hold many ids */
        pathf(elem, "%s[%d]", path, i);
        return bad_token_id(c, e, elem);
    }
    return HLM_OK;
}

/* "prompt" (completions) and "input" (embeddings): a string, an array of strings, an array of
 * token ids, or an array of arrays of token ids; the first item decides which array it is. An
 * empty text is refused unless empty_text_ok (an embedding of nothing means nothing). */
static hlm_status parse_inputs(api_ctx *c, const cJSON *v, int empty_text_ok)
{
    const char *name = v->string;
    if (cJSON_IsString(v)) {
        if (!empty_text_ok && !v->valuestring[0]) return fail(c, name, "'%s' must not be an empty string", name);
        hlm_status st = alloc_inputs(c, 1);
        return st ? st : dup_string(c, v->valuestring, &c->r->inputs[0].text);
    }
    if (!cJSON_IsArray(v))
        return fail(c, name,
                    "'%s' must be a string, an array of strings, an array of token ids or an array of arrays of "
                    "token ids",
                    name);
    const cJSON *first = v->child;
    if (!first) return fail(c, name, "'%s' must not be an empty array", name);
    if (cJSON_IsNumber(first)) {
        hlm_status st = alloc_inputs(c, 1);
        return st ? st : parse_ids(c, v, name, 0, &c->r->inputs[0]);
    }
    int texts = cJSON_IsString(first);
    char path[PATH_CAP];
    if (!texts && !cJSON_IsArray(first)) {
        pathf(path, "%s[0]", name);
        return fail(c, path, "'%s' must be a string, a token id or an array of token ids", path);
    }
    size_t n = count_items(v, API_MAX_INPUTS + 1);
    if (n > API_MAX_INPUTS) return fail(c, name, "'%s' has more than %d inputs", name, API_MAX_INPUTS);
    hlm_status st = alloc_inputs(c, n);
    int i = 0;
    for (const cJSON *e = first; e && !st; e = e->next, i++) {
        pathf(path, "%s[%d]", name, i);
        hlm_api_input *in = &c->r->inputs[i];
        if (texts && !cJSON_IsString(e))
            st = fail(c, path, "'%s' must be a string, as '%s[0]' is", path, name);
        else if (texts && !empty_text_ok && !e->valuestring[0])
            st = fail(c, path, "'%s' must not be an empty string", path);
        else if (texts)
            st = dup_string(c, e->valuestring, &in->text);
        else if (!cJSON_IsArray(e))
            st = fail(c, path, "'%s' must be an array of token ids, as '%s[0]' is", path, name);
        else
            st = parse_ids(c, e, path, 0, in);
    }
    return st;
}

static hlm_status key_prompt(api_ctx *c, const cJSON *v) { return parse_inputs(c, v, 1); }

static hlm_status key_input(api_ctx *c, const cJSON *v) { return parse_inputs(c, v, 0); }

/* /tokenize: "prompt" or "content" (llama.cpp's name), one string. */
static hlm_status key_tokenize_text(api_ctx *c, const cJSON *v)
{
    if (c->r->n_inputs) return fail(c, v->string, "Give either 'prompt' or 'content', not both");
    if (!cJSON_IsString(v)) return fail(c, v->string, "'%s' must be a string", v->string);
    hlm_status st = alloc_inputs(c, 1);
    return st ? st : dup_string(c, v->valuestring, &c->r->inputs[0].text);
}

/* /detokenize: "tokens", an array of ids (empty: the empty text). */
static hlm_status key_tokens(api_ctx *c, const cJSON *v)
{
    if (!cJSON_IsArray(v)) return fail(c, v->string, "'%s' must be an array of token ids", v->string);
    hlm_status st = alloc_inputs(c, 1);
    return st ? st : parse_ids(c, v, v->string, 1, &c->r->inputs[0]);
}

/* ---- chat messages --------------------------------------------------------------------- */

/* Roles a message may have; developer is OpenAI's newer name for system. */
static const char *message_role(const char *role)
{
    if (!strcmp(role, "system") || !strcmp(role, "developer")) return "system";
    if (!strcmp(role, "user")) return "user";
    if (!strcmp(role, "assistant")) return "assistant";
    return NULL;
}

/* One content part at path ("messages[i].content[j]"): only {"type": "text", "text": s}. The
 * type is judged before unknown keys so that an image part is named as an image part rather
 * than for its "image_url" key. */
static hlm_status check_part(api_ctx *c, const cJSON *p, const char *path, const char **text)
{
    char at[PATH_CAP];
    if (!cJSON_IsObject(p)) return fail(c, path, "'%s' must be an object with 'type' and 'text'", path);
    const cJSON *type = NULL, *txt = NULL, *unknown = NULL;
    for (const cJSON *k = p->child; k; k = k->next) {
        if (cJSON_IsNull(k)) continue;
        const cJSON **slot = !strcmp(k->string, "type") ? &type : !strcmp(k->string, "text") ? &txt : NULL;
        if (!slot) {
            if (!unknown) unknown = k;
            continue;
        }
        if (*slot) {
            pathf(at, "%s.%s", path, k->string);
            return fail(c, at, "'%s' is given more than once", at);
        }
        *slot = k;
    }
    pathf(at, "%s.type", path);
    if (!type) return fail(c, at, "Missing required parameter: '%s'.", at);
    if (!cJSON_IsString(type)) return fail(c, at, "'%s' must be a string", at);
    const char *t = type->valuestring;
    if (!strcmp(t, "image_url") || !strcmp(t, "input_audio") || !strcmp(t, "file") || !strcmp(t, "refusal"))
        return fail(c, at, "'%s': '%s' content is not supported by this server (text only)", at, t);
    if (strcmp(t, "text")) return fail(c, at, "'%s': '%s' is not a content part type (expected 'text')", at, clip(t).s);
    if (unknown) {
        pathf(at, "%s.%s", path, unknown->string);
        return fail(c, at, "Unrecognized request argument supplied: %s", at);
    }
    pathf(at, "%s.text", path);
    if (!txt) return fail(c, at, "Missing required parameter: '%s'.", at);
    if (!cJSON_IsString(txt)) return fail(c, at, "'%s' must be a string", at);
    *text = txt->valuestring;
    return HLM_OK;
}

/* The text of a part that check_part accepted (its one non-null "text"). */
static const char *part_text(const cJSON *p)
{
    for (const cJSON *k = p->child; k; k = k->next)
        if (cJSON_IsString(k) && !strcmp(k->string, "text")) return k->valuestring;
    return "";
}

/* An array of text parts, joined with nothing between them (as OpenAI renders them). */
static hlm_status join_parts(api_ctx *c, const cJSON *arr, const char *path, char **out)
{
    if (!arr->child) return fail(c, path, "'%s' must not be an empty array", path);
    size_t total = 0;
    int j = 0;
    for (const cJSON *p = arr->child; p; p = p->next, j++) {
        char at[PATH_CAP];
        pathf(at, "%s[%d]", path, j);
        const char *text = NULL;
        hlm_status st = check_part(c, p, at, &text);
        if (st) return st;
        total += strlen(text);
    }
    char *s = malloc(total + 1);
    if (!s) return out_of_memory(c);
    size_t at = 0;
    for (const cJSON *p = arr->child; p; p = p->next) {
        const char *text = part_text(p);
        size_t n = strlen(text);
        memcpy(s + at, text, n);
        at += n;
    }
    s[at] = 0;
    *out = s;
    return HLM_OK;
}

static hlm_status parse_content(api_ctx *c, const cJSON *v, const char *path, const char **out)
{
    char *s = NULL;
    hlm_status st;
    if (cJSON_IsString(v))
        st = dup_string(c, v->valuestring, &s);
    else if (cJSON_IsArray(v))
        st = join_parts(c, v, path, &s);
    else
        st = fail(c, path, "'%s' must be a string or an array of content parts", path);
    *out = s;
    return st;
}

/* Message keys OpenAI defines for tools, audio and refusals: named as unsupported. */
static int unsupported_message_key(const char *k)
{
    static const char *const keys[] = {"tool_calls", "tool_call_id", "function_call", "audio", "refusal"};
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
        if (!strcmp(k, keys[i])) return 1;
    return 0;
}

static hlm_status parse_message(api_ctx *c, const cJSON *m, int i, hlm_chat_message *out)
{
    char path[PATH_CAP], at[PATH_CAP];
    pathf(path, "messages[%d]", i);
    if (!cJSON_IsObject(m)) return fail(c, path, "'%s' must be an object with 'role' and 'content'", path);
    const cJSON *role = NULL, *content = NULL, *name = NULL;
    for (const cJSON *k = m->child; k; k = k->next) {
        if (cJSON_IsNull(k)) continue;
        pathf(at, "%s.%s", path, k->string);
        const cJSON **slot = !strcmp(k->string, "role")      ? &role
                             : !strcmp(k->string, "content") ? &content
                             : !strcmp(k->string, "name")    ? &name
                                                             : NULL;
        if (!slot && unsupported_message_key(k->string))
            return fail(c, at, "'%s' is not supported by this server", at);
        if (!slot) return fail(c, at, "Unrecognized request argument supplied: %s", at);
        if (*slot) return fail(c, at, "'%s' is given more than once", at);
        *slot = k;
    }
    pathf(at, "%s.role", path);
    if (!role) return fail(c, at, "Missing required parameter: '%s'.", at);
    if (!cJSON_IsString(role)) return fail(c, at, "'%s' must be a string", at);
    const char *r = role->valuestring;
    if (!strcmp(r, "tool") || !strcmp(r, "function"))
        return fail(c, at, "'%s': '%s' messages are not supported by this server", at, r);
    const char *known = message_role(r);
    if (!known)
        return fail(c, at, "'%s': '%s' is not one of 'system', 'developer', 'user', 'assistant'", at, clip(r).s);
    if (name && !cJSON_IsString(name)) {
        pathf(at, "%s.name", path);
        return fail(c, at, "'%s' must be a string", at);
    }
    pathf(at, "%s.content", path);
    /* content null would be an assistant turn with tool calls, which are not supported */
    if (!content) return fail(c, at, "Missing required parameter: '%s'.", at);
    char *role_copy = strdup(known);
    if (!role_copy) return out_of_memory(c);
    out->role = role_copy;
    return parse_content(c, content, at, &out->content);
}

static hlm_status key_messages(api_ctx *c, const cJSON *v)
{
    if (!cJSON_IsArray(v)) return fail(c, "messages", "'messages' must be an array of messages");
    size_t n = count_items(v, INT_MAX);
    if (n == 0) return fail(c, "messages", "'messages' must not be an empty array");
    if (n == INT_MAX) return fail(c, "messages", "'messages' has too many messages");
    c->r->messages = calloc(n, sizeof *c->r->messages);
    if (!c->r->messages) return out_of_memory(c);
    c->r->n_messages = (int)n;
    int i = 0;
    for (const cJSON *m = v->child; m; m = m->next, i++) {
        hlm_status st = parse_message(c, m, i, &c->r->messages[i]);
        if (st) return st;
    }
    return HLM_OK;
}

/* ---- generation parameters ------------------------------------------------------------- */

static hlm_status key_model(api_ctx *c, const cJSON *v) { return get_string(c, v, v->string, &c->r->model); }

static hlm_status key_user(api_ctx *c, const cJSON *v) { return get_string(c, v, v->string, &c->r->user); }

/* "max_tokens", and chat's newer name "max_completion_tokens": one of the two. */
static hlm_status key_max_tokens(api_ctx *c, const cJSON *v)
{
    if (c->max_tokens_key)
        return fail(c, v->string, "'%s' and '%s' cannot both be given; use 'max_completion_tokens'", c->max_tokens_key,
                    v->string);
    c->max_tokens_key = v->string;
    return get_int32(c, v, v->string, 1, INT_MAX, &c->r->max_tokens);
}

static hlm_status key_temperature(api_ctx *c, const cJSON *v)
{
    return get_real(c, v, v->string, 0, 2, 0, &c->r->sampling.temperature);
}

static hlm_status key_top_p(api_ctx *c, const cJSON *v)
{
    return get_real(c, v, v->string, 0, 1, 0, &c->r->sampling.top_p);
}

static hlm_status key_min_p(api_ctx *c, const cJSON *v)
{
    return get_real(c, v, v->string, 0, 1, 0, &c->r->sampling.min_p);
}

/* vLLM's -1 and 0 both mean "no top-k", as top_k <= 0 does in hlm_sampler_params. */
static hlm_status key_top_k(api_ctx *c, const cJSON *v)
{
    return get_int32(c, v, v->string, -1, INT_MAX, &c->r->sampling.top_k);
}

static hlm_status key_presence_penalty(api_ctx *c, const cJSON *v)
{
    return get_real(c, v, v->string, -2, 2, 0, &c->r->sampling.presence_penalty);
}

static hlm_status key_frequency_penalty(api_ctx *c, const cJSON *v)
{
    return get_real(c, v, v->string, -2, 2, 0, &c->r->sampling.frequency_penalty);
}

/* vLLM's "repetition_penalty" is the CTRL penalty the sampler calls repeat_penalty. */
static hlm_status key_repetition_penalty(api_ctx *c, const cJSON *v)
{
    hlm_status st = get_real(c, v, v->string, 0, FLT_MAX, 1, &c->r->sampling.repeat_penalty);
    /* a positive double can round to a float 0, which the sampler would refuse without a name */
    if (st == HLM_OK && !(c->r->sampling.repeat_penalty > 0))
        return fail(c, "repetition_penalty", "'repetition_penalty' must be greater than 0 (as a 32-bit float)");
    return st;
}

static hlm_status key_n(api_ctx *c, const cJSON *v) { return get_int32(c, v, v->string, 1, API_MAX_N, &c->r->n); }

static hlm_status key_stream(api_ctx *c, const cJSON *v) { return get_bool(c, v, v->string, &c->r->stream); }

/* {"include_usage": bool}; whether stream is true is checked once every key is read. */
static hlm_status key_stream_options(api_ctx *c, const cJSON *v)
{
    if (!cJSON_IsObject(v)) return fail(c, "stream_options", "'stream_options' must be an object");
    c->stream_options_given = 1;
    int seen = 0;
    for (const cJSON *k = v->child; k; k = k->next) {
        if (cJSON_IsNull(k)) continue;
        char at[PATH_CAP];
        pathf(at, "stream_options.%s", k->string);
        if (strcmp(k->string, "include_usage")) return fail(c, at, "Unrecognized request argument supplied: %s", at);
        if (seen++) return fail(c, at, "'%s' is given more than once", at);
        hlm_status st = get_bool(c, k, at, &c->r->include_usage);
        if (st) return st;
    }
    return HLM_OK;
}

/* A string, or an array of up to HLM_API_MAX_STOP strings; an empty stop string would stop
 * before the first token, so it is refused. */
static hlm_status key_stop(api_ctx *c, const cJSON *v)
{
    hlm_api_request *r = c->r;
    if (cJSON_IsString(v)) {
        if (!v->valuestring[0]) return fail(c, "stop", "'stop' must not be an empty string");
        hlm_status st = dup_string(c, v->valuestring, &r->stop[0]);
        if (!st) r->n_stop = 1;
        return st;
    }
    if (!cJSON_IsArray(v)) return fail(c, "stop", "'stop' must be a string or an array of strings");
    if (count_items(v, HLM_API_MAX_STOP + 1) > HLM_API_MAX_STOP)
        return fail(c, "stop", "'stop' has more than %d sequences", HLM_API_MAX_STOP);
    for (const cJSON *e = v->child; e; e = e->next) {
        char at[PATH_CAP];
        pathf(at, "stop[%d]", r->n_stop);
        if (!cJSON_IsString(e)) return fail(c, at, "'%s' must be a string", at);
        if (!e->valuestring[0]) return fail(c, at, "'%s' must not be an empty string", at);
        hlm_status st = dup_string(c, e->valuestring, &r->stop[r->n_stop]);
        if (st) return st;
        r->n_stop++;
    }
    return HLM_OK;
}

/* A key of logit_bias: a token id written in decimal digits (no sign, no spaces). Returns 0 and
 * the id, -1 when the key is not a decimal integer, -2 when it is too large for the model. */
static int bias_key_id(const char *k, int vocab_size, int32_t *id)
{
    if (!*k) return -1;
    int64_t x = 0;
    int too_large = 0;
    for (const char *p = k; *p; p++) {
        if (*p < '0' || *p > '9') return -1;
        x = x * 10 + (*p - '0');
        if (x >= vocab_size) { /* held at vocab_size, so that no number of digits overflows */
            too_large = 1;
            x = vocab_size;
        }
    }
    if (too_large) return -2;
    *id = (int32_t)x;
    return 0;
}

static hlm_status key_logit_bias(api_ctx *c, const cJSON *v)
{
    hlm_api_request *r = c->r;
    if (!cJSON_IsObject(v))
        return fail(c, "logit_bias", "'logit_bias' must be an object that maps token ids to biases");
    if (count_items(v, HLM_API_MAX_BIAS + 1) > HLM_API_MAX_BIAS)
        return fail(c, "logit_bias", "'logit_bias' has more than %d entries", HLM_API_MAX_BIAS);
    for (const cJSON *e = v->child; e; e = e->next) {
        char at[PATH_CAP];
        pathf(at, "logit_bias.%s", e->string);
        int32_t id = 0;
        int got = bias_key_id(e->string, c->vocab_size, &id);
        if (got == -1)
            return fail(c, at, "'logit_bias': the key '%s' is not a token id (a non-negative decimal integer)",
                        clip(e->string).s);
        if (got == -2)
            return fail(c, at, "'logit_bias': %s is not a token id of this model (expected 0 to %d)",
                        clip(e->string).s, c->vocab_size - 1);
        for (int j = 0; j < r->n_bias; j++)
            if (r->bias_ids[j] == id) return fail(c, at, "'logit_bias': token %d is given more than once", id);
        hlm_status st = get_real(c, e, at, -100, 100, 0, &r->bias_vals[r->n_bias]);
        if (st) return st;
        r->bias_ids[r->n_bias++] = id;
    }
    return HLM_OK;
}

/* Any integer a client may send as a seed: int64 (negative ones kept as two's complement) or
 * uint64. Beyond 2^53 a JSON number has already lost digits in the double, as in most clients. */
static hlm_status key_seed(api_ctx *c, const cJSON *v)
{
    double x = cJSON_IsNumber(v) ? v->valuedouble : 0.5;
    if (!isfinite(x) || x != floor(x)) return fail(c, "seed", "'seed' must be an integer");
    if (x < -9223372036854775808.0 || x >= 18446744073709551616.0)
        return fail(c, "seed", "'seed': %s is outside [-9223372036854775808, 18446744073709551615]", num(x).s);
    c->r->sampling.seed = x < 0 ? (uint64_t)(int64_t)x : (uint64_t)x;
    c->r->has_seed = 1;
    return HLM_OK;
}

/* completions: "logprobs" is how many alternatives to report per token (0: the chosen one). */
static hlm_status key_logprobs_completion(api_ctx *c, const cJSON *v)
{
    c->logprobs_given = 1;
    c->r->logprobs = 1;
    return get_int32(c, v, "logprobs", 0, API_MAX_LOGPROBS, &c->r->top_logprobs);
}

static hlm_status key_logprobs_chat(api_ctx *c, const cJSON *v)
{
    c->logprobs_given = 1;
    return get_bool(c, v, "logprobs", &c->r->logprobs);
}

static hlm_status key_top_logprobs(api_ctx *c, const cJSON *v)
{
    c->top_logprobs_given = 1;
    return get_int32(c, v, "top_logprobs", 0, API_MAX_TOP_LOGPROBS, &c->r->top_logprobs);
}

static hlm_status key_echo(api_ctx *c, const cJSON *v) { return get_bool(c, v, "echo", &c->r->echo); }

/* best_of 1 is what every request does anyway; more candidates per choice are not implemented. */
static hlm_status key_best_of(api_ctx *c, const cJSON *v)
{
    int best_of;
    hlm_status st = get_int32(c, v, "best_of", 1, 20, &best_of);
    if (st) return st;
    if (best_of != 1) return fail(c, "best_of", "'best_of' other than 1 is not supported by this server");
    c->best_of_given = 1;
    return HLM_OK;
}

/* Only {"type": "text"}, the default: JSON modes would need constrained decoding. */
static hlm_status key_response_format(api_ctx *c, const cJSON *v)
{
    if (!cJSON_IsObject(v)) return fail(c, "response_format", "'response_format' must be an object");
    const cJSON *type = NULL, *unknown = NULL;
    for (const cJSON *k = v->child; k; k = k->next) {
        if (cJSON_IsNull(k)) continue;
        if (strcmp(k->string, "type")) {
            if (!unknown) unknown = k;
        } else if (type) {
            return fail(c, "response_format.type", "'response_format.type' is given more than once");
        } else {
            type = k;
        }
    }
    if (!type) return fail(c, "response_format.type", "Missing required parameter: 'response_format.type'.");
    if (!cJSON_IsString(type)) return fail(c, "response_format.type", "'response_format.type' must be a string");
    if (strcmp(type->valuestring, "text"))
        return fail(c, "response_format.type", "'response_format' of type '%s' is not supported by this server",
                    clip(type->valuestring).s);
    if (unknown) {
        char at[PATH_CAP];
        pathf(at, "response_format.%s", unknown->string);
        return fail(c, at, "Unrecognized request argument supplied: %s", at);
    }
    return HLM_OK;
}

static hlm_status key_encoding_format(api_ctx *c, const cJSON *v)
{
    if (!cJSON_IsString(v)) return fail(c, "encoding_format", "'encoding_format' must be a string");
    const char *f = v->valuestring;
    if (strcmp(f, "float") && strcmp(f, "base64"))
        return fail(c, "encoding_format", "'encoding_format': '%s' is not one of 'float', 'base64'", clip(f).s);
    c->r->encoding_base64 = !strcmp(f, "base64");
    return HLM_OK;
}

static hlm_status key_add_special(api_ctx *c, const cJSON *v)
{
    return get_bool(c, v, "add_special_tokens", &c->r->add_special);
}

static hlm_status key_with_pieces(api_ctx *c, const cJSON *v)
{
    return get_bool(c, v, "with_pieces", &c->r->with_pieces);
}

/* ---- the key table --------------------------------------------------------------------- */

enum {
    K_CMPL = 1 << HLM_API_COMPLETION,
    K_CHAT = 1 << HLM_API_CHAT,
    K_EMB = 1 << HLM_API_EMBEDDING,
    K_TOK = 1 << HLM_API_TOKENIZE,
    K_DETOK = 1 << HLM_API_DETOKENIZE,
    K_GEN = K_CMPL | K_CHAT,
    K_ALL = K_CMPL | K_CHAT | K_EMB | K_TOK | K_DETOK,
};

typedef hlm_status (*key_fn)(api_ctx *c, const cJSON *v);

typedef struct key_rule {
    const char *name;
    unsigned kinds; /* the endpoints (K_*) where the key exists */
    key_fn parse;   /* NULL: an OpenAI parameter this server does not implement */
} key_rule;

/* A key found for no rule of the endpoint is "unrecognized", as OpenAI says of a key it does
 * not know; one found with parse NULL is named as unsupported, so that a client learns that
 * the server knows it and will not pretend to honour it. */
static const key_rule KEYS[] = {
    {"model", K_ALL, key_model},
    {"prompt", K_CMPL, key_prompt},
    {"prompt", K_TOK, key_tokenize_text},
    {"content", K_TOK, key_tokenize_text},
    {"messages", K_CHAT, key_messages},
    {"input", K_EMB, key_input},
    {"tokens", K_DETOK, key_tokens},
    {"user", K_GEN | K_EMB, key_user},
    {"max_tokens", K_GEN, key_max_tokens},
    {"max_completion_tokens", K_CHAT, key_max_tokens},
    {"temperature", K_GEN, key_temperature},
    {"top_p", K_GEN, key_top_p},
    {"top_k", K_GEN, key_top_k},
    {"min_p", K_GEN, key_min_p},
    {"presence_penalty", K_GEN, key_presence_penalty},
    {"frequency_penalty", K_GEN, key_frequency_penalty},
    {"repetition_penalty", K_GEN, key_repetition_penalty},
    {"n", K_GEN, key_n},
    {"stream", K_GEN, key_stream},
    {"stream_options", K_GEN, key_stream_options},
    {"stop", K_GEN, key_stop},
    {"logit_bias", K_GEN, key_logit_bias},
    {"seed", K_GEN, key_seed},
    {"logprobs", K_CMPL, key_logprobs_completion},
    {"logprobs", K_CHAT, key_logprobs_chat},
    {"top_logprobs", K_CHAT, key_top_logprobs},
    {"echo", K_CMPL, key_echo},
    {"best_of", K_CMPL, key_best_of},
    {"response_format", K_CHAT, key_response_format},
    {"encoding_format", K_EMB, key_encoding_format},
    {"add_special_tokens", K_TOK, key_add_special},
    {"with_pieces", K_TOK, key_with_pieces},
    /* OpenAI's, not implemented */
    {"suffix", K_CMPL, NULL},
    {"tools", K_CHAT, NULL},
    {"tool_choice", K_CHAT, NULL},
    {"parallel_tool_calls", K_CHAT, NULL},
    {"functions", K_CHAT, NULL},
    {"function_call", K_CHAT, NULL},
    {"audio", K_CHAT, NULL},
    {"modalities", K_CHAT, NULL},
    {"prediction", K_CHAT, NULL},
    {"store", K_CHAT, NULL},
    {"metadata", K_CHAT, NULL},
    {"reasoning_effort", K_CHAT, NULL},
    {"service_tier", K_GEN, NULL},
    {"web_search_options", K_CHAT, NULL},
    {"dimensions", K_EMB, NULL},
};

#define N_KEYS (int)(sizeof KEYS / sizeof *KEYS)
_Static_assert(sizeof KEYS / sizeof *KEYS <= 64, "the seen-set is one uint64_t");

static int find_rule(hlm_api_kind kind, const char *key)
{
    for (int i = 0; i < N_KEYS; i++)
        if ((KEYS[i].kinds >> kind & 1) && !strcmp(KEYS[i].name, key)) return i;
    return -1;
}

static const char *required_input(hlm_api_kind kind)
{
    switch (kind) {
    case HLM_API_COMPLETION: return "prompt";
    case HLM_API_CHAT: return "messages";
    case HLM_API_EMBEDDING: return "input";
    case HLM_API_TOKENIZE: return "content";
    case HLM_API_DETOKENIZE: return "tokens";
    }
    return "";
}

/* The checks that involve more than one key, or a key's absence. */
static hlm_status finish(api_ctx *c)
{
    hlm_api_request *r = c->r;
    int generates = r->kind == HLM_API_COMPLETION || r->kind == HLM_API_CHAT;
    if (!r->model && (generates || r->kind == HLM_API_EMBEDDING))
        return fail(c, "model", "Missing required parameter: 'model'.");
    if (!r->n_inputs && !r->n_messages) {
        const char *name = required_input(r->kind);
        if (r->kind == HLM_API_TOKENIZE)
            return fail(c, name, "Missing required parameter: 'content' (or 'prompt').");
        return fail(c, name, "Missing required parameter: '%s'.", name);
    }
    if (c->stream_options_given && !r->stream)
        return fail(c, "stream_options", "'stream_options' is only allowed when 'stream' is true");
    if (r->kind == HLM_API_CHAT && c->top_logprobs_given && !r->logprobs)
        return fail(c, "top_logprobs", "'top_logprobs' requires 'logprobs' to be true");
    if (r->echo && c->logprobs_given)
        return fail(c, "echo", "'echo' together with 'logprobs' is not supported by this server");
    if (c->best_of_given && r->n > 1)
        return fail(c, "best_of", "'best_of' (1) must be greater than or equal to 'n' (%d)", r->n);
    if (generates) {
        hlm_error err;
        if (hlm_sampler_params_check(&r->sampling, &err)) return fail(c, "", "%s", err.msg);
    }
    return HLM_OK;
}

static hlm_status parse_object(api_ctx *c, const cJSON *root)
{
    uint64_t seen = 0;
    for (const cJSON *v = root->child; v; v = v->next) {
        if (cJSON_IsNull(v)) continue; /* clients send null for "the default" */
        int k = find_rule(c->r->kind, v->string);
        if (k < 0) return fail(c, v->string, "Unrecognized request argument supplied: %s", v->string);
        if (!KEYS[k].parse) return fail(c, v->string, "'%s' is not supported by this server", v->string);
        if (seen >> k & 1) return fail(c, v->string, "'%s' is given more than once", v->string);
        seen |= (uint64_t)1 << k;
        hlm_status st = KEYS[k].parse(c, v);
        if (st) return st;
    }
    return finish(c);
}

/* ---- bytes ----------------------------------------------------------------------------- */

/* The offset of the first byte that is not part of well-formed UTF-8; len when there is none. */
static size_t utf8_invalid_at(const char *s, size_t len)
{
    const uint8_t *u = (const uint8_t *)s;
    size_t i = 0;
    while (i < len) {
        uint32_t cp;
        size_t n = hlm_utf8_decode_inline(u + i, len - i, &cp);
        if (cp == HLM_CP_INVALID) return i;
        i += n;
    }
    return len;
}

/* The length of the RFC 8259 number at s, which is the maximal run of number characters there
 * (cJSON accepted the text, so the run is the number it read); 0 when the run is not one:
 * -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static size_t json_number_len(const char *s, size_t len)
{
    size_t run = 0;
    while (run < len && s[run] && strchr("0123456789+-.eE", s[run])) run++;
    size_t i = 0;
#define DIGITS()                                                                                                       \
    while (i < run && s[i] >= '0' && s[i] <= '9') i++
    if (i < run && s[i] == '-') i++;
    if (i < run && s[i] == '0')
        i++;
    else if (i < run && s[i] >= '1' && s[i] <= '9')
        DIGITS();
    else
        return 0;
    if (i < run && s[i] == '.') {
        size_t d = ++i;
        DIGITS();
        if (i == d) return 0;
    }
    if (i < run && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < run && (s[i] == '+' || s[i] == '-')) i++;
        size_t d = i;
        DIGITS();
        if (i == d) return 0;
    }
#undef DIGITS
    return i == run ? run : 0;
}

static int json_space(unsigned char b) { return b == ' ' || b == '\t' || b == '\n' || b == '\r'; }

/* Holds text that cJSON accepted (s[0..end)) to RFC 8259, and refuses "\u0000"; see the top of
 * the file for why. Outside strings the text is structure, literals, numbers and whitespace,
 * so a '-' or digit there always starts a number. */
static hlm_status check_lexical(api_ctx *c, const char *s, size_t end)
{
    int in_string = 0;
    for (size_t i = 0; i < end; i++) {
        unsigned char b = (unsigned char)s[i];
        if (in_string) {
            if (b == '"') {
                in_string = 0;
            } else if (b == '\\') {
                if (i + 5 < end && !memcmp(s + i + 1, "u0000", 5))
                    return fail(c, "", "The request body has \\u0000 in a string (at byte %zu); NUL characters are not "
                                       "allowed", i);
                i++; /* the escaped character: \" and \\ must not end or start anything */
            } else if (b < 0x20) {
                return fail(c, "",
                            "The request body is not valid JSON: control character 0x%02x in a string at byte %zu "
                            "(it must be escaped)", b, i);
            }
        } else if (b == '"') {
            in_string = 1;
        } else if (b == '-' || (b >= '0' && b <= '9')) {
            size_t n = json_number_len(s + i, end - i);
            if (!n) return fail(c, "", "The request body is not valid JSON: malformed number at byte %zu", i);
            i += n - 1;
        } else if (b < 0x20 && !json_space(b)) {
            return fail(c, "", "The request body is not valid JSON: control character 0x%02x at byte %zu", b, i);
        }
    }
    return HLM_OK;
}

/* Bytes → a JSON object; *root is NULL on failure. */
static hlm_status parse_json(api_ctx *c, const char *body, size_t len, cJSON **root)
{
    *root = NULL;
    size_t bad = utf8_invalid_at(body, len);
    if (bad < len) return fail(c, "", "The request body is not valid UTF-8 (byte %zu)", bad);
    size_t start = 0;
    while (start < len && json_space((unsigned char)body[start])) start++;
    if (start == len) return fail(c, "", "The request body is empty; expected a JSON object");
    /* The length-bounded parse with return_parse_end: cJSON_GetErrorPtr is a global, not
     * thread-safe. (cJSON still writes that global on failure; nothing here reads it.) */
    const char *stop = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts(body, len, &stop, 0);
    if (!j) {
        size_t at = stop && stop >= body && stop <= body + len ? (size_t)(stop - body) : 0;
        return fail(c, "",
                    "We could not parse the JSON body of your request: it is not valid JSON (error near byte %zu)", at);
    }
    size_t end = (size_t)(stop - body);
    size_t tail = end;
    while (tail < len && json_space((unsigned char)body[tail])) tail++;
    hlm_status st = HLM_OK;
    if (tail < len)
        st = fail(c, "", "The request body is not valid JSON: unexpected data after the JSON value at byte %zu", tail);
    if (!st) st = check_lexical(c, body, end);
    if (!st && !cJSON_IsObject(j)) st = fail(c, "", "The request body must be a JSON object");
    if (st) {
        cJSON_Delete(j);
        return st;
    }
    *root = j;
    return HLM_OK;
}

/* ---- public ---------------------------------------------------------------------------- */

hlm_status hlm_api_parse(const char *body, size_t len, hlm_api_kind kind, int vocab_size, hlm_api_request *out,
                         hlm_api_error *aerr)
{
    memset(out, 0, sizeof *out);
    memset(aerr, 0, sizeof *aerr);
    api_ctx c = {.r = out, .e = aerr, .vocab_size = vocab_size};
    if ((unsigned)kind > HLM_API_DETOKENIZE) return fail(&c, "", "Unknown request kind %d", (int)kind);
    if (!body) len = 0;
    out->kind = kind;
    out->max_tokens = -1;
    out->n = 1;
    out->add_special = 1;
    /* OpenAI's sampling defaults over the sampler's (which are `hyperlm generate`'s) */
    hlm_sampler_params_default(&out->sampling);
    out->sampling.temperature = 1.0f;
    out->sampling.top_k = 0;
    out->sampling.top_p = 1.0f;
    out->sampling.min_p = 0.0f;

    cJSON *root;
    hlm_status st = parse_json(&c, body ? body : "", len, &root);
    if (!st) {
        st = parse_object(&c, root);
        cJSON_Delete(root);
    }
    if (st) hlm_api_request_free(out);
    return st;
}

void hlm_api_request_free(hlm_api_request *r)
{
    if (!r) return;
    free(r->model);
    for (int i = 0; r->inputs && i < r->n_inputs; i++) {
        free(r->inputs[i].text);
        free(r->inputs[i].ids);
    }
    free(r->inputs);
    for (int i = 0; r->messages && i < r->n_messages; i++) {
        free((char *)r->messages[i].role);
        free((char *)r->messages[i].content);
    }
    free(r->messages);
    for (int i = 0; i < HLM_API_MAX_STOP; i++) free(r->stop[i]);
    free(r->user);
    memset(r, 0, sizeof *r);
}

char *hlm_api_error_json(const hlm_api_error *aerr)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *e = cJSON_AddObjectToObject(root, "error");
    int ok = e && cJSON_AddStringToObject(e, "message", aerr->message) &&
             cJSON_AddStringToObject(e, "type", aerr->type ? aerr->type : "invalid_request_error") &&
             (aerr->param[0] ? cJSON_AddStringToObject(e, "param", aerr->param) != NULL
                             : cJSON_AddNullToObject(e, "param") != NULL) &&
             cJSON_AddNullToObject(e, "code");
    char *printed = ok ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    /* copied so that the caller frees with free() whatever allocator cJSON was given */
    char *s = printed ? strdup(printed) : NULL;
    cJSON_free(printed);
    return s;
}
