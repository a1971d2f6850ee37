/* The server's request parser (src/serve/api.c): every form of every input, each range just
 * inside and just outside its bounds (OpenAI's published limits), unknown and unsupported keys
 * named, nulls as absent, and bodies that are not JSON, not UTF-8 or not an object. A failure
 * must name the parameter (param) and leave the request empty. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serve/api.h"
#include "text/unicode.h"

#define VOCAB 1000

static const hlm_api_kind CMPL = HLM_API_COMPLETION, CHAT = HLM_API_CHAT, EMB = HLM_API_EMBEDDING,
                          TOK = HLM_API_TOKENIZE, DETOK = HLM_API_DETOKENIZE;

static int is_zero(const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i]) return 0;
    return 1;
}

/* Parses json (len bytes) and expects success. */
static void ok_n(hlm_api_kind kind, const char *json, size_t len, hlm_api_request *r)
{
    hlm_api_error e;
    hlm_status st = hlm_api_parse(json, len, kind, VOCAB, r, &e);
    if (st) fail_msg("%s\n  refused: %s (param '%s')", json, e.message, e.param);
    assert_int_equal(r->kind, kind);
}

static void ok(hlm_api_kind kind, const char *json, hlm_api_request *r) { ok_n(kind, json, strlen(json), r); }

/* Parses and frees: for cases that only need to be accepted. */
static void accepts(hlm_api_kind kind, const char *json)
{
    hlm_api_request r;
    ok(kind, json, &r);
    hlm_api_request_free(&r);
}

/* Expects a 400 naming param whose message contains want, and an empty request. */
static void refuses_n(hlm_api_kind kind, const char *json, size_t len, const char *param, const char *want)
{
    hlm_api_request r;
    hlm_api_error e;
    memset(&r, 0x5A, sizeof r);
    hlm_status st = hlm_api_parse(json, len, kind, VOCAB, &r, &e);
    if (st != HLM_ERR_INVALID) fail_msg("%.*s\n  expected a refusal naming '%s', got status %d", (int)len, json, param, st);
    if (strcmp(e.param, param) || !strstr(e.message, want))
        fail_msg("%.*s\n  expected param '%s' and a message with \"%s\"\n  got param '%s': %s", (int)len, json, param,
                 want, e.param, e.message);
    assert_int_equal(e.status, 400);
    assert_string_equal(e.type, "invalid_request_error");
    assert_true(is_zero(&r, sizeof r));
    assert_true(hlm_utf8_valid((const uint8_t *)e.message, strlen(e.message)));
    assert_true(hlm_utf8_valid((const uint8_t *)e.param, strlen(e.param)));
    hlm_api_request_free(&r);
}

static void refuses(hlm_api_kind kind, const char *json, const char *param, const char *want)
{
    refuses_n(kind, json, strlen(json), param, want);
}

/* A completion request {"model":"m","prompt":"p",EXTRA} */
static const char *cmpl(const char *extra)
{
    static char buf[4096];
    snprintf(buf, sizeof buf, "{\"model\":\"m\",\"prompt\":\"p\"%s%s}", *extra ? "," : "", extra);
    return buf;
}

static const char *chat(const char *extra)
{
    static char buf[4096];
    snprintf(buf, sizeof buf, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]%s%s}",
             *extra ? "," : "", extra);
    return buf;
}

/* ---- inputs ---------------------------------------------------------------------------- */

static void test_completion_defaults(void **state)
{
    (void)state;
    hlm_api_request r;
    ok(CMPL, "{\"model\":\"tiny\",\"prompt\":\"Once upon\"}", &r);
    assert_string_equal(r.model, "tiny");
    assert_int_equal(r.n_inputs, 1);
    assert_string_equal(r.inputs[0].text, "Once upon");
    assert_int_equal(r.max_tokens, -1);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.stream, 0);
    assert_int_equal(r.n_stop, 0);
    assert_int_equal(r.n_bias, 0);
    assert_int_equal(r.has_seed, 0);
    assert_int_equal(r.logprobs, 0);
    assert_null(r.user);
    /* OpenAI's defaults, not `hyperlm generate`'s */
    assert_float_equal(r.sampling.temperature, 1.0f, 0);
    assert_int_equal(r.sampling.top_k, 0);
    assert_float_equal(r.sampling.top_p, 1.0f, 0);
    assert_float_equal(r.sampling.min_p, 0.0f, 0);
    assert_float_equal(r.sampling.repeat_penalty, 1.0f, 0);
    assert_int_equal(r.sampling.repeat_last_n, 64);
    assert_float_equal(r.sampling.presence_penalty, 0.0f, 0);
    assert_float_equal(r.sampling.frequency_penalty, 0.0f, 0);
    hlm_api_request_free(&r);
    assert_true(is_zero(&r, sizeof r));
    hlm_api_request_free(&r); /* freeing twice is harmless */
}

static void test_prompt_forms(void **state)
{
    (void)state;
    hlm_api_request r;
    ok(CMPL, "{\"model\":\"m\",\"prompt\":\"\"}", &r); /* an empty prompt is allowed */
    assert_int_equal(r.n_inputs, 1);
    assert_string_equal(r.inputs[0].text, "");
    hlm_api_request_free(&r);

    ok(CMPL, "{\"model\":\"m\",\"prompt\":[\"a\",\"\",\"c\\u00e9\\ud83d\\ude00\"]}", &r);
    assert_int_equal(r.n_inputs, 3);
    assert_string_equal(r.inputs[0].text, "a");
    assert_string_equal(r.inputs[1].text, "");
    assert_string_equal(r.inputs[2].text, "c\xc3\xa9\xf0\x9f\x98\x80");
    hlm_api_request_free(&r);

    ok(CMPL, "{\"model\":\"m\",\"prompt\":[0,5,999]}", &r);
    assert_int_equal(r.n_inputs, 1);
    assert_null(r.inputs[0].text);
    assert_int_equal(r.inputs[0].n_ids, 3);
    assert_int_equal(r.inputs[0].ids[0], 0);
    assert_int_equal(r.inputs[0].ids[1], 5);
    assert_int_equal(r.inputs[0].ids[2], 999);
    hlm_api_request_free(&r);

    ok(CMPL, "{\"model\":\"m\",\"prompt\":[[1,2],[3],[4.0,5,6]]}", &r);
    assert_int_equal(r.n_inputs, 3);
    assert_int_equal(r.inputs[0].n_ids, 2);
    assert_int_equal(r.inputs[1].n_ids, 1);
    assert_int_equal(r.inputs[1].ids[0], 3);
    assert_int_equal(r.inputs[2].n_ids, 3);
    assert_int_equal(r.inputs[2].ids[0], 4); /* 4.0 is an integer */
    hlm_api_request_free(&r);
}

