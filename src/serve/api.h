/* The server's requests: JSON bodies of OpenAI's completions, chat completions and embeddings
 * endpoints, and of /tokenize and /detokenize, parsed and validated into plain structs before
 * anything runs (docs/serving.md "Parameters").
 *
 * Every failure is reported the way OpenAI reports it: an HTTP status (400 almost always) and a
 * message naming the offending parameter ("param", with a JSON path for nested ones such as
 * "messages[2].content"). A parameter the server does not implement is rejected by name, never
 * ignored; a key whose value is JSON null counts as absent (clients send nulls for defaults),
 * and a key given twice (with non-null values) is refused rather than resolved.
 *
 * Invariants: the parser never reads past len, accepts any bytes (invalid UTF-8 or JSON is a
 * 400), and on failure leaves *out empty (nothing to free, though freeing it is allowed). */
#ifndef HYPERLM_SERVE_API_H
#define HYPERLM_SERVE_API_H

#include <stddef.h>
#include <stdint.h>

#include "hyperlm/error.h"
#include "infer/chat.h"
#include "infer/sample.h"

typedef enum hlm_api_kind {
    HLM_API_COMPLETION = 0, /* POST /v1/completions */
    HLM_API_CHAT,           /* POST /v1/chat/completions */
    HLM_API_EMBEDDING,      /* POST /v1/embeddings */
    HLM_API_TOKENIZE,       /* POST /tokenize */
    HLM_API_DETOKENIZE,     /* POST /detokenize */
} hlm_api_kind;

/* One input: text, or token ids (completions' prompt and embeddings' input also take ids). */
typedef struct hlm_api_input {
    char *text;      /* NUL-terminated (may hold no NUL inside: JSON "\u0000" is rejected), or NULL */
    int32_t *ids;    /* when text is NULL: n_ids token ids, each in [0, vocab_size); never NULL
                      * then, even for detokenize's empty "tokens" (n_ids 0, the only empty one) */
    int n_ids;
} hlm_api_input;

#define HLM_API_MAX_STOP 4
#define HLM_API_MAX_BIAS 300 /* logit_bias entries, OpenAI's limit */

typedef struct hlm_api_request {
    hlm_api_kind kind;
    char *model;     /* "model" (required for completion, chat, embedding; optional otherwise) */

    /* completion: "prompt" (string, array of strings, array of ids, array of arrays of ids),
     * embedding: "input" (same forms), tokenize: "prompt" or "content" (a string),
     * detokenize: "tokens" (array of ids, into inputs[0].ids). At least one input. */
    hlm_api_input *inputs;
    int n_inputs;

    /* chat: "messages", each {role, content}; role system | developer (rendered as system) |
     * user | assistant; content a string or an array of {"type": "text", "text": ...} parts
     * (joined); other part types and roles (tool, function) are rejected by path. */
    hlm_chat_message *messages; /* role and content strings owned by the request */
    int n_messages;

    /* generation (completion and chat) */
    int max_tokens;               /* "max_tokens" or chat's "max_completion_tokens"; -1: absent */
    hlm_sampler_params sampling;  /* OpenAI's defaults: temperature 1, top_p 1, no top-k, no
                                   * min-p, penalties 0, repeat_penalty 1; extensions accepted:
                                   * "top_k", "min_p", "repetition_penalty" (vLLM's names) */
    int has_seed;                 /* "seed" given (sampling.seed then holds it; a negative seed as
                                   * its two's complement) */
    char *stop[HLM_API_MAX_STOP]; /* "stop": a string or up to 4 non-empty strings */
    int n_stop;
    int n;                        /* "n", 1..16 (default 1) */
    int stream;                   /* "stream" */
    int include_usage;            /* "stream_options": {"include_usage": bool}; only with stream */
    int logprobs;                 /* completion: "logprobs" int 0..5 (given: 1, top_logprobs = it);
                                   * chat: "logprobs" bool */
    int top_logprobs;             /* completion: from "logprobs"; chat: "top_logprobs" 0..20,
                                   * only with logprobs true */
    int echo;                     /* completion: "echo" (not with logprobs) */
    int32_t bias_ids[HLM_API_MAX_BIAS]; /* "logit_bias": {"id": -100..100}, ids < vocab_size */
    float bias_vals[HLM_API_MAX_BIAS];
    int n_bias;
    char *user;                   /* "user" (logged only) */

    /* embedding */
    int encoding_base64;          /* "encoding_format": "float" (default) or "base64" */

    /* tokenize: "add_special_tokens" (default true: the vocabulary's BOS first when it has one);
     * "with_pieces" (llama.cpp's: each token's text too) */
    int add_special;
    int with_pieces;
} hlm_api_request;

typedef struct hlm_api_error {
    int status;          /* HTTP status: 400 (invalid), 413 (too many inputs or tokens), ... */
    const char *type;    /* "invalid_request_error"; "server_error" with status 500 */
    char param[96];      /* the parameter's name or path; "" when none applies (invalid JSON) */
    char message[320];
} hlm_api_error;

/* Parses body[0..len) as a request of the given kind. vocab_size bounds token ids (prompt ids,
 * logit_bias keys, detokenize tokens). Returns HLM_OK, or HLM_ERR_INVALID with *aerr filled
 * (HLM_ERR_NOMEM: out of memory, *aerr says so with status 500). */
hlm_status hlm_api_parse(const char *body, size_t len, hlm_api_kind kind, int vocab_size, hlm_api_request *out,
                         hlm_api_error *aerr);
void hlm_api_request_free(hlm_api_request *r);

/* The error as OpenAI's JSON body: {"error": {"message", "type", "param", "code"}}, param null
 * when empty and code always null (malloc'd, NUL-terminated, to free with free(); NULL when out
 * of memory). */
char *hlm_api_error_json(const hlm_api_error *aerr);

#endif
