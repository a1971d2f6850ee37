/* The continuous-batching scheduler (sched.h). One loop iteration is one step: under the lock,
 * end cancelled and expired jobs and admit waiting ones into free sequences; without the lock,
 * run the embedding jobs, one prefill pass over the prompt chunks due this step, and one decode
 * pass over every sequence that has a sampled token to feed; under the lock again, publish what
 * each job produced. Everything a step computes for a job (its new text, its token record, its
 * end) is kept in the job's scratch and published at once, so a reader never sees half a step. */
#include "serve/sched.h"

#include "model/gemm.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct hlm_sched {
    hlm_engine *e;
    const hlm_tokenizer *tok;
    hlm_sched_opts o;
    int vocab; /* min(o.vocab, model's vocab_size) */
    pthread_mutex_t mu;
    pthread_cond_t work;
    pthread_t thread;
    int started, stopping, draining;

    hlm_job *qhead, *qtail;
    int nq;
    hlm_job **slot;    /* running job per sequence, NULL when free */
    hlm_ids *hist;     /* the tokens in each sequence's cache (room for ctx reserved: appends
                        * never fail, so hist always matches the cache) */
    long long *used;   /* step at which each sequence last ended a job (LRU among equals) */

    /* the thread's scratch */
    int *seqs, *lens;
    int32_t *toks;
    size_t toks_cap;
    hlm_buf *fresh;      /* per sequence: visible text made this step */
    hlm_job_finish *end; /* per sequence: how its job ends this step (RUNNING: it goes on) */
    hlm_job_token *rec;  /* per sequence: the token record of this step */
    int *has_rec;
    int *drawn;          /* per sequence: its job drew a token this step */

    long long steps, decoded, prefilled, cached;
};

double hlm_sched_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- jobs ------------------------------------------------------------------------------------- */

static void job_free(hlm_job *j)
{
    free(j->prompt);
    hlm_sampler_free(j->sampler);
    hlm_stop_free(&j->stop);
    hlm_buf_free(&j->text);
    free(j->tokens);
    free(j->embedding);
    free(j);
}

static hlm_job *job_alloc(const int32_t *prompt, int n, double timeout_s, pthread_cond_t *notify)
{
    hlm_job *j = calloc(1, sizeof *j);
    if (!j) return NULL;
    j->prompt = malloc(sizeof *j->prompt * (size_t)(n > 0 ? n : 1));
    if (!j->prompt) {
        free(j);
        return NULL;
    }
    memcpy(j->prompt, prompt, sizeof *prompt * (size_t)n);
    j->prompt_len = n;
    j->refs = 1;
    j->slot = -1;
    j->pending = -1;
    j->notify = notify;
    j->t_submit = hlm_sched_now();
    j->deadline = timeout_s > 0 ? j->t_submit + timeout_s : 0;
    return j;
}

hlm_status hlm_job_new(const hlm_job_params *p, pthread_cond_t *notify, hlm_job **out, hlm_error *err)
{
    *out = NULL;
    if (p->prompt_len < 1 || !p->prompt) return hlm_errorf(err, HLM_ERR_INVALID, "job: no prompt tokens");
    if (p->max_tokens < 1) return hlm_errorf(err, HLM_ERR_INVALID, "job: max_tokens %d, expected at least 1", p->max_tokens);
    if (p->top_logprobs < 0 || p->top_logprobs > HLM_JOB_MAX_TOP)
        return hlm_errorf(err, HLM_ERR_INVALID, "job: top_logprobs %d, expected 0..%d", p->top_logprobs, HLM_JOB_MAX_TOP);
    hlm_job *j = job_alloc(p->prompt, p->prompt_len, p->timeout_s, notify);
    if (!j) return hlm_errorf(err, HLM_ERR_NOMEM, "job: out of memory");
    j->max_tokens = p->max_tokens;
    j->logprobs = p->logprobs || p->top_logprobs > 0;
    j->top_logprobs = p->top_logprobs;
    hlm_status st = hlm_sampler_new(p->sampling, p->vocab, &j->sampler, err);
    for (int i = 0; st == HLM_OK && i < p->n_bias; i++)
        st = hlm_sampler_set_logit_bias(j->sampler, p->bias_ids[i], p->bias_vals[i], err);
    if (st == HLM_OK) st = hlm_stop_init(&j->stop, (const char *const *)p->stop, p->n_stop, err);
    if (st == HLM_OK && j->logprobs && !(j->tokens = malloc(sizeof *j->tokens * (size_t)p->max_tokens)))
        st = hlm_errorf(err, HLM_ERR_NOMEM, "job: out of memory for %d token records", p->max_tokens);
    if (st != HLM_OK) {
        job_free(j);
        return st;
    }
    *out = j;
    return HLM_OK;
}