static void test_prompt_errors(void **state)
{
    (void)state;
    refuses(CMPL, "{\"model\":\"m\"}", "prompt", "Missing required parameter: 'prompt'");
    refuses(CMPL, "{\"model\":\"m\",\"prompt\":null}", "prompt", "Missing required parameter");
    refuses(CMPL, "{\"model\":\"m\",\"prompt\":[]}", "prompt", "must not be an empty array");
    refuses(CMPL, "{\"model\":\"m\",\"prompt\":{}}", "prompt", "must be a string, an array of strings");
    refuses(CMPL, "{\"model\":\"m\",\"prompt\":7}", "prompt", "must be a string");
    refuses(CMPL, "{\"model\":\"m\",\"prompt\":[true]}", "prompt[0]", "must be a string, a token id or an array");
    refuses(CMPL, "{\"model\":\"m\",\"prompt\":[null]}", "prompt[0]", "must be a string, a token id");
    refuses(CMPL, "{\"model\":\"m\",\"prompt\":[\"a\",1]}", "prompt[1]", "must be a string, as 'prompt[0]' is");
    refuses(CMPL, "{\"model\":\"m\",\"prompt\":[1,\"a\"]}", "prompt[1]", "must be an integer token id");
    refuses(CMPL, "{\"model\":\"m\",\"prompt\":[1,2.5]}", "prompt[1]", "must be an integer token id");
    refuses(CMPL, "{\"model\":\"m\",\"prompt\":[[1],[2,\"x\"]]}", "prompt[1][1]", "must be an integer token id");
    refuses(CMPL, "{\"model\":\"m\",\"prompt\":[[1],2]}", "prompt[1]", "must be an array of token ids");
    refuses(CMPL, "{\"model\":\"m\",\"prompt\":[[1],[]]}", "prompt[1]", "must not be an empty array");
    /* token ids: [0, vocab_size) */
    refuses(CMPL, "{\"model\":\"m\",\"prompt\":[1000]}", "prompt[0]", "1000 is not a token id of this model (expected 0 to 999)");
    refuses(CMPL, "{\"model\":\"m\",\"prompt\":[-1]}", "prompt[0]", "-1 is not a token id");
    refuses(CMPL, "{\"model\":\"m\",\"prompt\":[[5],[1,1e300]]}", "prompt[1][1]", "1e+300 is not a token id");
    refuses(CMPL, "{\"model\":\"m\",\"prompt\":[1e999]}", "prompt[0]", "must be an integer token id");
}

/* 64 inputs are allowed, 65 are not. */
static void test_prompt_count(void **state)
{
    (void)state;
    char buf[2048];
    for (int count = 64; count <= 65; count++) {
        for (int ids = 0; ids <= 1; ids++) {
            int at = snprintf(buf, sizeof buf, "{\"model\":\"m\",\"prompt\":[");
            for (int i = 0; i < count; i++) at += snprintf(buf + at, sizeof buf - at, "%s%s", i ? "," : "", ids ? "[1]" : "\"x\"");
            snprintf(buf + at, sizeof buf - at, "]}");
            if (count == 64) {
                hlm_api_request r;
                ok(CMPL, buf, &r);
                assert_int_equal(r.n_inputs, 64);
                hlm_api_request_free(&r);
            } else {
                refuses(CMPL, buf, "prompt", "more than 64 inputs");
            }
        }
    }
}

static void test_embedding_input(void **state)
{
    (void)state;
    hlm_api_request r;
    ok(EMB, "{\"model\":\"e\",\"input\":\"hello\"}", &r);
    assert_int_equal(r.n_inputs, 1);
    assert_string_equal(r.inputs[0].text, "hello");
    assert_int_equal(r.encoding_base64, 0);
    hlm_api_request_free(&r);
    ok(EMB, "{\"model\":\"e\",\"input\":[\"a\",\"b\"],\"encoding_format\":\"base64\",\"user\":\"u1\"}", &r);
    assert_int_equal(r.n_inputs, 2);
    assert_int_equal(r.encoding_base64, 1);
    assert_string_equal(r.user, "u1");
    hlm_api_request_free(&r);
    ok(EMB, "{\"model\":\"e\",\"input\":[3,4],\"encoding_format\":\"float\"}", &r);
    assert_int_equal(r.inputs[0].n_ids, 2);
    assert_int_equal(r.encoding_base64, 0);
    hlm_api_request_free(&r);
    ok(EMB, "{\"model\":\"e\",\"input\":[[3],[4,5]]}", &r);
    assert_int_equal(r.n_inputs, 2);
    assert_int_equal(r.inputs[1].ids[1], 5);
    hlm_api_request_free(&r);

    refuses(EMB, "{\"model\":\"e\",\"input\":\"\"}", "input", "must not be an empty string");
    refuses(EMB, "{\"model\":\"e\",\"input\":[\"a\",\"\"]}", "input[1]", "must not be an empty string");
    refuses(EMB, "{\"model\":\"e\"}", "input", "Missing required parameter: 'input'");
    refuses(EMB, "{\"input\":\"x\"}", "model", "Missing required parameter: 'model'");
    refuses(EMB, "{\"model\":\"e\",\"input\":[1000]}", "input[0]", "not a token id");
    refuses(EMB, "{\"model\":\"e\",\"input\":\"x\",\"encoding_format\":\"int8\"}", "encoding_format",
            "'int8' is not one of 'float', 'base64'");
    refuses(EMB, "{\"model\":\"e\",\"input\":\"x\",\"dimensions\":64}", "dimensions", "not supported by this server");
    refuses(EMB, "{\"model\":\"e\",\"input\":\"x\",\"temperature\":1}", "temperature",
            "Unrecognized request argument supplied: temperature");
}

static void test_tokenize(void **state)
{
    (void)state;
    hlm_api_request r;
    ok(TOK, "{\"content\":\"Hello world\"}", &r);
    assert_int_equal(r.n_inputs, 1);
    assert_string_equal(r.inputs[0].text, "Hello world");
    assert_int_equal(r.add_special, 1);
    assert_int_equal(r.with_pieces, 0);
    assert_null(r.model);
    hlm_api_request_free(&r);
    ok(TOK, "{\"model\":\"m\",\"prompt\":\"\",\"add_special_tokens\":false,\"with_pieces\":true}", &r);
    assert_string_equal(r.inputs[0].text, "");
    assert_string_equal(r.model, "m");
    assert_int_equal(r.add_special, 0);
    assert_int_equal(r.with_pieces, 1);
    hlm_api_request_free(&r);

    refuses(TOK, "{\"content\":\"a\",\"prompt\":\"b\"}", "prompt", "not both");
    refuses(TOK, "{}", "content", "Missing required parameter: 'content' (or 'prompt')");
    refuses(TOK, "{\"content\":[1,2]}", "content", "'content' must be a string");
    refuses(TOK, "{\"content\":\"a\",\"add_special_tokens\":1}", "add_special_tokens", "must be a boolean");
    refuses(TOK, "{\"content\":\"a\",\"with_pieces\":\"yes\"}", "with_pieces", "must be a boolean");
    refuses(TOK, "{\"content\":\"a\",\"model\":5}", "model", "'model' must be a string");
    refuses(TOK, "{\"content\":\"a\",\"temperature\":1}", "temperature", "Unrecognized request argument supplied");
}

