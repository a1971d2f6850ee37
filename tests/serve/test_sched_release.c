/* A released job's condition variable is never signalled again (hlm_job_release, src/serve/
 * sched.c). The server frees a request's state, its condition variable included, as soon as it
 * has released the request's jobs, while a job it gave up on (its client left) may still be
 * queued or running: the scheduler signalling it afterwards wrote into freed memory, and hung the
 * whole server once the block was reused (pthread_cond_broadcast blocked with the scheduler's
 * lock held; found by tests/cli/serve_bad_clients.sh's abrupt disconnects). ASan does not see it
 * (the write is inside libpthread), so this test watches the condition variable itself: a thread
 * waits on it from before the release, and must not be woken. With the signal still sent, it is
 * woken within milliseconds; without, it sleeps its 1.5 s. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <string.h>

#include "hyperlm/model.h"
#include "infer/engine.h"
#include "serve/sched.h"
#include "tokenizer/tokenizer_internal.h"

enum { V = 300, CTX = 2048 };

typedef struct fixture {
    hlm_model *m;
    hlm_engine *e;
    hlm_tokenizer *tok;
    hlm_sched *s;
} fixture;

/* A random 2-layer Llama (d 256) with a context of CTX and a byte-level tokenizer (256 ids; the
 * scheduler samples among the first 256 of the model's 300 logits). */
static void setup(fixture *f, int parallel, int max_queue)
{
    hlm_model_config c = {0};
    c.arch = HLM_ARCH_LLAMA;
    c.vocab_size = V;
    c.max_seq = CTX;
    c.n_layer = 2;
    c.n_head = 4;
    c.n_kv_head = 2;
    c.d_model = 256;
    c.d_ff = 512;
    c.head_dim = 64;
    c.norm_eps = 1e-5f;
    c.rope_theta = 10000.0f;
    c.init_std = 0.2f;
    c.bos_token_id = c.eos_token_id = -1;
    hlm_error err = {0};
    memset(f, 0, sizeof *f);
    assert_int_equal(hlm_model_create(&c, &f->m, &err), HLM_OK);
    hlm_model_init_weights(f->m, 3);
    assert_int_equal(hlm_engine_create(f->m, HLM_QT_F32, CTX, &f->e, &err), HLM_OK);
    assert_int_equal(hlm_tokenizer_from_merges(HLM_PATTERN_GPT2, 0, NULL, 0, NULL, 0, &f->tok, &err), HLM_OK);
    /* one compute thread: the machine's cores are shared with the test's own threads */
    hlm_sched_opts o = {.parallel = parallel, .max_queue = max_queue, .prefill_chunk = 64, .vocab = 256, .threads = 1};
    assert_int_equal(hlm_sched_start(f->e, f->tok, &o, &f->s, &err), HLM_OK);
}

static void teardown(fixture *f)
{
    hlm_sched_stop(f->s);
    hlm_engine_free(f->e);
    hlm_tokenizer_free(f->tok);
    hlm_model_free(f->m);
}

static hlm_job *job(fixture *f, const int32_t *prompt, int n, int max_tokens, pthread_cond_t *cond)
{
    hlm_sampler_params sp = {.temperature = 0, .top_p = 1, .repeat_penalty = 1};
    hlm_job_params p = {.vocab = hlm_sched_vocab(f->s), .prompt = prompt, .prompt_len = n, .max_tokens = max_tokens,
                        .sampling = &sp, .logprobs = 1};
    hlm_job *j = NULL;
    hlm_error err = {0};
    assert_int_equal(hlm_job_new(&p, cond, &j, &err), HLM_OK);
    return j;
}

/* Waits (the scheduler's lock held) until j ended. */
static void wait_end(fixture *f, hlm_job *j, pthread_cond_t *cond)
{
    hlm_sched_lock(f->s);
    while (j->finish == HLM_JOB_RUNNING) hlm_sched_wait(f->s, cond, 100);
    hlm_sched_unlock(f->s);
}

typedef struct watcher {
    fixture *f;
    pthread_cond_t *cond;
    int waiting, woken;
} watcher;

/* Waits on w->cond for up to 1.5 s; woken: signalled before that (spurious wake-ups aside). */
static void *watch(void *arg)
{
    watcher *w = arg;
    hlm_sched_lock(w->f->s);
    w->waiting = 1;
    double t0 = hlm_sched_now();
    hlm_sched_wait(w->f->s, w->cond, 1500);
    w->woken = hlm_sched_now() - t0 < 1.2;
    hlm_sched_unlock(w->f->s);
    return NULL;
}

static void test_released_job_not_signalled(void **state)
{
    (void)state;
    fixture f;
    setup(&f, 1, 4);
    static const int32_t prompt[] = {72, 101, 108, 108, 111};
    pthread_cond_t cond_a, cond_b;
    pthread_cond_init(&cond_a, NULL);
    pthread_cond_init(&cond_b, NULL);
    /* A holds the one sequence for CTX - 5 tokens; B waits behind it, untouched by the
     * scheduler (no slot, no step, no signal) until A ends */
    hlm_job *jobs[2] = {job(&f, prompt, 5, CTX - 5, &cond_a), job(&f, prompt, 5, 4, &cond_b)};
    hlm_job *a = jobs[0], *b = jobs[1];
    hlm_error err = {0};
    assert_int_equal(hlm_sched_submit(f.s, jobs, 2, &err), HLM_OK);
    hlm_sched_lock(f.s);
    while (a->n_generated < 1 && a->finish == HLM_JOB_RUNNING) hlm_sched_wait(f.s, &cond_a, 100);
    int b_waiting = a->finish == HLM_JOB_RUNNING && b->slot < 0;
    hlm_sched_unlock(f.s);
    assert_true(b_waiting);

    watcher w = {.f = &f, .cond = &cond_b};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, watch, &w), 0);
    for (;;) { /* the watcher holds the lock until it waits: once we get it, it waits */
        hlm_sched_lock(f.s);
        int ready = w.waiting;
        hlm_sched_unlock(f.s);
        if (ready) break;
    }
    /* B is given up while queued (the way the server gives up a request whose client left),
     * then A is cancelled: B runs and ends with nobody listening */
    hlm_job_release(f.s, b);
    hlm_job_cancel(f.s, a);
    pthread_join(th, NULL);
    wait_end(&f, a, &cond_a);
    /* A ended by itself before the release (a machine too busy to run this thread for the time
     * of CTX tokens): B may then have been signalled legitimately, nothing to judge */
    if (a->finish != HLM_JOB_CANCELLED) skip();
    assert_false(w.woken);
    hlm_job_release(f.s, a);
    teardown(&f);
    pthread_cond_destroy(&cond_a);
    pthread_cond_destroy(&cond_b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_released_job_not_signalled),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
