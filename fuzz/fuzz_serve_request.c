/* libFuzzer target: the server's request parser (src/serve/api.c) on any bytes. The first byte
 * chooses the endpoint (byte % 5: 'A' completion, 'B' chat, 'C' embedding, 'D' tokenize,
 * 'E' detokenize, as the seeds in fuzz/corpus/fuzz_serve_request/ are written); the rest is the
 * body, parsed with a vocabulary of 1000 tokens.
 * Invariants checked:
 *  - never a crash, leak, read past the body or undefined behaviour, whatever the bytes;
 *  - a parsed request holds only checked values: at least one input or message, token ids below
 *    the vocabulary, every string valid UTF-8, counts and sampling parameters in their ranges;
 *  - a refusal is a 400 (or a 500 when out of memory) with a message, an empty request, and an
 *    error body that is valid JSON. */
#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "serve/api.h"
#include "text/unicode.h"
#include "fuzz_check.h"

#define VOCAB 1000

static int utf8(const char *s) { return s && hlm_utf8_valid((const uint8_t *)s, strlen(s)); }

static void check_input(const hlm_api_input *in)
{
    if (in->text) {
        CHECK(utf8(in->text));
        CHECK(!in->ids && in->n_ids == 0);
        return;
    }
    CHECK(in->ids && in->n_ids >= 0);
    for (int i = 0; i < in->n_ids; i++) CHECK(in->ids[i] >= 0 && in->ids[i] < VOCAB);
}

static void check_request(const hlm_api_request *r, hlm_api_kind kind)
{
    CHECK(r->kind == kind);
    if (kind == HLM_API_CHAT) {
        CHECK(r->n_messages >= 1 && r->n_inputs == 0);
        for (int i = 0; i < r->n_messages; i++) {
            const char *role = r->messages[i].role;
            CHECK(role && (!strcmp(role, "system") || !strcmp(role, "user") || !strcmp(role, "assistant")));
            CHECK(utf8(r->messages[i].content));
        }
    } else {
        CHECK(r->n_messages == 0 && r->n_inputs >= 1 && r->n_inputs <= 64);
        if (kind == HLM_API_TOKENIZE) CHECK(r->n_inputs == 1 && r->inputs[0].text);
        if (kind == HLM_API_DETOKENIZE) CHECK(r->n_inputs == 1 && !r->inputs[0].text);
        for (int i = 0; i < r->n_inputs; i++) {
            check_input(&r->inputs[i]);
            if (kind != HLM_API_DETOKENIZE) CHECK(r->inputs[i].text || r->inputs[i].n_ids > 0);
            if (kind == HLM_API_EMBEDDING && r->inputs[i].text) CHECK(r->inputs[i].text[0]);
        }
    }
    if (kind <= HLM_API_EMBEDDING) CHECK(utf8(r->model));
    if (r->model) CHECK(utf8(r->model));
    if (r->user) CHECK(utf8(r->user));
    CHECK(r->n >= 1 && r->n <= 16);
    CHECK(r->max_tokens == -1 || r->max_tokens >= 1);
    CHECK(r->n_stop >= 0 && r->n_stop <= HLM_API_MAX_STOP);
    for (int i = 0; i < r->n_stop; i++) CHECK(utf8(r->stop[i]) && r->stop[i][0]);
    CHECK(r->n_bias >= 0 && r->n_bias <= HLM_API_MAX_BIAS);
    for (int i = 0; i < r->n_bias; i++) {
        CHECK(r->bias_ids[i] >= 0 && r->bias_ids[i] < VOCAB);
        CHECK(r->bias_vals[i] >= -100 && r->bias_vals[i] <= 100);
        for (int j = 0; j < i; j++) CHECK(r->bias_ids[j] != r->bias_ids[i]);
    }
    hlm_error err;
    CHECK(hlm_sampler_params_check(&r->sampling, &err) == HLM_OK);
    CHECK(r->sampling.temperature <= 2 && r->sampling.top_k >= -1);
    CHECK(!r->include_usage || r->stream);
    CHECK(r->top_logprobs >= 0 && r->top_logprobs <= 20);
    CHECK(!(r->echo && r->logprobs));
}

static void check_error(const hlm_api_error *e, const hlm_api_request *r, hlm_status st)
{
    CHECK(st == HLM_ERR_INVALID || st == HLM_ERR_NOMEM);
    CHECK(e->status == (st == HLM_ERR_INVALID ? 400 : 500));
    CHECK(e->type && e->message[0]);
    CHECK(utf8(e->message) && utf8(e->param));
    const unsigned char *b = (const unsigned char *)r;
    for (size_t i = 0; i < sizeof *r; i++) CHECK(b[i] == 0);
    char *json = hlm_api_error_json(e);
    CHECK(json);
    cJSON *back = cJSON_Parse(json);
    CHECK(back);
    cJSON *msg = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(back, "error"), "message");
    CHECK(cJSON_IsString(msg) && !strcmp(msg->valuestring, e->message));
    cJSON_Delete(back);
    free(json);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    if (len == 0) return 0;
    hlm_api_kind kind = (hlm_api_kind)(data[0] % 5);
    hlm_api_request r;
    hlm_api_error e;
    hlm_status st = hlm_api_parse((const char *)data + 1, len - 1, kind, VOCAB, &r, &e);
    if (st == HLM_OK)
        check_request(&r, kind);
    else
        check_error(&e, &r, st);
    hlm_api_request_free(&r);
    return 0;
}