static void test_detokenize(void **state)
{
    (void)state;
    hlm_api_request r;
    ok(DETOK, "{\"tokens\":[1,2,999]}", &r);
    assert_int_equal(r.n_inputs, 1);
    assert_null(r.inputs[0].text);
    assert_int_equal(r.inputs[0].n_ids, 3);
    assert_int_equal(r.inputs[0].ids[2], 999);
    hlm_api_request_free(&r);
    ok(DETOK, "{\"tokens\":[],\"model\":\"m\"}", &r); /* the empty text */
    assert_int_equal(r.n_inputs, 1);
    assert_int_equal(r.inputs[0].n_ids, 0);
    assert_non_null(r.inputs[0].ids);
    hlm_api_request_free(&r);

    refuses(DETOK, "{}", "tokens", "Missing required parameter: 'tokens'");
    refuses(DETOK, "{\"tokens\":\"1 2\"}", "tokens", "must be an array of token ids");
    refuses(DETOK, "{\"tokens\":[1,1000]}", "tokens[1]", "not a token id of this model");
    refuses(DETOK, "{\"tokens\":[[1]]}", "tokens[0]", "must be an integer token id");
    refuses(DETOK, "{\"tokens\":[1],\"content\":\"x\"}", "content", "Unrecognized");
}

/* ---- chat ------------------------------------------------------------------------------ */

static void test_chat_messages(void **state)
{
    (void)state;
    hlm_api_request r;
    ok(CHAT,
       "{\"model\":\"m\",\"messages\":["
       "{\"role\":\"developer\",\"content\":\"Be brief.\"},"
       "{\"role\":\"system\",\"content\":[{\"type\":\"text\",\"text\":\"Sys\"}]},"
       "{\"role\":\"user\",\"name\":\"ann\",\"content\":[{\"type\":\"text\",\"text\":\"Hel\"},"
       "{\"text\":\"lo\",\"type\":\"text\"},{\"type\":\"text\",\"text\":\"\"}]},"
       "{\"role\":\"assistant\",\"content\":\"\"}]}",
       &r);
    assert_int_equal(r.n_messages, 4);
    assert_string_equal(r.messages[0].role, "system"); /* developer is rendered as system */
    assert_string_equal(r.messages[0].content, "Be brief.");
    assert_string_equal(r.messages[1].role, "system");
    assert_string_equal(r.messages[1].content, "Sys");
    assert_string_equal(r.messages[2].role, "user");
    assert_string_equal(r.messages[2].content, "Hello"); /* parts joined with nothing between */
    assert_string_equal(r.messages[3].role, "assistant");
    assert_string_equal(r.messages[3].content, "");
    assert_int_equal(r.n_inputs, 0);
    hlm_api_request_free(&r);
}