hlm_status hlm_job_new_embed(const int32_t *prompt, int n, double timeout_s, pthread_cond_t *notify, hlm_job **out,
                             hlm_error *err)
{
    *out = NULL;
    if (n < 1 || !prompt) return hlm_errorf(err, HLM_ERR_INVALID, "embedding job: no tokens");
    hlm_job *j = job_alloc(prompt, n, timeout_s, notify);
    if (!j) return hlm_errorf(err, HLM_ERR_NOMEM, "embedding job: out of memory");
    j->embed = 1;
    j->max_tokens = 1;
    *out = j;
    return HLM_OK;
}

/* With the lock held. */
static void job_unref(hlm_job *j)
{
    if (--j->refs == 0) job_free(j);
}

/* With the lock held: the job ends (once); the scheduler lets go of it. */
static void job_end(hlm_sched *s, hlm_job *j, hlm_job_finish why)
{
    if (j->finish != HLM_JOB_RUNNING) return;
    j->finish = why;
    j->t_end = hlm_sched_now();
    if (j->slot >= 0) {
        s->slot[j->slot] = NULL;
        s->used[j->slot] = s->steps;
        j->slot = -1;
    }
    if (j->notify) pthread_cond_broadcast(j->notify);
    job_unref(j);
}

void hlm_job_cancel(hlm_sched *s, hlm_job *j)
{
    pthread_mutex_lock(&s->mu);
    j->cancel = 1;
    pthread_cond_signal(&s->work);
    pthread_mutex_unlock(&s->mu);
}

void hlm_job_release(hlm_sched *s, hlm_job *j)
{
    if (!j) return;
    pthread_mutex_lock(&s->mu);
    /* The owner of the condition variable lets go and may destroy it at once, while a cancelled
     * job stays with the scheduler until its next step ends it: nothing may signal it after this. */
    j->notify = NULL;
    job_unref(j);
    pthread_mutex_unlock(&s->mu);
}

hlm_status hlm_sched_submit(hlm_sched *s, hlm_job **jobs, int n, hlm_error *err)
{
    pthread_mutex_lock(&s->mu);
    hlm_status st = HLM_OK;
    if (s->draining || s->stopping)
        st = hlm_errorf(err, HLM_ERR_INVALID, "the server is shutting down");
    else if (s->nq + n > s->o.max_queue)
        st = hlm_errorf(err, HLM_ERR_RANGE, "the queue is full (%d of %d waiting)", s->nq, s->o.max_queue);
    for (int i = 0; st == HLM_OK && i < n; i++) {
        hlm_job *j = jobs[i];
        j->refs++;
        j->next = NULL;
        if (s->qtail) s->qtail->next = j;
        else s->qhead = j;
        s->qtail = j;
        s->nq++;
    }
    if (st == HLM_OK) pthread_cond_signal(&s->work);
    pthread_mutex_unlock(&s->mu);
    return st;
}

void hlm_sched_lock(hlm_sched *s) { pthread_mutex_lock(&s->mu); }
void hlm_sched_unlock(hlm_sched *s) { pthread_mutex_unlock(&s->mu); }

void hlm_realtime_after(int ms, struct timespec *ts)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

void hlm_sched_wait(hlm_sched *s, pthread_cond_t *notify, int timeout_ms)
{
    struct timespec ts;
    hlm_realtime_after(timeout_ms, &ts);
    pthread_cond_timedwait(notify, &s->mu, &ts);
}

void hlm_sched_drain(hlm_sched *s)
{
    pthread_mutex_lock(&s->mu);
    s->draining = 1;
    pthread_mutex_unlock(&s->mu);
}

/* With the lock held. */
static void cancel_all_locked(hlm_sched *s)
{
    while (s->qhead) {
        hlm_job *j = s->qhead;
        s->qhead = j->next;
        job_end(s, j, HLM_JOB_CANCELLED);
    }
    s->qtail = NULL;
    s->nq = 0;
    for (int k = 0; k < s->o.parallel; k++)
        if (s->slot[k]) job_end(s, s->slot[k], HLM_JOB_CANCELLED);
}

