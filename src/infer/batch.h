/* Many prompts through one engine at once: a scheduler of sequences over hlm_engine's batched
 * prefill and decode (continuous batching). Up to `parallel` requests run together; every step
 * decodes one token for each running request in one pass over the weights, and a request that
 * finishes frees its sequence for the next waiting one, whose prompt is prefilled (with those of
 * any others starting at the same step) before the next decode step.
 *
 * Invariants: requests start in index order; each request's tokens reach the callback in order;
 * every request ends with exactly one finish call. The engine's sequences are reset first and
 * left empty afterwards. */
#ifndef HYPERLM_INFER_BATCH_H
#define HYPERLM_INFER_BATCH_H

#include <stdint.h>

#include "hyperlm/error.h"
#include "infer/engine.h"
#include "infer/sample.h"
#include "infer/stop.h"

typedef struct hlm_batch_request {
    const int32_t *prompt; /* at least one token */
    int prompt_len;
    int max_tokens;        /* generated tokens at most (>= 1) */
    hlm_sampler *sampler;  /* the caller's; the scheduler calls hlm_sample and hlm_sampler_accept */
} hlm_batch_request;

typedef enum hlm_finish {
    HLM_FINISH_NONE = 0,   /* a token, more may follow */
    HLM_FINISH_EOS = 1,    /* an end-of-generation token was sampled (not passed on) */
    HLM_FINISH_LENGTH = 2, /* max_tokens reached, or the sequence's context is full */
    HLM_FINISH_STOP = 3,   /* the callback asked to stop (a stop string) */
} hlm_finish;

/* Called with (request, token, HLM_FINISH_NONE) for each generated token, and once with
 * (request, -1, reason) when the request ends. Returning nonzero from a token call ends the
 * request (reason HLM_FINISH_STOP); the return value of a finish call is ignored. */
typedef int (*hlm_batch_fn)(void *user, int request, int32_t token, hlm_finish reason);

/* Runs reqs[0..n) with at most parallel (>= 1) at a time. vocab: how many logits to sample from
 * (the tokenizer's vocabulary when it is smaller than the model's). eog: tokens that end a
 * request (NULL: none). Errors: a request with an empty prompt, max_tokens < 1 or a prompt longer
 * than the context (HLM_ERR_INVALID / HLM_ERR_RANGE, checked before anything runs), or the
 * engine's. */
hlm_status hlm_batch_generate(hlm_engine *e, const hlm_batch_request *reqs, int n, int parallel, int vocab,
                              const hlm_eog *eog, hlm_batch_fn fn, void *user, hlm_error *err);

#endif