static void test_chat_message_errors(void **state)
{
    (void)state;
#define MSGS(m) "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}," m "]}"
    refuses(CHAT, "{\"model\":\"m\"}", "messages", "Missing required parameter: 'messages'");
    refuses(CHAT, "{\"model\":\"m\",\"messages\":[]}", "messages", "must not be an empty array");
    refuses(CHAT, "{\"model\":\"m\",\"messages\":\"hi\"}", "messages", "must be an array");
    refuses(CHAT, MSGS("\"hi\""), "messages[1]", "must be an object with 'role' and 'content'");
    refuses(CHAT, MSGS("{\"content\":\"x\"}"), "messages[1].role", "Missing required parameter: 'messages[1].role'");
    refuses(CHAT, MSGS("{\"role\":\"user\"}"), "messages[1].content", "Missing required parameter");
    refuses(CHAT, MSGS("{\"role\":\"assistant\",\"content\":null}"), "messages[1].content", "Missing required");
    refuses(CHAT, MSGS("{\"role\":1,\"content\":\"x\"}"), "messages[1].role", "must be a string");
    refuses(CHAT, MSGS("{\"role\":\"tool\",\"content\":\"x\"}"), "messages[1].role", "'tool' messages are not supported");
    refuses(CHAT, MSGS("{\"role\":\"function\",\"content\":\"x\"}"), "messages[1].role", "not supported");
    refuses(CHAT, MSGS("{\"role\":\"robot\",\"content\":\"x\"}"), "messages[1].role",
            "'robot' is not one of 'system', 'developer', 'user', 'assistant'");
    refuses(CHAT, MSGS("{\"role\":\"User\",\"content\":\"x\"}"), "messages[1].role", "is not one of");
    refuses(CHAT, MSGS("{\"role\":\"user\",\"content\":5}"), "messages[1].content",
            "must be a string or an array of content parts");
    refuses(CHAT, MSGS("{\"role\":\"user\",\"content\":[]}"), "messages[1].content", "must not be an empty array");
    refuses(CHAT, MSGS("{\"role\":\"user\",\"content\":\"x\",\"name\":3}"), "messages[1].name", "must be a string");
    refuses(CHAT, MSGS("{\"role\":\"assistant\",\"content\":\"x\",\"tool_calls\":[]}"), "messages[1].tool_calls",
            "'messages[1].tool_calls' is not supported by this server");
    refuses(CHAT, MSGS("{\"role\":\"user\",\"content\":\"x\",\"mood\":\"ok\"}"), "messages[1].mood",
            "Unrecognized request argument supplied: messages[1].mood");
    refuses(CHAT, MSGS("{\"role\":\"user\",\"role\":\"user\",\"content\":\"x\"}"), "messages[1].role",
            "given more than once");
    /* content parts */
    refuses(CHAT, MSGS("{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"a\"},"
                       "{\"type\":\"image_url\",\"image_url\":{\"url\":\"http://x\"}}]}"),
            "messages[1].content[1].type", "'image_url' content is not supported by this server");
    refuses(CHAT, MSGS("{\"role\":\"user\",\"content\":[{\"type\":\"input_audio\",\"input_audio\":{}}]}"),
            "messages[1].content[0].type", "'input_audio' content is not supported");
    refuses(CHAT, MSGS("{\"role\":\"user\",\"content\":[{\"type\":\"video\"}]}"), "messages[1].content[0].type",
            "'video' is not a content part type");
    refuses(CHAT, MSGS("{\"role\":\"user\",\"content\":[{\"text\":\"a\"}]}"), "messages[1].content[0].type",
            "Missing required parameter: 'messages[1].content[0].type'");
    refuses(CHAT, MSGS("{\"role\":\"user\",\"content\":[{\"type\":\"text\"}]}"), "messages[1].content[0].text",
            "Missing required parameter");
    refuses(CHAT, MSGS("{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":[\"a\"]}]}"),
            "messages[1].content[0].text", "must be a string");
    refuses(CHAT, MSGS("{\"role\":\"user\",\"content\":[{\"type\":1,\"text\":\"a\"}]}"), "messages[1].content[0].type",
            "must be a string");
    refuses(CHAT, MSGS("{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"a\",\"cache\":1}]}"),
            "messages[1].content[0].cache", "Unrecognized request argument supplied: messages[1].content[0].cache");
    refuses(CHAT, MSGS("{\"role\":\"user\",\"content\":[\"a\"]}"), "messages[1].content[0]",
            "must be an object with 'type' and 'text'");
    refuses(CHAT, MSGS("{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"a\",\"text\":\"b\"}]}"),
            "messages[1].content[0].text", "given more than once");
#undef MSGS
}

/* ---- ranges ---------------------------------------------------------------------------- */

typedef struct range_case {
    hlm_api_kind kind;
    const char *extra; /* added to a valid request */
    const char *param; /* NULL: accepted */
    const char *want;
} range_case;

static void test_ranges(void **state)
{
    (void)state;
    static const range_case cases[] = {
        {CMPL, "\"temperature\":0", NULL, NULL},
        {CMPL, "\"temperature\":2", NULL, NULL},
        {CMPL, "\"temperature\":3.5", "temperature", "'temperature': 3.5 is greater than the maximum of 2"},
        {CMPL, "\"temperature\":2.0000001", "temperature", "2.0000001 is greater than the maximum of 2"},
        {CMPL, "\"temperature\":-0.01", "temperature", "'temperature': -0.01 is less than the minimum of 0"},
        {CMPL, "\"temperature\":\"1\"", "temperature", "'temperature' must be a number"},
        {CMPL, "\"temperature\":true", "temperature", "'temperature' must be a number"},
        {CMPL, "\"temperature\":1e999", "temperature", "must be a finite number"},
        {CHAT, "\"temperature\":-1e999", "temperature", "must be a finite number"},
        {CHAT, "\"top_p\":0", NULL, NULL},
        {CHAT, "\"top_p\":1", NULL, NULL},
        {CHAT, "\"top_p\":1.01", "top_p", "1.01 is greater than the maximum of 1"},
        {CHAT, "\"top_p\":-0.5", "top_p", "-0.5 is less than the minimum of 0"},
        {CMPL, "\"presence_penalty\":-2", NULL, NULL},
        {CMPL, "\"presence_penalty\":2", NULL, NULL},
        {CMPL, "\"presence_penalty\":-2.01", "presence_penalty", "less than the minimum of -2"},
        {CMPL, "\"presence_penalty\":2.01", "presence_penalty", "greater than the maximum of 2"},
        {CHAT, "\"frequency_penalty\":-2", NULL, NULL},
        {CHAT, "\"frequency_penalty\":2", NULL, NULL},
        {CHAT, "\"frequency_penalty\":-2.5", "frequency_penalty", "less than the minimum of -2"},
        {CHAT, "\"frequency_penalty\":2.5", "frequency_penalty", "greater than the maximum of 2"},
        {CMPL, "\"n\":1", NULL, NULL},
        {CMPL, "\"n\":16", NULL, NULL},
        {CMPL, "\"n\":0", "n", "'n': 0 is less than the minimum of 1"},
        {CHAT, "\"n\":17", "n", "'n': 17 is greater than the maximum of 16"},
        {CHAT, "\"n\":1.5", "n", "'n' must be an integer"},
        {CHAT, "\"n\":\"3\"", "n", "'n' must be an integer"},
        {CHAT, "\"n\":true", "n", "'n' must be an integer"},
        {CHAT, "\"n\":1e300", "n", "1e+300 is greater than the maximum of 16"},
        {CHAT, "\"n\":1e999", "n", "'n' must be an integer"},
        {CMPL, "\"max_tokens\":1", NULL, NULL},
        {CMPL, "\"max_tokens\":2147483647", NULL, NULL},
        {CMPL, "\"max_tokens\":0", "max_tokens", "0 is less than the minimum of 1"},
        {CMPL, "\"max_tokens\":2147483648", "max_tokens", "2147483648 is greater than the maximum of 2147483647"},
        {CHAT, "\"max_completion_tokens\":0", "max_completion_tokens", "less than the minimum of 1"},
        {CMPL, "\"top_k\":-1", NULL, NULL},
        {CMPL, "\"top_k\":0", NULL, NULL},
        {CMPL, "\"top_k\":50", NULL, NULL},
        {CMPL, "\"top_k\":-2", "top_k", "-2 is less than the minimum of -1"},
        {CMPL, "\"top_k\":4.5", "top_k", "'top_k' must be an integer"},
        {CHAT, "\"min_p\":0", NULL, NULL},
        {CHAT, "\"min_p\":1", NULL, NULL},
        {CHAT, "\"min_p\":1.5", "min_p", "greater than the maximum of 1"},
        {CHAT, "\"min_p\":-0.1", "min_p", "less than the minimum of 0"},
        {CMPL, "\"repetition_penalty\":0.01", NULL, NULL},
        {CMPL, "\"repetition_penalty\":1.3", NULL, NULL},
        {CMPL, "\"repetition_penalty\":0", "repetition_penalty", "must be greater than 0, got 0"},
        {CMPL, "\"repetition_penalty\":-1", "repetition_penalty", "must be greater than 0"},
        {CMPL, "\"repetition_penalty\":1e300", "repetition_penalty", "greater than the maximum"},
        {CMPL, "\"logprobs\":0", NULL, NULL},
        {CMPL, "\"logprobs\":5", NULL, NULL},
        {CMPL, "\"logprobs\":6", "logprobs", "'logprobs': 6 is greater than the maximum of 5"},
        {CMPL, "\"logprobs\":-1", "logprobs", "less than the minimum of 0"},
        {CMPL, "\"logprobs\":true", "logprobs", "'logprobs' must be an integer"},
        {CHAT, "\"logprobs\":1", "logprobs", "'logprobs' must be a boolean"},
        {CHAT, "\"logprobs\":true,\"top_logprobs\":0", NULL, NULL},
        {CHAT, "\"logprobs\":true,\"top_logprobs\":20", NULL, NULL},
        {CHAT, "\"logprobs\":true,\"top_logprobs\":21", "top_logprobs", "21 is greater than the maximum of 20"},
        {CHAT, "\"logprobs\":true,\"top_logprobs\":-1", "top_logprobs", "less than the minimum of 0"},
        {CMPL, "\"seed\":-9223372036854775808", NULL, NULL},
        {CMPL, "\"seed\":18446744073709549568", NULL, NULL}, /* the largest double below 2^64 */
        {CMPL, "\"seed\":18446744073709551616", "seed", "is outside"},
        {CMPL, "\"seed\":-9223372036854777856", "seed", "is outside"},
        {CMPL, "\"seed\":1.5", "seed", "'seed' must be an integer"},
        {CMPL, "\"seed\":\"42\"", "seed", "'seed' must be an integer"},
        {CMPL, "\"stream\":1", "stream", "'stream' must be a boolean"},
        {CMPL, "\"echo\":\"yes\"", "echo", "'echo' must be a boolean"},
        {CMPL, "\"user\":5", "user", "'user' must be a string"},
        {CMPL, "\"best_of\":1", NULL, NULL},
        {CMPL, "\"best_of\":0", "best_of", "less than the minimum of 1"},
        {CMPL, "\"best_of\":2", "best_of", "'best_of' other than 1 is not supported by this server"},
        {CMPL, "\"best_of\":1,\"n\":2", "best_of", "must be greater than or equal to 'n'"},
        {CMPL, "\"best_of\":1.5", "best_of", "must be an integer"},
        {CMPL, "\"model\":\"x\"", "model", "given more than once"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const range_case *t = &cases[i];
        const char *json = t->kind == CMPL ? cmpl(t->extra) : chat(t->extra);
        if (t->param)
            refuses(t->kind, json, t->param, t->want);
        else
            accepts(t->kind, json);
    }
}

static void test_values_stored(void **state)
{
    (void)state;
    hlm_api_request r;
    ok(CMPL,
       cmpl("\"max_tokens\":7,\"temperature\":0.5,\"top_p\":0.9,\"top_k\":40,\"min_p\":0.05,"
            "\"presence_penalty\":-1.5,\"frequency_penalty\":0.25,\"repetition_penalty\":1.1,\"n\":3,"
            "\"seed\":-1,\"stream\":true,\"user\":\"u\",\"best_of\":null"),
       &r);
    assert_int_equal(r.max_tokens, 7);
    assert_float_equal(r.sampling.temperature, 0.5f, 0);
    assert_float_equal(r.sampling.top_p, 0.9f, 0);
    assert_int_equal(r.sampling.top_k, 40);
    assert_float_equal(r.sampling.min_p, 0.05f, 0);
    assert_float_equal(r.sampling.presence_penalty, -1.5f, 0);
    assert_float_equal(r.sampling.frequency_penalty, 0.25f, 0);
    assert_float_equal(r.sampling.repeat_penalty, 1.1f, 0);
    assert_int_equal(r.sampling.repeat_last_n, 64);
    assert_int_equal(r.n, 3);
    assert_int_equal(r.has_seed, 1);
    assert_true(r.sampling.seed == UINT64_MAX); /* -1 as two's complement */
    assert_int_equal(r.stream, 1);
    assert_int_equal(r.include_usage, 0);
    assert_string_equal(r.user, "u");
    hlm_api_request_free(&r);

    ok(CMPL, cmpl("\"seed\":12345"), &r);
    assert_true(r.sampling.seed == 12345);
    hlm_api_request_free(&r);
    ok(CMPL, cmpl("\"seed\":-9223372036854775808"), &r);
    assert_true(r.sampling.seed == (uint64_t)1 << 63);
    hlm_api_request_free(&r);
    ok(CMPL, cmpl("\"seed\":18446744073709549568"), &r);
    assert_true(r.sampling.seed == 18446744073709549568u);
    hlm_api_request_free(&r);
}

/* ---- keys ------------------------------------------------------------------------------ */

static void test_unknown_and_unsupported(void **state)
{
    (void)state;
    refuses(CMPL, cmpl("\"foo\":1"), "foo", "Unrecognized request argument supplied: foo");
    refuses(CHAT, chat("\"functions\":[]"), "functions", "'functions' is not supported by this server");
    /* functions is a chat parameter: on completions it is simply unknown */
    refuses(CMPL, cmpl("\"functions\":[]"), "functions", "Unrecognized request argument supplied: functions");
    refuses(CMPL, cmpl("\"messages\":[]"), "messages", "Unrecognized request argument supplied: messages");
    refuses(CHAT, chat("\"prompt\":\"x\""), "prompt", "Unrecognized request argument supplied: prompt");
    refuses(CHAT, chat("\"echo\":true"), "echo", "Unrecognized");
    refuses(CMPL, cmpl("\"top_logprobs\":2"), "top_logprobs", "Unrecognized");
    refuses(CMPL, cmpl("\"max_completion_tokens\":5"), "max_completion_tokens", "Unrecognized");
    refuses(CMPL, cmpl("\"suffix\":\"end\""), "suffix", "'suffix' is not supported by this server");
    static const char *const chat_unsupported[] = {"tools", "tool_choice", "function_call", "parallel_tool_calls",
                                                   "audio", "modalities", "prediction", "store", "metadata",
                                                   "reasoning_effort", "service_tier", "web_search_options"};
    for (size_t i = 0; i < sizeof chat_unsupported / sizeof *chat_unsupported; i++) {
        char extra[96];
        snprintf(extra, sizeof extra, "\"%s\":{}", chat_unsupported[i]);
        refuses(CHAT, chat(extra), chat_unsupported[i], "is not supported by this server");
    }
    /* response_format: only text */
    accepts(CHAT, chat("\"response_format\":{\"type\":\"text\"}"));
    refuses(CHAT, chat("\"response_format\":{\"type\":\"json_object\"}"), "response_format.type",
            "'response_format' of type 'json_object' is not supported by this server");
    refuses(CHAT, chat("\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{}}"), "response_format.type",
            "'json_schema' is not supported");
    refuses(CHAT, chat("\"response_format\":{}"), "response_format.type", "Missing required parameter");
    refuses(CHAT, chat("\"response_format\":\"text\""), "response_format", "must be an object");
    refuses(CHAT, chat("\"response_format\":{\"type\":\"text\",\"strict\":true}"), "response_format.strict",
            "Unrecognized");
    /* the key is matched exactly */
    refuses(CMPL, cmpl("\"Temperature\":1"), "Temperature", "Unrecognized request argument supplied: Temperature");
    refuses(CMPL, cmpl("\"temperature\":1,\"temperature\":1"), "temperature", "given more than once");
}

static void test_nulls_are_absent(void **state)
{
    (void)state;
    hlm_api_request r;
    ok(CHAT,
       "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"a\","
       "\"cache\":null,\"text\":null}],\"name\":null,\"tool_calls\":null}],\"temperature\":null,\"tools\":null,"
       "\"tool_choice\":null,\"unknown_thing\":null,\"stop\":null,\"n\":null,\"stream_options\":null,"
       "\"max_tokens\":null,\"max_completion_tokens\":4,\"top_logprobs\":null,\"response_format\":null,"
       "\"logit_bias\":null,\"seed\":null}",
       &r);
    assert_float_equal(r.sampling.temperature, 1.0f, 0);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.n_stop, 0);
    assert_int_equal(r.has_seed, 0);
    assert_int_equal(r.max_tokens, 4);
    assert_string_equal(r.messages[0].content, "a");
    hlm_api_request_free(&r);
    /* a null then a value: the value counts, once */
    ok(CMPL, cmpl("\"temperature\":null,\"temperature\":0.5"), &r);
    assert_float_equal(r.sampling.temperature, 0.5f, 0);
    hlm_api_request_free(&r);
    refuses(CMPL, "{\"model\":null,\"prompt\":\"x\"}", "model", "Missing required parameter: 'model'");
    refuses(CHAT, chat("\"stream_options\":{\"include_usage\":null,\"foo\":1},\"stream\":true"), "stream_options.foo",
            "Unrecognized");
}

static void test_model(void **state)
{
    (void)state;
    refuses(CMPL, "{\"prompt\":\"x\"}", "model", "Missing required parameter: 'model'.");
    refuses(CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", "model", "Missing required parameter");
    refuses(CMPL, "{\"model\":[\"m\"],\"prompt\":\"x\"}", "model", "'model' must be a string");
    accepts(DETOK, "{\"tokens\":[1]}");
}

static void test_stop(void **state)
{
    (void)state;
    hlm_api_request r;
    ok(CMPL, cmpl("\"stop\":\"\\n\\n\""), &r);
    assert_int_equal(r.n_stop, 1);
    assert_string_equal(r.stop[0], "\n\n");
    hlm_api_request_free(&r);
    ok(CHAT, chat("\"stop\":[\"a\",\"bb\",\"ccc\",\"</s>\"]"), &r);
    assert_int_equal(r.n_stop, 4);
    assert_string_equal(r.stop[3], "</s>");
    hlm_api_request_free(&r);
    ok(CHAT, chat("\"stop\":[]"), &r);
    assert_int_equal(r.n_stop, 0);
    hlm_api_request_free(&r);
    refuses(CHAT, chat("\"stop\":[\"a\",\"b\",\"c\",\"d\",\"e\"]"), "stop", "'stop' has more than 4 sequences");
    refuses(CHAT, chat("\"stop\":\"\""), "stop", "must not be an empty string");
    refuses(CHAT, chat("\"stop\":[\"a\",\"\"]"), "stop[1]", "'stop[1]' must not be an empty string");
    refuses(CHAT, chat("\"stop\":[\"a\",\"b\",7]"), "stop[2]", "'stop[2]' must be a string");
    refuses(CHAT, chat("\"stop\":5"), "stop", "must be a string or an array of strings");
}

static void test_logit_bias(void **state)
{
    (void)state;
    hlm_api_request r;
    ok(CMPL, cmpl("\"logit_bias\":{\"1\":5,\"999\":-100,\"0\":100,\"42\":0.5}"), &r);
    assert_int_equal(r.n_bias, 4);
    assert_int_equal(r.bias_ids[0], 1);
    assert_float_equal(r.bias_vals[0], 5.0f, 0);
    assert_int_equal(r.bias_ids[1], 999);
    assert_float_equal(r.bias_vals[1], -100.0f, 0);
    assert_int_equal(r.bias_ids[2], 0);
    assert_float_equal(r.bias_vals[2], 100.0f, 0);
    assert_float_equal(r.bias_vals[3], 0.5f, 0);
    hlm_api_request_free(&r);
    ok(CHAT, chat("\"logit_bias\":{}"), &r);
    assert_int_equal(r.n_bias, 0);
    hlm_api_request_free(&r);

    refuses(CMPL, cmpl("\"logit_bias\":{\"abc\":1}"), "logit_bias.abc", "the key 'abc' is not a token id");
    refuses(CMPL, cmpl("\"logit_bias\":{\"-1\":1}"), "logit_bias.-1", "is not a token id");
    refuses(CMPL, cmpl("\"logit_bias\":{\" 1\":1}"), "logit_bias. 1", "is not a token id");
    refuses(CMPL, cmpl("\"logit_bias\":{\"\":1}"), "logit_bias.", "is not a token id");
    refuses(CMPL, cmpl("\"logit_bias\":{\"1.0\":1}"), "logit_bias.1.0", "is not a token id");
    refuses(CMPL, cmpl("\"logit_bias\":{\"1000\":1}"), "logit_bias.1000",
            "1000 is not a token id of this model (expected 0 to 999)");
    refuses(CMPL, cmpl("\"logit_bias\":{\"99999\":1}"), "logit_bias.99999", "not a token id of this model");
    refuses(CMPL, cmpl("\"logit_bias\":{\"123456789012345678901234567890\":1}"),
            "logit_bias.123456789012345678901234567890", "not a token id of this model");
    refuses(CMPL, cmpl("\"logit_bias\":{\"5\":100.5}"), "logit_bias.5", "100.5 is greater than the maximum of 100");
    refuses(CMPL, cmpl("\"logit_bias\":{\"5\":-101}"), "logit_bias.5", "-101 is less than the minimum of -100");
    refuses(CMPL, cmpl("\"logit_bias\":{\"5\":\"1\"}"), "logit_bias.5", "'logit_bias.5' must be a number");
    refuses(CMPL, cmpl("\"logit_bias\":{\"5\":null}"), "logit_bias.5", "must be a number");
    refuses(CMPL, cmpl("\"logit_bias\":{\"5\":1,\"05\":2}"), "logit_bias.05", "token 5 is given more than once");
    refuses(CMPL, cmpl("\"logit_bias\":[1]"), "logit_bias", "must be an object");

    /* 300 entries are allowed, 301 are not */
    static char buf[16384];
    for (int count = 300; count <= 301; count++) {
        int at = snprintf(buf, sizeof buf, "{\"model\":\"m\",\"prompt\":\"p\",\"logit_bias\":{");
        for (int i = 0; i < count; i++) at += snprintf(buf + at, sizeof buf - at, "%s\"%d\":1", i ? "," : "", i);
        snprintf(buf + at, sizeof buf - at, "}}");
        if (count == 300) {
            ok(CMPL, buf, &r);
            assert_int_equal(r.n_bias, 300);
            assert_int_equal(r.bias_ids[299], 299);
            hlm_api_request_free(&r);
        } else {
            refuses(CMPL, buf, "logit_bias", "more than 300 entries");
        }
    }
}

static void test_stream_options(void **state)
{
    (void)state;
    hlm_api_request r;
    ok(CHAT, chat("\"stream\":true,\"stream_options\":{\"include_usage\":true}"), &r);
    assert_int_equal(r.stream, 1);
    assert_int_equal(r.include_usage, 1);
    hlm_api_request_free(&r);
    ok(CMPL, cmpl("\"stream_options\":{},\"stream\":true"), &r); /* order does not matter */
    assert_int_equal(r.include_usage, 0);
    hlm_api_request_free(&r);
    refuses(CHAT, chat("\"stream_options\":{\"include_usage\":true}"), "stream_options",
            "'stream_options' is only allowed when 'stream' is true");
    refuses(CMPL, cmpl("\"stream\":false,\"stream_options\":{\"include_usage\":true}"), "stream_options",
            "only allowed when 'stream' is true");
    refuses(CHAT, chat("\"stream\":true,\"stream_options\":{\"include_usage\":\"yes\"}"),
            "stream_options.include_usage", "must be a boolean");
    refuses(CHAT, chat("\"stream\":true,\"stream_options\":{\"continuous_usage_stats\":true}"),
            "stream_options.continuous_usage_stats", "Unrecognized request argument supplied");
    refuses(CHAT, chat("\"stream\":true,\"stream_options\":true"), "stream_options", "must be an object");
}

static void test_logprobs(void **state)
{
    (void)state;
    hlm_api_request r;
    ok(CHAT, chat("\"logprobs\":true,\"top_logprobs\":5"), &r);
    assert_int_equal(r.logprobs, 1);
    assert_int_equal(r.top_logprobs, 5);
    hlm_api_request_free(&r);
    ok(CHAT, chat("\"top_logprobs\":3,\"logprobs\":true"), &r);
    assert_int_equal(r.top_logprobs, 3);
    hlm_api_request_free(&r);
    ok(CMPL, cmpl("\"logprobs\":3"), &r);
    assert_int_equal(r.logprobs, 1);
    assert_int_equal(r.top_logprobs, 3);
    hlm_api_request_free(&r);
    ok(CMPL, cmpl("\"logprobs\":0"), &r);
    assert_int_equal(r.logprobs, 1);
    assert_int_equal(r.top_logprobs, 0);
    hlm_api_request_free(&r);
    ok(CMPL, cmpl("\"echo\":true,\"logprobs\":null"), &r);
    assert_int_equal(r.echo, 1);
    assert_int_equal(r.logprobs, 0);
    hlm_api_request_free(&r);
    accepts(CMPL, cmpl("\"echo\":false,\"logprobs\":2"));

    refuses(CHAT, chat("\"top_logprobs\":2"), "top_logprobs", "'top_logprobs' requires 'logprobs' to be true");
    refuses(CHAT, chat("\"logprobs\":false,\"top_logprobs\":2"), "top_logprobs", "requires 'logprobs'");
    refuses(CMPL, cmpl("\"echo\":true,\"logprobs\":1"), "echo", "'echo' together with 'logprobs' is not supported");
    refuses(CMPL, cmpl("\"logprobs\":0,\"echo\":true"), "echo", "not supported");
}

static void test_max_tokens_alias(void **state)
{
    (void)state;
    hlm_api_request r;
    ok(CHAT, chat("\"max_completion_tokens\":9"), &r);
    assert_int_equal(r.max_tokens, 9);
    hlm_api_request_free(&r);
    ok(CHAT, chat("\"max_tokens\":8"), &r);
    assert_int_equal(r.max_tokens, 8);
    hlm_api_request_free(&r);
    refuses(CHAT, chat("\"max_tokens\":8,\"max_completion_tokens\":9"), "max_completion_tokens",
            "'max_tokens' and 'max_completion_tokens' cannot both be given");
    refuses(CHAT, chat("\"max_completion_tokens\":9,\"max_tokens\":8"), "max_tokens", "cannot both be given");
}

/* ---- bodies ---------------------------------------------------------------------------- */

static void test_body_not_json(void **state)
{
    (void)state;
    refuses(CMPL, "{\"model\":\"m\",", "", "not valid JSON");
    refuses(CMPL, "{\"model\":}", "", "error near byte 9");
    refuses(CMPL, "{'model':'m'}", "", "not valid JSON");
    refuses(CMPL, "", "", "The request body is empty");
    refuses(CMPL, " \n\t", "", "The request body is empty");
    refuses_n(CMPL, NULL, 0, "", "The request body is empty");
    refuses(CMPL, "[1,2]", "", "The request body must be a JSON object");
    refuses(CMPL, "\"hello\"", "", "must be a JSON object");
    refuses(CMPL, "42", "", "must be a JSON object");
    refuses(CMPL, "null", "", "must be a JSON object");
    refuses(CMPL, "{\"model\":\"m\",\"prompt\":\"x\"} {}", "", "unexpected data after the JSON value at byte 27");
    refuses(CMPL, "{\"model\":\"m\",\"prompt\":\"x\"}x", "", "unexpected data after");
    /* lengths are respected: the same text cut short is not JSON */
    refuses_n(CMPL, "{\"model\":\"m\",\"prompt\":\"x\"}", 20, "", "not valid JSON");
    /* whitespace around the object is fine */
    accepts(CMPL, " \r\n{\"model\":\"m\",\"prompt\":\"x\"}\n ");
    /* what cJSON takes and RFC 8259 does not */
    refuses(CMPL, cmpl("\"n\":01"), "", "malformed number");
    refuses(CMPL, cmpl("\"n\":1."), "", "malformed number");
    refuses(CMPL, cmpl("\"n\":-01"), "", "malformed number");
    refuses(CMPL, cmpl("\"temperature\":1.e1"), "", "malformed number");
    accepts(CMPL, cmpl("\"temperature\":-0,\"top_p\":1E-1,\"min_p\":5e-1,\"n\":1e0,\"top_k\":2E+1"));
    refuses(CMPL, "{\"model\":\"m\",\"prompt\":\"a\tb\"}", "", "control character 0x09 in a string");
    refuses(CMPL, "{\"model\":\"m\",\x01\"prompt\":\"x\"}", "", "control character 0x01 at byte 13");
    /* a NUL byte inside the body (counted in len) */
#define WITH_NUL(lit) lit, sizeof lit - 1
    refuses_n(CMPL, WITH_NUL("{\"model\":\"m\",\"prompt\":\"x\"}\0"), "", "unexpected data after the JSON value at byte 26");
    refuses_n(CMPL, WITH_NUL("{\"model\":\"m\",\"prompt\":\"x\0y\"}"), "", "control character 0x00 in a string at byte 24");
    refuses_n(CMPL, WITH_NUL("{\"model\":\"m\",\0\"prompt\":\"x\"}"), "", "control character 0x00 at byte 13");
#undef WITH_NUL
}

static void test_body_bytes(void **state)
{
    (void)state;
    /* invalid UTF-8: a stray byte, an overlong, a surrogate, a truncated sequence */
    refuses(CMPL, "{\"model\":\"m\",\"prompt\":\"a\xff\"}", "", "not valid UTF-8 (byte 24)");
    refuses(CMPL, "{\"model\":\"m\",\"prompt\":\"\xc0\xaf\"}", "", "not valid UTF-8");
    refuses(CMPL, "{\"model\":\"m\",\"prompt\":\"\xed\xa0\x80\"}", "", "not valid UTF-8");
    refuses(CMPL, "{\"model\":\"m\",\"prompt\":\"\xe2\x82\"}", "", "not valid UTF-8");
    refuses(CMPL, "{\"model\":\"m\",\"x\xff\":1}", "", "not valid UTF-8");
    /* escaped lone surrogates are not text either (cJSON refuses them) */
    refuses(CMPL, "{\"model\":\"m\",\"prompt\":\"\\ud800\"}", "", "not valid JSON");
    refuses(CMPL, "{\"model\":\"m\",\"prompt\":\"\\udc00\\ud800\"}", "", "not valid JSON");
    /* \u0000 would cut the string short */
    refuses(CMPL, "{\"model\":\"m\",\"prompt\":\"a\\u0000b\"}", "", "\\u0000");
    refuses(CMPL, "{\"model\":\"m\",\"prompt\":\"x\",\"stop\":[\"\\u0000\"]}", "", "NUL characters are not allowed");
    refuses(CMPL, "{\"model\":\"m\",\"prompt\":\"x\",\"a\\u0000b\":1}", "", "\\u0000");
    /* an escaped backslash followed by the text u0000 is fine */
    hlm_api_request r;
    ok(CMPL, "{\"model\":\"m\",\"prompt\":\"a\\\\u0000b\\\"\\\\\"}", &r);
    assert_string_equal(r.inputs[0].text, "a\\u0000b\"\\");
    hlm_api_request_free(&r);
    ok(CMPL, "{\"model\":\"m\",\"prompt\":\"\\u0001\\u00e9\\u4e2d\"}", &r);
    assert_string_equal(r.inputs[0].text, "\x01\xc3\xa9\xe4\xb8\xad");
    hlm_api_request_free(&r);
    /* a UTF-8 BOM before the object (RFC 8259 lets a parser ignore it) */
    accepts(CMPL, "\xef\xbb\xbf{\"model\":\"m\",\"prompt\":\"x\"}");
}

static void test_bad_kind(void **state)
{
    (void)state;
    hlm_api_request r;
    hlm_api_error e;
    assert_int_equal(hlm_api_parse("{}", 2, (hlm_api_kind)99, VOCAB, &r, &e), HLM_ERR_INVALID);
    assert_int_equal(e.status, 400);
    assert_true(is_zero(&r, sizeof r));
}

/* ---- errors as JSON -------------------------------------------------------------------- */

static cJSON *error_of(const hlm_api_error *e)
{
    char *s = hlm_api_error_json(e);
    assert_non_null(s);
    cJSON *j = cJSON_Parse(s);
    free(s);
    assert_non_null(j);
    assert_true(cJSON_IsObject(j));
    cJSON *err = cJSON_GetObjectItemCaseSensitive(j, "error");
    assert_true(cJSON_IsObject(err));
    assert_int_equal(cJSON_GetArraySize(err), 4);
    assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(err, "code")));
    return j;
}