void hlm_sched_cancel_all(hlm_sched *s)
{
    pthread_mutex_lock(&s->mu);
    /* running jobs are ended by the thread at its next step, queued ones here */
    for (hlm_job *j = s->qhead; j; j = j->next) j->cancel = 1;
    for (int k = 0; k < s->o.parallel; k++)
        if (s->slot[k]) s->slot[k]->cancel = 1;
    pthread_cond_signal(&s->work);
    pthread_mutex_unlock(&s->mu);
}

void hlm_sched_stats_get(hlm_sched *s, hlm_sched_stats *st)
{
    pthread_mutex_lock(&s->mu);
    st->queued = s->nq;
    st->running = 0;
    for (int k = 0; k < s->o.parallel; k++) st->running += s->slot[k] != NULL;
    st->parallel = s->o.parallel;
    st->steps = s->steps;
    st->decoded = s->decoded;
    st->prefilled = s->prefilled;
    st->cached = s->cached;
    pthread_mutex_unlock(&s->mu);
}

/* ---- the step ----------------------------------------------------------------------------------- */

static int common_prefix(const hlm_ids *h, const int32_t *p, int n)
{
    int i = 0;
    while (i < n && (size_t)i < h->len && h->data[i] == (uint32_t)p[i]) i++;
    return i;
}

/* With the lock held: ends the queued jobs that were cancelled or expired, and gives free
 * sequences to waiting generation jobs, each the one sharing most of its prompt. Embedding jobs
 * are moved to *embeds (they run on the extra sequence). */
static void admit(hlm_sched *s, double now, hlm_job **embeds)
{
    hlm_job **link = &s->qhead, *prev = NULL;
    int free_slots = 0;
    for (int k = 0; k < s->o.parallel; k++) free_slots += s->slot[k] == NULL;
    while (*link) {
        hlm_job *j = *link;
        int expired = j->deadline > 0 && now > j->deadline;
        int take = j->cancel || expired || s->stopping || j->embed || free_slots > 0;
        if (!take) { /* FIFO: jobs behind the first that cannot start wait too (embeddings pass) */
            prev = j;
            link = &j->next;
            continue;
        }
        *link = j->next;
        if (s->qtail == j) s->qtail = prev;
        s->nq--;
        j->next = NULL;
        if (j->cancel || s->stopping) {
            job_end(s, j, HLM_JOB_CANCELLED);
            continue;
        }
        if (expired) {
            job_end(s, j, HLM_JOB_TIMEOUT);
            continue;
        }
        if (j->embed) {
            j->next = *embeds;
            *embeds = j;
            continue;
        }
        int best = -1, best_len = -1;
        for (int k = 0; k < s->o.parallel; k++) {
            if (s->slot[k]) continue;
            int c = common_prefix(&s->hist[k], j->prompt, j->prompt_len);
            if (c > best_len || (c == best_len && s->used[k] < s->used[best])) {
                best = k;
                best_len = c;
            }
        }
        /* at least the last prompt token is run again: its logits start the generation */
        int reuse = best_len < j->prompt_len ? best_len : j->prompt_len - 1;
        hlm_engine_seq_truncate(s->e, best, reuse);
        s->hist[best].len = (size_t)reuse;
        s->slot[best] = j;
        j->slot = best;
        j->fed = reuse;
        j->cached = reuse;
        s->cached += reuse;
        hlm_sampler_accept_context(j->sampler, j->prompt, j->prompt_len);
        hlm_decoder_init(&j->dec, s->tok);
        free_slots--;
    }
}

/* log-softmax of logits[0..V) at tok, and the top n ids with theirs (ties: lower id first). */
static void token_record(const float *logits, int V, int32_t tok, int n_top, hlm_job_token *r)
{
    float mx = -INFINITY;
    for (int i = 0; i < V; i++)
        if (logits[i] > mx) mx = logits[i];
    double sum = 0;
    for (int i = 0; i < V; i++) sum += exp((double)(logits[i] - mx));
    float lse = mx + (float)log(sum);
    r->id = tok;
    r->logprob = logits[tok] - lse;
    r->n_top = 0;
    for (int i = 0; i < V; i++) {
        float v = logits[i];
        if (r->n_top == n_top && (n_top == 0 || v <= r->top_logprobs[n_top - 1])) continue;
        int at = r->n_top < n_top ? r->n_top++ : n_top - 1;
        while (at > 0 && r->top_logprobs[at - 1] < v) {
            r->top_logprobs[at] = r->top_logprobs[at - 1];
            r->top_ids[at] = r->top_ids[at - 1];
            at--;
        }
        r->top_logprobs[at] = v;
        r->top_ids[at] = i;
    }
    for (int i = 0; i < r->n_top; i++) r->top_logprobs[i] -= lse;
}

