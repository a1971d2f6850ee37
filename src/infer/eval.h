/* Evaluation through the inference engine: perplexity and bits per byte over a token stream, and
 * multiple-choice (or classification) tasks scored by log-likelihood.
 *
 * Perplexity. A stream t[0..n) is cut into windows of W = the engine's context: window k takes the
 * inputs t[b..b+W) and the targets t[b+1..b+W+1) (cut at n), b = k * stride, as training does;
 * each target t[j] (j >= 1) is scored once, by the first window that holds it, so with
 * stride < W the later windows score only their new targets, with up to W - stride tokens of
 * context before them. NLL = sum over scored j of -ln softmax(logits after t[j-1])[t[j]] (nats);
 * perplexity = exp(NLL / tokens); bits per byte = NLL / ln 2 / bytes, where bytes counts the
 * UTF-8 bytes of the scored tokens (special tokens count none), which does not depend on the
 * tokenizer: a text is scored with its end-of-text token in front, so that all of it is scored.
 *
 * Tasks. A JSONL file, one example a line: {"context": "...", "choices": ["...", ...], "label": k}.
 * A choice's score is the sum of the log-probabilities of its tokens (context and choice encoded
 * separately, then joined) given the prompt; the prediction is the highest score (ties: the first)
 * and, length-normalized, the highest score per UTF-8 byte of the choice. k-shot prompts: K solved
 * examples (context + correct choice), each followed by a blank line, then the example's context.
 * When the prompt and a choice exceed the context, the prompt loses tokens from its start. */
#ifndef HYPERLM_INFER_EVAL_H
#define HYPERLM_INFER_EVAL_H

#include <stddef.h>
#include <stdint.h>

#include "hyperlm/error.h"
#include "hyperlm/tokenizer.h"
#include "infer/engine.h"

typedef struct hlm_ppl_result {
    uint64_t tokens; /* targets scored */
    double nll;      /* their summed negative log-likelihood, nats */
    uint64_t bytes;  /* UTF-8 bytes of the scored tokens (0: not counted) */
    int windows;     /* engine prefills */
} hlm_ppl_result;

/* NLL of tokens[1..n) as above (n >= 2). stride: 0 for the engine's context, else in [1, ctx].
 * The engine is reset before each window. bytes is left 0 (hlm_eval_token_bytes counts them). */
hlm_status hlm_eval_perplexity(hlm_engine *e, const int32_t *tokens, size_t n, int stride, hlm_ppl_result *out,
                               hlm_error *err);
/* UTF-8 bytes of tokens[0..n) in tok, special tokens counting none. */
hlm_status hlm_eval_token_bytes(const hlm_tokenizer *tok, const int32_t *tokens, size_t n, uint64_t *bytes,
                                hlm_error *err);
double hlm_ppl_mean_nll(const hlm_ppl_result *r);      /* nats per token */
double hlm_ppl_perplexity(const hlm_ppl_result *r);    /* exp(mean NLL) */
double hlm_ppl_bits_per_byte(const hlm_ppl_result *r); /* NLL / ln 2 / bytes; NAN without bytes */

/* Sum of log p(cont[i] | ctx, cont[..i]) over the continuation, in one prefill (engine reset
 * first). n_ctx >= 1, n_cont >= 1; a context too long for the engine keeps its last tokens;
 * HLM_ERR_RANGE when the continuation alone leaves no room for a token of context. */
hlm_status hlm_eval_loglik(hlm_engine *e, const int32_t *ctx, size_t n_ctx, const int32_t *cont, size_t n_cont,
                           double *loglik, hlm_error *err);

typedef struct hlm_task_example {
    char *context;
    char **choices;
    int n_choices;
    int label;
} hlm_task_example;

typedef struct hlm_task {
    hlm_task_example *ex;
    size_t n;
} hlm_task;

/* Parses JSONL task text (blank lines skipped); name appears in errors, which give the line and
 * the field: not an object, "context" not a string, "choices" not a non-empty array of strings
 * (at least 2), "label" not an integer index into choices. */
hlm_status hlm_task_parse(const char *text, size_t len, const char *name, hlm_task *out, hlm_error *err);
hlm_status hlm_task_load(const char *path, hlm_task *out, hlm_error *err);
void hlm_task_free(hlm_task *t);

typedef struct hlm_task_result {
    size_t n;            /* examples scored */
    size_t correct;      /* by summed log-likelihood */
    size_t correct_norm; /* by log-likelihood per byte of the choice */
    size_t majority;     /* examples whose label is the most common label (the baseline) */
} hlm_task_result;

/* Scores task with `shots` solved examples in front of each: the first `shots` of fewshot, or when
 * fewshot is NULL, of task itself (which are then not scored). bos: the token that stands in for
 * an empty prompt (-1: none; an empty prompt is then an error). */
hlm_status hlm_eval_task(hlm_engine *e, const hlm_tokenizer *tok, const hlm_task *task, const hlm_task *fewshot,
                         int shots, int32_t bos, hlm_task_result *out, hlm_error *err);

#endif