static void test_error_json(void **state)
{
    (void)state;
    hlm_api_request r;
    hlm_api_error e;
    const char *body = "{\"model\":\"m\",\"prompt\":\"x\",\"temperature\":3.5}";
    assert_int_equal(hlm_api_parse(body, strlen(body), CMPL, VOCAB, &r, &e), HLM_ERR_INVALID);
    cJSON *j = error_of(&e);
    cJSON *err = cJSON_GetObjectItemCaseSensitive(j, "error");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(err, "message")->valuestring,
                        "'temperature': 3.5 is greater than the maximum of 2");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(err, "type")->valuestring, "invalid_request_error");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(err, "param")->valuestring, "temperature");
    cJSON_Delete(j);

    /* no param: null, not "" */
    assert_int_equal(hlm_api_parse("{", 1, CMPL, VOCAB, &r, &e), HLM_ERR_INVALID);
    j = error_of(&e);
    err = cJSON_GetObjectItemCaseSensitive(j, "error");
    assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(err, "param")));
    assert_non_null(strstr(cJSON_GetObjectItemCaseSensitive(err, "message")->valuestring, "not valid JSON"));
    cJSON_Delete(j);

    /* a message with quotes and newlines in it is escaped */
    hlm_api_error q = {.status = 413, .type = "invalid_request_error", .param = "a\"b"};
    snprintf(q.message, sizeof q.message, "line\n\"two\"\\");
    j = error_of(&q);
    err = cJSON_GetObjectItemCaseSensitive(j, "error");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(err, "message")->valuestring, "line\n\"two\"\\");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(err, "param")->valuestring, "a\"b");
    cJSON_Delete(j);

    /* a zeroed error still makes a body */
    hlm_api_error z = {0};
    j = error_of(&z);
    err = cJSON_GetObjectItemCaseSensitive(j, "error");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(err, "type")->valuestring, "invalid_request_error");
    cJSON_Delete(j);
}

