/* Token sampling for generation: logit bias, penalties over the history, then greedy or a draw
 * from the filtered distribution, with a seeded SplitMix64 stream so that a seed repeats a
 * generation.
 *
 * One call of hlm_sample, in this order (docs/inference.md "Sampling"):
 *   1. logit bias: l[t] += bias[t] (a bias of -INFINITY bans t);
 *   2. repeat penalty (CTRL, Keskar et al. 2019, with llama.cpp's sign rule), once per distinct
 *      token among the last repeat_last_n accepted: l > 0 ? l / repeat_penalty : l * repeat_penalty;
 *   3. OpenAI's presence and frequency penalties over the tokens accepted as generated since the
 *      last reset: l[t] -= frequency_penalty * c[t] + presence_penalty * (c[t] > 0);
 *   4. temperature <= 0: the first largest logit (greedy); otherwise p = softmax(l / temperature),
 *      then top-k (the k largest), top-p (the smallest prefix, by p descending, whose mass reaches
 *      top_p of what top-k kept), min-p (drop p < min_p * max p), and a draw from what is left.
 *      The filters are Hugging Face's order (temperature first); llama.cpp's default chain applies
 *      temperature last, which gives the same greedy output and different seeded draws.
 *
 * Invariants: the sampler owns its history (a ring of the last repeat_last_n tokens and a count
 * per vocabulary id), so memory is bounded by the vocabulary whatever the length of a generation;
 * the logits passed in are never written. */
#ifndef HYPERLM_INFER_SAMPLE_H
#define HYPERLM_INFER_SAMPLE_H

#include <stdint.h>

#include "hyperlm/error.h"

typedef struct hlm_sampler_params {
    float temperature;       /* <= 0: greedy */
    int top_k;               /* <= 0: all */
    float top_p;             /* >= 1: all */
    float min_p;             /* <= 0: off */
    float repeat_penalty;    /* 1: off; > 0 */
    int repeat_last_n;       /* window of the repeat penalty in tokens; 0: off */
    float presence_penalty;  /* 0: off */
    float frequency_penalty; /* 0: off */
    uint64_t seed;
} hlm_sampler_params;

/* The defaults of `hyperlm generate`: temperature 0.8, top-k 40, top-p 0.95, min-p 0, no
 * penalties (repeat_penalty 1, repeat_last_n 64), seed 1337. */
void hlm_sampler_params_default(hlm_sampler_params *p);
/* HLM_ERR_RANGE naming the field when a value is out of range (temperature < 0, top_p or min_p
 * outside [0, 1], repeat_penalty <= 0, repeat_last_n < 0, a penalty outside [-2, 2] as OpenAI
 * allows, a non-finite value). */
hlm_status hlm_sampler_params_check(const hlm_sampler_params *p, hlm_error *err);

typedef struct hlm_sampler hlm_sampler;

/* A sampler for logits of up to vocab_size values. */
hlm_status hlm_sampler_new(const hlm_sampler_params *p, int vocab_size, hlm_sampler **out, hlm_error *err);
void hlm_sampler_free(hlm_sampler *s);
/* Adds bias to token's logit at every step (biases of one token add up). HLM_ERR_RANGE: token
 * outside the vocabulary. */
hlm_status hlm_sampler_set_logit_bias(hlm_sampler *s, int32_t token, float bias, hlm_error *err);
/* Records a generated token: it counts for the presence and frequency penalties and enters the
 * repeat window. Tokens outside the vocabulary are ignored. */
void hlm_sampler_accept(hlm_sampler *s, int32_t token);
/* Records context tokens (the prompt): they enter the repeat window only, as llama.cpp's repeat
 * penalty sees the prompt while OpenAI's penalties count generated tokens. */
void hlm_sampler_accept_context(hlm_sampler *s, const int32_t *tokens, int n);
/* Forgets the history (a new generation); the random stream and the logit biases stay. */
void hlm_sampler_reset(hlm_sampler *s);

/* Chooses a token from logits[0..V), V <= the sampler's vocab_size. Does not accept it. */
int hlm_sample(hlm_sampler *s, const float *logits, int V);
/* The logits after bias and penalties (steps 1-3) of the last hlm_sample call, V values: for tests
 * and for reporting. */
const float *hlm_sampler_last_logits(const hlm_sampler *s);

#endif