/* Outside the lock: the job in sequence k draws its next token from logits. Sets s->end[k] when
 * the job ends, and its pending token otherwise. */
static void take(hlm_sched *s, int k, const float *logits)
{
    hlm_job *j = s->slot[k];
    hlm_error err;
    int32_t tok = hlm_sample(j->sampler, logits, s->vocab);
    s->drawn[k] = 1;
    if (j->logprobs) {
        token_record(logits, s->vocab, tok, j->top_logprobs, &s->rec[k]);
        s->has_rec[k] = 1;
    }
    if (hlm_eog_has(&s->o.eog, tok)) {
        s->has_rec[k] = 0; /* an end token is not part of the reply */
        s->end[k] = HLM_JOB_STOP;
        goto flush;
    }
    hlm_sampler_accept(j->sampler, tok);
    hlm_buf piece = {0};
    int stopped = 0;
    hlm_status st = hlm_decoder_push(&j->dec, (uint32_t)tok, &piece, &err);
    if (st == HLM_OK) st = hlm_stop_push(&j->stop, piece.data, piece.len, &s->fresh[k], &stopped, &err);
    hlm_buf_free(&piece);
    if (st != HLM_OK) {
        j->error = err;
        s->end[k] = HLM_JOB_ERROR;
        return;
    }
    j->pending = tok;
    if (stopped) {
        s->end[k] = HLM_JOB_STOP;
        return;
    }
    if (j->n_generated + 1 >= j->max_tokens || hlm_engine_seq_pos(s->e, k) >= hlm_engine_ctx(s->e)) {
        s->end[k] = HLM_JOB_LENGTH;
        goto flush;
    }
    return;
flush:;
    hlm_buf tail = {0};
    if (hlm_decoder_flush(&j->dec, &tail, &err) == HLM_OK) hlm_stop_push(&j->stop, tail.data, tail.len, &s->fresh[k], &(int){0}, &err);
    hlm_stop_flush(&j->stop, &s->fresh[k], &err);
    hlm_buf_free(&tail);
}

/* Under the lock: what the step made for the job in sequence k becomes visible. */
static void publish(hlm_sched *s, int k, double now)
{
    hlm_job *j = s->slot[k];
    if (s->drawn[k]) {
        if (!j->t_first) j->t_first = now;
        if (j->pending >= 0) { /* kept: not an end token */
            if (s->has_rec[k]) j->tokens[j->n_generated] = s->rec[k];
            j->n_generated++;
            s->decoded++;
        }
    }
    s->drawn[k] = 0;
    if (s->fresh[k].len && hlm_buf_append(&j->text, s->fresh[k].data, s->fresh[k].len) != HLM_OK) {
        hlm_errorf(&j->error, HLM_ERR_NOMEM, "out of memory for the reply's text");
        s->end[k] = HLM_JOB_ERROR;
    }
    s->fresh[k].len = 0;
    s->has_rec[k] = 0;
    if (s->end[k] != HLM_JOB_RUNNING) {
        j->pending = -1;
        job_end(s, j, s->end[k]);
        s->end[k] = HLM_JOB_RUNNING;
    } else if (j->notify) {
        pthread_cond_broadcast(j->notify);
    }
}

static int grow_toks(hlm_sched *s, size_t n)
{
    if (n <= s->toks_cap) return 0;
    int32_t *t = realloc(s->toks, sizeof *t * n);
    if (!t) return -1;
    s->toks = t;
    s->toks_cap = n;
    return 0;
}

/* Outside the lock: embedding jobs on the extra sequence (index parallel). */
static void run_embeds(hlm_sched *s, hlm_job *list)
{
    int dim = hlm_engine_config(s->e)->d_model;
    for (hlm_job *j = list; j; j = j->next) {
        float *v = malloc(sizeof *v * (size_t)dim);
        if (!v) {
            hlm_errorf(&j->error, HLM_ERR_NOMEM, "out of memory for an embedding");
            continue;
        }
        if (hlm_engine_embed(s->e, s->o.parallel, j->prompt, j->prompt_len, v, &j->error) != HLM_OK) {
            free(v);
            continue;
        }
        j->embedding = v;
    }
}