/* A long unknown key of 3-byte characters: param and message are cut to their arrays on a
 * character boundary, so the error body stays valid UTF-8 JSON. */
static void test_error_cut_utf8(void **state)
{
    (void)state;
    static char body[4096];
    for (int off = 0; off < 3; off++) {
        int at = snprintf(body, sizeof body, "{\"model\":\"m\",\"prompt\":\"p\",\"%.*s", off, "ab");
        for (int i = 0; i < 300; i++) at += snprintf(body + at, sizeof body - at, "\xea\xb0\x80");
        snprintf(body + at, sizeof body - at, "\":1}");
        hlm_api_request r;
        hlm_api_error e;
        assert_int_equal(hlm_api_parse(body, strlen(body), CMPL, VOCAB, &r, &e), HLM_ERR_INVALID);
        assert_true(strlen(e.param) > 80 && strlen(e.param) < sizeof e.param);
        assert_true(hlm_utf8_valid((const uint8_t *)e.param, strlen(e.param)));
        assert_true(strlen(e.message) > 300 && strlen(e.message) < sizeof e.message);
        assert_true(hlm_utf8_valid((const uint8_t *)e.message, strlen(e.message)));
        assert_non_null(strstr(e.message, "Unrecognized request argument supplied: "));
        cJSON_Delete(error_of(&e));
    }
    /* a long role is quoted shortened */
    {
        int at = snprintf(body, sizeof body, "{\"model\":\"m\",\"messages\":[{\"role\":\"");
        for (int i = 0; i < 100; i++) at += snprintf(body + at, sizeof body - at, "\xea\xb0\x80");
        snprintf(body + at, sizeof body - at, "\",\"content\":\"x\"}]}");
        refuses(CHAT, body, "messages[0].role", "...' is not one of");
    }
}

