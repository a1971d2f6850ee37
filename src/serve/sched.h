/* The server's scheduler: one thread owns the engine and runs every generation on it with
 * continuous batching (docs/serving.md "Scheduling"). Jobs (one completion choice each, or one
 * embedding) wait in a bounded queue; between two decode steps finished jobs leave their
 * sequence and waiting ones take it, their prompts prefilled in chunks so that a long prompt does
 * not stall the others' decoding for long.
 *
 * Prefix cache: a sequence keeps its KV after its job ends, with the tokens that are in it. A new
 * job takes the free sequence whose tokens share the longest prefix with its prompt, cuts it
 * back to that prefix, and prefills only the rest (job->cached counts what it reused).
 *
 * Threads: hlm_sched_submit, hlm_job_cancel and hlm_job_release may be called from any thread.
 * A job's outputs (the fields below "outputs") change only under the scheduler's lock: read them
 * between hlm_sched_lock and hlm_sched_unlock, or after hlm_sched_wait returned. Every change to
 * a job signals the condition variable it was given (several jobs may share one).
 *
 * Invariants: a submitted job ends exactly once (finish != HLM_JOB_RUNNING) and is then never
 * touched by the scheduler again; its memory is freed when both the scheduler and the submitter
 * have released it; the queue never holds more than max_queue jobs. */
#ifndef HYPERLM_SERVE_SCHED_H
#define HYPERLM_SERVE_SCHED_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

#include "hyperlm/buf.h"
#include "hyperlm/error.h"
#include "hyperlm/tokenizer.h"
#include "infer/engine.h"
#include "infer/sample.h"
#include "infer/stop.h"

typedef enum hlm_job_finish {
    HLM_JOB_RUNNING = 0,
    HLM_JOB_STOP,      /* an end-of-generation token or a stop string */
    HLM_JOB_LENGTH,    /* max_tokens, or the context is full */
    HLM_JOB_CANCELLED, /* the client went away, or the server is shutting down */
    HLM_JOB_TIMEOUT,   /* the deadline passed */
    HLM_JOB_ERROR,     /* the engine failed (error holds why) */
} hlm_job_finish;

#define HLM_JOB_MAX_TOP 20

/* One generated token, when logprobs were asked for. */
typedef struct hlm_job_token {
    int32_t id;
    float logprob; /* log-softmax of the model's logits (before temperature and penalties) */
    int n_top;
    int32_t top_ids[HLM_JOB_MAX_TOP];
    float top_logprobs[HLM_JOB_MAX_TOP];
} hlm_job_token;

typedef struct hlm_job {
    /* inputs, fixed at creation */
    int embed;                  /* 1: an embedding job (prompt in, vector out) */
    int32_t *prompt;
    int prompt_len;
    int max_tokens;             /* >= 1 */
    hlm_sampler *sampler;
    hlm_stop stop;
    int logprobs, top_logprobs; /* logprobs: record tokens[]; top_logprobs <= HLM_JOB_MAX_TOP */
    double deadline;            /* hlm_sched_now() seconds; 0: none */
    pthread_cond_t *notify;

    /* outputs (under the scheduler's lock) */
    hlm_job_finish finish;
    hlm_buf text;               /* the visible text so far (stop strings cut off) */
    int n_generated;            /* tokens sampled and kept (the EOS token not counted) */
    hlm_job_token *tokens;      /* n_generated entries when logprobs */
    int cached;                 /* prompt tokens taken from the prefix cache */
    float *embedding;           /* embed: dim floats once finished */
    double t_submit, t_first, t_end;
    hlm_error error;

    /* the scheduler's */
    struct hlm_job *next;
    int refs;
    int cancel;
    int slot, fed;              /* sequence; prompt tokens in its cache */
    int32_t pending;            /* sampled, not yet in the cache */
    hlm_decoder dec;
} hlm_job;

typedef struct hlm_job_params {
    int vocab;                  /* the logits sampled from: the scheduler's vocab */
    const int32_t *prompt;
    int prompt_len;             /* >= 1 */
    int max_tokens;             /* >= 1 */
    const hlm_sampler_params *sampling;
    const int32_t *bias_ids;
    const float *bias_vals;
    int n_bias;
    const char *const *stop;
    int n_stop;
    int logprobs, top_logprobs;
    double timeout_s;           /* 0: none */
} hlm_job_params;

typedef struct hlm_sched_opts {
    int parallel;      /* sequences decoded together (>= 1) */
    int max_queue;     /* jobs waiting at most (>= 1) */
    int prefill_chunk; /* prompt tokens prefilled per step at most (>= 1) */
    int vocab;         /* logits sampled from (the tokenizer's vocabulary when smaller) */
    int threads;       /* compute threads of the engine's calls (0: all cores) */
    hlm_eog eog;
} hlm_sched_opts;

typedef struct hlm_sched hlm_sched;

double hlm_sched_now(void); /* monotonic seconds */
/* *ts = CLOCK_REALTIME now + ms, the deadline pthread_cond_timedwait takes. */
void hlm_realtime_after(int ms, struct timespec *ts);

/* Starts the scheduler thread over e and tok, which must outlive it. */
hlm_status hlm_sched_start(hlm_engine *e, const hlm_tokenizer *tok, const hlm_sched_opts *o, hlm_sched **out,
                           hlm_error *err);
/* Ends every job still queued or running (HLM_JOB_CANCELLED), stops the thread and frees the
 * scheduler. Every submitter must have released its jobs first. */
void hlm_sched_stop(hlm_sched *s);
/* The number of logits jobs sample from (hlm_job_params.vocab). */
int hlm_sched_vocab(const hlm_sched *s);

/* A generation job (refs: one for the caller). HLM_ERR_INVALID for bad parameters. */
hlm_status hlm_job_new(const hlm_job_params *p, pthread_cond_t *notify, hlm_job **out, hlm_error *err);
/* An embedding job over prompt. */
hlm_status hlm_job_new_embed(const int32_t *prompt, int n, double timeout_s, pthread_cond_t *notify, hlm_job **out,
                             hlm_error *err);
/* Queues jobs[0..n) together, or none of them: HLM_ERR_RANGE when the queue has no room for all,
 * HLM_ERR_INVALID when the scheduler is draining (shutting down). */
hlm_status hlm_sched_submit(hlm_sched *s, hlm_job **jobs, int n, hlm_error *err);
/* Asks the scheduler to end the job (HLM_JOB_CANCELLED) at its next step; no effect on an ended job. */
void hlm_job_cancel(hlm_sched *s, hlm_job *j);
/* Drops the caller's reference (after which j must not be used); the job's notify is not
 * signalled any more, so the caller may destroy it even while the job is still ending. */
void hlm_job_release(hlm_sched *s, hlm_job *j);

void hlm_sched_lock(hlm_sched *s);
void hlm_sched_unlock(hlm_sched *s);
/* With the lock held: waits on notify for at most timeout_ms. */
void hlm_sched_wait(hlm_sched *s, pthread_cond_t *notify, int timeout_ms);

/* From now on submissions fail (the server is shutting down); running jobs go on. */
void hlm_sched_drain(hlm_sched *s);
/* Cancels every queued and running job. */
void hlm_sched_cancel_all(hlm_sched *s);

typedef struct hlm_sched_stats {
    int queued, running, parallel;
    long long steps, decoded, prefilled, cached;
} hlm_sched_stats;
void hlm_sched_stats_get(hlm_sched *s, hlm_sched_stats *st);

#endif