/* Outside the lock: one prefill pass over the prompt chunks due this step, and one decode pass.
 * The jobs in the slots do not change meanwhile: only this thread frees a slot. */
static void step(hlm_sched *s)
{
    hlm_error err;
    int P = s->o.parallel, m = 0, budget = s->o.prefill_chunk;
    size_t V = (size_t)hlm_engine_config(s->e)->vocab_size;
    size_t total = 0;
    for (int k = 0; k < P && budget > 0; k++) {
        hlm_job *j = s->slot[k];
        if (!j || j->fed >= j->prompt_len) continue;
        int c = j->prompt_len - j->fed;
        if (c > budget) c = budget;
        s->seqs[m] = k;
        s->lens[m++] = c;
        total += (size_t)c;
        budget -= c;
    }
    if (m > 0) {
        hlm_status st = grow_toks(s, total) ? hlm_errorf(&err, HLM_ERR_NOMEM, "out of memory for a prefill") : HLM_OK;
        size_t at = 0;
        for (int i = 0; st == HLM_OK && i < m; i++) {
            hlm_job *j = s->slot[s->seqs[i]];
            memcpy(s->toks + at, j->prompt + j->fed, sizeof *s->toks * (size_t)s->lens[i]);
            at += (size_t)s->lens[i];
        }
        const float *logits = NULL;
        if (st == HLM_OK) st = hlm_engine_prefill_batch(s->e, s->seqs, s->toks, s->lens, m, &logits, &err);
        for (int i = 0; i < m; i++) {
            int k = s->seqs[i];
            hlm_job *j = s->slot[k];
            if (st != HLM_OK) {
                j->error = err;
                s->end[k] = HLM_JOB_ERROR;
                continue;
            }
            hlm_ids_append(&s->hist[k], (const uint32_t *)(j->prompt + j->fed), (size_t)s->lens[i]);
            j->fed += s->lens[i];
            s->prefilled += s->lens[i];
            if (j->fed == j->prompt_len) take(s, k, logits + (size_t)i * V);
        }
    }
    /* decode: the sequences with a token drawn at an earlier step (not from this step's prefill) */
    int n = 0;
    for (int k = 0; k < P; k++) {
        hlm_job *j = s->slot[k];
        if (!j || j->pending < 0 || s->drawn[k] || s->end[k] != HLM_JOB_RUNNING) continue;
        s->seqs[n] = k;
        s->toks[n] = j->pending;
        n++;
    }
    if (n == 0) return;
    /* s->toks has room for at least P ids: grown at start */
    const float *logits = NULL;
    hlm_status st = hlm_engine_decode_batch(s->e, s->seqs, s->toks, n, &logits, &err);
    /* each sequence's draw touches only its own job, sampler and slots: in parallel (at 16
     * sequences a serial loop held the engine's other thread idle for a tenth of the step) */
#pragma omp parallel for schedule(dynamic, 1) if (n >= 4)
    for (int i = 0; i < n; i++) {
        int k = s->seqs[i];
        hlm_job *j = s->slot[k];
        if (st != HLM_OK) {
            j->error = err;
            s->end[k] = HLM_JOB_ERROR;
            continue;
        }
        hlm_ids_push(&s->hist[k], (uint32_t)j->pending);
        j->pending = -1;
        take(s, k, logits + (size_t)i * V);
    }
}