static void test_free_empty(void **state)
{
    (void)state;
    hlm_api_request r = {0};
    hlm_api_request_free(&r);
    hlm_api_request_free(NULL);
    assert_true(is_zero(&r, sizeof r));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_completion_defaults),
        cmocka_unit_test(test_prompt_forms),
        cmocka_unit_test(test_prompt_errors),
        cmocka_unit_test(test_prompt_count),
        cmocka_unit_test(test_embedding_input),
        cmocka_unit_test(test_tokenize),
        cmocka_unit_test(test_detokenize),
        cmocka_unit_test(test_chat_messages),
        cmocka_unit_test(test_chat_message_errors),
        cmocka_unit_test(test_ranges),
        cmocka_unit_test(test_values_stored),
        cmocka_unit_test(test_unknown_and_unsupported),
        cmocka_unit_test(test_nulls_are_absent),
        cmocka_unit_test(test_model),
        cmocka_unit_test(test_stop),
        cmocka_unit_test(test_logit_bias),
        cmocka_unit_test(test_stream_options),
        cmocka_unit_test(test_logprobs),
        cmocka_unit_test(test_max_tokens_alias),
        cmocka_unit_test(test_body_not_json),
        cmocka_unit_test(test_body_bytes),
        cmocka_unit_test(test_bad_kind),
        cmocka_unit_test(test_error_json),
        cmocka_unit_test(test_error_cut_utf8),
        cmocka_unit_test(test_free_empty),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