static void *sched_main(void *arg)
{
    hlm_sched *s = arg;
    int P = s->o.parallel;
    hlm_set_threads(s->o.threads); /* OpenMP's thread count is per calling thread */
    pthread_mutex_lock(&s->mu);
    for (;;) {
        double now = hlm_sched_now();
        for (int k = 0; k < P; k++) {
            hlm_job *j = s->slot[k];
            if (!j) continue;
            if (j->cancel || s->stopping) job_end(s, j, HLM_JOB_CANCELLED);
            else if (j->deadline > 0 && now > j->deadline) job_end(s, j, HLM_JOB_TIMEOUT);
        }
        hlm_job *embeds = NULL;
        admit(s, now, &embeds);
        if (s->stopping) break;
        int busy = embeds != NULL;
        for (int k = 0; k < P; k++) busy |= s->slot[k] != NULL;
        if (!busy) {
            pthread_cond_wait(&s->work, &s->mu);
            continue;
        }
        s->steps++;
        pthread_mutex_unlock(&s->mu);
        if (embeds) run_embeds(s, embeds);
        step(s);
        pthread_mutex_lock(&s->mu);
        now = hlm_sched_now();
        while (embeds) {
            hlm_job *j = embeds;
            embeds = j->next;
            j->next = NULL;
            job_end(s, j, j->embedding ? HLM_JOB_STOP : HLM_JOB_ERROR);
        }
        for (int k = 0; k < P; k++)
            if (s->slot[k]) publish(s, k, now);
    }
    cancel_all_locked(s);
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* ---- start and stop ---------------------------------------------------------------------------- */

static void sched_free(hlm_sched *s)
{
    for (int k = 0; k < s->o.parallel; k++) {
        if (s->hist) hlm_ids_free(&s->hist[k]);
        if (s->fresh) hlm_buf_free(&s->fresh[k]);
    }
    free(s->slot);
    free(s->hist);
    free(s->used);
    free(s->seqs);
    free(s->lens);
    free(s->toks);
    free(s->fresh);
    free(s->end);
    free(s->rec);
    free(s->has_rec);
    free(s->drawn);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->work);
    free(s);
}

hlm_status hlm_sched_start(hlm_engine *e, const hlm_tokenizer *tok, const hlm_sched_opts *o, hlm_sched **out,
                           hlm_error *err)
{
    *out = NULL;
    if (o->parallel < 1 || o->max_queue < 1 || o->prefill_chunk < 1)
        return hlm_errorf(err, HLM_ERR_INVALID, "scheduler: parallel %d, max_queue %d, prefill_chunk %d: each must be at least 1",
                          o->parallel, o->max_queue, o->prefill_chunk);
    hlm_sched *s = calloc(1, sizeof *s);
    if (!s) return hlm_errorf(err, HLM_ERR_NOMEM, "scheduler: out of memory");
    s->e = e;
    s->tok = tok;
    s->o = *o;
    int V = hlm_engine_config(e)->vocab_size;
    s->vocab = o->vocab > 0 && o->vocab < V ? o->vocab : V;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->work, NULL);
    size_t P = (size_t)o->parallel;
    s->slot = calloc(P, sizeof *s->slot);
    s->hist = calloc(P, sizeof *s->hist);
    s->used = calloc(P, sizeof *s->used);
    s->seqs = calloc(P, sizeof *s->seqs);
    s->lens = calloc(P, sizeof *s->lens);
    s->fresh = calloc(P, sizeof *s->fresh);
    s->end = calloc(P, sizeof *s->end);
    s->rec = calloc(P, sizeof *s->rec);
    s->has_rec = calloc(P, sizeof *s->has_rec);
    s->drawn = calloc(P, sizeof *s->drawn);
    hlm_status st = HLM_OK;
    if (!s->slot || !s->hist || !s->used || !s->seqs || !s->lens || !s->fresh || !s->end || !s->rec ||
        !s->has_rec || !s->drawn || grow_toks(s, P + (size_t)o->prefill_chunk))
        st = hlm_errorf(err, HLM_ERR_NOMEM, "scheduler: out of memory");
    for (size_t k = 0; st == HLM_OK && k < P; k++)
        if (hlm_ids_reserve(&s->hist[k], (size_t)hlm_engine_ctx(e)) != HLM_OK)
            st = hlm_errorf(err, HLM_ERR_NOMEM, "scheduler: out of memory for the token lists");
    /* one sequence per slot, and one more for embeddings */
    if (st == HLM_OK) st = hlm_engine_set_seqs(e, o->parallel + 1, err);
    if (st == HLM_OK && pthread_create(&s->thread, NULL, sched_main, s) != 0)
        st = hlm_errorf(err, HLM_ERR_NOMEM, "scheduler: cannot start its thread");
    if (st != HLM_OK) {
        sched_free(s);
        return st;
    }
    s->started = 1;
    *out = s;
    return HLM_OK;
}

void hlm_sched_stop(hlm_sched *s)
{
    if (!s) return;
    pthread_mutex_lock(&s->mu);
    s->stopping = 1;
    pthread_cond_signal(&s->work);
    pthread_mutex_unlock(&s->mu);
    if (s->started) pthread_join(s->thread, NULL);
    sched_free(s);
}

int hlm_sched_vocab(const hlm_sched *s) { return s->vocab; }
